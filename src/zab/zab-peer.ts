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
import { type LeaderStats, Leading } from "./leading.js";
import { Learning } from "./learning.js";
import type { ProposalLog } from "./proposal-log.js";
import { ZabState } from "./zab-state.js";
import {
  type DurableState,
  hex,
  type Ready,
  type Role,
  type ZabConfig,
  type ZabMessage,
  ZabProtocolError,
} from "./zab-types.js";

export type { LeaderStats } from "./leading.js";
export { zxidCounterMax } from "./leading.js";

export class ZabPeer<T, S> {
  private readonly z: ZabState<T, S>;
  private inFlight: Ready<T, S> | null = null;

  constructor(config: ZabConfig, durable: DurableState<T>) {
    this.z = new ZabState(config, durable);
  }

  get config(): ZabConfig {
    return this.z.config;
  }

  get role(): Role {
    if (this.z.leading !== null) return "leading";
    if (this.z.learning !== null) return this.z.learning.observer ? "observing" : "following";
    return "looking";
  }

  get acceptedEpoch(): bigint {
    return this.z.acceptedEpoch;
  }

  get currentEpoch(): bigint {
    return this.z.currentEpoch;
  }

  get committedZxid(): bigint {
    return this.z.committedZxid;
  }

  get appliedZxid(): bigint {
    return this.z.appliedZxid;
  }

  get log(): ProposalLog<T> {
    return this.z.log;
  }

  get lastLoggedZxid(): bigint {
    return this.z.log.lastZxid;
  }

  /** Ticks since this peer started. */
  get ticks(): number {
    return this.z.nowTick;
  }

  /** Why the peer last went back to election (for logs and transcripts). */
  get stepDownReason(): string {
    return this.z.stepDownReason;
  }

  /** The leader this peer follows or observes, or itself when leading; null while looking. */
  get leaderId(): bigint | null {
    if (this.z.leading !== null) return this.z.config.myId;
    return this.z.learning?.leaderId ?? null;
  }

  /** Whether clients may be served: an established leader, or a learner that is up to date. */
  get serving(): boolean {
    return this.z.leading?.serving ?? this.z.learning?.serving ?? false;
  }

  // ---- Role changes -------------------------------------------------------------------

  /** Lead after winning an election. */
  lead(): void {
    this.z.resetRole();
    const leading = new Leading(this.z);
    this.z.leading = leading;
    leading.maybeDecideEpoch();
  }

  /** Follow (or observe) `leaderId` after an election. */
  follow(leaderId: bigint): void {
    this.z.resetRole();
    this.z.learning = new Learning(this.z, leaderId, this.z.config.observers.has(this.z.config.myId));
  }

  // ---- Input --------------------------------------------------------------------------

  /** A message from `from` on the current connection with it. */
  step(from: bigint, message: ZabMessage<T, S>): void {
    if (this.z.leading !== null) this.z.leading.step(from, message);
    else this.z.learning?.step(from, message);
  }

  /** The connection with `peer` broke. */
  disconnected(peer: bigint): void {
    if (this.z.leading !== null) this.z.leading.disconnected(peer);
    else this.z.learning?.disconnected(peer);
  }

  /** One half of a tickTime has passed. */
  tick(): void {
    this.z.nowTick++;
    if (this.z.leading !== null) this.z.leading.tick();
    else this.z.learning?.tick();
  }

  /** Learners and pending work of a leader; null on any other role. */
  leaderStats(): LeaderStats | null {
    return this.z.leading?.stats() ?? null;
  }

  /** The zxid the next proposal would get, or null when this peer cannot propose. */
  nextZxid(): bigint | null {
    return this.z.leading?.nextZxid() ?? null;
  }

  /**
   * A client write on the established leader: `make` builds the txn for its zxid.
   * Returns the zxid, or null when this peer cannot propose now (not leading, not yet
   * established, too many proposals waiting, or the zxid counter is spent).
   */
  propose(make: (zxid: bigint) => T): bigint | null {
    return this.z.leading?.propose(make) ?? null;
  }

  /**
   * A sync request (ZooKeeper's sync()): `token` is reported in `Ready.syncsDone` once
   * every write the leader had proposed when it saw the request is applied here.
   * Returns false when this peer is not serving.
   */
  requestSync(token: number): boolean {
    if (!this.serving) return false;
    if (this.z.leading !== null) this.z.leading.requestSync(token);
    else this.z.learning?.requestSync(token);
    return true;
  }

  // ---- Output -------------------------------------------------------------------------

  hasReady(): boolean {
    const z = this.z;
    return (
      z.persistOps.length > 0 ||
      z.applyOps.length > 0 ||
      z.outbox.length > 0 ||
      z.disconnects.length > 0 ||
      z.syncsDone.length > 0 ||
      z.lookFlag ||
      z.settledEpoch !== null ||
      (z.leading?.syncsQueued ?? false)
    );
  }

  /** Takes what to do next; call `advance` once it is done (persisted, applied, sent). */
  ready(): Ready<T, S> {
    if (this.inFlight !== null) throw new ZabProtocolError("ready() again before advance()");
    const z = this.z;
    z.leading?.buildSyncs();
    const ready: Ready<T, S> = {
      persist: z.persistOps,
      apply: z.applyOps,
      messages: z.outbox,
      disconnect: z.disconnects,
      lookForLeader: z.lookFlag,
      syncsDone: z.syncsDone,
      settledEpoch: z.settledEpoch,
      serving: this.serving,
    };
    z.settledEpoch = null;
    z.persistOps = [];
    z.applyOps = [];
    z.outbox = [];
    z.disconnects = [];
    z.syncsDone = [];
    z.lookFlag = false;
    this.inFlight = ready;
    return ready;
  }

  /**
   * The last Ready is done: what it persisted is durable. With `appendsPending` (a leader
   * pipelining its own log writes) its appends are still being written: `appended` reports
   * them, in log order, once they are durable; until then they do not count as its ack.
   */
  advance(appendsPending = false): void {
    const ready = this.inFlight;
    if (ready === null) throw new ZabProtocolError("advance() without ready()");
    this.inFlight = null;
    const z = this.z;
    for (const op of ready.persist) {
      if (op.type === "append") {
        if (!appendsPending) z.persistedZxid = op.proposals.at(-1)?.zxid ?? z.persistedZxid;
      } else if (op.type === "truncate" || op.type === "snapshot") z.persistedZxid = op.zxid;
      else if (op.type === "currentEpoch") z.persistedCurrentEpoch = op.epoch;
    }
    z.leading?.advanced();
  }

  /**
   * Whether a leader's driver may advance `ready` before its appends are durable (and start
   * the next Ready's meanwhile): it only appends, every message may leave before the leader's
   * own disk write (proposals, commits, informs, pings), and nothing else in it depends on the
   * disk (no role change, sync handshake, truncation or epoch). Any other Ready must wait
   * until every pending append is durable and reported.
   */
  canPipeline(ready: Ready<T, S>): boolean {
    return (
      this.role === "leading" &&
      this.z.leading?.phase === "established" &&
      ready.persist.every((op) => op.type === "append") &&
      ready.messages.every(
        ({ message }) =>
          message.type === "proposal" ||
          message.type === "commit" ||
          message.type === "inform" ||
          message.type === "ping",
      ) &&
      ready.apply.every((op) => op.type === "txn") &&
      ready.disconnect.length === 0 &&
      !ready.lookForLeader &&
      ready.settledEpoch === null
    );
  }

  /** An append of a Ready advanced with `appendsPending` is durable up to `zxid`. */
  appended(zxid: bigint): void {
    const z = this.z;
    // The peer may have stepped down meanwhile (a tick or a message can end its leadership
    // before the driver drains): the append is durable all the same.
    if (zxid <= z.persistedZxid) return;
    z.persistedZxid = zxid;
    z.leading?.advanced();
  }

  /** Whether a Ready was handed out and not yet advanced. */
  get pendingReady(): boolean {
    return this.inFlight !== null;
  }

  /** A compact description of the peer, for transcripts. */
  describe(): string {
    const z = this.z;
    const parts = [
      `${z.config.myId}`,
      this.role,
      `accepted=${z.acceptedEpoch}`,
      `current=${z.currentEpoch}`,
      `last=${hex(z.log.lastZxid)}`,
      `committed=${hex(z.committedZxid)}`,
      `applied=${hex(z.appliedZxid)}`,
    ];
    if (z.leading !== null) parts.push(`phase=${z.leading.phase}`);
    if (z.learning !== null) parts.push(`leader=${z.learning.leaderId}`, `phase=${z.learning.phase}`);
    return parts.join(" ");
  }
}
