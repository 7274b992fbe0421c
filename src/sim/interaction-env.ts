/**
 * The environment behind the ZAB transcript tests (testdata/zab/*.txt), in the style of
 * etcd-raft's interaction_env: peers with simulated disks, per-link FIFO queues, and
 * commands that move one step at a time, each printing what happened. Deterministic.
 */
import { ZabPeer } from "../zab/zab-peer.js";
import { hex, type Proposal, type Ready, type ZabConfig, type ZabMessage } from "../zab/zab-types.js";
import {
  applyToState,
  bootFromDisk,
  copyState,
  emptyDisk,
  type MutableRegisterState,
  persistToDisk,
  type RegisterState,
  type RegisterWrite,
  type SimDisk,
} from "./register-store.js";

type Message = ZabMessage<RegisterWrite, RegisterState>;

interface EnvPeer {
  id: bigint;
  alive: boolean;
  disk: SimDisk;
  core: ZabPeer<RegisterWrite, RegisterState> | null;
  state: MutableRegisterState;
  /** Appends of Readies processed with `process-pipelined`, not yet on the disk, oldest first. */
  pendingAppends?: (readonly Proposal<RegisterWrite>[])[];
}

/** Commands a transcript may run at most per `stabilize` (a bound on the loop). */
export const stabilizeRoundsMax = 10_000;

export class TranscriptError extends Error {
  override name = "TranscriptError";
}

export class InteractionEnv {
  private readonly peers = new Map<bigint, EnvPeer>();
  private readonly queues = new Map<string, Message[]>();
  private config: Omit<ZabConfig, "myId"> | null = null;
  private nextWriteId = 1;
  /** Writes a leader applied: each must survive on every server. */
  private readonly acknowledged = new Map<number, { key: string; value: string }>();
  private output: string[] = [];

  /** Runs one command line; returns what it printed. */
  run(line: string): string {
    this.output = [];
    const [command, ...words] = line.trim().split(/\s+/);
    const args = new Map<string, string>();
    const positional: string[] = [];
    for (const word of words) {
      const equals = word.indexOf("=");
      if (equals > 0) args.set(word.slice(0, equals), word.slice(equals + 1));
      else positional.push(word);
    }
    const ids = (text: string | undefined): bigint[] =>
      text === undefined || text === ""
        ? []
        : text === "all"
          ? [...this.peers.keys()]
          : text.split(",").map((part) => BigInt(part));
    switch (command) {
      case "add-peers": {
        const voters = ids(args.get("voters"));
        const observers = ids(args.get("observers"));
        this.config = {
          voters: new Set(voters),
          observers: new Set(observers),
          initLimitTicks: Number(args.get("init-limit") ?? 20),
          syncLimitTicks: Number(args.get("sync-limit") ?? 10),
          commitLogCount: Number(args.get("commit-log") ?? 500),
          outstandingProposalsMax: 1000,
        };
        for (const id of [...voters, ...observers]) {
          this.peers.set(id, {
            id,
            alive: false,
            disk: emptyDisk(),
            core: null,
            state: copyState(emptyDisk().snapshot),
          });
          this.boot(id);
        }
        this.print("ok");
        break;
      }
      case "lead":
        for (const id of ids(positional[0])) {
          this.core(id).lead();
          this.print(this.core(id).describe());
        }
        break;
      case "follow":
        for (const id of ids(positional[0])) {
          this.core(id).follow(BigInt(args.get("leader") ?? "0"));
          this.print(this.core(id).describe());
        }
        break;
      case "propose": {
        const id = BigInt(positional[0] ?? "0");
        const write = {
          id: this.nextWriteId++,
          key: args.get("key") ?? "k",
          value: args.get("value") ?? "v",
        };
        const zxid = this.core(id).propose(() => write);
        this.print(
          zxid === null ? `${id}: refused` : `${id}: proposed ${hex(zxid)} ${write.key}=${write.value}`,
        );
        break;
      }
      case "sync":
        this.print(
          `${positional[0]}: sync ${this.core(BigInt(positional[0] ?? "0")).requestSync(Number(args.get("token") ?? 1)) ? "requested" : "refused"}`,
        );
        break;
      case "process":
        for (const id of ids(positional[0])) this.processReady(id);
        break;
      // A leader's Ready with its appends still being written (the driver pipelines them).
      case "process-pipelined":
        for (const id of ids(positional[0])) this.processReady(id, true);
        break;
      // The oldest pending append of process-pipelined reaches the disk.
      case "appended":
        for (const id of ids(positional[0])) this.appended(id);
        break;
      case "deliver": {
        const [from, to] = (positional[0] ?? "").split(">").map((part) => BigInt(part));
        if (from === undefined || to === undefined) throw new TranscriptError("deliver FROM>TO");
        const count = args.has("count") ? Number(args.get("count")) : Number.POSITIVE_INFINITY;
        this.deliver(from, to, count);
        break;
      }
      case "drop": {
        const key = positional[0] ?? "";
        this.print(`dropped ${this.queues.get(key)?.length ?? 0} on ${key}`);
        this.queues.delete(key);
        break;
      }
      case "disconnect": {
        const [a, b] = ids(positional[0]);
        if (a === undefined || b === undefined) throw new TranscriptError("disconnect A,B");
        this.disconnect(a, b);
        break;
      }
      case "tick":
        for (const id of ids(positional[0])) {
          for (let i = 0; i < Number(args.get("count") ?? 1); i++) this.core(id).tick();
        }
        this.print("ok");
        break;
      case "stabilize":
        this.stabilize();
        break;
      case "crash":
        for (const id of ids(positional[0]))
          this.crash(id, args.has("keep") ? Number(args.get("keep")) : null);
        break;
      case "restart":
        for (const id of ids(positional[0])) {
          this.boot(id);
          this.print(`restart ${this.core(id).describe()}`);
        }
        break;
      case "status":
        for (const peer of this.peers.values()) this.print(this.describePeer(peer));
        break;
      case "check":
        this.check();
        break;
      default:
        throw new TranscriptError(`unknown command ${command}`);
    }
    return this.output.join("\n");
  }

  private print(line: string): void {
    this.output.push(line);
  }

  private peer(id: bigint): EnvPeer {
    const peer = this.peers.get(id);
    if (peer === undefined) throw new TranscriptError(`no peer ${id}`);
    return peer;
  }

  private core(id: bigint): ZabPeer<RegisterWrite, RegisterState> {
    const core = this.peer(id).core;
    if (core === null) throw new TranscriptError(`peer ${id} is down`);
    return core;
  }

  private boot(id: bigint): void {
    const peer = this.peer(id);
    if (this.config === null) throw new TranscriptError("add-peers first");
    const { state, durable } = bootFromDisk(peer.disk, this.config.commitLogCount);
    peer.state = state;
    peer.core = new ZabPeer({ ...this.config, myId: id }, durable);
    peer.alive = true;
  }

  private crash(id: bigint, keep: number | null): void {
    const peer = this.peer(id);
    const core = this.core(id);
    // A torn write: part of the next Ready's appended txns reached the disk, nothing else did.
    if (keep !== null && core.hasReady()) {
      const ready = core.ready();
      const appended = ready.persist.flatMap((op) => (op.type === "append" ? op.proposals : []));
      persistToDisk(peer.disk, { type: "append", proposals: appended.slice(0, keep) });
      this.print(`${id}: torn write kept ${Math.min(keep, appended.length)} of ${appended.length} txns`);
    }
    peer.alive = false;
    peer.core = null;
    for (const other of this.peers.values()) {
      if (other.id === id) continue;
      this.queues.delete(`${id}>${other.id}`);
      this.queues.delete(`${other.id}>${id}`);
      other.core?.disconnected(id);
    }
    this.print(`crash ${id}`);
  }

  private disconnect(a: bigint, b: bigint): void {
    this.queues.delete(`${a}>${b}`);
    this.queues.delete(`${b}>${a}`);
    this.peers.get(a)?.core?.disconnected(b);
    this.peers.get(b)?.core?.disconnected(a);
    this.print(`disconnect ${a},${b}`);
  }

  /** Carries out one Ready of peer `id`: persist, apply, send. Returns whether there was one. */
  private processReady(id: bigint, appendsPending = false): boolean {
    const peer = this.peer(id);
    const core = peer.core;
    if (core === null || !core.hasReady()) return false;
    const ready: Ready<RegisterWrite, RegisterState> = core.ready();
    for (const op of ready.persist) {
      if (appendsPending && op.type === "append") {
        peer.pendingAppends = [...(peer.pendingAppends ?? []), op.proposals];
        this.print(`${id}: persist ${describePersist(op)} (pending)`);
        continue;
      }
      persistToDisk(peer.disk, op);
      this.print(`${id}: persist ${describePersist(op)}`);
    }
    for (const op of ready.apply) {
      peer.state = applyToState(peer.disk, peer.state, op);
      if (op.type === "txn") {
        this.print(`${id}: apply ${hex(op.proposal.zxid)} ${op.proposal.txn.key}=${op.proposal.txn.value}`);
        if (core.role === "leading") this.acknowledged.set(op.proposal.txn.id, op.proposal.txn);
      } else this.print(`${id}: apply ${op.type} ${hex(op.zxid)}`);
    }
    for (const { to, message } of ready.messages) {
      const sent = message.type === "snap" ? { ...message, snapshot: copyState(peer.state) } : message;
      const key = `${id}>${to}`;
      const queue = this.queues.get(key) ?? [];
      queue.push(sent);
      this.queues.set(key, queue);
      this.print(`${id}>${to} ${describeMessage(sent)}`);
    }
    for (const other of ready.disconnect) this.disconnect(id, other);
    for (const token of ready.syncsDone) this.print(`${id}: sync ${token} done`);
    if (ready.lookForLeader) this.print(`${id}: looking (${core.stepDownReason})`);
    core.advance(appendsPending);
    return true;
  }

  /** The oldest append left pending by process-pipelined is written; the core hears of it. */
  private appended(id: bigint): void {
    const peer = this.peer(id);
    const proposals = peer.pendingAppends?.shift();
    if (proposals === undefined) throw new TranscriptError(`${id} has no pending append`);
    persistToDisk(peer.disk, { type: "append", proposals });
    const last = proposals.at(-1);
    this.print(`${id}: appended ${last === undefined ? "nothing" : hex(last.zxid)}`);
    if (last !== undefined) peer.core?.appended(last.zxid);
  }

  private deliver(from: bigint, to: bigint, count: number): number {
    const key = `${from}>${to}`;
    const queue = this.queues.get(key) ?? [];
    let delivered = 0;
    while (queue.length > 0 && delivered < count) {
      const message = queue.shift() as Message;
      delivered++;
      const target = this.peers.get(to)?.core;
      if (target === undefined || target === null) continue;
      target.step(from, message);
      this.print(`${to}<${from} ${describeMessage(message)}`);
    }
    return delivered;
  }

  private stabilize(): void {
    for (let round = 0; round < stabilizeRoundsMax; round++) {
      let progress = false;
      for (const id of this.peers.keys()) while (this.processReady(id)) progress = true;
      for (const key of [...this.queues.keys()]) {
        const [from, to] = key.split(">").map((part) => BigInt(part));
        if (from !== undefined && to !== undefined && this.deliver(from, to, Number.POSITIVE_INFINITY) > 0)
          progress = true;
      }
      if (!progress) return;
    }
    throw new TranscriptError(`not stable after ${stabilizeRoundsMax} rounds`);
  }

  private describePeer(peer: EnvPeer): string {
    if (peer.core === null) return `${peer.id} down disk: ${describeDisk(peer.disk)}`;
    const values = [...peer.state.values].map(([key, value]) => `${key}=${value}`).join(",");
    return `${peer.core.describe()} state: ${values === "" ? "-" : values} disk: ${describeDisk(peer.disk)}`;
  }

  /** Agreement and durability among the live peers: same applied txns, every acknowledged write present. */
  private check(): void {
    const live = [...this.peers.values()].filter((peer) => peer.core !== null);
    const problems: string[] = [];
    const reference = live[0];
    for (const peer of live) {
      if (reference !== undefined && peer.state.applied.join(",") !== reference.state.applied.join(",")) {
        problems.push(
          `${peer.id} applied [${peer.state.applied.join(",")}] but ${reference.id} [${reference.state.applied.join(",")}]`,
        );
      }
      for (const id of this.acknowledged.keys()) {
        if (!peer.state.applied.includes(id)) problems.push(`${peer.id} lacks acknowledged write ${id}`);
      }
    }
    this.print(
      problems.length === 0
        ? `ok: ${live.length} peers agree on ${reference?.state.applied.length ?? 0} writes, ${this.acknowledged.size} acknowledged`
        : problems.join("\n"),
    );
  }
}

function describePersist(op: Ready<RegisterWrite, RegisterState>["persist"][number]): string {
  switch (op.type) {
    case "acceptedEpoch":
    case "currentEpoch":
      return `${op.type}=${op.epoch}`;
    case "append":
      return `append ${op.proposals.map((p) => hex(p.zxid)).join(",")}`;
    case "truncate":
      return `truncate after ${hex(op.zxid)}`;
    case "snapshot":
      return `snapshot ${hex(op.zxid)}`;
  }
}

function describeMessage(message: Message): string {
  switch (message.type) {
    case "followerinfo":
      return `${message.observer ? "OBSERVERINFO" : "FOLLOWERINFO"} acceptedEpoch=${message.acceptedEpoch}`;
    case "leaderinfo":
      return `LEADERINFO epoch=${message.epoch}`;
    case "ackepoch":
      return `ACKEPOCH currentEpoch=${message.currentEpoch} last=${hex(message.lastZxid)}`;
    case "proposal":
    case "inform":
      return `${message.type.toUpperCase()} ${hex(message.proposal.zxid)} ${message.proposal.txn.key}=${message.proposal.txn.value}`;
    case "snap":
      return `SNAP ${hex(message.zxid)}${message.snapshot === undefined ? "" : ` [${[...message.snapshot.values].map(([k, v]) => `${k}=${v}`).join(",")}]`}`;
    case "sync":
      return `SYNC ${message.token}`;
    default:
      return `${message.type.toUpperCase()} ${hex(message.zxid)}`;
  }
}

function describeDisk(disk: SimDisk): string {
  const log = disk.log.map((p) => hex(p.zxid)).join(",");
  return `epochs ${disk.acceptedEpoch}/${disk.currentEpoch} snap ${hex(disk.snapshot.zxid)} log [${log}]`;
}
