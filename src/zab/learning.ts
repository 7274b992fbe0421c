/**
 * The learning role of the ZAB core (ZooKeeper's Learner, Follower and Observer): register
 * with FOLLOWERINFO (OBSERVERINFO), accept the leader's epoch (saved before ACKEPOCH), take
 * the sync (DIFF, TRUNC or SNAP and the proposals after it), acknowledge NEWLEADER once all
 * of it and the new epoch are on disk, apply at UPTODATE, then log and acknowledge each
 * proposal and apply each commit; a leader not heard within the limit ends the role. Pure.
 */
import { ProposalLog } from "./proposal-log.js";
import type { ZabState } from "./zab-state.js";
import { hex, makeZxid, type ZabMessage, ZabProtocolError } from "./zab-types.js";

type LearnerPhase = "info" | "sync-wait" | "syncing" | "synced" | "broadcast";

export class Learning<T, S> {
  phase: LearnerPhase = "info";
  newEpoch = -1n;
  lastHeardTick: number;
  /** What the sync says is committed; applied at UPTODATE. */
  syncCommitted: bigint;
  snapshot: { zxid: bigint; snapshot: S } | null = null;
  /** Sync requests sent to the leader, answered in order (the answer names none). */
  readonly syncsSent: number[] = [];
  /** The sync received so far (between DIFF/TRUNC/SNAP and NEWLEADER), not yet logged. */
  private sync: {
    truncateTo: bigint | null;
    snapshot: { zxid: bigint; snapshot: S } | null;
    proposals: ProposalLog<T>;
  } | null = null;

  constructor(
    private readonly z: ZabState<T, S>,
    readonly leaderId: bigint,
    readonly observer: boolean,
  ) {
    this.lastHeardTick = z.nowTick;
    this.syncCommitted = z.committedZxid;
    z.send(leaderId, { type: "followerinfo", acceptedEpoch: z.acceptedEpoch, observer });
  }

  peers(): bigint[] {
    return [this.leaderId];
  }

  get serving(): boolean {
    return this.phase === "broadcast";
  }

  step(from: bigint, message: ZabMessage<T, S>): void {
    try {
      this.stepLearning(from, message);
    } catch (error) {
      if (!(error instanceof ZabProtocolError)) throw error;
      this.z.stepDown(error.message);
    }
  }

  disconnected(peer: bigint): void {
    if (peer === this.leaderId) this.z.stepDown(`lost the connection to leader ${peer}`);
  }

  tick(): void {
    const limit = this.phase === "broadcast" ? this.z.config.syncLimitTicks : this.z.config.initLimitTicks;
    if (this.z.nowTick - this.lastHeardTick > limit) {
      this.z.stepDown(`nothing from leader ${this.leaderId} for ${limit} ticks`);
    }
  }

  requestSync(token: number): void {
    this.syncsSent.push(token);
    this.z.send(this.leaderId, { type: "sync", token });
  }

  stepLearning(from: bigint, message: ZabMessage<T, S>): void {
    if (from !== this.leaderId) return;
    this.lastHeardTick = this.z.nowTick;
    switch (this.phase) {
      case "info":
        if (message.type !== "leaderinfo")
          throw new ZabProtocolError(`expected LEADERINFO, got ${message.type}`);
        this.leaderInfo(message.epoch);
        return;
      case "sync-wait":
        this.syncStart(message);
        return;
      default:
        this.syncOrBroadcast(message);
    }
  }

  leaderInfo(epoch: bigint): void {
    this.newEpoch = epoch;
    let reported = -1n;
    if (epoch > this.z.acceptedEpoch) {
      reported = this.z.currentEpoch;
      this.z.acceptedEpoch = epoch;
      this.z.persist({ type: "acceptedEpoch", epoch });
    } else if (epoch < this.z.acceptedEpoch) {
      throw new ZabProtocolError(
        `leader's epoch ${epoch} is below our accepted epoch ${this.z.acceptedEpoch}`,
      );
    }
    this.phase = "sync-wait";
    this.z.send(this.leaderId, { type: "ackepoch", currentEpoch: reported, lastZxid: this.z.log.lastZxid });
  }

  /**
   * The start of the sync. Nothing of it touches the log or the disk before NEWLEADER
   * (Learner.syncWithLeader since ZOOKEEPER-3911/3642): if the leader goes away first, the
   * learner is exactly as it was, and never holds a leader's snapshot it did not ack.
   */
  syncStart(message: ZabMessage<T, S>): void {
    switch (message.type) {
      case "diff":
        // What we hold up to the leader's commit point is committed (bigints: no Math.min).
        this.syncCommitted = this.z.log.lastZxid;
        if (message.zxid < this.syncCommitted) this.syncCommitted = message.zxid;
        this.sync = { truncateTo: null, snapshot: null, proposals: new ProposalLog(this.z.log.lastZxid, []) };
        break;
      case "trunc":
        this.syncCommitted = message.zxid;
        this.sync = {
          truncateTo: message.zxid,
          snapshot: null,
          proposals: new ProposalLog(message.zxid, []),
        };
        break;
      case "snap":
        if (message.snapshot === undefined) throw new ZabProtocolError("SNAP without a snapshot");
        this.syncCommitted = message.zxid;
        this.sync = {
          truncateTo: null,
          snapshot: { zxid: message.zxid, snapshot: message.snapshot },
          proposals: new ProposalLog(message.zxid, []),
        };
        break;
      default:
        throw new ZabProtocolError(`expected DIFF, TRUNC or SNAP, got ${message.type}`);
    }
    // A DIFF keeps everything we had committed; a TRUNC or SNAP replaces it.
    if (this.syncCommitted < this.z.committedZxid && message.type === "diff") {
      this.syncCommitted = this.z.committedZxid;
    }
    this.phase = "syncing";
  }

  /** NEWLEADER: the sync goes to the log and the disk, in order, before the epoch and the ack. */
  private commitSync(): void {
    const sync = this.sync;
    this.sync = null;
    if (sync === null) return;
    const z = this.z;
    if (sync.truncateTo !== null) {
      const zxid = sync.truncateTo;
      // Below the in-memory window the truncation happens on disk only.
      if (zxid < z.log.base) z.log.reset(zxid);
      else z.log.truncate(zxid);
      z.persist({ type: "truncate", zxid });
      if (z.committedZxid > zxid) z.committedZxid = zxid;
      if (z.appliedZxid > zxid) {
        z.appliedZxid = zxid;
        z.applyOps.push({ type: "reload", zxid });
      }
    }
    if (sync.snapshot !== null) {
      z.log.reset(sync.snapshot.zxid);
      z.persist({ type: "snapshot", zxid: sync.snapshot.zxid, snapshot: sync.snapshot.snapshot });
      this.snapshot = sync.snapshot;
    }
    const proposals = sync.proposals.between(sync.proposals.base, sync.proposals.lastZxid);
    for (const proposal of proposals) z.log.append(proposal);
    if (proposals.length > 0) z.persist({ type: "append", proposals });
  }

  syncOrBroadcast(message: ZabMessage<T, S>): void {
    switch (message.type) {
      case "proposal":
        if (this.sync !== null) {
          this.sync.proposals.append(message.proposal);
          return;
        }
        this.z.log.append(message.proposal);
        this.z.persist({ type: "append", proposals: [message.proposal] });
        // Proposals of the sync are acknowledged by the NEWLEADER ack; later ones each.
        if ((this.phase === "synced" || this.phase === "broadcast") && !this.observer) {
          this.z.send(this.leaderId, { type: "ack", zxid: message.proposal.zxid });
        }
        return;
      case "commit":
        this.learnerCommit(message.zxid);
        return;
      case "inform":
        if (this.sync !== null) {
          if (message.proposal.zxid > this.sync.proposals.lastZxid)
            this.sync.proposals.append(message.proposal);
          this.learnerCommit(message.proposal.zxid);
          return;
        }
        if (message.proposal.zxid > this.z.log.lastZxid) {
          this.z.log.append(message.proposal);
          this.z.persist({ type: "append", proposals: [message.proposal] });
        }
        this.learnerCommit(message.proposal.zxid);
        return;
      case "newleader":
        if (this.phase !== "syncing") throw new ZabProtocolError("NEWLEADER twice");
        // An observer's ack counts for nothing, and its leader may yet fail to establish
        // (then its history may be cut back): an observer keeps the sync until UPTODATE.
        if (!this.observer) this.commitSync();
        this.z.currentEpoch = this.newEpoch;
        this.z.persist({ type: "currentEpoch", epoch: this.newEpoch });
        this.phase = "synced";
        this.z.settledEpoch = this.newEpoch;
        this.z.send(this.leaderId, { type: "ack", zxid: message.zxid });
        return;
      case "uptodate":
        if (this.phase !== "synced") throw new ZabProtocolError(`UPTODATE while ${this.phase}`);
        this.commitSync();
        this.phase = "broadcast";
        if (this.snapshot !== null) {
          this.z.applyOps.push({
            type: "snapshot",
            zxid: this.snapshot.zxid,
            snapshot: this.snapshot.snapshot as S,
          });
          this.z.appliedZxid = this.snapshot.zxid;
          this.z.committedZxid = this.snapshot.zxid;
          this.snapshot = null;
        }
        this.z.commitUpTo(this.syncCommitted);
        this.z.send(this.leaderId, { type: "ack", zxid: makeZxid(this.newEpoch, 0n) });
        return;
      case "ping":
        this.z.send(this.leaderId, { type: "ping", zxid: message.zxid });
        return;
      case "sync": {
        const token = this.syncsSent.shift();
        if (this.phase !== "broadcast" || token === undefined) {
          throw new ZabProtocolError("SYNC answer without a request");
        }
        this.z.syncsDone.push(token);
        return;
      }
      default:
        throw new ZabProtocolError(`learner got ${message.type} while ${this.phase}`);
    }
  }

  learnerCommit(zxid: bigint): void {
    const last = this.sync?.proposals.lastZxid ?? this.z.log.lastZxid;
    if (zxid > last) {
      throw new ZabProtocolError(`commit of ${hex(zxid)} beyond our last logged ${hex(last)}`);
    }
    if (this.phase !== "broadcast") {
      if (zxid > this.syncCommitted) this.syncCommitted = zxid;
      return;
    }
    this.z.commitUpTo(zxid);
  }
}
