/**
 * What the ZAB core's roles share: the peer's epochs, log, commit and apply points, what
 * is on disk, the clock in ticks, and the Ready being gathered (persist, apply, send).
 * The leading and learning roles read and change it; the ZabPeer facade hands it out.
 * Pure: no I/O, clock or randomness.
 */
import type { Leading } from "./leading.js";
import type { Learning } from "./learning.js";
import { ProposalLog } from "./proposal-log.js";
import {
  type ApplyOp,
  type DurableState,
  hex,
  type Outgoing,
  type PersistOp,
  type ZabConfig,
  type ZabMessage,
  ZabProtocolError,
} from "./zab-types.js";

export class ZabState<T, S> {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  readonly log: ProposalLog<T>;
  /** The highest zxid known committed (for a new leader: its whole log, applied once established). */
  committedZxid: bigint;
  appliedZxid: bigint;
  /** What the last finished Ready made durable. */
  persistedZxid: bigint;
  persistedCurrentEpoch: bigint;
  nowTick = 0;
  leading: Leading<T, S> | null = null;
  learning: Learning<T, S> | null = null;
  persistOps: PersistOp<T, S>[] = [];
  applyOps: ApplyOp<T, S>[] = [];
  outbox: Outgoing<T, S>[] = [];
  disconnects: bigint[] = [];
  syncsDone: number[] = [];
  lookFlag = false;
  settledEpoch: bigint | null = null;
  /** Why the peer last went back to election (for logs and transcripts). */
  stepDownReason = "";

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

  isVoter(id: bigint): boolean {
    return this.config.voters.has(id);
  }

  hasQuorum(ids: Iterable<bigint>): boolean {
    let count = 0;
    for (const id of ids) if (this.isVoter(id)) count++;
    return count > this.config.voters.size / 2;
  }

  send(to: bigint, message: ZabMessage<T, S>): void {
    this.outbox.push({ to, message });
  }

  /** Queues a durable write; consecutive appends become one. */
  persist(op: PersistOp<T, S>): void {
    const last = this.persistOps.at(-1);
    if (op.type === "append" && last?.type === "append") {
      this.persistOps[this.persistOps.length - 1] = {
        type: "append",
        proposals: [...last.proposals, ...op.proposals],
      };
    } else this.persistOps.push(op);
  }

  commitUpTo(zxid: bigint): void {
    if (zxid > this.committedZxid) this.committedZxid = zxid;
    this.applyUpTo(this.committedZxid);
  }

  /** Hands every committed txn after `appliedZxid` up to `zxid` to the driver. */
  applyUpTo(zxid: bigint): void {
    if (zxid <= this.appliedZxid) return;
    if (zxid > this.log.lastZxid) {
      throw new ZabProtocolError(
        `asked to apply up to ${hex(zxid)}, past the last logged ${hex(this.log.lastZxid)}`,
      );
    }
    for (const proposal of this.log.between(this.appliedZxid, zxid)) {
      this.applyOps.push({ type: "txn", proposal });
    }
    this.appliedZxid = zxid;
    this.log.trim(this.appliedZxid, this.config.commitLogCount);
  }

  /** Leaves the current role (a new one follows, or election). */
  resetRole(): void {
    this.leading = null;
    this.learning = null;
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
  stepDown(reason: string): void {
    const peers = this.leading?.peers() ?? this.learning?.peers() ?? [];
    this.resetRole();
    this.disconnects.push(...peers);
    this.lookFlag = true;
    this.stepDownReason = reason;
  }
}
