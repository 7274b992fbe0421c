/**
 * What a simulated run must satisfy, whatever the faults:
 *   - agreement: no two servers ever apply different txns at one zxid;
 *   - durability: every write a leader acknowledged is in the final state of every server;
 *   - integrity: the final states are identical, hold only proposed writes, each once;
 *   - linearizability of the register operations (writes, and reads after sync()).
 * Each returns a list of violations (empty when the run is sound).
 */
import type { ClusterSimulator } from "./cluster-simulator.js";
import { type Operation, partitionedCheck, type RegisterInput, registerModel } from "./linearizability.js";

export function checkAgreement(sim: ClusterSimulator): string[] {
  const byZxid = new Map<bigint, { writeId: number; server: bigint }>();
  const violations: string[] = [];
  for (const record of sim.applies) {
    const seen = byZxid.get(record.zxid);
    if (seen === undefined) byZxid.set(record.zxid, { writeId: record.writeId, server: record.server });
    else if (seen.writeId !== record.writeId) {
      violations.push(
        `zxid 0x${record.zxid.toString(16)}: server ${seen.server} applied write ${seen.writeId}, server ${record.server} applied write ${record.writeId}`,
      );
    }
  }
  return violations;
}

export function checkFinalStates(sim: ClusterSimulator): string[] {
  const violations: string[] = [];
  const servers = [...sim.servers.values()];
  const reference = servers[0];
  if (reference === undefined) return violations;
  const applied = reference.state.applied;
  const seen = new Set<number>();
  for (const id of applied) {
    if (seen.has(id)) violations.push(`write ${id} applied twice on server ${reference.id}`);
    seen.add(id);
    if (!sim.proposed.has(id)) violations.push(`write ${id} applied but never proposed`);
  }
  for (const server of servers.slice(1)) {
    const other = server.state.applied;
    if (other.length !== applied.length || other.some((id, index) => applied[index] !== id)) {
      violations.push(
        `server ${server.id} applied ${other.length} writes ending ${other.slice(-3).join(",")}; server ${reference.id} applied ${applied.length} ending ${applied.slice(-3).join(",")}`,
      );
    }
    for (const [key, value] of reference.state.values) {
      if (server.state.values.get(key) !== value)
        violations.push(
          `server ${server.id} has ${key}=${server.state.values.get(key)}, server ${reference.id} ${value}`,
        );
    }
  }
  for (const id of sim.acknowledged) {
    if (!seen.has(id)) violations.push(`acknowledged write ${id} lost`);
  }
  return violations;
}

/** States the linearizability search may explore per key of one run. */
export const simulationStatesMax = 200_000;

/** The register operations (writes through the leader, reads after sync()) are linearizable. */
export function checkLinearizability(sim: ClusterSimulator): string[] {
  // A write whose client never heard back took effect no later than the first time a
  // server applied it as committed, and never if it is in no final state.
  const firstApplied = new Map<number, number>();
  for (const record of sim.applies) {
    if (!firstApplied.has(record.writeId)) firstApplied.set(record.writeId, record.atMs);
  }
  const finalWrites = new Set([...sim.servers.values()].flatMap((server) => server.state.applied));
  const history: Operation<RegisterInput, string | null>[] = [];
  for (const operation of sim.operations) {
    let returnMs = operation.returnMs;
    if (returnMs === Number.POSITIVE_INFINITY) {
      // A read that never returned observed nothing.
      if (operation.kind === "read") continue;
      const applied = firstApplied.get(operation.writeId ?? -1);
      if (applied !== undefined) returnMs = applied;
      // Replayed from a log at a restart, then kept by the next leader: open-ended.
      else if (!finalWrites.has(operation.writeId ?? -1)) continue;
    }
    history.push({
      client: operation.client,
      input:
        operation.kind === "read"
          ? { op: "read", key: operation.key }
          : { op: "write", key: operation.key, value: operation.value ?? "" },
      output: operation.kind === "read" ? operation.value : null,
      call: operation.callMs,
      return: returnMs,
    });
  }
  const result = partitionedCheck(registerModel, history, (input) => input.key, {
    maxStates: simulationStatesMax,
  });
  if (result.linearizable) return [];
  return [
    result.unknown === true
      ? "linearizability check gave up (too many states)"
      : `not linearizable: ${result.explanation ?? ""}`,
  ];
}

export function checkRun(sim: ClusterSimulator): string[] {
  return [...checkAgreement(sim), ...checkFinalStates(sim), ...checkLinearizability(sim)];
}
