/**
 * ZooKeeper's FastLeaderElection as a pure state machine: notifications in, notifications
 * out, a decision once a quorum agrees. Time comes in through `tick(nowMs)`; nothing
 * here touches the network. The rules are lookForLeader's, WorkerReceiver's and
 * receivedFollowingNotification's in ZooKeeper 3.8:
 *   - a vote is better when its peer epoch, then zxid, then server id is higher
 *     (totalOrderPredicate);
 *   - a higher election epoch resets the round; a lower one is answered with our vote;
 *   - once a quorum has our proposal, wait finalizeWait for a better notification, then
 *     decide; a quorum of FOLLOWING/LEADING notifications for one leader, who says it is
 *     LEADING, ends the election too (joining an ensemble that has a leader);
 *   - a server that is not LOOKING answers LOOKING peers with the vote it settled on.
 */
import { type Notification, notificationVersion, PeerState } from "./election-messages.js";
import type { MajorityQuorum } from "./quorum-config.js";

/** FastLeaderElection.finalizeWait and the notification timeout bounds. */
export const finalizeWaitMs = 200;
export const notificationTimeoutMinMs = 200;
export const notificationTimeoutMaxMs = 60_000;

export interface Vote {
  leader: bigint;
  zxid: bigint;
  electionEpoch: bigint;
  peerEpoch: bigint;
  state: PeerState;
  version: number;
}

/** Vote.equals: LOOKING votes match on everything; settled votes on leader (and peer epoch). */
export function sameVote(a: Vote, b: Vote): boolean {
  if (a.state === PeerState.LOOKING || b.state === PeerState.LOOKING) {
    return (
      a.leader === b.leader &&
      a.zxid === b.zxid &&
      a.electionEpoch === b.electionEpoch &&
      a.peerEpoch === b.peerEpoch
    );
  }
  if (a.version > 0 !== b.version > 0) return a.leader === b.leader;
  return a.leader === b.leader && a.peerEpoch === b.peerEpoch;
}

export interface ElectionMessage {
  to: bigint;
  notification: Notification;
}

export interface ElectionDecision {
  state: PeerState.LEADING | PeerState.FOLLOWING | PeerState.OBSERVING;
  vote: Vote;
}

export class FastLeaderElection {
  private logicalClock = 0n;
  private proposedLeader = -1n;
  private proposedZxid = -1n;
  private proposedEpoch = -1n;
  private state: PeerState = PeerState.LOOKING;
  private readonly received = new Map<bigint, Vote>();
  private readonly outOfElection = new Map<bigint, Vote>();
  private outbox: ElectionMessage[] = [];
  private finalizeAtMs: number | null = null;
  private nextResendMs = 0;
  private notificationTimeoutMs = notificationTimeoutMinMs;
  private settled: ElectionDecision | null = null;
  private lastLoggedZxid = -1n;
  private currentEpoch = -1n;

  constructor(
    readonly myId: bigint,
    private readonly quorum: MajorityQuorum,
  ) {}

  /** Where the election stands: null while LOOKING. */
  get decision(): ElectionDecision | null {
    return this.settled;
  }

  /** The notifications to send now (taken: each is returned once). */
  takeMessages(): ElectionMessage[] {
    const messages = this.outbox;
    this.outbox = [];
    return messages;
  }

  /** lookForLeader's start: a new round proposing ourselves. */
  startLooking(lastLoggedZxid: bigint, currentEpoch: bigint, nowMs: number): void {
    this.state = PeerState.LOOKING;
    this.settled = null;
    this.lastLoggedZxid = lastLoggedZxid;
    this.currentEpoch = currentEpoch;
    this.received.clear();
    this.outOfElection.clear();
    this.finalizeAtMs = null;
    this.logicalClock++;
    this.propose(this.initialId(), this.initialZxid(), this.initialEpoch());
    this.notificationTimeoutMs = notificationTimeoutMinMs;
    this.sendNotifications(nowMs);
  }

  private isParticipant(): boolean {
    return this.quorum.isVoter(this.myId);
  }

  private initialId(): bigint {
    return this.isParticipant() ? this.myId : -(2n ** 63n);
  }

  private initialZxid(): bigint {
    return this.isParticipant() ? this.lastLoggedZxid : -(2n ** 63n);
  }

  private initialEpoch(): bigint {
    return this.isParticipant() ? this.currentEpoch : -(2n ** 63n);
  }

  private propose(leader: bigint, zxid: bigint, epoch: bigint): void {
    this.proposedLeader = leader;
    this.proposedZxid = zxid;
    this.proposedEpoch = epoch;
  }

  /** totalOrderPredicate: is (id, zxid, epoch) a better leader than the current one? */
  private better(
    id: bigint,
    zxid: bigint,
    epoch: bigint,
    curId: bigint,
    curZxid: bigint,
    curEpoch: bigint,
  ): boolean {
    if (!this.quorum.isVoter(id)) return false;
    return epoch > curEpoch || (epoch === curEpoch && (zxid > curZxid || (zxid === curZxid && id > curId)));
  }

  private ourVote(): Vote {
    return {
      leader: this.proposedLeader,
      zxid: this.proposedZxid,
      electionEpoch: this.logicalClock,
      peerEpoch: this.proposedEpoch,
      state: PeerState.LOOKING,
      version: notificationVersion,
    };
  }

  private notification(vote: Vote, state: PeerState): Notification {
    return {
      state,
      leader: vote.leader,
      zxid: vote.zxid,
      electionEpoch: vote.electionEpoch,
      peerEpoch: vote.peerEpoch,
      version: notificationVersion,
      config: this.quorum.toString(),
    };
  }

  /** sendNotifications: our proposal to every voter, ourselves included. */
  private sendNotifications(nowMs: number): void {
    const notification = this.notification(this.ourVote(), PeerState.LOOKING);
    for (const voter of this.quorum.voters) this.outbox.push({ to: voter, notification });
    this.nextResendMs = nowMs + this.notificationTimeoutMs;
  }

  /** Time passes: decide after finalizeWait, or resend when no notification came. */
  tick(nowMs: number): void {
    if (this.state !== PeerState.LOOKING) return;
    if (this.finalizeAtMs !== null && nowMs >= this.finalizeAtMs) {
      this.finalizeAtMs = null;
      this.decide(this.proposedLeader, this.ourVote());
      return;
    }
    if (this.finalizeAtMs === null && nowMs >= this.nextResendMs) {
      this.notificationTimeoutMs = Math.min(this.notificationTimeoutMs * 2, notificationTimeoutMaxMs);
      this.sendNotifications(nowMs);
    }
  }

  /** The next time `tick` has something to do. */
  nextTimerMs(): number | null {
    if (this.state !== PeerState.LOOKING) return null;
    return this.finalizeAtMs ?? this.nextResendMs;
  }

  private decide(leader: bigint, vote: Vote): void {
    const state =
      leader === this.myId
        ? PeerState.LEADING
        : this.isParticipant()
          ? PeerState.FOLLOWING
          : PeerState.OBSERVING;
    this.state = state;
    this.settled = {
      state,
      vote: { ...vote, state },
    };
    this.received.clear();
  }

  /**
   * QuorumPeer.updateElectionVote: once a leader is established (or a learner synced), the
   * vote we answer lookers with carries the new epoch, so a joining server sees a quorum
   * agreeing on leader and epoch alike (ZOOKEEPER-1732).
   */
  updateElectionVote(peerEpoch: bigint): void {
    if (this.settled === null) return;
    this.settled = { ...this.settled, vote: { ...this.settled.vote, peerEpoch } };
  }

  /** A notification from `sid` (our own ones come back through here too). */
  receive(sid: bigint, n: Notification, nowMs: number): void {
    const vote: Vote = {
      leader: n.leader,
      zxid: n.zxid,
      electionEpoch: n.electionEpoch,
      peerEpoch: n.peerEpoch,
      state: n.state,
      version: n.version,
    };
    // WorkerReceiver: a non-voter, or anyone LOOKING while we are settled, hears our vote.
    if (!this.quorum.isVoter(sid) || (this.state !== PeerState.LOOKING && n.state === PeerState.LOOKING)) {
      if (sid !== this.myId) {
        const current = this.settled?.vote ?? this.ourVote();
        this.outbox.push({ to: sid, notification: this.notification(current, this.state) });
      }
      if (!this.quorum.isVoter(sid)) return;
    }
    if (this.state !== PeerState.LOOKING) return;
    if (n.state === PeerState.LOOKING && n.electionEpoch < this.logicalClock && sid !== this.myId) {
      this.outbox.push({ to: sid, notification: this.notification(this.ourVote(), PeerState.LOOKING) });
    }
    if (!this.quorum.isVoter(n.leader)) return;
    // While finalizing, only a better vote reopens the round; others are dropped (as the poll loop does).
    if (this.finalizeAtMs !== null) {
      if (
        n.state !== PeerState.LOOKING ||
        !this.better(
          n.leader,
          n.zxid,
          n.peerEpoch,
          this.proposedLeader,
          this.proposedZxid,
          this.proposedEpoch,
        )
      ) {
        return;
      }
      this.finalizeAtMs = null;
    }
    this.nextResendMs = nowMs + this.notificationTimeoutMs;
    switch (n.state) {
      case PeerState.LOOKING:
        this.lookingNotification(sid, vote, nowMs);
        return;
      case PeerState.FOLLOWING:
      case PeerState.LEADING:
        this.followingNotification(sid, vote);
        return;
      default:
        return;
    }
  }

  private lookingNotification(sid: bigint, n: Vote, nowMs: number): void {
    if (this.initialZxid() === -1n || n.zxid === -1n) return;
    if (n.electionEpoch > this.logicalClock) {
      this.logicalClock = n.electionEpoch;
      this.received.clear();
      if (
        this.better(n.leader, n.zxid, n.peerEpoch, this.initialId(), this.initialZxid(), this.initialEpoch())
      ) {
        this.propose(n.leader, n.zxid, n.peerEpoch);
      } else {
        this.propose(this.initialId(), this.initialZxid(), this.initialEpoch());
      }
      this.sendNotifications(nowMs);
    } else if (n.electionEpoch < this.logicalClock) {
      return;
    } else if (
      this.better(n.leader, n.zxid, n.peerEpoch, this.proposedLeader, this.proposedZxid, this.proposedEpoch)
    ) {
      this.propose(n.leader, n.zxid, n.peerEpoch);
      this.sendNotifications(nowMs);
    }
    this.received.set(sid, n);
    const proposal = this.ourVote();
    const agreeing = [...this.received].filter(([, vote]) => sameVote(vote, proposal)).map(([id]) => id);
    if (this.quorum.containsQuorum(agreeing)) this.finalizeAtMs = nowMs + finalizeWaitMs;
  }

  /** receivedFollowingNotification: joining an ensemble that already has a leader. */
  private followingNotification(sid: bigint, n: Vote): void {
    const leaderSaysLeading = (votes: Map<bigint, Vote>) =>
      n.leader === this.myId
        ? this.logicalClock === n.electionEpoch
        : votes.get(n.leader)?.state === PeerState.LEADING;
    const agreeing = (votes: Map<bigint, Vote>) =>
      [...votes].filter(([, vote]) => sameVote(vote, n)).map(([id]) => id);
    if (n.electionEpoch === this.logicalClock) {
      this.received.set(sid, n);
      if (this.quorum.containsQuorum(agreeing(this.received)) && leaderSaysLeading(this.received)) {
        this.decide(n.leader, n);
        return;
      }
    }
    this.outOfElection.set(sid, n);
    if (this.quorum.containsQuorum(agreeing(this.outOfElection)) && leaderSaysLeading(this.outOfElection)) {
      this.logicalClock = n.electionEpoch;
      this.decide(n.leader, n);
    }
  }
}
