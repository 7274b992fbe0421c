/**
 * A server of a replicated ensemble (ZooKeeper's QuorumPeer): the driver around the pure
 * ZAB core. It runs fast leader election, then leads or follows over the quorum port in
 * ZooKeeper 3.8's packets, carries out each Ready (epoch files, txn log, snapshots; then
 * apply; then send), and serves clients through a ZooKeeperServer wired for its role
 * once the core says it may: the leader preps and proposes writes, a learner forwards
 * them and answers its clients when the commits come back.
 */
import { mkdirSync } from "node:fs";
import net from "node:net";
import { OpCode } from "../jute/constants.js";
import { ClientPort, type Logger } from "../net/client-port.js";
import { connectToLeader, QuorumConnection } from "../net/quorum-connection.js";
import { PeerState } from "../quorum/election-messages.js";
import { readEpoch, writeEpoch } from "../quorum/epoch-files.js";
import { MajorityQuorum, type QuorumServer, readMyId } from "../quorum/quorum-config.js";
import { QuorumElection } from "../quorum/quorum-election.js";
import { PacketType, type QuorumPacket } from "../quorum/quorum-packet.js";
import {
  decodeRequest,
  decodeRevalidate,
  decodeSessionTouches,
  decodeZabMessage,
  encodeRequest,
  encodeRevalidateAnswer,
  encodeSessionTouches,
  encodeZabMessage,
  type QuorumMessage,
  type SyncedSnapshot,
} from "../quorum/zab-codec.js";
import { DataDirectory, type DiskTimings, treeSnapshotSource } from "../storage/data-directory.js";
import { snapshotBodyChunks } from "../storage/snapshot-format.js";
import type { LogEntry } from "../storage/txn-log-format.js";
import type { DataTree } from "../tree/data-tree.js";
import { ZabPeer } from "../zab/zab-peer.js";
import { hex, type Proposal, type Ready } from "../zab/zab-types.js";
import type { EnsembleConfig, ServerConfig } from "./config.js";
import { asError, closeThenReport } from "./fatal-stop.js";
import { dataDirectoryOptions } from "./standalone.js";
import { type ForwardedRequest, ZooKeeperServer } from "./zookeeper-server.js";

/** Attempts to connect to a leader before going back to election (Learner.connectToLeader's 5). */
export const leaderConnectAttemptsMax = 5;
/** Proposals a leader lets wait for a quorum. */
export const outstandingProposalsMax = 100_000;

export interface QuorumPeerHandle {
  readonly myId: bigint;
  readonly clientPort: ClientPort;
  readonly port: number;
  readonly host: string;
  /** LOOKING, LEADING, FOLLOWING or OBSERVING, as `srvr` reports it. */
  readonly state: string;
  readonly serving: boolean;
  readonly lastZxid: bigint;
  readonly tree: DataTree;
  close(): Promise<void>;
}

/** The tree and the live sessions: what survives role changes. */
interface Database {
  tree: DataTree;
  sessions: Map<bigint, number>;
}

export async function startQuorumPeer(options: {
  config: ServerConfig;
  logger?: Logger;
  /**
   * The peer's disk failed a write: it closes itself (see fatal-stop.ts), then calls this.
   * `zkts server` exits with status 1, as ZooKeeper does.
   */
  onFatal?: (error: Error) => void;
}): Promise<QuorumPeerHandle> {
  const { config } = options;
  const ensemble = config.ensemble;
  if (ensemble === null) throw new Error("not an ensemble configuration");
  const logger = options.logger ?? { info: () => {}, warn: () => {} };
  mkdirSync(config.dataDir, { recursive: true });
  const myId = readMyId(config.dataDir);
  const self = ensemble.servers.get(myId);
  if (self === undefined) throw new Error(`myid ${myId} is not among the server.N lines`);
  const peer = new QuorumPeer(
    { ...config, serverId: Number(myId) },
    ensemble,
    myId,
    self,
    logger,
    options.onFatal ?? (() => {}),
  );
  await peer.start();
  return peer;
}

class QuorumPeer implements QuorumPeerHandle {
  readonly quorum: MajorityQuorum;
  private directory!: DataDirectory;
  /** The data directory's fsync and snapshot times, for each role's mntr (none before start). */
  private readonly diskTimings = (): DiskTimings | undefined =>
    (this.directory as DataDirectory | undefined)?.timings;
  private database!: Database;
  private core!: ZabPeer<LogEntry, SyncedSnapshot>;
  private election!: QuorumElection;
  readonly clientPort: ClientPort;
  port = 0;
  host: string;
  private server: ZooKeeperServer;
  private serverRole: "leader" | "learner" | null = null;
  private quorumListener: net.Server | null = null;
  /** Leading: each learner's connection. */
  private readonly learners = new Map<bigint, QuorumConnection>();
  /** Following: the connection to the leader. */
  private leaderConnection: QuorumConnection | null = null;
  private readonly syncRequests = new Map<number, ForwardedRequest>();
  private nextSyncToken = 1;
  private tickTimer: NodeJS.Timeout | null = null;
  private processing = false;
  /**
   * A leader's own log appends still being written (pipelined: the next Ready's proposals
   * leave meanwhile), reported to the core in order as they become durable; at most
   * config.logWritesInFlight of them.
   */
  private pendingAppends = 0;
  private appendsReported: Promise<void> = Promise.resolve();
  private appendFailure: Error | null = null;
  private pumpScheduled = false;
  private closed = false;
  private looking = false;
  /** The newest logged txns at start-up: the core's in-memory log. */
  private recent: LogEntry[] = [];
  /** What the core sent its leader before the connection to it was up (FOLLOWERINFO). */
  private queuedForLeader: QuorumMessage[] = [];
  /** Learners that called while we were still electing (at most one per server). */
  private earlyLearners: { connection: QuorumConnection; packet: QuorumPacket }[] = [];

  constructor(
    readonly config: ServerConfig,
    readonly ensemble: EnsembleConfig,
    readonly myId: bigint,
    private readonly self: QuorumServer,
    private readonly logger: Logger,
    private readonly onFatal: (error: Error) => void,
  ) {
    this.quorum = new MajorityQuorum(ensemble.servers);
    this.host = config.clientPortAddress;
    this.server = new ZooKeeperServer({
      config,
      warn: (message) => logger.warn(message),
      diskTimings: this.diskTimings,
    });
    this.clientPort = new ClientPort(this.server, logger);
    this.clientPort.serving = () => this.serving;
  }

  get state(): string {
    switch (this.core.role) {
      case "leading":
        return "leading";
      case "following":
        return "following";
      case "observing":
        return "observing";
      default:
        return "looking";
    }
  }

  get serving(): boolean {
    return this.core.serving && this.serverRole !== null;
  }

  get lastZxid(): bigint {
    return this.core.lastLoggedZxid;
  }

  get tree(): DataTree {
    return this.database.tree;
  }

  async start(): Promise<void> {
    this.directory = await DataDirectory.open(dataDirectoryOptions(this.config, this.logger));
    await this.loadDatabase();
    const acceptedEpoch = (await readEpoch(this.config.dataDir, "acceptedEpoch")) ?? 0n;
    const currentEpoch = (await readEpoch(this.config.dataDir, "currentEpoch")) ?? 0n;
    this.core = this.newCore(acceptedEpoch, currentEpoch);
    this.logger.info(
      `server ${this.myId}: ${this.database.tree.nodeCount} znodes up to zxid ${hex(this.database.tree.lastProcessedZxid)}, epochs ${acceptedEpoch}/${currentEpoch}`,
    );
    this.election = await QuorumElection.start({
      myId: this.myId,
      quorum: this.quorum,
      listenOnAllIps: this.ensemble.listenOnAllIps,
      connectTimeoutMs: this.ensemble.connectTimeoutMs,
      warn: (message) => this.logger.warn(message),
    });
    await this.listenQuorumPort();
    this.port = await this.clientPort.listen(
      this.self.clientPort ?? this.config.clientPort,
      this.self.clientHost ?? this.host,
    );
    this.tickTimer = setInterval(() => {
      this.core.tick();
      this.pump();
    }, this.config.tickTimeMs / 2);
    void this.lookForLeader();
  }

  private async loadDatabase(): Promise<void> {
    const restored = await this.directory.restore(
      { extendedTypesEnabled: this.config.extendedTypesEnabled },
      false,
      this.ensemble.commitLogCount + 1,
    );
    this.database = { tree: restored.tree, sessions: restored.sessions };
    this.recent = restored.recent;
    // FileTxnSnapLog.restore on a new data directory: snapshot.0 before any log (ZOOKEEPER-2325).
    if (restored.snapshotFile === null) {
      await this.directory.takeSnapshot(treeSnapshotSource(restored.tree, restored.sessions));
    }
    this.initConfigNode();
  }

  /** /zookeeper/config holds the ensemble's configuration on every member, as ZooKeeper keeps it. */
  private initConfigNode(): void {
    this.database.tree.setConfigNode(this.quorum.toString(), this.quorum.version, Date.now());
  }

  private newCore(acceptedEpoch: bigint, currentEpoch: bigint): ZabPeer<LogEntry, SyncedSnapshot> {
    const tree = this.database.tree;
    const recent: Proposal<LogEntry>[] = this.recent.map((entry) => ({
      zxid: entry.header.zxid,
      txn: entry,
    }));
    const first = recent[0];
    // The window's base: the zxid before its first txn (the snapshot's when the log holds no more).
    const recentBase = first === undefined ? tree.lastProcessedZxid : first.zxid - 1n;
    const observers = new Set(
      [...this.ensemble.servers.values()].filter((s) => s.type === "observer").map((s) => s.id),
    );
    return new ZabPeer(
      {
        myId: this.myId,
        voters: this.quorum.voters,
        observers,
        initLimitTicks: this.ensemble.initLimit * 2,
        syncLimitTicks: this.ensemble.syncLimit * 2,
        commitLogCount: this.ensemble.commitLogCount,
        outstandingProposalsMax,
      },
      {
        acceptedEpoch,
        currentEpoch,
        appliedZxid: tree.lastProcessedZxid,
        recentBase: recentBase < 0n ? 0n : recentBase,
        recent,
      },
    );
  }

  // ---- Election and roles ---------------------------------------------------------------

  private async lookForLeader(): Promise<void> {
    if (this.closed || this.looking) return;
    this.looking = true;
    this.endRole("looking for a leader");
    const decision = await this.election.lookForLeader(this.core.lastLoggedZxid, this.core.currentEpoch);
    this.looking = false;
    if (this.closed) return;
    this.logger.info(
      `server ${this.myId}: election decided ${PeerState[decision.state]} (leader ${decision.vote.leader}, zxid ${hex(decision.vote.zxid)})`,
    );
    const early = this.earlyLearners;
    this.earlyLearners = [];
    if (decision.state === PeerState.LEADING) {
      this.core.lead();
      for (const { connection, packet } of early) {
        if (connection.open) connection.handlers?.packet(packet, null);
      }
    } else {
      for (const { connection } of early) connection.close("not leading");
      this.core.follow(decision.vote.leader);
      void this.connectLeader(decision.vote.leader);
    }
    this.pump();
  }

  /** Leaves the current role: clients and quorum connections go. */
  private endRole(reason: string): void {
    if (this.serverRole !== null) {
      this.server.stop();
      this.serverRole = null;
      this.server = new ZooKeeperServer({
        config: this.config,
        warn: (message) => this.logger.warn(message),
        diskTimings: this.diskTimings,
      });
      this.clientPort.switchServer(this.server, reason);
    }
    for (const connection of [...this.learners.values()]) connection.close(reason);
    this.learners.clear();
    this.queuedForLeader = [];
    this.leaderConnection?.close(reason);
    this.leaderConnection = null;
    this.syncRequests.clear();
  }

  /** The core serves: a ZooKeeperServer for the role takes the clients. */
  private startServing(): void {
    const role = this.core.role === "leading" ? "leader" : "learner";
    const server = new ZooKeeperServer({
      config: this.config,
      restored: { tree: this.database.tree, sessions: this.database.sessions },
      warn: (message) => this.logger.warn(message),
      diskTimings: this.diskTimings,
      replication:
        role === "leader"
          ? {
              role: "leader",
              nextZxid: () => this.core.nextZxid() ?? -1n,
              propose: (logged) => {
                const zxid = this.core.propose(() => logged);
                if (zxid !== logged.header.zxid) return false;
                this.schedulePump();
                return true;
              },
              sync: (token) => {
                const requested = this.core.requestSync(token);
                this.schedulePump();
                return requested;
              },
            }
          : {
              role: "learner",
              forward: (request) =>
                this.leaderConnection?.send(encodeRequest({ ...request, authInfo: [...request.authInfo] })),
              sync: (token, request) => {
                this.syncRequests.set(token, request);
                const requested = this.core.requestSync(token);
                this.schedulePump();
                return requested;
              },
            },
    });
    server.mode =
      this.core.role === "leading" ? "leader" : this.core.role === "observing" ? "observer" : "follower";
    server.quorumStats = () => this.core.leaderStats();
    this.server.stop();
    this.server = server;
    this.serverRole = role;
    this.clientPort.switchServer(server, "role changed");
    server.start();
    this.logger.info(
      `server ${this.myId}: serving clients as ${this.state} at zxid ${hex(this.database.tree.lastProcessedZxid)}`,
    );
  }

  // ---- Quorum connections -------------------------------------------------------------------

  private async listenQuorumPort(): Promise<void> {
    const listener = net.createServer((socket) => this.acceptLearner(socket));
    this.quorumListener = listener;
    const host = this.ensemble.listenOnAllIps ? "0.0.0.0" : this.self.host;
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(this.self.quorumPort, host, () => {
        listener.off("error", reject);
        resolve();
      });
    });
  }

  /** A learner calls: its first packet (FOLLOWERINFO or OBSERVERINFO) names it. */
  private acceptLearner(socket: net.Socket): void {
    const connection = new QuorumConnection(socket, {
      learnerSide: false,
      extendedTypesEnabled: this.config.extendedTypesEnabled,
    });
    let sid: bigint | null = null;
    connection.handlers = {
      packet: (packet) => {
        if (sid === null) {
          if (packet.type !== PacketType.FOLLOWERINFO && packet.type !== PacketType.OBSERVERINFO) {
            connection.close("the first packet is not FOLLOWERINFO or OBSERVERINFO");
            return;
          }
          if (this.core.role !== "leading") {
            // A learner can hear the election's outcome before we act on it: it waits (as a
            // Java learner retries its connection) until we lead, or is turned away.
            if (this.looking && this.earlyLearners.length < this.ensemble.servers.size) {
              this.earlyLearners.push({ connection, packet });
            } else connection.close("not leading");
            return;
          }
          sid = (packet.data ?? Buffer.alloc(8)).readBigInt64BE(0);
          this.learners.get(sid)?.close("learner reconnected");
          this.learners.set(sid, connection);
        }
        this.fromLearner(sid, connection, packet);
      },
      closed: (reason) => {
        if (sid !== null && this.learners.get(sid) === connection) {
          this.learners.delete(sid);
          this.logger.info(`server ${this.myId}: learner ${sid} left: ${reason}`);
          this.core.disconnected(sid);
          this.pump();
        }
      },
    };
  }

  private fromLearner(sid: bigint, connection: QuorumConnection, packet: QuorumPacket): void {
    switch (packet.type) {
      case PacketType.REQUEST: {
        const request = decodeRequest(packet);
        if (request.type === OpCode.sync) {
          this.core.step(sid, { type: "sync", token: this.nextSyncToken++ });
        } else if (this.serverRole === "leader") {
          this.server.submitForwarded(request);
        }
        break;
      }
      case PacketType.REVALIDATE: {
        const { sessionId, timeoutMs } = decodeRevalidate(packet.data);
        const valid =
          this.serverRole === "leader" &&
          this.server.sessions.touch(sessionId, timeoutMs, performance.timeOrigin + performance.now());
        connection.send(encodeRevalidateAnswer(sessionId, valid));
        break;
      }
      case PacketType.PING:
        if (this.serverRole === "leader") this.server.touchSessions(decodeSessionTouches(packet.data));
        this.core.step(sid, { type: "ping", zxid: packet.zxid });
        break;
      default: {
        const message = decodeZabMessage(packet);
        if (message !== null) this.core.step(sid, message);
      }
    }
    this.schedulePump();
  }

  private async connectLeader(leaderId: bigint): Promise<void> {
    const leader = this.ensemble.servers.get(leaderId);
    if (leader === undefined) {
      this.core.disconnected(leaderId);
      this.pump();
      return;
    }
    let socket: net.Socket | null = null;
    for (let attempt = 1; attempt <= leaderConnectAttemptsMax && socket === null; attempt++) {
      try {
        socket = await connectToLeader(
          leader.host,
          leader.quorumPort,
          this.config.tickTimeMs * this.ensemble.syncLimit,
        );
      } catch (error) {
        this.logger.warn(
          `server ${this.myId}: connecting to leader ${leaderId} (attempt ${attempt}): ${(error as Error).message}`,
        );
        if (attempt < leaderConnectAttemptsMax) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (this.closed || this.core.leaderId !== leaderId) {
        socket?.destroy();
        return;
      }
    }
    if (socket === null) {
      this.core.disconnected(leaderId);
      this.pump();
      return;
    }
    const connection = new QuorumConnection(socket, {
      learnerSide: true,
      extendedTypesEnabled: this.config.extendedTypesEnabled,
    });
    this.leaderConnection = connection;
    connection.handlers = {
      packet: (packet, snapshot) => this.fromLeader(leaderId, packet, snapshot),
      closed: (reason) => {
        if (this.leaderConnection !== connection) return;
        this.leaderConnection = null;
        this.logger.warn(`server ${this.myId}: connection to leader ${leaderId} lost: ${reason}`);
        this.core.disconnected(leaderId);
        this.pump();
      },
    };
    // What the core queued for the leader (FOLLOWERINFO) goes out now that there is a connection.
    this.flushLeaderMessages();
    this.pump();
  }

  private flushLeaderMessages(): void {
    const connection = this.leaderConnection;
    if (connection === null) return;
    for (const message of this.queuedForLeader) this.sendToLeader(connection, message);
    this.queuedForLeader = [];
  }

  private fromLeader(leaderId: bigint, packet: QuorumPacket, snapshot: SyncedSnapshot | null): void {
    if (packet.type === PacketType.REVALIDATE) return;
    let message: QuorumMessage | null;
    try {
      message = decodeZabMessage(packet);
    } catch (error) {
      this.leaderConnection?.close((error as Error).message);
      return;
    }
    if (message === null) return;
    if (message.type === "diff" || message.type === "trunc" || message.type === "snap") {
      this.logger.info(
        `server ${this.myId}: syncing with leader ${leaderId} by ${message.type.toUpperCase()} at ${hex(message.zxid)}`,
      );
    }
    if (message.type === "snap" && snapshot !== null) {
      snapshot.tree.finishLoad(message.zxid);
      message = { ...message, snapshot };
    }
    this.core.step(leaderId, message);
    this.schedulePump();
  }

  private sendToLeader(connection: QuorumConnection, message: QuorumMessage): void {
    if (message.type === "sync") {
      const request = this.syncRequests.get(message.token);
      this.syncRequests.delete(message.token);
      connection.send(
        encodeRequest({
          sessionId: request?.sessionId ?? 0n,
          cxid: request?.cxid ?? 0,
          type: OpCode.sync,
          body: request?.body ?? Buffer.alloc(0),
          authInfo: [...(request?.authInfo ?? [])],
        }),
      );
      return;
    }
    const packet = encodeZabMessage(message, this.myId);
    if (message.type === "ping" && this.serverRole === "learner") {
      packet.data = encodeSessionTouches(this.server.takeTouchedSessions());
    }
    connection.send(packet);
  }

  // ---- Carrying out Readies ---------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Everything that arrives in this turn of the event loop goes into one Ready (group commit).
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.processing || this.closed || !this.core.hasReady()) return;
    this.processing = true;
    this.processReady(this.core.ready()).then(
      () => {
        this.processing = false;
        this.pump();
      },
      (error: unknown) => {
        // A disk that cannot take a write must not acknowledge anything: stop.
        this.logger.warn(`server ${this.myId}: stopping: ${(error as Error).stack ?? error}`);
        this.processing = false;
        this.fail(error);
      },
    );
  }

  /** A leader's Ready whose appends may be written while the next Ready is processed. */
  private pipelinable(ready: Ready<LogEntry, SyncedSnapshot>): boolean {
    // serverRole: the Ready that made the core serve has been processed, and the leader's
    // ZooKeeperServer takes what is applied.
    return this.serverRole === "leader" && this.core.canPipeline(ready);
  }

  /** Starts a pipelined Ready's appends; the core hears of each, in order, once it is durable. */
  private startAppends(ready: Ready<LogEntry, SyncedSnapshot>): void {
    for (const op of ready.persist) {
      if (op.type !== "append" || op.proposals.length === 0) continue;
      const zxid = op.proposals.at(-1)!.zxid;
      const written = this.directory.log.append(op.proposals.map((proposal) => proposal.txn));
      // Handled in the chain below, perhaps only after an earlier append settles: mark it handled
      // now so that its failure is not an unhandled rejection meanwhile.
      written.catch(() => undefined);
      this.pendingAppends++;
      this.appendsReported = this.appendsReported
        .then(() => written)
        .then(
          () => {
            this.pendingAppends--;
            if (this.closed || this.appendFailure !== null) return;
            this.core.appended(zxid);
            this.directory.maybeSnapshot(() =>
              treeSnapshotSource(this.database.tree, this.database.sessions),
            );
            this.schedulePump();
          },
          (error: unknown) => {
            this.pendingAppends--;
            if (this.appendFailure !== null) return;
            // A disk that cannot take a write must not acknowledge anything: stop.
            this.appendFailure = asError(error);
            this.logger.warn(
              `server ${this.myId}: stopping: ${this.appendFailure.stack ?? this.appendFailure}`,
            );
            this.fail(this.appendFailure);
          },
        );
    }
  }

  /** Waits until every pipelined append is durable and reported; throws if one failed. */
  private async drainAppends(): Promise<void> {
    await this.appendsReported;
    if (this.appendFailure !== null) throw this.appendFailure;
  }

  private async processReady(ready: Ready<LogEntry, SyncedSnapshot>): Promise<void> {
    if (this.appendFailure !== null) throw this.appendFailure;
    if (this.pipelinable(ready)) {
      // Bounded: with logWritesInFlight appends on their way, wait for them first.
      if (this.pendingAppends >= this.config.logWritesInFlight) {
        await this.drainAppends();
        if (this.closed) return;
      }
      for (const { to, message } of ready.messages) this.send(to, message);
      this.startAppends(ready);
      const committed: LogEntry[] = [];
      for (const op of ready.apply) if (op.type === "txn") committed.push(op.proposal.txn);
      if (committed.length > 0) this.server.applyCommitted(committed);
      for (const token of ready.syncsDone) this.server.syncDone(token);
      this.core.advance(true);
      return;
    }
    // Anything else sees the disk as the core does: every append before it is durable.
    await this.drainAppends();
    // A leader's proposals and commits need not wait for its own disk write (its own ack is
    // counted only once the write is done): they leave first, so the learners' fsyncs run
    // alongside the leader's. Each peer still gets its messages in order: once one of them
    // must wait, so does everything after it to that peer.
    const deferred: typeof ready.messages = [];
    const waiting = new Set<bigint>();
    for (const outgoing of ready.messages) {
      const early =
        this.core.role === "leading" &&
        !waiting.has(outgoing.to) &&
        (outgoing.message.type === "proposal" ||
          outgoing.message.type === "commit" ||
          outgoing.message.type === "inform");
      if (early) this.send(outgoing.to, outgoing.message);
      else {
        waiting.add(outgoing.to);
        deferred.push(outgoing);
      }
    }
    for (const op of ready.persist) {
      switch (op.type) {
        case "acceptedEpoch":
        case "currentEpoch":
          await writeEpoch(this.config.dataDir, op.type, op.epoch);
          break;
        case "append":
          await this.directory.log.append(op.proposals.map((proposal) => proposal.txn));
          break;
        case "truncate":
          this.logger.warn(`server ${this.myId}: truncating the txn log after ${hex(op.zxid)}`);
          await this.directory.truncateAfter(op.zxid);
          break;
        case "snapshot":
          await this.directory.truncateAfter(op.zxid);
          await this.directory.takeSnapshot(treeSnapshotSource(op.snapshot.tree, op.snapshot.sessions));
          break;
      }
    }
    let batch: LogEntry[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      if (this.serverRole !== null) this.server.applyCommitted(batch);
      else for (const entry of batch) applyToDatabase(this.database, entry);
      batch = [];
    };
    for (const op of ready.apply) {
      if (op.type === "txn") {
        batch.push(op.proposal.txn);
        continue;
      }
      flush();
      if (op.type === "snapshot") {
        this.database.tree = op.snapshot.tree;
        this.database.sessions.clear();
        for (const [id, timeout] of op.snapshot.sessions) this.database.sessions.set(id, timeout);
        this.initConfigNode();
      } else {
        // The log may already hold what this Ready appended after the truncation point.
        const restored = await this.directory.restore(
          { extendedTypesEnabled: this.config.extendedTypesEnabled },
          false,
          0,
          op.zxid,
        );
        this.database.tree = restored.tree;
        this.database.sessions.clear();
        for (const [id, timeout] of restored.sessions) this.database.sessions.set(id, timeout);
        this.initConfigNode();
      }
    }
    flush();
    if (ready.persist.some((op) => op.type === "append")) {
      this.directory.maybeSnapshot(() => treeSnapshotSource(this.database.tree, this.database.sessions));
    }
    for (const { to, message } of deferred) this.send(to, message);
    for (const peer of ready.disconnect) {
      if (this.core.role === "leading" || this.learners.has(peer)) {
        this.learners.get(peer)?.close("dropped by the leader");
        this.learners.delete(peer);
      } else if (this.leaderConnection !== null) {
        const connection = this.leaderConnection;
        this.leaderConnection = null;
        connection.close("left the leader");
      }
    }
    for (const token of ready.syncsDone) this.server.syncDone(token);
    if (ready.settledEpoch !== null) this.election.updateElectionVote(ready.settledEpoch);
    this.core.advance();
    if (ready.lookForLeader) {
      this.logger.warn(`server ${this.myId}: back to election: ${this.core.stepDownReason}`);
      void this.lookForLeader();
    } else if (ready.serving && this.core.serving && this.serverRole === null) {
      // Only once the Ready that made the core serve is applied: its state is the one to serve.
      this.startServing();
    }
  }

  private send(to: bigint, message: QuorumMessage): void {
    if (this.core.role === "leading") {
      const connection = this.learners.get(to);
      if (connection === undefined) return;
      const packet = encodeZabMessage(message, this.myId);
      if (message.type === "snap" || message.type === "diff" || message.type === "trunc") {
        this.logger.info(
          `server ${this.myId}: syncing learner ${to} by ${message.type.toUpperCase()} at ${hex(message.zxid)}`,
        );
      }
      if (message.type === "snap") {
        const tree = this.database.tree;
        if (tree.lastProcessedZxid !== message.zxid) {
          throw new Error(`SNAP at ${hex(message.zxid)} but the tree is at ${hex(tree.lastProcessedZxid)}`);
        }
        connection.sendSnapshot(packet, snapshotBodyChunks(treeSnapshotSource(tree, this.database.sessions)));
      } else connection.send(packet);
      return;
    }
    if (this.leaderConnection === null) {
      this.queuedForLeader.push(message);
      return;
    }
    this.sendToLeader(this.leaderConnection, message);
  }

  /** Stops after an error that leaves nothing safe to do (a failed disk write), then says so. */
  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    closeThenReport(() => this.close(), asError(error), this.onFatal);
  }

  private failed = false;

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.endRole("server stopping");
    await this.clientPort.close();
    await new Promise<void>((resolve) => {
      if (this.quorumListener === null) resolve();
      else this.quorumListener.close(() => resolve());
    });
    await this.election.close();
    await this.directory.idle();
    await this.directory.close();
  }
}

/** Applies a committed txn to the database while no server serves (sync, or establishing a leader). */
function applyToDatabase(database: Database, entry: LogEntry): void {
  if (entry.txn.type === OpCode.createSession)
    database.sessions.set(entry.header.clientId, entry.txn.txn.timeOut);
  else if (entry.header.type === OpCode.closeSession) database.sessions.delete(entry.header.clientId);
  database.tree.applyTxn(entry.header, entry.txn);
}
