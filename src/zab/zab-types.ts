/**
 * What the ZAB core takes and gives: the messages of ZooKeeper 3.8's quorum protocol
 * (Leader.java's packet types, as records instead of bytes), the durable state a peer
 * starts from, and the Ready a driver carries out. Pure: no I/O, clock or randomness.
 *
 * `T` is a txn as the driver knows it (a LogEntry in the server, a register write in the
 * simulator); `S` is a snapshot of the applied state (a DataTree in the server). The core
 * only orders them by zxid.
 */

/** One txn in the history, at its zxid. */
export interface Proposal<T> {
  readonly zxid: bigint;
  readonly txn: T;
}

/**
 * The quorum protocol's packets. Between a learner and its leader they travel on one
 * FIFO connection; a broken connection is reported with `disconnected`, never as loss.
 */
export type ZabMessage<T, S> =
  /** FOLLOWERINFO (OBSERVERINFO when `observer`): the learner's accepted epoch. */
  | { type: "followerinfo"; acceptedEpoch: bigint; observer: boolean }
  /** LEADERINFO: the epoch the leader proposes. */
  | { type: "leaderinfo"; epoch: bigint }
  /** ACKEPOCH: the learner's current epoch (-1 when it had already accepted this epoch) and last logged zxid. */
  | { type: "ackepoch"; currentEpoch: bigint; lastZxid: bigint }
  /** DIFF: the proposals that follow are what the learner lacks; `zxid` is the leader's last committed. */
  | { type: "diff"; zxid: bigint }
  /** TRUNC: drop every logged txn after `zxid`; proposals that follow are what it then lacks. */
  | { type: "trunc"; zxid: bigint }
  /** SNAP: the leader's state at `zxid`; the driver attaches `snapshot` when it sends and after it receives. */
  | { type: "snap"; zxid: bigint; snapshot?: S }
  | { type: "proposal"; proposal: Proposal<T> }
  | { type: "commit"; zxid: bigint }
  /** INFORM: a committed txn, as observers learn it. */
  | { type: "inform"; proposal: Proposal<T> }
  /** NEWLEADER: the end of the sync; the learner acknowledges once all of it is on disk. */
  | { type: "newleader"; zxid: bigint }
  | { type: "ack"; zxid: bigint }
  /** UPTODATE: the leader is established; the learner may apply and serve. */
  | { type: "uptodate"; zxid: bigint }
  | { type: "ping"; zxid: bigint }
  /** SYNC: every txn the leader committed before the learner's sync request is now committed on this connection. */
  | { type: "sync"; token: number };

export interface Outgoing<T, S> {
  to: bigint;
  message: ZabMessage<T, S>;
}

/** Durable writes, in order, before anything of the same Ready is applied or sent. */
export type PersistOp<T, S> =
  | { type: "acceptedEpoch"; epoch: bigint }
  | { type: "currentEpoch"; epoch: bigint }
  | { type: "append"; proposals: readonly Proposal<T>[] }
  /** Drop every logged txn after `zxid`. */
  | { type: "truncate"; zxid: bigint }
  /** The leader's snapshot replaces everything: log after `zxid` dropped, state at `zxid` saved. */
  | { type: "snapshot"; zxid: bigint; snapshot: S };

/** Changes to the applied state, in order; each covers only committed txns. */
export type ApplyOp<T, S> =
  | { type: "txn"; proposal: Proposal<T> }
  | { type: "snapshot"; zxid: bigint; snapshot: S }
  /** Rebuild the state from disk (snapshot plus the log up to `zxid`): a truncation went below what was applied. */
  | { type: "reload"; zxid: bigint };

/**
 * What the driver does next, in this order: persist (durably), then apply, then send.
 * Sending after persisting is what makes an ACK mean "on disk".
 */
export interface Ready<T, S> {
  persist: PersistOp<T, S>[];
  apply: ApplyOp<T, S>[];
  messages: Outgoing<T, S>[];
  /** Connections to close (a learner that timed out, or every one when stepping down). */
  disconnect: bigint[];
  /** The peer has stopped leading or following: run an election, then call lead/follow. */
  lookForLeader: boolean;
  /** Sync requests answered: reads after them see every write committed before them. */
  syncsDone: number[];
  /** The epoch just settled (leader established, or learner synced): the election vote should carry it. */
  settledEpoch: bigint | null;
  /** Whether the peer serves once this Ready is done (its applies bring the state up to date). */
  serving: boolean;
}

export type Role = "looking" | "leading" | "following" | "observing";

export interface ZabConfig {
  myId: bigint;
  voters: ReadonlySet<bigint>;
  observers: ReadonlySet<bigint>;
  /** Ticks (one tick is half a tickTime) a learner has to connect and sync. */
  initLimitTicks: number;
  /** Ticks a learner may stay silent after sync before it is dropped (and the leader may go unheard). */
  syncLimitTicks: number;
  /** Committed proposals kept in memory to sync learners by DIFF (ZooKeeper's commitLogCount). */
  commitLogCount: number;
  /** Proposals a leader lets wait for a quorum before `propose` refuses more. */
  outstandingProposalsMax: number;
}

/** What a peer restarts from: its epochs and the tail of its txn log. */
export interface DurableState<T> {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The zxid the applied state is at (the driver replays its whole log on start, as ZooKeeper does). */
  appliedZxid: bigint;
  /** The zxid before `recent` (a snapshot's, or where the in-memory window starts). */
  recentBase: bigint;
  /** The newest logged proposals, contiguous, ending at the last logged zxid. */
  recent: readonly Proposal<T>[];
}

export class ZabProtocolError extends Error {
  override name = "ZabProtocolError";
}

export function makeZxid(epoch: bigint, counter: bigint): bigint {
  return (epoch << 32n) | (counter & 0xffff_ffffn);
}

export function epochOf(zxid: bigint): bigint {
  return zxid >> 32n;
}

export function hex(zxid: bigint): string {
  return `0x${zxid.toString(16)}`;
}
