/**
 * What a simulated run must satisfy, whatever the faults:
 *   - agreement: no two servers ever apply different txns at one zxid;
 *   - durability: every write a leader acknowledged is in the final state of every server;
 *   - integrity: the final states are identical, hold only proposed writes, each once;
 * Each returns a list of violations (empty when the run is sound).
 */
import type { ClusterSimulator } from "./cluster-simulator.js";

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

export function checkRun(sim: ClusterSimulator): string[] {
  return [...checkAgreement(sim), ...checkFinalStates(sim)];
}
