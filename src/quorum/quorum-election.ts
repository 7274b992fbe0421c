/**
 * Runs fast leader election over the network: the pure FastLeaderElection fed by the
 * ElectionNetwork, with its timers on the event loop. After a decision it keeps
 * answering peers that are still looking, as ZooKeeper's WorkerReceiver does.
 */
import { ElectionNetwork } from "./election-network.js";
import { type ElectionDecision, FastLeaderElection } from "./fast-leader-election.js";
import type { MajorityQuorum, QuorumServer } from "./quorum-config.js";

export interface QuorumElectionOptions {
  myId: bigint;
  quorum: MajorityQuorum;
  listenOnAllIps?: boolean;
  connectTimeoutMs?: number;
  warn?(message: string): void;
}

export class QuorumElection {
  private readonly election: FastLeaderElection;
  private readonly network: ElectionNetwork;
  private timer: NodeJS.Timeout | null = null;
  private waiting: ((decision: ElectionDecision) => void) | null = null;

  private constructor(options: QuorumElectionOptions) {
    this.election = new FastLeaderElection(options.myId, options.quorum);
    this.network = new ElectionNetwork({
      myId: options.myId,
      servers: options.quorum.servers as ReadonlyMap<bigint, QuorumServer>,
      listenOnAllIps: options.listenOnAllIps ?? false,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      onNotification: (sid, notification) => {
        this.election.receive(sid, notification, performance.now());
        this.pump();
      },
      warn: options.warn ?? (() => {}),
    });
  }

  /** Listens on the election port; call lookForLeader to start a round. */
  static async start(options: QuorumElectionOptions): Promise<QuorumElection> {
    const election = new QuorumElection(options);
    await election.network.listen();
    return election;
  }

  /** Runs a round from our last logged zxid and current epoch; resolves with the decision. */
  lookForLeader(lastLoggedZxid: bigint, currentEpoch: bigint): Promise<ElectionDecision> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.election.startLooking(lastLoggedZxid, currentEpoch, performance.now());
      this.pump();
    });
  }

  /** Sends what the election wants sent, arms its next timer, reports a decision. */
  private pump(): void {
    for (const message of this.election.takeMessages()) this.network.send(message.to, message.notification);
    const decision = this.election.decision;
    if (decision !== null && this.waiting !== null) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(decision);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const next = this.election.nextTimerMs();
    if (next !== null) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.election.tick(performance.now());
          this.pump();
        },
        Math.max(0, next - performance.now()),
      );
    }
  }

  /** The settled vote now carries the established epoch (QuorumPeer.updateElectionVote). */
  updateElectionVote(peerEpoch: bigint): void {
    this.election.updateElectionVote(peerEpoch);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.network.close();
  }
}
