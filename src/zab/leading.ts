/**
 * The leading role of the ZAB core (ZooKeeper's Leader and one LearnerHandler per learner):
 * discovery (the new epoch from a quorum's accepted epochs, LEADERINFO, ACKEPOCH), the sync
 * of each learner (DIFF, TRUNC or SNAP against the log as it is after this Ready's applies,
 * then NEWLEADER), establishment at a quorum of NEWLEADER acks, then broadcast: proposals,
 * commits in zxid order at a quorum (INFORM to observers), pings, sync answers, and
 * stepping down when a quorum is no longer heard. Pure.
 */
import type { ZabState } from "./zab-state.js";
import { hex, makeZxid, type ZabMessage, ZabProtocolError } from "./zab-types.js";

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
  /** Broadcast traffic held between NEWLEADER and UPTODATE (see `sendLive`). */
  held: ZabMessage<unknown, unknown>[];
}

export class Leading<T, S> {
  epoch: bigint | null = null;
  phase: "discovery" | "epoch-ack" | "newleader" | "established" = "discovery";
  readonly startedTick: number;
  /** Voters (ourselves included) whose accepted epoch the new epoch is above. */
  readonly connecting: Set<bigint>;
  greatestAcceptedEpoch: bigint;
  readonly epochAcked: Set<bigint>;
  readonly newLeaderAcked = new Set<bigint>();
  /** Our state when elected: learners more recent than this make us give up. */
  readonly electedEpoch: bigint;
  readonly electedZxid: bigint;
  readonly handles = new Map<bigint, LearnerHandle>();
  /** Learners whose sync is built at the next `ready` (after this Ready's applies). */
  syncQueue: bigint[] = [];
  counter = 0n;
  /** Proposals waiting for a quorum, in zxid order, with the voters that logged them. */
  readonly outstanding = new Map<bigint, Set<bigint>>();
  readonly pendingSyncs: { from: bigint; token: number; zxid: bigint }[] = [];

  constructor(private readonly z: ZabState<T, S>) {
    this.startedTick = z.nowTick;
    this.connecting = new Set([z.config.myId]);
    this.epochAcked = new Set([z.config.myId]);
    this.greatestAcceptedEpoch = z.acceptedEpoch;
    this.electedEpoch = z.currentEpoch;
    this.electedZxid = z.log.lastZxid;
    // A new leader's history is its whole log: committed once a quorum has it.
    z.committedZxid = z.log.lastZxid;
  }

  /** The connections this role holds (closed when stepping down). */
  peers(): bigint[] {
    return [...this.handles.keys()];
  }

  get serving(): boolean {
    return this.phase === "established";
  }

  step(from: bigint, message: ZabMessage<T, S>): void {
    try {
      this.stepLeading(from, message);
    } catch (error) {
      if (!(error instanceof ZabProtocolError)) throw error;
      this.dropLearner(from);
    }
  }

  disconnected(peer: bigint): void {
    this.handles.delete(peer);
  }

  tick(): void {
    this.tickLeading();
  }

  stats(): LeaderStats {
    let syncedFollowers = 0;
    let syncedObservers = 0;
    for (const handle of this.handles.values()) {
      if (handle.phase !== "uptodate") continue;
      if (handle.observer) syncedObservers++;
      else syncedFollowers++;
    }
    return {
      learners: this.handles.size,
      syncedFollowers,
      syncedObservers,
      pendingSyncs: this.pendingSyncs.length,
      outstandingProposals: this.outstanding.size,
    };
  }

  nextZxid(): bigint | null {
    if (this.phase !== "established" || this.epoch === null) return null;
    return makeZxid(this.epoch, this.counter + 1n);
  }

  propose(make: (zxid: bigint) => T): bigint | null {
    if (this.phase !== "established" || this.epoch === null) return null;
    if (this.outstanding.size >= this.z.config.outstandingProposalsMax) return null;
    if (this.counter >= zxidCounterMax) {
      this.z.stepDown("zxid counter exhausted: re-electing for a new epoch");
      return null;
    }
    this.counter++;
    const zxid = makeZxid(this.epoch, this.counter);
    const proposal = { zxid, txn: make(zxid) };
    this.z.log.append(proposal);
    this.z.persist({ type: "append", proposals: [proposal] });
    this.outstanding.set(zxid, new Set());
    for (const handle of this.handles.values()) {
      if (this.forwarding(handle) && !handle.observer) this.sendLive(handle, { type: "proposal", proposal });
    }
    return zxid;
  }

  /** Our own sync(): answered once everything proposed before it is committed here. */
  requestSync(token: number): void {
    this.leaderSync(this.z.config.myId, token);
  }

  /** After a Ready: our own writes are durable, which may establish us or commit. */
  advanced(): void {
    this.maybeEstablish();
    this.tryCommit();
  }

  get syncsQueued(): boolean {
    return this.syncQueue.length > 0;
  }

  forwarding(handle: LearnerHandle): boolean {
    return handle.phase === "newleader" || handle.phase === "synced" || handle.phase === "uptodate";
  }

  stepLeading(from: bigint, message: ZabMessage<T, S>): void {
    if (message.type === "followerinfo") {
      this.learnerArrived(from, message.acceptedEpoch, message.observer);
      return;
    }
    const handle = this.handles.get(from);
    if (handle === undefined) return;
    handle.deadlineTick =
      this.z.nowTick +
      (handle.phase === "uptodate" ? this.z.config.syncLimitTicks : this.z.config.initLimitTicks);
    switch (message.type) {
      case "ackepoch":
        this.epochAcknowledged(handle, message.currentEpoch, message.lastZxid);
        return;
      case "ack":
        this.acknowledged(handle, message.zxid);
        return;
      case "ping":
        return;
      case "sync":
        if (handle.phase === "uptodate") this.leaderSync(from, message.token);
        return;
      default:
        throw new ZabProtocolError(`leader got ${message.type} from ${from}`);
    }
  }

  learnerArrived(from: bigint, acceptedEpoch: bigint, observer: boolean): void {
    if (!this.z.isVoter(from) && !this.z.config.observers.has(from)) {
      this.z.disconnects.push(from);
      return;
    }
    // Acks from its earlier connection no longer count: it may have truncated since.
    for (const acks of this.outstanding.values()) acks.delete(from);
    this.handles.set(from, {
      id: from,
      observer: !this.z.isVoter(from) || observer,
      phase: "info",
      peerLastZxid: -1n,
      syncedUpTo: -1n,
      deadlineTick: this.z.nowTick + this.z.config.initLimitTicks,
      held: [],
    });
    if (this.epoch === null) {
      if (acceptedEpoch > this.greatestAcceptedEpoch) this.greatestAcceptedEpoch = acceptedEpoch;
      if (this.z.isVoter(from)) this.connecting.add(from);
      this.maybeDecideEpoch();
    } else if (acceptedEpoch > this.epoch) {
      // It promised a newer leader's epoch and cannot follow ours; ZooKeeper lets it retry
      // forever. Re-electing lets the next epoch pass its promise.
      this.z.stepDown(`learner ${from} accepted epoch ${acceptedEpoch}, newer than ours (${this.epoch})`);
    } else {
      const handle = this.handles.get(from);
      if (handle !== undefined) handle.phase = "epoch";
      this.z.send(from, { type: "leaderinfo", epoch: this.epoch });
    }
  }

  maybeDecideEpoch(): void {
    if (this.epoch !== null || !this.z.hasQuorum(this.connecting)) return;
    const epoch = this.greatestAcceptedEpoch + 1n;
    this.epoch = epoch;
    this.phase = "epoch-ack";
    this.z.acceptedEpoch = epoch;
    this.z.persist({ type: "acceptedEpoch", epoch });
    for (const handle of this.handles.values()) {
      if (handle.phase !== "info") continue;
      handle.phase = "epoch";
      this.z.send(handle.id, { type: "leaderinfo", epoch });
    }
    this.maybeEpochQuorum();
  }

  epochAcknowledged(handle: LearnerHandle, currentEpoch: bigint, lastZxid: bigint): void {
    if (handle.phase !== "epoch") throw new ZabProtocolError(`unexpected ACKEPOCH from ${handle.id}`);
    handle.peerLastZxid = lastZxid;
    handle.phase = "awaiting-sync";
    if (this.phase === "epoch-ack") {
      if (
        currentEpoch !== -1n &&
        (currentEpoch > this.electedEpoch ||
          (currentEpoch === this.electedEpoch && lastZxid > this.electedZxid))
      ) {
        this.z.stepDown(
          `learner ${handle.id} is ahead of the leader (epoch ${currentEpoch}, zxid ${hex(lastZxid)})`,
        );
        return;
      }
      // A learner that had already accepted this epoch answers -1: "we cannot ack again in
      // good conscience" (Learner.registerWithLeader), so it does not count (Leader.waitForEpochAck).
      if (!handle.observer && currentEpoch !== -1n) this.epochAcked.add(handle.id);
      this.maybeEpochQuorum();
    } else {
      this.syncQueue.push(handle.id);
    }
  }

  maybeEpochQuorum(): void {
    if (this.phase !== "epoch-ack" || this.epoch === null || !this.z.hasQuorum(this.epochAcked)) return;
    this.phase = "newleader";
    this.z.currentEpoch = this.epoch;
    this.z.persist({ type: "currentEpoch", epoch: this.epoch });
    for (const handle of this.handles.values()) {
      if (handle.phase === "awaiting-sync") this.syncQueue.push(handle.id);
    }
    this.maybeEstablish();
  }

  /**
   * Builds each queued learner's sync (LearnerHandler.syncFollower) against the log as it
   * is after this Ready's applies, so a SNAP is of exactly `appliedZxid`.
   */
  buildSyncs(): void {
    const queue = this.syncQueue;
    this.syncQueue = [];
    for (const id of queue) {
      const handle = this.handles.get(id);
      if (handle === undefined || handle.phase !== "awaiting-sync" || this.epoch === null) continue;
      const peerLast = handle.peerLastZxid;
      const last = this.z.log.lastZxid;
      let from: bigint;
      if (
        peerLast === last ||
        (peerLast >= this.z.log.base && peerLast < last && this.z.log.contains(peerLast))
      ) {
        from = peerLast;
        this.z.send(id, { type: "diff", zxid: this.z.committedZxid });
      } else {
        // The learner has txns we never had: cut it back to our history (never past what
        // is committed, so all it keeps counts as committed) and send the rest; a learner
        // behind our in-memory log gets a snapshot instead.
        from = this.z.log.floor(peerLast);
        if (from > this.z.committedZxid) from = this.z.committedZxid;
        if (peerLast < this.z.log.base || from < this.z.log.base) {
          from = this.z.appliedZxid;
          this.z.send(id, { type: "snap", zxid: from });
        } else this.z.send(id, { type: "trunc", zxid: from });
      }
      for (const proposal of this.z.log.between(from, last)) {
        const committed = proposal.zxid <= this.z.committedZxid;
        if (handle.observer && !committed) continue;
        this.z.send(id, { type: "proposal", proposal });
        if (committed) this.z.send(id, { type: "commit", zxid: proposal.zxid });
      }
      handle.phase = "newleader";
      handle.syncedUpTo = last;
      handle.deadlineTick = this.z.nowTick + this.z.config.initLimitTicks;
      this.z.send(id, { type: "newleader", zxid: makeZxid(this.epoch, 0n) });
    }
  }

  acknowledged(handle: LearnerHandle, zxid: bigint): void {
    if (handle.phase === "newleader" && this.epoch !== null && zxid === makeZxid(this.epoch, 0n)) {
      handle.phase = "synced";
      if (!handle.observer) {
        this.newLeaderAcked.add(handle.id);
        for (const [outstandingZxid, acks] of this.outstanding) {
          if (outstandingZxid <= handle.syncedUpTo) acks.add(handle.id);
        }
      }
      if (this.phase === "established") this.upToDate(handle);
      else this.maybeEstablish();
      this.tryCommit();
      return;
    }
    if (handle.observer || (handle.phase !== "synced" && handle.phase !== "uptodate")) return;
    this.outstanding.get(zxid)?.add(handle.id);
    this.tryCommit();
  }

  upToDate(handle: LearnerHandle): void {
    handle.phase = "uptodate";
    handle.deadlineTick = this.z.nowTick + this.z.config.syncLimitTicks;
    this.z.send(handle.id, { type: "uptodate", zxid: this.z.committedZxid });
    for (const message of handle.held) this.z.send(handle.id, message as ZabMessage<T, S>);
    handle.held = [];
  }

  /**
   * Broadcast traffic to a learner. Between its NEWLEADER and UPTODATE it is held and sent
   * after UPTODATE: a Java learner in 3.8 fails on a COMMIT there that follows no new
   * PROPOSAL (ZOOKEEPER-4394), and every learner handles it the same after UPTODATE.
   */
  private sendLive(handle: LearnerHandle, message: ZabMessage<T, S>): void {
    if (handle.phase === "uptodate") this.z.send(handle.id, message);
    else handle.held.push(message as ZabMessage<unknown, unknown>);
  }

  /** Established once a quorum (ourselves included, once our epoch and log are on disk) acknowledged NEWLEADER. */
  maybeEstablish(): void {
    if (this.phase !== "newleader" || this.epoch === null) return;
    if (this.z.persistedCurrentEpoch === this.epoch && this.z.persistedZxid >= this.electedZxid) {
      this.newLeaderAcked.add(this.z.config.myId);
    }
    if (!this.z.hasQuorum(this.newLeaderAcked)) return;
    this.phase = "established";
    this.z.settledEpoch = this.epoch;
    this.z.applyUpTo(this.z.committedZxid);
    for (const handle of this.handles.values()) if (handle.phase === "synced") this.upToDate(handle);
  }

  tryCommit(): void {
    if (this.phase !== "established") return;
    for (const [zxid, acks] of this.outstanding) {
      // Acks come only from voters; ours counts once the proposal is on our disk.
      const votes = acks.size + (this.z.persistedZxid >= zxid ? 1 : 0);
      if (votes <= this.z.config.voters.size / 2) break;
      this.outstanding.delete(zxid);
      this.z.committedZxid = zxid;
      const proposal = this.z.log.get(zxid);
      for (const handle of this.handles.values()) {
        if (!this.forwarding(handle)) continue;
        if (!handle.observer) this.sendLive(handle, { type: "commit", zxid });
        else if (proposal !== undefined) this.sendLive(handle, { type: "inform", proposal });
      }
    }
    this.z.applyUpTo(this.z.committedZxid);
    this.answerSyncs();
  }

  leaderSync(from: bigint, token: number): void {
    const last = this.z.log.lastZxid;
    this.pendingSyncs.push({ from, token, zxid: last });
    this.answerSyncs();
  }

  answerSyncs(): void {
    while (this.pendingSyncs.length > 0) {
      const next = this.pendingSyncs[0];
      if (next === undefined || next.zxid > this.z.committedZxid) return;
      this.pendingSyncs.shift();
      if (next.from === this.z.config.myId) this.z.syncsDone.push(next.token);
      else if (this.handles.has(next.from)) this.z.send(next.from, { type: "sync", token: next.token });
    }
  }

  dropLearner(id: bigint): void {
    this.handles.delete(id);
    this.z.disconnects.push(id);
  }

  tickLeading(): void {
    if (this.phase !== "established") {
      if (this.z.nowTick - this.startedTick > this.z.config.initLimitTicks) {
        this.z.stepDown(`no quorum of learners synced within ${this.z.config.initLimitTicks} ticks`);
      }
      return;
    }
    const synced = new Set([this.z.config.myId]);
    for (const handle of [...this.handles.values()]) {
      if (this.z.nowTick > handle.deadlineTick) {
        this.dropLearner(handle.id);
        continue;
      }
      if (handle.phase === "uptodate") {
        this.z.send(handle.id, { type: "ping", zxid: this.z.log.lastZxid });
        if (!handle.observer) synced.add(handle.id);
      }
    }
    // Checked once per tickTime, as Leader.lead does every other half tick.
    if (this.z.nowTick % 2 === 0 && !this.z.hasQuorum(synced)) {
      this.z.stepDown("not sufficient followers synced");
    }
  }
}
