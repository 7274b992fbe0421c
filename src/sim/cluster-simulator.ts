/**
 * A seeded simulation of a ZAB ensemble: the real ZabPeer and FastLeaderElection of every
 * server, on a simulated clock, network and disk. Everything random comes from one seed,
 * so a failing seed replays exactly.
 *
 * What it models, and why these faults: ZAB runs over TCP, so between a learner and its
 * leader messages arrive in order or the connection breaks; loss, duplication and
 * reordering inside a connection cannot happen and are not simulated there. Across
 * connections and in the election (whose notifications are resent on timeouts) messages
 * are delayed at random, reordered, dropped and duplicated. Servers crash at any moment,
 * losing whatever the disk had not finished (a write in progress may leave a prefix of
 * its txns); partitions hold a link's bytes until it heals or a side gives up; restarts
 * rebuild from the simulated disk exactly as the server does (snapshot plus the whole log).
 *
 * The txns are writes of a register per key; the applied state keeps the order of txns so
 * checkers can compare servers. See sim-checkers.ts for what is checked.
 */

import type { Notification } from "../quorum/election-messages.js";
import { PeerState } from "../quorum/election-messages.js";
import { FastLeaderElection } from "../quorum/fast-leader-election.js";
import { MajorityQuorum, type QuorumServer } from "../quorum/quorum-config.js";
import { ZabPeer } from "../zab/zab-peer.js";
import type { Proposal, Ready, ZabConfig, ZabMessage } from "../zab/zab-types.js";
import {
  applyToState,
  bootFromDisk,
  copyState,
  diskHolds,
  emptyDisk,
  type MutableRegisterState,
  persistToDisk,
  type RegisterState,
  type RegisterWrite,
  type SimDisk,
} from "./register-store.js";
import { randomInt, seededRandom } from "./seeded-random.js";

export type { RegisterState, RegisterWrite } from "./register-store.js";

/** Appends a simulated leader lets be pending at once (the real one: zkts.logWritesInFlight, 2). */
const pipelinedAppendsMax = 2;

type Message = ZabMessage<RegisterWrite, RegisterState>;

interface SimServer {
  id: bigint;
  alive: boolean;
  /** Bumped on every crash, so events meant for an earlier life are ignored. */
  incarnation: number;
  disk: SimDisk;
  core: ZabPeer<RegisterWrite, RegisterState> | null;
  election: FastLeaderElection;
  looking: boolean;
  electionTimerMs: number | null;
  state: MutableRegisterState;
  /** The Ready being persisted (its disk write completes at a later event). */
  persisting: Ready<RegisterWrite, RegisterState> | null;
  /** Whether `persisting` is a leader's Ready to pipeline once fewer appends are pending. */
  persistingPipelined: boolean;
  /**
   * A leader's appends whose Readies were advanced before they were durable (as the real
   * driver pipelines them, ZabPeer.canPipeline), oldest first; they land in order.
   */
  pendingAppends: (readonly Proposal<RegisterWrite>[])[];
  /** When the newest pending append lands. */
  lastAppendAtMs: number;
}

/** A new life (a start or a crash) has no disk write in progress. */
function forgetDiskWork(server: SimServer): void {
  server.persisting = null;
  server.persistingPipelined = false;
  server.pendingAppends = [];
  server.lastAppendAtMs = 0;
}

/** Something a checker reads: one server applying a committed txn. */
export interface ApplyRecord {
  server: bigint;
  zxid: bigint;
  writeId: number;
  atMs: number;
}

export interface ClientOperation {
  client: number;
  kind: "write" | "read";
  key: string;
  /** Written, or read (null: never written). */
  value: string | null;
  callMs: number;
  /** Infinity when the outcome is unknown (the server crashed or stepped down first). */
  returnMs: number;
  /** Writes: the id of the txn. */
  writeId?: number;
  server: bigint;
}

export interface SimulationOptions {
  seed: number;
  voters: number;
  observers?: number;
  /** Simulated time with faults and load, after which the network heals and everyone restarts. */
  faultPhaseMs?: number;
  /** Time allowed after healing for every server to agree. */
  settlePhaseMsMax?: number;
  tickTimeMs?: number;
  initLimit?: number;
  syncLimit?: number;
  commitLogCount?: number;
  /** Mean gap between client operations. */
  operationGapMs?: number;
  /** Mean gap between faults (0: no faults). */
  faultGapMs?: number;
  keys?: number;
  /** Events processed at most, a bound on the loop. */
  eventsMax?: number;
}

type Event =
  | { kind: "zab"; from: bigint; to: bigint; link: number; message: Message }
  | { kind: "notification"; from: bigint; to: bigint; notification: Notification }
  | { kind: "tick"; server: bigint; incarnation: number }
  | { kind: "election-timer"; server: bigint; incarnation: number; atMs: number }
  | { kind: "persisted"; server: bigint; incarnation: number }
  | { kind: "appended"; server: bigint; incarnation: number }
  | { kind: "disconnected"; server: bigint; peer: bigint; link: number }
  | { kind: "operation" }
  | { kind: "fault" }
  | { kind: "restart"; server: bigint }
  | { kind: "heal-link"; a: bigint; b: bigint }
  | { kind: "release"; directed: string };

interface Scheduled {
  atMs: number;
  sequence: number;
  event: Event;
}

/** A binary heap of events by time, then by scheduling order. */
class EventQueue {
  private readonly heap: Scheduled[] = [];
  private sequence = 0;

  get size(): number {
    return this.heap.length;
  }

  push(atMs: number, event: Event): void {
    const item = { atMs, sequence: this.sequence++, event };
    this.heap.push(item);
    let index = this.heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = this.heap[parent];
      if (above === undefined || !before(item, above)) break;
      this.heap[index] = above;
      this.heap[parent] = item;
      index = parent;
    }
  }

  peek(): Scheduled | undefined {
    return this.heap[0];
  }

  pop(): Scheduled | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top === undefined || last === undefined || this.heap.length === 0) return top;
    this.heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      const leftItem = this.heap[left];
      const rightItem = this.heap[right];
      const smallestItem = () => this.heap[smallest] as Scheduled;
      if (leftItem !== undefined && before(leftItem, smallestItem())) smallest = left;
      if (rightItem !== undefined && before(rightItem, smallestItem())) smallest = right;
      if (smallest === index) break;
      const swap = this.heap[smallest] as Scheduled;
      this.heap[smallest] = this.heap[index] as Scheduled;
      this.heap[index] = swap;
      index = smallest;
    }
    return top;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
}

function pairKey(a: bigint, b: bigint): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

export const simulationEventsMaxDefault = 2_000_000;

export class ClusterSimulator {
  readonly random: () => number;
  nowMs = 0;
  readonly servers = new Map<bigint, SimServer>();
  readonly applies: ApplyRecord[] = [];
  readonly operations: ClientOperation[] = [];
  /** Writes a leader applied (acknowledged to their client). */
  readonly acknowledged = new Set<number>();
  /** Every write ever proposed. */
  readonly proposed = new Map<number, RegisterWrite>();
  readonly trace: string[] = [];
  private readonly queue = new EventQueue();
  private readonly quorum: MajorityQuorum;
  private readonly config: Omit<ZabConfig, "myId">;
  private readonly tickHalfMs: number;
  /** Connection generation per server pair: a message of an older one is never delivered. */
  private readonly links = new Map<string, number>();
  /** Server pairs with a live connection: nothing is sent on a closed one. */
  private readonly openLinks = new Set<string>();
  /** When the last message on a directed link arrives, to keep each connection FIFO. */
  private readonly linkArrivalMs = new Map<string, number>();
  private readonly partitioned = new Set<bigint>();
  /** Per directed link, what a partition holds back, in order (TCP delivers it after healing). */
  private readonly held = new Map<string, Event[]>();
  private readonly pendingReads = new Map<number, { operation: ClientOperation; server: bigint }>();
  private readonly pendingWrites = new Map<number, ClientOperation>();
  private nextWriteId = 1;
  private nextToken = 1;
  private nextClient = 1;
  private eventsProcessed = 0;
  private faultsEnabled = true;

  constructor(readonly options: SimulationOptions) {
    this.random = seededRandom(options.seed);
    const observers = options.observers ?? 0;
    const servers = new Map<bigint, QuorumServer>();
    for (let i = 1; i <= options.voters + observers; i++) {
      const id = BigInt(i);
      servers.set(id, {
        id,
        host: "127.0.0.1",
        quorumPort: 0,
        electionPort: 0,
        type: i <= options.voters ? "participant" : "observer",
        clientHost: null,
        clientPort: null,
      } as QuorumServer);
    }
    this.quorum = new MajorityQuorum(servers);
    const tickTimeMs = options.tickTimeMs ?? 200;
    this.tickHalfMs = tickTimeMs / 2;
    this.config = {
      voters: this.quorum.voters,
      observers: new Set([...servers.values()].filter((s) => s.type === "observer").map((s) => s.id)),
      initLimitTicks: (options.initLimit ?? 10) * 2,
      syncLimitTicks: (options.syncLimit ?? 5) * 2,
      commitLogCount: options.commitLogCount ?? 8,
      outstandingProposalsMax: 1000,
    };
    for (const id of servers.keys()) {
      this.servers.set(id, {
        id,
        alive: false,
        incarnation: 0,
        disk: emptyDisk(),
        core: null,
        election: new FastLeaderElection(id, this.quorum),
        looking: false,
        electionTimerMs: null,
        state: copyState(emptyDisk().snapshot),
        persisting: null,
        persistingPipelined: false,
        pendingAppends: [],
        lastAppendAtMs: 0,
      });
    }
  }

  // ---- Running ------------------------------------------------------------------------

  /** Starts every server; with `load`, schedules client operations and faults. */
  start(load = true): void {
    for (const id of this.servers.keys()) this.startServer(id);
    if (load) {
      this.queue.push(this.nowMs + this.gap(this.options.operationGapMs ?? 20), { kind: "operation" });
      if ((this.options.faultGapMs ?? 1000) > 0) {
        this.queue.push(this.nowMs + this.gap(this.options.faultGapMs ?? 1000), { kind: "fault" });
      }
    }
  }

  /** Runs events until `untilMs` or until `done` holds. Returns whether `done` held. */
  runUntil(untilMs: number, done?: () => boolean): boolean {
    const eventsMax = this.options.eventsMax ?? simulationEventsMaxDefault;
    for (;;) {
      if (done?.()) return true;
      // Peeked, not popped and pushed back: that would give it a new place among equal times.
      const upcoming = this.queue.peek();
      if (upcoming === undefined || upcoming.atMs > untilMs) {
        this.nowMs = Math.max(this.nowMs, untilMs);
        return done?.() ?? false;
      }
      const next = this.queue.pop() as Scheduled;
      this.nowMs = next.atMs;
      if (++this.eventsProcessed > eventsMax) throw new Error(`more than ${eventsMax} events`);
      this.handle(next.event);
    }
  }

  /**
   * A whole run: the fault phase with load, then heal everything, restart the dead, and
   * wait for every server to serve the same state. Returns whether they settled.
   */
  run(): boolean {
    this.start(true);
    this.runUntil(this.options.faultPhaseMs ?? 10_000);
    this.healAll();
    return this.runUntil(this.nowMs + (this.options.settlePhaseMsMax ?? 300_000), () => this.settled());
  }

  /** Stops faults and load, heals partitions, restarts crashed servers. */
  healAll(): void {
    this.faultsEnabled = false;
    for (const id of [...this.partitioned]) this.heal(id);
    for (const server of this.servers.values()) if (!server.alive) this.startServer(server.id);
  }

  /** Everyone alive serves, with one leader, and all have applied the same txns. */
  settled(): boolean {
    const servers = [...this.servers.values()];
    if (servers.some((s) => !s.alive || s.core === null || !s.core.serving || s.persisting !== null))
      return false;
    const leaders = servers.filter((s) => s.core?.role === "leading");
    if (leaders.length !== 1) return false;
    const leader = leaders[0];
    if (leader === undefined) return false;
    return servers.every(
      (s) =>
        s.state.zxid === leader.state.zxid &&
        s.core?.leaderId === leader.id &&
        s.state.applied.length === leader.state.applied.length,
    );
  }

  private gap(meanMs: number): number {
    return Math.max(1, Math.round(-Math.log(1 - this.random()) * meanMs));
  }

  private log(line: string): void {
    this.trace.push(`${this.nowMs.toFixed(0).padStart(7)} ${line}`);
  }

  // ---- Servers ------------------------------------------------------------------------

  /** Boots a server from its disk, as the real one does: snapshot, then every logged txn. */
  startServer(id: bigint): void {
    const server = this.server(id);
    server.alive = true;
    server.incarnation++;
    const { state, durable } = bootFromDisk(server.disk, this.config.commitLogCount);
    server.state = state;
    server.core = new ZabPeer({ ...this.config, myId: id }, durable);
    forgetDiskWork(server);
    server.election = new FastLeaderElection(id, this.quorum);
    server.electionTimerMs = null;
    this.log(`start ${id} ${server.core.describe()}`);
    this.scheduleTick(server);
    this.startLooking(server);
  }

  crash(id: bigint): void {
    const server = this.server(id);
    if (!server.alive) return;
    // A disk write in progress may have reached the platter in part: a prefix of its txns.
    const persisting = server.persisting;
    const pending = server.pendingAppends;
    if (pending.length > 0) {
      // Pipelined appends land in order: some whole, the next perhaps in part, the rest not.
      const whole = randomInt(this.random, 0, pending.length);
      for (const [index, proposals] of pending.entries()) {
        if (index < whole) persistToDisk(server.disk, { type: "append", proposals });
        else {
          const part = randomInt(this.random, 0, proposals.length);
          persistToDisk(server.disk, { type: "append", proposals: proposals.slice(0, part) });
          break;
        }
      }
    } else if (persisting !== null && this.random() < 0.5) {
      const ops = persisting.persist;
      const keep = randomInt(this.random, 0, ops.length);
      for (const [index, op] of ops.entries()) {
        if (index > keep) break;
        if (index === keep && op.type === "append") {
          const part = randomInt(this.random, 0, op.proposals.length);
          persistToDisk(server.disk, { type: "append", proposals: op.proposals.slice(0, part) });
          break;
        }
        if (index === keep) break;
        persistToDisk(server.disk, op);
      }
    }
    server.alive = false;
    server.core = null;
    forgetDiskWork(server);
    server.looking = false;
    this.log(`crash ${id}`);
    for (const other of this.servers.keys()) if (other !== id) this.breakLink(id, other);
    for (const [token, read] of this.pendingReads) {
      if (read.server === id) this.pendingReads.delete(token);
    }
  }

  /** Cuts `id` off from everyone until `heal`. */
  partition(id: bigint): void {
    this.partitioned.add(id);
    this.log(`partition ${id}`);
  }

  heal(id: bigint): void {
    this.partitioned.delete(id);
    this.log(`heal ${id}`);
    for (const [directed, events] of [...this.held]) {
      const [from, to] = directed.split(">").map((part) => BigInt(part));
      if (from === undefined || to === undefined || !this.reachable(from, to) || events.length === 0)
        continue;
      this.queue.push(this.nowMs, { kind: "release", directed });
    }
  }

  /** Holds an event of a partitioned link (and everything after it on that link) until healing. */
  private holdIfCut(from: bigint, to: bigint, event: Event): boolean {
    const directed = `${from}>${to}`;
    const held = this.held.get(directed);
    if (held !== undefined) {
      held.push(event);
      return true;
    }
    if (this.reachable(from, to)) return false;
    this.held.set(directed, [event]);
    return true;
  }

  private reachable(a: bigint, b: bigint): boolean {
    return !this.partitioned.has(a) && !this.partitioned.has(b);
  }

  private server(id: bigint): SimServer {
    const server = this.servers.get(id);
    if (server === undefined) throw new Error(`no server ${id}`);
    return server;
  }

  private scheduleTick(server: SimServer): void {
    this.queue.push(this.nowMs + this.tickHalfMs, {
      kind: "tick",
      server: server.id,
      incarnation: server.incarnation,
    });
  }

  private startLooking(server: SimServer): void {
    const core = server.core;
    if (core === null) return;
    server.looking = true;
    server.election.startLooking(core.lastLoggedZxid, core.currentEpoch, this.nowMs);
    this.pumpElection(server);
  }

  private pumpElection(server: SimServer): void {
    for (const message of server.election.takeMessages()) {
      const copies = this.random() < 0.05 ? 2 : 1;
      for (let copy = 0; copy < copies; copy++) {
        if (this.random() < 0.05) continue;
        this.queue.push(this.nowMs + randomInt(this.random, 1, 30), {
          kind: "notification",
          from: server.id,
          to: message.to,
          notification: message.notification,
        });
      }
    }
    const decision = server.election.decision;
    if (decision !== null && server.looking && server.core !== null) {
      server.looking = false;
      if (decision.state === PeerState.LEADING) server.core.lead();
      else server.core.follow(decision.vote.leader);
      this.log(`elected ${server.id} ${server.core.describe()}`);
      this.pumpReady(server);
    }
    const next = server.election.nextTimerMs();
    if (next !== null && next !== server.electionTimerMs) {
      server.electionTimerMs = next;
      this.queue.push(Math.max(this.nowMs, next), {
        kind: "election-timer",
        server: server.id,
        incarnation: server.incarnation,
        atMs: next,
      });
    }
  }

  /** Starts persisting the next Ready if there is one and none is in progress. */
  private pumpReady(server: SimServer): void {
    const core = server.core;
    if (core === null || server.persisting !== null || !core.hasReady()) return;
    const ready = core.ready();
    server.persisting = ready;
    server.persistingPipelined = core.canPipeline(ready);
    // As the real leader: a pipelinable Ready starts at once unless pipelinedAppendsMax appends
    // are pending, and then after all of them have landed; anything else waits until every
    // pending append has landed (see appendLanded).
    const pending = server.pendingAppends.length;
    if (server.persistingPipelined ? pending < pipelinedAppendsMax : pending === 0)
      this.startPersisting(server);
  }

  private startPersisting(server: SimServer): void {
    const ready = server.persisting;
    if (ready === null) return;
    if (server.persistingPipelined) {
      // The appends start and land later, in order; the Ready is done now.
      server.persisting = null;
      for (const op of ready.persist) {
        if (op.type !== "append" || op.proposals.length === 0) continue;
        server.pendingAppends.push(op.proposals);
        server.lastAppendAtMs = Math.max(server.lastAppendAtMs, this.nowMs + randomInt(this.random, 1, 4));
        this.queue.push(server.lastAppendAtMs, {
          kind: "appended",
          server: server.id,
          incarnation: server.incarnation,
        });
      }
      this.completeReady(server, ready, true);
    } else if (ready.persist.length === 0) this.finishReady(server);
    else
      this.queue.push(this.nowMs + randomInt(this.random, 1, 4), {
        kind: "persisted",
        server: server.id,
        incarnation: server.incarnation,
      });
  }

  /** The oldest pending append has landed: the core hears of it. */
  private appendLanded(server: SimServer): void {
    const proposals = server.pendingAppends.shift();
    if (proposals === undefined) return;
    persistToDisk(server.disk, { type: "append", proposals });
    const last = proposals.at(-1);
    if (last !== undefined) server.core?.appended(last.zxid);
    if (server.persisting === null) this.pumpReady(server);
    else if (server.pendingAppends.length === 0) this.startPersisting(server);
  }

  /** The disk write is done: apply, send, then tell the core. */
  private finishReady(server: SimServer): void {
    const ready = server.persisting;
    if (ready === null || server.core === null) return;
    for (const op of ready.persist) persistToDisk(server.disk, op);
    server.persisting = null;
    this.completeReady(server, ready, false);
  }

  /** Applies, sends and advances a Ready (its appends still pending when `pipelined`). */
  private completeReady(
    server: SimServer,
    ready: Ready<RegisterWrite, RegisterState>,
    pipelined: boolean,
  ): void {
    const core = server.core;
    if (core === null) return;
    for (const op of ready.apply) {
      server.state = applyToState(server.disk, server.state, op);
      if (op.type !== "txn") continue;
      this.applies.push({
        server: server.id,
        zxid: op.proposal.zxid,
        writeId: op.proposal.txn.id,
        atMs: this.nowMs,
      });
      if (core.role === "leading") {
        this.checkQuorumDurable(server, op.proposal.zxid);
        this.writeApplied(op.proposal.txn.id);
      }
    }
    for (const { to, message } of ready.messages) this.sendZab(server, to, message);
    for (const peer of ready.disconnect) this.breakLink(server.id, peer);
    for (const token of ready.syncsDone) this.readDone(token);
    if (ready.settledEpoch !== null) server.election.updateElectionVote(ready.settledEpoch);
    core.advance(pipelined);
    if (ready.lookForLeader) {
      this.log(`looking ${server.id}: ${core.stepDownReason}`);
      this.startLooking(server);
    }
    this.pumpReady(server);
  }

  /**
   * A leader applies (and so acknowledges) a txn only once a majority of the voters hold it on
   * disk. This catches a leader that counts its own ack before its pipelined append lands.
   */
  private checkQuorumDurable(leader: SimServer, zxid: bigint): void {
    let holding = 0;
    let voters = 0;
    for (const id of this.config.voters) {
      voters++;
      const disk = this.servers.get(id)?.disk;
      if (disk !== undefined && diskHolds(disk, zxid)) holding++;
    }
    if (holding * 2 <= voters) {
      throw new Error(
        `leader ${leader.id} applied 0x${zxid.toString(16)}, held on disk by only ${holding} of ${voters} voters`,
      );
    }
  }

  private sendZab(server: SimServer, to: bigint, message: Message): void {
    const key = pairKey(server.id, to);
    // A learner's FOLLOWERINFO opens a new connection; anything left on the old one is gone.
    if (message.type === "followerinfo") {
      this.links.set(key, (this.links.get(key) ?? 0) + 1);
      this.openLinks.add(key);
    } else if (!this.openLinks.has(key)) return;
    const link = this.links.get(key) ?? 0;
    if (message.type === "snap") {
      message = { ...message, snapshot: copyState(server.state) };
      if (server.state.zxid !== message.zxid)
        throw new Error(`SNAP at ${message.zxid} but state at ${server.state.zxid}`);
    }
    if (
      message.type === "diff" ||
      message.type === "trunc" ||
      message.type === "snap" ||
      message.type === "leaderinfo"
    ) {
      this.log(
        `${server.id}>${to} ${message.type} 0x${("zxid" in message ? message.zxid : message.epoch).toString(16)}`,
      );
    }
    const directed = `${server.id}>${to}`;
    const arrival = Math.max(
      this.nowMs + randomInt(this.random, 1, 20),
      this.linkArrivalMs.get(directed) ?? 0,
    );
    this.linkArrivalMs.set(directed, arrival);
    this.queue.push(arrival, { kind: "zab", from: server.id, to, link, message });
  }

  private breakLink(a: bigint, b: bigint): void {
    const key = pairKey(a, b);
    if (!this.openLinks.delete(key)) return;
    const link = (this.links.get(key) ?? 0) + 1;
    this.links.set(key, link);
    // Each side hears of it once the other's FIN or RST can reach it.
    this.queue.push(this.nowMs + randomInt(this.random, 1, 20), {
      kind: "disconnected",
      server: a,
      peer: b,
      link,
    });
    this.queue.push(this.nowMs + randomInt(this.random, 1, 20), {
      kind: "disconnected",
      server: b,
      peer: a,
      link,
    });
  }

  // ---- Events -------------------------------------------------------------------------

  private handle(event: Event): void {
    switch (event.kind) {
      case "zab": {
        const target = this.servers.get(event.to);
        if (target === undefined || !target.alive || target.core === null) return;
        const key = pairKey(event.from, event.to);
        if ((this.links.get(key) ?? 0) !== event.link || !this.openLinks.has(key)) return;
        // TCP keeps the bytes: they arrive after the partition heals, if the connection lives.
        if (this.holdIfCut(event.from, event.to, event)) return;
        target.core.step(event.from, event.message);
        this.pumpReady(target);
        return;
      }
      case "notification": {
        const target = this.servers.get(event.to);
        if (target === undefined || !target.alive || !this.reachable(event.from, event.to)) return;
        target.election.receive(event.from, event.notification, this.nowMs);
        this.pumpElection(target);
        return;
      }
      case "tick": {
        const server = this.server(event.server);
        if (!server.alive || server.incarnation !== event.incarnation || server.core === null) return;
        server.core.tick();
        this.scheduleTick(server);
        this.pumpReady(server);
        return;
      }
      case "election-timer": {
        const server = this.server(event.server);
        if (
          !server.alive ||
          server.incarnation !== event.incarnation ||
          server.electionTimerMs !== event.atMs
        )
          return;
        server.electionTimerMs = null;
        server.election.tick(this.nowMs);
        this.pumpElection(server);
        return;
      }
      case "persisted": {
        const server = this.server(event.server);
        if (!server.alive || server.incarnation !== event.incarnation) return;
        this.finishReady(server);
        return;
      }
      case "appended": {
        const server = this.server(event.server);
        if (!server.alive || server.incarnation !== event.incarnation) return;
        this.appendLanded(server);
        return;
      }
      case "disconnected": {
        const server = this.server(event.server);
        if (!server.alive || server.core === null) return;
        if ((this.links.get(pairKey(event.server, event.peer)) ?? 0) !== event.link) return;
        if (this.holdIfCut(event.peer, event.server, event)) return;
        server.core.disconnected(event.peer);
        this.pumpReady(server);
        return;
      }
      case "operation":
        this.clientOperation();
        if (this.faultsEnabled) {
          this.queue.push(this.nowMs + this.gap(this.options.operationGapMs ?? 20), { kind: "operation" });
        }
        return;
      case "fault":
        if (!this.faultsEnabled) return;
        this.injectFault();
        this.queue.push(this.nowMs + this.gap(this.options.faultGapMs ?? 1000), { kind: "fault" });
        return;
      case "restart":
        if (this.faultsEnabled && !this.server(event.server).alive) this.startServer(event.server);
        return;
      case "release": {
        // Delivered in order; anything arriving meanwhile on the link queued behind them.
        const events = this.held.get(event.directed) ?? [];
        this.held.delete(event.directed);
        for (const held of events) this.handle(held);
        return;
      }
      case "heal-link":
        if (this.faultsEnabled) this.heal(event.a);
        return;
    }
  }

  private injectFault(): void {
    const ids = [...this.servers.keys()];
    const id = ids[randomInt(this.random, 0, ids.length - 1)] ?? 1n;
    const roll = this.random();
    if (roll < 0.35) {
      this.crash(id);
      this.queue.push(this.nowMs + randomInt(this.random, 100, 3000), { kind: "restart", server: id });
    } else if (roll < 0.6) {
      this.partition(id);
      this.queue.push(this.nowMs + randomInt(this.random, 200, 4000), { kind: "heal-link", a: id, b: id });
    } else {
      const other = ids[randomInt(this.random, 0, ids.length - 1)] ?? 1n;
      if (other !== id) {
        this.log(`disconnect ${id}-${other}`);
        this.breakLink(id, other);
      }
    }
  }

  // ---- Clients ------------------------------------------------------------------------

  private clientOperation(): void {
    const serving = [...this.servers.values()].filter((s) => s.alive && s.core?.serving === true);
    const keys = this.options.keys ?? 3;
    const key = `k${randomInt(this.random, 1, keys)}`;
    const client = this.nextClient++;
    if (this.random() < 0.5) {
      const leader = serving.find((s) => s.core?.role === "leading");
      if (leader === undefined || leader.core === null) return;
      const write = { id: this.nextWriteId++, key, value: `v${this.nextWriteId}` };
      const zxid = leader.core.propose(() => write);
      if (zxid === null) return;
      this.proposed.set(write.id, write);
      const operation: ClientOperation = {
        client,
        kind: "write",
        key,
        value: write.value,
        callMs: this.nowMs,
        returnMs: Number.POSITIVE_INFINITY,
        writeId: write.id,
        server: leader.id,
      };
      this.operations.push(operation);
      this.pendingWrites.set(write.id, operation);
      this.pumpReady(leader);
    } else {
      const server = serving[randomInt(this.random, 0, serving.length - 1)];
      if (server === undefined || server.core === null) return;
      const token = this.nextToken++;
      if (!server.core.requestSync(token)) return;
      const operation: ClientOperation = {
        client,
        kind: "read",
        key,
        value: null,
        callMs: this.nowMs,
        returnMs: Number.POSITIVE_INFINITY,
        server: server.id,
      };
      this.operations.push(operation);
      this.pendingReads.set(token, { operation, server: server.id });
      this.pumpReady(server);
    }
  }

  private writeApplied(writeId: number): void {
    const operation = this.pendingWrites.get(writeId);
    if (operation === undefined) return;
    this.pendingWrites.delete(writeId);
    operation.returnMs = this.nowMs;
    this.acknowledged.add(writeId);
  }

  private readDone(token: number): void {
    const read = this.pendingReads.get(token);
    if (read === undefined) return;
    this.pendingReads.delete(token);
    const server = this.server(read.server);
    read.operation.value = server.state.values.get(read.operation.key) ?? null;
    read.operation.returnMs = this.nowMs;
  }
}
