/**
 * ZAB as a pure state machine, in the etcd-raft style: the driver feeds it messages
 * (`step`), time (`tick`, one per half tickTime) and client writes (`propose`), then takes
 * a `Ready` (what to persist, then apply, then send), carries it out and calls `advance`.
 * No I/O, clock or randomness here; the same code runs in the server and the simulator.
 *
 * The protocol is ZooKeeper 3.8's (Leader, LearnerHandler, Learner, Follower, Observer):
 *   - discovery: learners send FOLLOWERINFO with their accepted epoch; once a quorum has,
 *     the leader's epoch is one more than the greatest, saved as acceptedEpoch, then sent
 *     as LEADERINFO; learners save it and answer ACKEPOCH with their current epoch and last
 *     zxid; a learner more recent than the leader makes it give up;
 *   - sync: once a quorum acknowledged the epoch the leader saves currentEpoch and brings
 *     each learner up to date by DIFF (the proposals it lacks), TRUNC (it has txns the
 *     leader never had) or SNAP (it is behind the in-memory log), then NEWLEADER; a learner
 *     acknowledges NEWLEADER only once the sync and the epoch are on disk;
 *   - once a quorum acknowledged NEWLEADER the leader is established: its whole log counts
 *     as committed, learners get UPTODATE and only then apply what they synced;
 *   - broadcast: PROPOSAL, ACK once logged, COMMIT in zxid order at a quorum (INFORM to
 *     observers); PINGs every tick; a leader that does not hear from a quorum within
 *     syncLimit, or a learner that does not hear from its leader, goes back to election.
 * Every txn this core hands to `apply` is committed; nothing committed is ever truncated.
 */
import { ProposalLog } from "./proposal-log.js";
import {
  type ApplyOp,
  type DurableState,
  hex,
  makeZxid,
  type Outgoing,
  type PersistOp,
  type Ready,
  type Role,
  type ZabConfig,
  type ZabMessage,
  ZabProtocolError,
} from "./zab-types.js";

/** A leader's view of its learners (mntr's leader gauges). */
export interface LeaderStats {
  learners: number;
  syncedFollowers: number;
  syncedObservers: number;
  pendingSyncs: number;
  outstandingProposals: number;
}

/** A zxid counter a leader must not pass (ZooKeeper re-elects before the counter overflows). */
export const zxidCounterMax = 0xffff_fff0n;

type HandlePhase = "info" | "epoch" | "awaiting-sync" | "newleader" | "synced" | "uptodate";

/** The leader's view of one learner connection (LearnerHandler). */
interface LearnerHandle {
  id: bigint;
  observer: boolean;
  phase: HandlePhase;
  peerLastZxid: bigint;
  /** The last zxid the sync covered: the learner's NEWLEADER ack acknowledges up to here. */
  syncedUpTo: bigint;
  deadlineTick: number;
}

interface LeaderState {
  epoch: bigint | null;
  phase: "discovery" | "epoch-ack" | "newleader" | "established";
  startedTick: number;
  /** Voters (ourselves included) whose accepted epoch the new epoch is above. */
  connecting: Set<bigint>;
  greatestAcceptedEpoch: bigint;
  epochAcked: Set<bigint>;
  newLeaderAcked: Set<bigint>;
  /** Our state when elected: learners more recent than this make us give up. */
  electedEpoch: bigint;
  electedZxid: bigint;
  handles: Map<bigint, LearnerHandle>;
  /** Learners whose sync is built at the next `ready` (after this Ready's applies). */
  syncQueue: bigint[];
  counter: bigint;
  /** Proposals waiting for a quorum, in zxid order, with the voters that logged them. */
  outstanding: Map<bigint, Set<bigint>>;
  pendingSyncs: { from: bigint; token: number; zxid: bigint }[];
}

type LearnerPhase = "info" | "sync-wait" | "syncing" | "synced" | "broadcast";

interface LearnerState {
  leaderId: bigint;
  observer: boolean;
  phase: LearnerPhase;
  newEpoch: bigint;
  lastHeardTick: number;
  /** What the sync says is committed; applied at UPTODATE. */
  syncCommitted: bigint;
  snapshot: { zxid: bigint; snapshot: unknown } | null;
  /** Sync requests sent to the leader, answered in order (the answer names none). */
  syncsSent: number[];
}

export class ZabPeer<T, S> {
  role: Role = "looking";
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  readonly log: ProposalLog<T>;
  /** The highest zxid known committed (for a new leader: its whole log, applied once established). */
  committedZxid: bigint;
  appliedZxid: bigint;
  private persistedZxid: bigint;
  private persistedCurrentEpoch: bigint;
  private nowTick = 0;
  private leader: LeaderState | null = null;
  private learner: LearnerState | null = null;
  private persistOps: PersistOp<T, S>[] = [];
  private applyOps: ApplyOp<T, S>[] = [];
  private outbox: Outgoing<T, S>[] = [];
  private disconnects: bigint[] = [];
  private syncsDone: number[] = [];
  private lookFlag = false;
  private settledEpoch: bigint | null = null;
  private inFlight: Ready<T, S> | null = null;

  constructor(
    readonly config: ZabConfig,
    durable: DurableState<T>,
  ) {
    this.acceptedEpoch = durable.acceptedEpoch;
    this.currentEpoch = durable.currentEpoch;
    this.persistedCurrentEpoch = durable.currentEpoch;
    this.log = new ProposalLog(durable.recentBase, durable.recent);
    this.appliedZxid = durable.appliedZxid;
    this.committedZxid = durable.appliedZxid;
    this.persistedZxid = this.log.lastZxid;
    if (durable.appliedZxid > this.log.lastZxid || durable.appliedZxid < durable.recentBase) {
      throw new ZabProtocolError(
        `applied ${hex(durable.appliedZxid)} outside the log (${hex(durable.recentBase)}, ${hex(this.log.lastZxid)}]`,
      );
    }
  }

  get lastLoggedZxid(): bigint {
    return this.log.lastZxid;
  }

  /** Ticks since this peer started. */
  get ticks(): number {
    return this.nowTick;
  }

  /** The leader this peer follows or observes, or itself when leading; null while looking. */
  get leaderId(): bigint | null {
    if (this.role === "leading") return this.config.myId;
    return this.learner?.leaderId ?? null;
  }

  /** Whether clients may be served: an established leader, or a learner that is up to date. */
  get serving(): boolean {
    if (this.leader !== null) return this.leader.phase === "established";
    return this.learner?.phase === "broadcast";
  }

  private isVoter(id: bigint): boolean {
    return this.config.voters.has(id);
  }

  private hasQuorum(ids: Iterable<bigint>): boolean {
    let count = 0;
    for (const id of ids) if (this.isVoter(id)) count++;
    return count > this.config.voters.size / 2;
  }

  private send(to: bigint, message: ZabMessage<T, S>): void {
    this.outbox.push({ to, message });
  }

  private persist(op: PersistOp<T, S>): void {
    const last = this.persistOps.at(-1);
    if (op.type === "append" && last?.type === "append") {
      this.persistOps[this.persistOps.length - 1] = {
        type: "append",
        proposals: [...last.proposals, ...op.proposals],
      };
    } else this.persistOps.push(op);
  }

  // ---- Role changes -------------------------------------------------------------------

  /** Lead after winning an election. */
  lead(): void {
    this.resetRole();
    this.role = "leading";
    this.leader = {
      epoch: null,
      phase: "discovery",
      startedTick: this.nowTick,
      connecting: new Set([this.config.myId]),
      greatestAcceptedEpoch: this.acceptedEpoch,
      epochAcked: new Set([this.config.myId]),
      newLeaderAcked: new Set(),
      electedEpoch: this.currentEpoch,
      electedZxid: this.log.lastZxid,
      handles: new Map(),
      syncQueue: [],
      counter: 0n,
      outstanding: new Map(),
      pendingSyncs: [],
    };
    // A new leader's history is its whole log: committed once a quorum has it.
    this.committedZxid = this.log.lastZxid;
    this.maybeDecideEpoch();
  }

  /** Follow (or observe) `leaderId` after an election. */
  follow(leaderId: bigint): void {
    this.resetRole();
    const observer = this.config.observers.has(this.config.myId);
    this.role = observer ? "observing" : "following";
    this.learner = {
      leaderId,
      observer,
      phase: "info",
      newEpoch: -1n,
      lastHeardTick: this.nowTick,
      syncCommitted: this.committedZxid,
      snapshot: null,
      syncsSent: [],
    };
    this.send(leaderId, { type: "followerinfo", acceptedEpoch: this.acceptedEpoch, observer });
  }

  private resetRole(): void {
    this.leader = null;
    this.learner = null;
    this.outbox = [];
    // A leader's snapshot is on disk but the sync ended before UPTODATE installed it: the
    // applied state is behind the log, so rebuild it from disk (the snapshot, committed).
    if (this.appliedZxid < this.log.base) {
      this.appliedZxid = this.log.base;
      this.applyOps.push({ type: "reload", zxid: this.log.base });
    }
    // Whatever was logged but not committed may yet be truncated by the next leader.
    this.committedZxid = this.appliedZxid;
  }

  /** Back to election: close every connection, forget the role. */
  private stepDown(reason: string): void {
    const peers =
      this.leader !== null
        ? [...this.leader.handles.keys()]
        : this.learner !== null
          ? [this.learner.leaderId]
          : [];
    this.resetRole();
    this.disconnects.push(...peers);
    this.role = "looking";
    this.lookFlag = true;
    this.stepDownReason = reason;
  }

  /** Why the peer last went back to election (for logs and transcripts). */
  stepDownReason = "";

  // ---- Input --------------------------------------------------------------------------

  /** A message from `from` on the current connection with it. */
  step(from: bigint, message: ZabMessage<T, S>): void {
    try {
      if (this.leader !== null) this.stepLeading(this.leader, from, message);
      else if (this.learner !== null) this.stepLearning(this.learner, from, message);
    } catch (error) {
      if (!(error instanceof ZabProtocolError)) throw error;
      if (this.leader !== null) {
        this.dropLearner(this.leader, from);
      } else this.stepDown(error.message);
    }
  }

  /** The connection with `peer` broke. */
  disconnected(peer: bigint): void {
    if (this.leader !== null) {
      this.leader.handles.delete(peer);
    } else if (this.learner !== null && this.learner.leaderId === peer) {
      this.stepDown(`lost the connection to leader ${peer}`);
    }
  }

  /** One half of a tickTime has passed. */
  tick(): void {
    this.nowTick++;
    if (this.leader !== null) this.tickLeading(this.leader);
    else if (this.learner !== null) {
      const learner = this.learner;
      const limit = learner.phase === "broadcast" ? this.config.syncLimitTicks : this.config.initLimitTicks;
      if (this.nowTick - learner.lastHeardTick > limit) {
        this.stepDown(`nothing from leader ${learner.leaderId} for ${limit} ticks`);
      }
    }
  }

  /** Learners and pending work of a leader; null on any other role. */
  leaderStats(): LeaderStats | null {
    const leader = this.leader;
    if (leader === null) return null;
    let syncedFollowers = 0;
    let syncedObservers = 0;
    for (const handle of leader.handles.values()) {
      if (handle.phase !== "uptodate") continue;
      if (handle.observer) syncedObservers++;
      else syncedFollowers++;
    }
    return {
      learners: leader.handles.size,
      syncedFollowers,
      syncedObservers,
      pendingSyncs: leader.pendingSyncs.length,
      outstandingProposals: leader.outstanding.size,
    };
  }

  /** The zxid the next proposal would get, or null when this peer cannot propose. */
  nextZxid(): bigint | null {
    const leader = this.leader;
    if (leader === null || leader.phase !== "established" || leader.epoch === null) return null;
    return makeZxid(leader.epoch, leader.counter + 1n);
  }

  /**
   * A client write on the established leader: `make` builds the txn for its zxid.
   * Returns the zxid, or null when this peer cannot propose now (not leading, not yet
   * established, too many proposals waiting, or the zxid counter is spent).
   */
  propose(make: (zxid: bigint) => T): bigint | null {
    const leader = this.leader;
    if (leader === null || leader.phase !== "established" || leader.epoch === null) return null;
    if (leader.outstanding.size >= this.config.outstandingProposalsMax) return null;
    if (leader.counter >= zxidCounterMax) {
      this.stepDown("zxid counter exhausted: re-electing for a new epoch");
      return null;
    }
    leader.counter++;
    const zxid = makeZxid(leader.epoch, leader.counter);
    const proposal = { zxid, txn: make(zxid) };
    this.log.append(proposal);
    this.persist({ type: "append", proposals: [proposal] });
    leader.outstanding.set(zxid, new Set());
    for (const handle of leader.handles.values()) {
      if (this.forwarding(handle) && !handle.observer) this.send(handle.id, { type: "proposal", proposal });
    }
    return zxid;
  }

  /**
   * A sync request (ZooKeeper's sync()): `token` is reported in `Ready.syncsDone` once
   * every write the leader had proposed when it saw the request is applied here.
   * Returns false when this peer is not serving.
   */
  requestSync(token: number): boolean {
    if (!this.serving) return false;
    if (this.leader !== null) {
      this.leaderSync(this.leader, this.config.myId, token);
    } else if (this.learner !== null) {
      this.learner.syncsSent.push(token);
      this.send(this.learner.leaderId, { type: "sync", token });
    }
    return true;
  }

  // ---- Output -------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.persistOps.length > 0 ||
      this.applyOps.length > 0 ||
      this.outbox.length > 0 ||
      this.disconnects.length > 0 ||
      this.syncsDone.length > 0 ||
      this.lookFlag ||
      this.settledEpoch !== null ||
      (this.leader?.syncQueue.length ?? 0) > 0
    );
  }

  /** Takes what to do next; call `advance` once it is done (persisted, applied, sent). */
  ready(): Ready<T, S> {
    if (this.inFlight !== null) throw new ZabProtocolError("ready() again before advance()");
    if (this.leader !== null) this.buildSyncs(this.leader);
    const ready: Ready<T, S> = {
      persist: this.persistOps,
      apply: this.applyOps,
      messages: this.outbox,
      disconnect: this.disconnects,
      lookForLeader: this.lookFlag,
      syncsDone: this.syncsDone,
      settledEpoch: this.settledEpoch,
      serving: this.serving,
    };
    this.settledEpoch = null;
    this.persistOps = [];
    this.applyOps = [];
    this.outbox = [];
    this.disconnects = [];
    this.syncsDone = [];
    this.lookFlag = false;
    this.inFlight = ready;
    return ready;
  }

  /** The last Ready is done: what it persisted is durable. */
  advance(): void {
    const ready = this.inFlight;
    if (ready === null) throw new ZabProtocolError("advance() without ready()");
    this.inFlight = null;
    for (const op of ready.persist) {
      if (op.type === "append") this.persistedZxid = op.proposals.at(-1)?.zxid ?? this.persistedZxid;
      else if (op.type === "truncate" || op.type === "snapshot") this.persistedZxid = op.zxid;
      else if (op.type === "currentEpoch") this.persistedCurrentEpoch = op.epoch;
    }
    if (this.leader !== null) {
      this.maybeEstablish(this.leader);
      this.tryCommit(this.leader);
    }
  }

  /** Forgets what was handed out but not done (the driver crashed or gave up on it). */
  get pendingReady(): boolean {
    return this.inFlight !== null;
  }

  // ---- Leading ------------------------------------------------------------------------

  private forwarding(handle: LearnerHandle): boolean {
    return handle.phase === "newleader" || handle.phase === "synced" || handle.phase === "uptodate";
  }

  private stepLeading(leader: LeaderState, from: bigint, message: ZabMessage<T, S>): void {
    if (message.type === "followerinfo") {
      this.learnerArrived(leader, from, message.acceptedEpoch, message.observer);
      return;
    }
    const handle = leader.handles.get(from);
    if (handle === undefined) return;
    handle.deadlineTick =
      this.nowTick + (handle.phase === "uptodate" ? this.config.syncLimitTicks : this.config.initLimitTicks);
    switch (message.type) {
      case "ackepoch":
        this.epochAcknowledged(leader, handle, message.currentEpoch, message.lastZxid);
        return;
      case "ack":
        this.acknowledged(leader, handle, message.zxid);
        return;
      case "ping":
        return;
      case "sync":
        if (handle.phase === "uptodate") this.leaderSync(leader, from, message.token);
        return;
      default:
        throw new ZabProtocolError(`leader got ${message.type} from ${from}`);
    }
  }

  private learnerArrived(leader: LeaderState, from: bigint, acceptedEpoch: bigint, observer: boolean): void {
    if (!this.isVoter(from) && !this.config.observers.has(from)) {
      this.disconnects.push(from);
      return;
    }
    leader.handles.set(from, {
      id: from,
      observer: !this.isVoter(from) || observer,
      phase: "info",
      peerLastZxid: -1n,
      syncedUpTo: -1n,
      deadlineTick: this.nowTick + this.config.initLimitTicks,
    });
    if (leader.epoch === null) {
      if (acceptedEpoch > leader.greatestAcceptedEpoch) leader.greatestAcceptedEpoch = acceptedEpoch;
      if (this.isVoter(from)) leader.connecting.add(from);
      this.maybeDecideEpoch();
    } else if (acceptedEpoch > leader.epoch) {
      // It promised a newer leader's epoch and cannot follow ours; ZooKeeper lets it retry
      // forever. Re-electing lets the next epoch pass its promise.
      this.stepDown(`learner ${from} accepted epoch ${acceptedEpoch}, newer than ours (${leader.epoch})`);
    } else {
      const handle = leader.handles.get(from);
      if (handle !== undefined) handle.phase = "epoch";
      this.send(from, { type: "leaderinfo", epoch: leader.epoch });
    }
  }

  private maybeDecideEpoch(): void {
    const leader = this.leader;
    if (leader === null || leader.epoch !== null || !this.hasQuorum(leader.connecting)) return;
    const epoch = leader.greatestAcceptedEpoch + 1n;
    leader.epoch = epoch;
    leader.phase = "epoch-ack";
    this.acceptedEpoch = epoch;
    this.persist({ type: "acceptedEpoch", epoch });
    for (const handle of leader.handles.values()) {
      if (handle.phase !== "info") continue;
      handle.phase = "epoch";
      this.send(handle.id, { type: "leaderinfo", epoch });
    }
    this.maybeEpochQuorum(leader);
  }

  private epochAcknowledged(
    leader: LeaderState,
    handle: LearnerHandle,
    currentEpoch: bigint,
    lastZxid: bigint,
  ): void {
    if (handle.phase !== "epoch") throw new ZabProtocolError(`unexpected ACKEPOCH from ${handle.id}`);
    handle.peerLastZxid = lastZxid;
    handle.phase = "awaiting-sync";
    if (leader.phase === "epoch-ack") {
      if (
        currentEpoch !== -1n &&
        (currentEpoch > leader.electedEpoch ||
          (currentEpoch === leader.electedEpoch && lastZxid > leader.electedZxid))
      ) {
        this.stepDown(
          `learner ${handle.id} is ahead of the leader (epoch ${currentEpoch}, zxid ${hex(lastZxid)})`,
        );
        return;
      }
      // A learner that had already accepted this epoch answers -1: "we cannot ack again in
      // good conscience" (Learner.registerWithLeader), so it does not count (Leader.waitForEpochAck).
      if (!handle.observer && currentEpoch !== -1n) leader.epochAcked.add(handle.id);
      this.maybeEpochQuorum(leader);
    } else {
      leader.syncQueue.push(handle.id);
    }
  }

  private maybeEpochQuorum(leader: LeaderState): void {
    if (leader.phase !== "epoch-ack" || leader.epoch === null || !this.hasQuorum(leader.epochAcked)) return;
    leader.phase = "newleader";
    this.currentEpoch = leader.epoch;
    this.persist({ type: "currentEpoch", epoch: leader.epoch });
    for (const handle of leader.handles.values()) {
      if (handle.phase === "awaiting-sync") leader.syncQueue.push(handle.id);
    }
    this.maybeEstablish(leader);
  }

  /**
   * Builds each queued learner's sync (LearnerHandler.syncFollower) against the log as it
   * is after this Ready's applies, so a SNAP is of exactly `appliedZxid`.
   */
  private buildSyncs(leader: LeaderState): void {
    const queue = leader.syncQueue;
    leader.syncQueue = [];
    for (const id of queue) {
      const handle = leader.handles.get(id);
      if (handle === undefined || handle.phase !== "awaiting-sync" || leader.epoch === null) continue;
      const peerLast = handle.peerLastZxid;
      const last = this.log.lastZxid;
      let from: bigint;
      if (
        peerLast === last ||
        (peerLast >= this.log.base && peerLast < last && this.log.contains(peerLast))
      ) {
        from = peerLast;
        this.send(id, { type: "diff", zxid: this.committedZxid });
      } else {
        // The learner has txns we never had: cut it back to our history (never past what
        // is committed, so all it keeps counts as committed) and send the rest; a learner
        // behind our in-memory log gets a snapshot instead.
        from = this.log.floor(peerLast);
        if (from > this.committedZxid) from = this.committedZxid;
        if (peerLast < this.log.base || from < this.log.base) {
          from = this.appliedZxid;
          this.send(id, { type: "snap", zxid: from });
        } else this.send(id, { type: "trunc", zxid: from });
      }
      for (const proposal of this.log.between(from, last)) {
        const committed = proposal.zxid <= this.committedZxid;
        if (handle.observer && !committed) continue;
        this.send(id, { type: "proposal", proposal });
        if (committed) this.send(id, { type: "commit", zxid: proposal.zxid });
      }
      handle.phase = "newleader";
      handle.syncedUpTo = last;
      handle.deadlineTick = this.nowTick + this.config.initLimitTicks;
      this.send(id, { type: "newleader", zxid: makeZxid(leader.epoch, 0n) });
    }
  }

  private acknowledged(leader: LeaderState, handle: LearnerHandle, zxid: bigint): void {
    if (handle.phase === "newleader" && leader.epoch !== null && zxid === makeZxid(leader.epoch, 0n)) {
      handle.phase = "synced";
      if (!handle.observer) {
        leader.newLeaderAcked.add(handle.id);
        for (const [outstandingZxid, acks] of leader.outstanding) {
          if (outstandingZxid <= handle.syncedUpTo) acks.add(handle.id);
        }
      }
      if (leader.phase === "established") this.upToDate(handle);
      else this.maybeEstablish(leader);
      this.tryCommit(leader);
      return;
    }
    if (handle.observer || (handle.phase !== "synced" && handle.phase !== "uptodate")) return;
    leader.outstanding.get(zxid)?.add(handle.id);
    this.tryCommit(leader);
  }

  private upToDate(handle: LearnerHandle): void {
    handle.phase = "uptodate";
    handle.deadlineTick = this.nowTick + this.config.syncLimitTicks;
    this.send(handle.id, { type: "uptodate", zxid: this.committedZxid });
  }

  /** Established once a quorum (ourselves included, once our epoch and log are on disk) acknowledged NEWLEADER. */
  private maybeEstablish(leader: LeaderState): void {
    if (leader.phase !== "newleader" || leader.epoch === null) return;
    if (this.persistedCurrentEpoch === leader.epoch && this.persistedZxid >= leader.electedZxid) {
      leader.newLeaderAcked.add(this.config.myId);
    }
    if (!this.hasQuorum(leader.newLeaderAcked)) return;
    leader.phase = "established";
    this.settledEpoch = leader.epoch;
    this.applyUpTo(this.committedZxid);
    for (const handle of leader.handles.values()) if (handle.phase === "synced") this.upToDate(handle);
  }

  private tryCommit(leader: LeaderState): void {
    if (leader.phase !== "established") return;
    for (const [zxid, acks] of leader.outstanding) {
      const votes = this.persistedZxid >= zxid ? [...acks, this.config.myId] : acks;
      if (!this.hasQuorum(votes)) break;
      leader.outstanding.delete(zxid);
      this.committedZxid = zxid;
      const proposal = this.log.get(zxid);
      for (const handle of leader.handles.values()) {
        if (!this.forwarding(handle)) continue;
        if (!handle.observer) this.send(handle.id, { type: "commit", zxid });
        else if (proposal !== undefined) this.send(handle.id, { type: "inform", proposal });
      }
    }
    this.applyUpTo(this.committedZxid);
    this.answerSyncs(leader);
  }

  private leaderSync(leader: LeaderState, from: bigint, token: number): void {
    const last = this.log.lastZxid;
    leader.pendingSyncs.push({ from, token, zxid: last });
    this.answerSyncs(leader);
  }

  private answerSyncs(leader: LeaderState): void {
    while (leader.pendingSyncs.length > 0) {
      const next = leader.pendingSyncs[0];
      if (next === undefined || next.zxid > this.committedZxid) return;
      leader.pendingSyncs.shift();
      if (next.from === this.config.myId) this.syncsDone.push(next.token);
      else if (leader.handles.has(next.from)) this.send(next.from, { type: "sync", token: next.token });
    }
  }

  private dropLearner(leader: LeaderState, id: bigint): void {
    leader.handles.delete(id);
    this.disconnects.push(id);
  }

  private tickLeading(leader: LeaderState): void {
    if (leader.phase !== "established") {
      if (this.nowTick - leader.startedTick > this.config.initLimitTicks) {
        this.stepDown(`no quorum of learners synced within ${this.config.initLimitTicks} ticks`);
      }
      return;
    }
    const synced = new Set([this.config.myId]);
    for (const handle of [...leader.handles.values()]) {
      if (this.nowTick > handle.deadlineTick) {
        this.dropLearner(leader, handle.id);
        continue;
      }
      if (handle.phase === "uptodate") {
        this.send(handle.id, { type: "ping", zxid: this.log.lastZxid });
        if (!handle.observer) synced.add(handle.id);
      }
    }
    // Checked once per tickTime, as Leader.lead does every other half tick.
    if (this.nowTick % 2 === 0 && !this.hasQuorum(synced)) {
      this.stepDown("not sufficient followers synced");
    }
  }

  // ---- Learning -----------------------------------------------------------------------

  private stepLearning(learner: LearnerState, from: bigint, message: ZabMessage<T, S>): void {
    if (from !== learner.leaderId) return;
    learner.lastHeardTick = this.nowTick;
    switch (learner.phase) {
      case "info":
        if (message.type !== "leaderinfo")
          throw new ZabProtocolError(`expected LEADERINFO, got ${message.type}`);
        this.leaderInfo(learner, message.epoch);
        return;
      case "sync-wait":
        this.syncStart(learner, message);
        return;
      default:
        this.syncOrBroadcast(learner, message);
    }
  }

  private leaderInfo(learner: LearnerState, epoch: bigint): void {
    learner.newEpoch = epoch;
    let reported = -1n;
    if (epoch > this.acceptedEpoch) {
      reported = this.currentEpoch;
      this.acceptedEpoch = epoch;
      this.persist({ type: "acceptedEpoch", epoch });
    } else if (epoch < this.acceptedEpoch) {
      throw new ZabProtocolError(`leader's epoch ${epoch} is below our accepted epoch ${this.acceptedEpoch}`);
    }
    learner.phase = "sync-wait";
    this.send(learner.leaderId, { type: "ackepoch", currentEpoch: reported, lastZxid: this.log.lastZxid });
  }

  private syncStart(learner: LearnerState, message: ZabMessage<T, S>): void {
    switch (message.type) {
      case "diff":
        // What we hold up to the leader's commit point is committed (bigints: no Math.min).
        learner.syncCommitted = this.log.lastZxid;
        if (message.zxid < learner.syncCommitted) learner.syncCommitted = message.zxid;
        break;
      case "trunc":
        // Below the in-memory window the truncation happens on disk only.
        if (message.zxid < this.log.base) this.log.reset(message.zxid);
        else this.log.truncate(message.zxid);
        this.persist({ type: "truncate", zxid: message.zxid });
        if (this.appliedZxid > message.zxid) {
          this.appliedZxid = message.zxid;
          this.applyOps.push({ type: "reload", zxid: message.zxid });
        }
        learner.syncCommitted = message.zxid;
        break;
      case "snap":
        if (message.snapshot === undefined) throw new ZabProtocolError("SNAP without a snapshot");
        this.log.reset(message.zxid);
        this.persist({ type: "snapshot", zxid: message.zxid, snapshot: message.snapshot });
        learner.snapshot = { zxid: message.zxid, snapshot: message.snapshot };
        learner.syncCommitted = message.zxid;
        break;
      default:
        throw new ZabProtocolError(`expected DIFF, TRUNC or SNAP, got ${message.type}`);
    }
    if (learner.syncCommitted < this.committedZxid && learner.snapshot === null) {
      learner.syncCommitted = this.committedZxid;
    }
    learner.phase = "syncing";
  }

  private syncOrBroadcast(learner: LearnerState, message: ZabMessage<T, S>): void {
    switch (message.type) {
      case "proposal":
        this.log.append(message.proposal);
        this.persist({ type: "append", proposals: [message.proposal] });
        // Proposals of the sync are acknowledged by the NEWLEADER ack; later ones each.
        if ((learner.phase === "synced" || learner.phase === "broadcast") && !learner.observer) {
          this.send(learner.leaderId, { type: "ack", zxid: message.proposal.zxid });
        }
        return;
      case "commit":
        this.learnerCommit(learner, message.zxid);
        return;
      case "inform":
        if (message.proposal.zxid > this.log.lastZxid) {
          this.log.append(message.proposal);
          this.persist({ type: "append", proposals: [message.proposal] });
        }
        this.learnerCommit(learner, message.proposal.zxid);
        return;
      case "newleader":
        if (learner.phase !== "syncing") throw new ZabProtocolError("NEWLEADER twice");
        this.currentEpoch = learner.newEpoch;
        this.persist({ type: "currentEpoch", epoch: learner.newEpoch });
        learner.phase = "synced";
        this.settledEpoch = learner.newEpoch;
        this.send(learner.leaderId, { type: "ack", zxid: message.zxid });
        return;
      case "uptodate":
        if (learner.phase !== "synced") throw new ZabProtocolError(`UPTODATE while ${learner.phase}`);
        learner.phase = "broadcast";
        if (learner.snapshot !== null) {
          this.applyOps.push({
            type: "snapshot",
            zxid: learner.snapshot.zxid,
            snapshot: learner.snapshot.snapshot as S,
          });
          this.appliedZxid = learner.snapshot.zxid;
          this.committedZxid = learner.snapshot.zxid;
          learner.snapshot = null;
        }
        this.commitUpTo(learner.syncCommitted);
        this.send(learner.leaderId, { type: "ack", zxid: makeZxid(learner.newEpoch, 0n) });
        return;
      case "ping":
        this.send(learner.leaderId, { type: "ping", zxid: message.zxid });
        return;
      case "sync": {
        const token = learner.syncsSent.shift();
        if (learner.phase !== "broadcast" || token === undefined) {
          throw new ZabProtocolError("SYNC answer without a request");
        }
        this.syncsDone.push(token);
        return;
      }
      default:
        throw new ZabProtocolError(`learner got ${message.type} while ${learner.phase}`);
    }
  }

  private learnerCommit(learner: LearnerState, zxid: bigint): void {
    if (zxid > this.log.lastZxid) {
      throw new ZabProtocolError(`commit of ${hex(zxid)} beyond our last logged ${hex(this.log.lastZxid)}`);
    }
    if (learner.phase !== "broadcast") {
      if (zxid > learner.syncCommitted) learner.syncCommitted = zxid;
      return;
    }
    this.commitUpTo(zxid);
  }

  private commitUpTo(zxid: bigint): void {
    if (zxid > this.committedZxid) this.committedZxid = zxid;
    this.applyUpTo(this.committedZxid);
  }

  /** Hands every committed txn after `appliedZxid` up to `zxid` to the driver. */
  private applyUpTo(zxid: bigint): void {
    if (zxid <= this.appliedZxid) return;
    for (const proposal of this.log.between(this.appliedZxid, zxid)) {
      this.applyOps.push({ type: "txn", proposal });
    }
    this.appliedZxid = zxid;
    this.log.trim(this.appliedZxid, this.config.commitLogCount);
  }

  /** A compact description of the peer, for transcripts. */
  describe(): string {
    const parts = [
      `${this.config.myId}`,
      this.role,
      `accepted=${this.acceptedEpoch}`,
      `current=${this.currentEpoch}`,
      `last=${hex(this.log.lastZxid)}`,
      `committed=${hex(this.committedZxid)}`,
      `applied=${hex(this.appliedZxid)}`,
    ];
    if (this.leader !== null) parts.push(`phase=${this.leader.phase}`);
    if (this.learner !== null) parts.push(`leader=${this.learner.leaderId}`, `phase=${this.learner.phase}`);
    return parts.join(" ");
  }
}
