/**
 * The standalone request pipeline (DESIGN.md "The request path"): prep → order
 * (zxid) → durable (group commit) → apply (tree.applyTxn) → reply, each session
 * answered in the order it asked. Connections are behind the `ClientConnection`
 * interface, clock behind `Clock`; no sockets here.
 */

import { JuteWriter } from "../jute/binary.js";
import { ErrorCode, KeeperState, OpCode, Perms, Xid } from "../jute/constants.js";
import { KeeperError } from "../jute/keeper-error.js";
import { writeMultiEnd, writeMultiResultHeader } from "../jute/multi.js";
import { type ConnectRequest, type Id, Stat, type TxnHeader } from "../jute/records.js";
import { generatePassword, SessionTracker } from "../sessions/session-tracker.js";
import type { DiskTimings } from "../storage/data-directory.js";
import { treeSnapshotSource } from "../storage/data-directory.js";
import type { SnapshotSource } from "../storage/snapshot-format.js";
import { withMarshalledBytes } from "../storage/txn-log-format.js";
import { containerDeletionCandidates } from "../tree/containers.js";
import { DataTree, type ProcessTxnResult, type TriggeredEvent } from "../tree/data-tree.js";
import { WatchManager } from "../watches/watch-manager.js";
import type { LeaderStats } from "../zab/zab-peer.js";
import { checkACL } from "./auth.js";
import { OutstandingChanges } from "./change-records.js";
import type { ServerConfig } from "./config.js";
import { type DurableLog, GroupCommit, InMemoryTxnLog, type LoggedTxn } from "./durable-log.js";
import { isWriteOp, type PrepContext, prepWrite, treeDigestOf } from "./prep-request.js";
import { answerRead, isReadOp, type ReplyBody, ReplyScratch } from "./read-requests.js";

/** Time as the server sees it: wall time for txn timestamps, monotonic time for expiry. */
export interface Clock {
  wallMs(): number;
  monotonicMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monotonicMs: () => performance.timeOrigin + performance.now(),
};

/** What the pipeline needs from a client connection (the socket side lives in net/). */
export interface ClientConnection {
  readonly id: number;
  readonly remoteAddress: string;
  sessionId: bigint;
  sessionTimeoutMs: number;
  readonly authInfo: Id[];
  /**
   * Sends a reply frame: ReplyHeader then body. A body part of up to `packedPartBytesMax`
   * bytes may be the server's scratch, written over by the next reply: copy it, or send it,
   * before returning.
   */
  sendReply(xid: number, zxid: bigint, err: number, body: ReplyBody): void;
  /** Sends a ConnectResponse (with the trailing read-only flag when the client sent one). */
  sendConnectResponse(timeoutMs: number, sessionId: bigint, password: Buffer): void;
  /** Closes the connection after what was already sent. */
  close(reason: string, routine?: boolean): void;
  /** Stops or resumes reading from the socket (throttling). */
  setReading(reading: boolean): void;
}

/** Bytes of the largest batch of txns handed to the log at once (SyncRequestProcessor.maxBatchSize). */
/** ZooKeeper's zookeeper.maxBatchSize default: txns written and synced together at most. */
export const groupCommitTxnsMaxDefault = 1000;
/** Batches of container deletions per check, as ContainerManager's maxPerMinute. */
const containerIntervalFloorMs = 100;

/** A request waiting in its session's queue; `receivedMs` is for latency statistics. */
type Pending = { receivedMs: number } & (
  | { kind: "read"; xid: number; type: number; body: Buffer }
  | { kind: "ping"; xid: number }
  | {
      kind: "write";
      xid: number;
      done: boolean;
      zxid: bigint;
      err: number;
      /** The applied txn's type and what the tree answered (null for a failed write): the reply. */
      txnType: number;
      result: ProcessTxnResult | null;
      closeAfter: boolean;
    }
  | { kind: "connect"; done: boolean }
  | { kind: "sync"; xid: number; body: Buffer; done: boolean; token: number }
);

interface SessionState {
  connection: ClientConnection;
  queue: Pending[];
  paused: boolean;
}

/** Counters for four-letter words and metrics. */
export interface ServerStats {
  packetsReceived: number;
  packetsSent: number;
  requestsOutstanding: number;
  /** How often a connection's socket was paused because it had too many requests outstanding. */
  throttledConnections: number;
  latencyMinMs: number;
  latencyMaxMs: number;
  latencyTotalMs: number;
  latencyCount: number;
  groupCommits: number;
  txnsCommitted: number;
  startedAtMs: number;
  /** Txns after which the tree's digest differed from the logged one. */
  digestMismatches: number;
}

/** A client's write as a learner forwards it to the leader (ZooKeeper's REQUEST packet). */
export interface ForwardedRequest {
  sessionId: bigint;
  cxid: number;
  type: number;
  body: Buffer;
  authInfo: readonly Id[];
}

/**
 * How writes leave a server that is part of an ensemble. The leader preps writes itself
 * and hands them to ZAB; a learner forwards them to the leader. Either way the txns come
 * back, committed, through `applyCommitted`. Absent: standalone, with its own group commit.
 */
export type Replication =
  | {
      role: "leader";
      /** The zxid the next proposal will get. */
      nextZxid(): bigint;
      /** Proposes a prepped txn; false when this server can no longer lead. */
      propose(logged: LoggedTxn): boolean;
      /** sync(): `syncDone(token)` follows once everything proposed before is applied. */
      sync(token: number): boolean;
    }
  | {
      role: "learner";
      forward(request: ForwardedRequest): void;
      /** Sends the client's sync to the leader; `syncDone(token)` follows once its answer is here. */
      sync(token: number, request: ForwardedRequest): boolean;
    };

export interface ZooKeeperServerOptions {
  config: ServerConfig;
  /** In an ensemble: the leader's or a learner's way to replicate writes. */
  replication?: Replication;
  clock?: Clock;
  log?: DurableLog;
  /** A tree restored from disk, and the sessions live in it with their timeouts. */
  restored?: { tree: DataTree; sessions: ReadonlyMap<bigint, number> };
  /** Called after each durable batch is applied (snapshots are started from here). */
  onCommitted?: () => void;
  /** Called once the txn log has failed a write and the server has stopped serving. */
  onLogFailure?: (error: Error) => void;
  /** The data directory's fsync and snapshot times, for mntr (none without one). */
  diskTimings?: () => DiskTimings | undefined;
  /** Logs one line for operating errors (bad frames, expiries). */
  warn?: (message: string) => void;
}

export class ZooKeeperServer {
  readonly config: ServerConfig;
  readonly tree: DataTree;
  readonly watches = new WatchManager();
  readonly sessions: SessionTracker;
  readonly stats: ServerStats;
  private readonly changes = new OutstandingChanges();
  /** Reply bodies and watch events are encoded here (see `sendReply`). */
  private readonly replyScratch = new ReplyScratch();
  private readonly clock: Clock;
  private readonly groupCommit: GroupCommit;
  private readonly log: DurableLog;
  private readonly warn: (message: string) => void;
  private readonly diskTimingsSource: (() => DiskTimings | undefined) | undefined;
  /** The highest zxid handed out (ZooKeeper's hzxid). */
  private highestZxid = 0n;
  /** Txns handed to the log, in zxid order, waiting to be applied. */
  private readonly unapplied: {
    zxid: bigint;
    state: SessionState | null;
    entry: Pending | null;
    error: number;
  }[] = [];
  private readonly states = new Map<ClientConnection, SessionState>();
  private readonly connectionsBySession = new Map<bigint, ClientConnection>();
  private readonly watchers = new Map<number, ClientConnection>();
  /** Sessions whose createSession is applied and closeSession is not (ZKDatabase's sessionsWithTimeouts). */
  private readonly committedSessions: Map<bigint, number>;
  private readonly onCommitted: () => void;
  private readonly onLogFailure: (error: Error) => void;
  private expiryTimer: NodeJS.Timeout | null = null;
  private containerTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly replication: Replication | null;
  /** What `srvr` reports as Mode: standalone, leader, follower or observer. */
  mode = "standalone";
  /** On a leader: its learners, for mntr. */
  quorumStats: (() => LeaderStats | null) | undefined = undefined;
  /** A learner's forwarded writes (and session creations) per session, in the order sent. */
  private readonly forwarded = new Map<bigint, { state: SessionState; entry: Pending }[]>();
  /** Sync requests waiting for ZAB, by token. */
  private readonly syncs = new Map<number, SessionState>();
  private nextSyncToken = 1;
  /** Sessions a learner's clients touched since its last PING to the leader. */
  private touched = new Map<bigint, number>();

  constructor(options: ZooKeeperServerOptions) {
    this.replication = options.replication ?? null;
    this.config = options.config;
    this.tree =
      options.restored?.tree ?? new DataTree({ extendedTypesEnabled: this.config.extendedTypesEnabled });
    this.highestZxid = this.tree.lastProcessedZxid;
    this.onCommitted = options.onCommitted ?? (() => {});
    this.onLogFailure = options.onLogFailure ?? (() => {});
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? new InMemoryTxnLog();
    this.warn = options.warn ?? (() => {});
    this.diskTimingsSource = options.diskTimings;
    this.sessions = new SessionTracker({
      tickMs: this.config.tickTimeMs,
      // Standalone ZooKeeper creates its session tracker with server id 1.
      serverId: this.config.serverId === 0 ? 1 : this.config.serverId,
      nowMs: this.clock.monotonicMs(),
    });
    // In an ensemble the quorum peer's map is kept up to date across roles; standalone owns its own.
    this.committedSessions =
      this.replication !== null && options.restored !== undefined
        ? (options.restored.sessions as Map<bigint, number>)
        : new Map(options.restored?.sessions ?? []);
    // Restored sessions get their whole timeout from now to reconnect (SessionTrackerImpl's
    // loading); a learner only tracks the sessions of its own clients.
    if (this.replication?.role !== "learner") {
      for (const [sessionId, timeoutMs] of this.committedSessions) {
        this.sessions.add(sessionId, timeoutMs, this.clock.monotonicMs());
      }
    }
    this.stats = {
      packetsReceived: 0,
      packetsSent: 0,
      requestsOutstanding: 0,
      throttledConnections: 0,
      latencyMinMs: Number.POSITIVE_INFINITY,
      latencyMaxMs: 0,
      latencyTotalMs: 0,
      latencyCount: 0,
      groupCommits: 0,
      txnsCommitted: 0,
      digestMismatches: 0,
      startedAtMs: this.clock.wallMs(),
    };
    this.groupCommit = new GroupCommit(
      this.log,
      this.config.groupCommitTxnsMax,
      (batch) => this.applyDurable(batch),
      (error) => {
        // A log that cannot write must not acknowledge anything more: stop serving.
        this.warn(`txn log failed, refusing writes: ${error.message}`);
        this.stop();
        this.onLogFailure(error);
      },
      this.config.flushDelayMs,
      this.config.logWritesInFlight,
    );
  }

  /** The data directory's fsync and snapshot times, when there is one. */
  get diskTimings(): DiskTimings | undefined {
    return this.diskTimingsSource?.();
  }

  /** The durable log's fsync figures (zero for a log that does not sync). */
  get fsyncStats(): { fsyncs: number; fsyncTotalMs: number; fsyncMaxMs: number } {
    return this.log.stats ?? { fsyncs: 0, fsyncTotalMs: 0, fsyncMaxMs: 0 };
  }

  /** Starts the session expiry and container timers. */
  start(): void {
    this.scheduleExpiry();
    const interval = Math.max(containerIntervalFloorMs, this.config.containerCheckIntervalMs);
    this.containerTimer = setInterval(() => this.checkContainers(), interval);
    this.containerTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    if (this.containerTimer !== null) clearInterval(this.containerTimer);
    for (const connection of [...this.states.keys()]) connection.close("server stopping");
  }

  get lastProcessedZxid(): bigint {
    return this.tree.lastProcessedZxid;
  }

  get connectionCount(): number {
    return this.states.size;
  }

  connections(): ClientConnection[] {
    return [...this.states.keys()];
  }

  // ---- connections -------------------------------------------------------

  /** A client's ConnectRequest (ZooKeeperServer.processConnectRequest). */
  connect(connection: ClientConnection, request: ConnectRequest): void {
    if (this.stopped) {
      connection.close("server stopping");
      return;
    }
    if (request.lastZxidSeen > this.tree.lastProcessedZxid) {
      this.warn(
        `refusing session request from ${connection.remoteAddress}: it has seen zxid 0x${request.lastZxidSeen.toString(16)}, ours is 0x${this.tree.lastProcessedZxid.toString(16)}`,
      );
      connection.close("client zxid ahead");
      return;
    }
    const timeoutMs = Math.min(
      Math.max(request.timeOut, this.config.minSessionTimeoutMs),
      this.config.maxSessionTimeoutMs,
    );
    connection.sessionTimeoutMs = timeoutMs;
    const state: SessionState = { connection, queue: [], paused: false };
    this.states.set(connection, state);
    this.watchers.set(connection.id, connection);
    if (request.sessionId === 0n) {
      const sessionId = this.sessions.nextSessionId();
      connection.sessionId = sessionId;
      this.sessions.add(sessionId, timeoutMs, this.clock.monotonicMs());
      this.connectionsBySession.set(sessionId, connection);
      const entry: Pending = { kind: "connect", done: false, receivedMs: this.clock.monotonicMs() };
      this.enqueue(state, entry);
      if (this.replication?.role === "learner") {
        // The leader logs the session; the connect is answered when its txn commits here.
        this.touched.set(sessionId, timeoutMs);
        this.forward(state, entry, sessionId, 0, OpCode.createSession, encodeTimeout(timeoutMs), []);
        return;
      }
      const zxid = this.nextZxid();
      const header: TxnHeader = {
        clientId: sessionId,
        cxid: 0,
        zxid,
        time: BigInt(this.clock.wallMs()),
        type: OpCode.createSession,
      };
      this.submitTxn(
        state,
        entry,
        {
          header,
          txn: { type: OpCode.createSession, txn: { timeOut: timeoutMs } },
          digest: treeDigestOf({ tree: this.tree, changes: this.changes }),
        },
        0,
      );
      this.scheduleExpiry();
      return;
    }
    const sessionId = request.sessionId;
    let valid = request.passwd !== null && generatePassword(sessionId).equals(request.passwd);
    if (valid && this.replication?.role === "learner") {
      // The leader owns expiry; a session it has not closed is live (ZooKeeper asks with REVALIDATE).
      valid = this.committedSessions.has(sessionId);
      if (valid) {
        this.sessions.add(sessionId, timeoutMs, this.clock.monotonicMs());
        this.touched.set(sessionId, timeoutMs);
      }
    } else if (valid) {
      valid = this.sessions.touch(sessionId, timeoutMs, this.clock.monotonicMs());
    }
    if (!valid) {
      this.warn(
        `invalid session 0x${sessionId.toString(16)} for client ${connection.remoteAddress}, probably expired`,
      );
      connection.sendConnectResponse(0, 0n, Buffer.alloc(16));
      connection.close("session expired");
      return;
    }
    const previous = this.connectionsBySession.get(sessionId);
    if (previous !== undefined && previous !== connection) previous.close("client reconnected");
    connection.sessionId = sessionId;
    this.connectionsBySession.set(sessionId, connection);
    connection.sendConnectResponse(timeoutMs, sessionId, generatePassword(sessionId));
  }

  /** The connection's socket is gone: its watches go, its session stays until it expires or closes. */
  disconnected(connection: ClientConnection): void {
    const state = this.states.get(connection);
    if (state === undefined) return;
    this.states.delete(connection);
    this.watchers.delete(connection.id);
    this.watches.removeWatcher(connection.id);
    this.stats.requestsOutstanding -= state.queue.length;
    if (this.connectionsBySession.get(connection.sessionId) === connection) {
      this.connectionsBySession.delete(connection.sessionId);
    }
    // Writes already prepped still apply; their replies have nowhere to go.
    for (const pending of this.unapplied) if (pending.state === state) pending.state = null;
  }

  /** A request frame after the handshake (ZooKeeperServer.processPacket, minus auth and sasl). */
  request(connection: ClientConnection, xid: number, type: number, body: Buffer): void {
    const state = this.states.get(connection);
    if (state === undefined || this.stopped) return;
    this.stats.packetsReceived++;
    const receivedMs = this.clock.monotonicMs();
    if (connection.sessionId !== 0n) {
      this.sessions.touch(connection.sessionId, connection.sessionTimeoutMs, receivedMs);
      if (this.replication?.role === "learner")
        this.touched.set(connection.sessionId, connection.sessionTimeoutMs);
    }
    if (type === OpCode.ping) {
      this.enqueue(state, { kind: "ping", xid, receivedMs });
    } else if (type === OpCode.sync && this.replication !== null) {
      // In an ensemble sync() waits until this server has applied all the leader had proposed.
      const token = this.nextSyncToken++;
      this.enqueue(state, { kind: "sync", xid, body, done: false, token, receivedMs });
      this.syncs.set(token, state);
      const forwarded = {
        sessionId: connection.sessionId,
        cxid: xid,
        type,
        body,
        authInfo: connection.authInfo,
      };
      if (!this.replication.sync(token, forwarded)) {
        this.syncs.delete(token);
        connection.close("not serving: no leader");
        return;
      }
    } else if (isReadOp(type)) {
      this.enqueue(state, { kind: "read", xid, type, body, receivedMs });
    } else if (isWriteOp(type)) {
      const entry: Pending = {
        kind: "write",
        xid,
        done: false,
        zxid: 0n,
        err: 0,
        txnType: 0,
        result: null,
        closeAfter: false,
        receivedMs,
      };
      this.enqueue(state, entry);
      if (this.replication?.role === "learner") {
        this.forward(state, entry, connection.sessionId, xid, type, body, connection.authInfo);
      } else {
        this.submitWrite(state, entry, connection.sessionId, xid, type, body, connection.authInfo);
      }
    } else {
      // Request.isValid is false: ZooKeeper's UnimplementedRequestProcessor answers and closes.
      this.warn(`unknown request type ${type} from ${connection.remoteAddress}, closing`);
      connection.sendReply(xid, this.tree.lastProcessedZxid, ErrorCode.UNIMPLEMENTED, null);
      connection.close("unimplemented request");
      return;
    }
    this.drain(state);
  }

  private enqueue(state: SessionState, entry: Pending): void {
    state.queue.push(entry);
    this.stats.requestsOutstanding++;
    if (!state.paused && state.queue.length >= this.config.connectionRequestsOutstandingMax) {
      state.paused = true;
      this.stats.throttledConnections++;
      state.connection.setReading(false);
    }
  }

  // ---- the write path ----------------------------------------------------

  private nextZxid(): bigint {
    if (this.replication?.role === "leader") {
      this.highestZxid = this.replication.nextZxid();
      return this.highestZxid;
    }
    this.highestZxid++;
    return this.highestZxid;
  }

  /** A learner sends a client's write to the leader and waits for it to come back committed. */
  private forward(
    state: SessionState,
    entry: Pending,
    sessionId: bigint,
    cxid: number,
    type: number,
    body: Buffer,
    authInfo: readonly Id[],
  ): void {
    if (this.replication?.role !== "learner") return;
    const queue = this.forwarded.get(sessionId) ?? [];
    queue.push({ state, entry });
    this.forwarded.set(sessionId, queue);
    this.replication.forward({ sessionId, cxid, type, body, authInfo });
  }

  /**
   * The leader's side of a learner's REQUEST: prepped and proposed like a local write,
   * answered by the learner once committed. A new session is registered here, where
   * expiry is decided.
   */
  submitForwarded(request: ForwardedRequest): void {
    if (this.stopped) return;
    if (request.type === OpCode.createSession) {
      const timeoutMs =
        request.body.length >= 4 ? request.body.readInt32BE(0) : this.config.minSessionTimeoutMs;
      this.sessions.add(request.sessionId, timeoutMs, this.clock.monotonicMs());
      const header: TxnHeader = {
        clientId: request.sessionId,
        cxid: request.cxid,
        zxid: this.nextZxid(),
        time: BigInt(this.clock.wallMs()),
        type: OpCode.createSession,
      };
      this.submitTxn(
        null,
        null,
        {
          header,
          txn: { type: OpCode.createSession, txn: { timeOut: timeoutMs } },
          digest: treeDigestOf({ tree: this.tree, changes: this.changes }),
        },
        0,
      );
      this.scheduleExpiry();
      return;
    }
    if (request.sessionId !== 0n) {
      const timeoutMs = this.sessions.timeoutOf(request.sessionId);
      if (timeoutMs !== undefined)
        this.sessions.touch(request.sessionId, timeoutMs, this.clock.monotonicMs());
    }
    this.submitWrite(
      null,
      null,
      request.sessionId,
      request.cxid,
      request.type,
      request.body,
      request.authInfo,
    );
  }

  /** The leader hears from a learner's PING which of its clients' sessions are alive. */
  touchSessions(touched: Iterable<[bigint, number]>): void {
    const nowMs = this.clock.monotonicMs();
    for (const [sessionId, timeoutMs] of touched) this.sessions.touch(sessionId, timeoutMs, nowMs);
  }

  /** A learner's sessions touched since the last call, for its PING to the leader. */
  takeTouchedSessions(): Map<bigint, number> {
    const touched = this.touched;
    this.touched = new Map();
    // Sessions whose clients are connected here stay alive even when idle between pings.
    for (const connection of this.connectionsBySession.values()) {
      if (connection.sessionId !== 0n && !touched.has(connection.sessionId)) {
        touched.set(connection.sessionId, connection.sessionTimeoutMs);
      }
    }
    return touched;
  }

  /** ZAB answered sync request `token`: everything proposed before it is applied here. */
  syncDone(token: number): void {
    const state = this.syncs.get(token);
    if (state === undefined) return;
    this.syncs.delete(token);
    for (const entry of state.queue) {
      if (entry.kind === "sync" && entry.token === token) entry.done = true;
    }
    this.drain(state);
  }

  private checkSession = (sessionId: bigint): void => {
    if (!this.sessions.has(sessionId)) throw new KeeperError(ErrorCode.SESSIONEXPIRED);
    if (this.sessions.isClosing(sessionId)) throw new KeeperError(ErrorCode.SESSIONEXPIRED);
  };

  /** What prep reads: made once, and always of the tree this server has now. */
  private readonly prepContext: PrepContext = (() => {
    const server = this;
    return {
      tree: {
        getNode: (path: string) => server.tree.getNode(path),
        aclOf: (path: string) => {
          const node = server.tree.getNode(path);
          return node === undefined ? [] : server.tree.getACL(node);
        },
        getEphemerals: (id: bigint) => server.tree.getEphemerals(id),
        nodeDigest: (path: string) => server.tree.nodeDigest(path),
        get treeDigest() {
          return server.tree.treeDigest;
        },
      },
      get changes() {
        return server.changes;
      },
      get extendedTypesEnabled() {
        return server.config.extendedTypesEnabled;
      },
      get skipACL() {
        return server.config.skipACL;
      },
      checkSession: (sessionId: bigint) => server.checkSession(sessionId),
    };
  })();

  private submitWrite(
    state: SessionState | null,
    entry: Pending | null,
    sessionId: bigint,
    cxid: number,
    type: number,
    body: Buffer,
    authInfo: readonly Id[],
  ): void {
    const zxid = this.nextZxid();
    const prepared = prepWrite(
      this.prepContext,
      { sessionId, cxid, type, body, authInfo },
      zxid,
      this.clock.wallMs(),
    );
    if (prepared.header.type === OpCode.closeSession) this.sessions.setClosing(sessionId);
    this.submitTxn(state, entry, prepared, prepared.error);
  }

  private submitTxn(
    state: SessionState | null,
    entry: Pending | null,
    logged: LoggedTxn,
    error: number,
  ): void {
    this.unapplied.push({ zxid: logged.header.zxid, state, entry, error });
    const replication = this.replication;
    if (replication?.role === "leader") {
      // Marshalled once: the same bytes go to every learner and into the log.
      if (!replication.propose(withMarshalledBytes(logged))) {
        this.unapplied.pop();
        state?.connection.close("leader stepping down");
      }
      return;
    }
    this.groupCommit.enqueue(logged);
  }

  /** Committed txns from ZAB, in zxid order: applied and answered like a standalone group commit. */
  applyCommitted(batch: LoggedTxn[]): void {
    this.applyDurable(batch);
  }

  /** Which local request, if any, a committed txn answers. */
  private originOf(
    logged: LoggedTxn,
  ): { state: SessionState | null; entry: Pending | null; error: number } | null {
    if (this.replication?.role !== "learner") {
      const origin = this.unapplied.shift();
      if (origin === undefined || origin.zxid !== logged.header.zxid) {
        throw new Error(`apply order broken at zxid 0x${logged.header.zxid.toString(16)}`);
      }
      return origin;
    }
    // A learner: a txn of one of our sessions answers that session's oldest forwarded request.
    const queue = this.forwarded.get(logged.header.clientId);
    const head = queue?.[0];
    if (queue === undefined || head === undefined) return null;
    const entry = head.entry;
    const matches =
      (entry.kind === "write" && entry.xid === logged.header.cxid) ||
      (entry.kind === "connect" && logged.header.type === OpCode.createSession);
    if (!matches) return null;
    queue.shift();
    if (queue.length === 0) this.forwarded.delete(logged.header.clientId);
    return { state: this.states.has(head.state.connection) ? head.state : null, entry, error: 0 };
  }

  private applyDurable(batch: LoggedTxn[]): void {
    this.stats.groupCommits++;
    for (const logged of batch) {
      const origin = this.originOf(logged) ?? { state: null, entry: null, error: 0 };
      const result = this.tree.applyTxn(logged.header, logged.txn);
      this.changes.applied(logged.header.zxid);
      this.checkDigest(logged);
      this.stats.txnsCommitted++;
      this.afterApply(logged, result, origin.state);
      const entry = origin.entry;
      if (entry !== null && entry.kind === "write") {
        entry.done = true;
        entry.zxid = logged.header.zxid;
        // Prep's error, else the tree's (FinalRequestProcessor answers with rc.err); a multi's
        // failures travel in its results, its header says OK.
        const err = origin.error !== 0 ? origin.error : logged.txn.type === OpCode.multi ? 0 : result.err;
        entry.err = err;
        entry.txnType = logged.txn.type;
        entry.result = err === 0 ? result : null;
        entry.closeAfter = logged.header.type === OpCode.closeSession;
      } else if (entry !== null && entry.kind === "connect") {
        entry.done = true;
      }
      if (origin.state !== null) this.drain(origin.state);
    }
    this.onCommitted();
  }

  /** What a fuzzy snapshot reads, from now on, of this server's state. */
  snapshotSource(): SnapshotSource {
    return treeSnapshotSource(this.tree, this.committedSessions);
  }

  /** DataTree.compareDigest: the tree must hold the digest the txn was logged with. */
  private checkDigest(logged: LoggedTxn): void {
    if (logged.digest === null || logged.digest.treeDigest === this.tree.treeDigest) return;
    this.stats.digestMismatches++;
    if (this.stats.digestMismatches === 1) {
      this.warn(
        `digest mismatch at zxid 0x${logged.header.zxid.toString(16)} (type ${logged.header.type}): logged ${logged.digest.treeDigest}, tree ${this.tree.treeDigest}`,
      );
    }
  }

  private afterApply(logged: LoggedTxn, result: ProcessTxnResult, state: SessionState | null): void {
    if (logged.txn.type === OpCode.createSession) {
      this.committedSessions.set(logged.header.clientId, logged.txn.txn.timeOut);
    } else if (logged.header.type === OpCode.closeSession) {
      this.committedSessions.delete(logged.header.clientId);
    }
    // A multi's ops have added their triggers to the multi's list.
    for (const event of result.events) this.deliver(event);
    if (logged.header.type === OpCode.closeSession) {
      const sessionId = logged.header.clientId;
      this.sessions.remove(sessionId);
      const connection = this.connectionsBySession.get(sessionId);
      // An expired session's connection is closed without a reply (it asked nothing).
      if (connection !== undefined && state === null) {
        this.connectionsBySession.delete(sessionId);
        connection.close("session expired");
      }
    }
  }

  /** Sends a txn's watch event to its watchers that may READ the node (CVE-2024-23944). */
  private deliver(event: TriggeredEvent): void {
    for (const delivery of this.watches.trigger(event.path, event.type)) {
      const connection = this.watchers.get(delivery.watcher);
      if (connection === undefined) continue;
      try {
        checkACL(event.acl, Perms.READ, connection.authInfo, this.config.skipACL);
      } catch {
        continue;
      }
      writeEvent(this.replyScratch.start(), delivery.type, KeeperState.SyncConnected, delivery.path);
      connection.sendReply(Xid.notification, -1n, 0, this.replyScratch.finish());
      this.stats.packetsSent++;
    }
  }

  // ---- replies, in each session's order ----------------------------------

  private drain(state: SessionState): void {
    const { connection } = state;
    // One clock reading for the replies sent together (a clock read is a call into the runtime).
    let nowMs = -1;
    while (state.queue.length > 0) {
      const head = state.queue[0]!;
      if ((head.kind === "write" || head.kind === "connect" || head.kind === "sync") && !head.done) break;
      state.queue.shift();
      this.stats.requestsOutstanding--;
      this.stats.packetsSent++;
      if (nowMs < 0) nowMs = this.clock.monotonicMs();
      this.recordLatency(nowMs - head.receivedMs);
      switch (head.kind) {
        case "connect":
          connection.sendConnectResponse(
            connection.sessionTimeoutMs,
            connection.sessionId,
            generatePassword(connection.sessionId),
          );
          break;
        case "ping":
          connection.sendReply(Xid.ping, this.tree.lastProcessedZxid, 0, null);
          break;
        case "write":
          connection.sendReply(head.xid, head.zxid, head.err, this.writeReplyBody(head.txnType, head.result));
          if (head.closeAfter) {
            connection.close("session closed by client", true);
            return;
          }
          break;
        case "sync":
        case "read": {
          const reply = answerRead(
            {
              tree: this.tree,
              watches: this.watches,
              watcher: connection.id,
              sessionId: connection.sessionId,
              authInfo: connection.authInfo,
              skipACL: this.config.skipACL,
              scratch: this.replyScratch,
            },
            head.kind === "sync" ? OpCode.sync : head.type,
            head.body,
          );
          // setWatches sends the events a client missed before its reply, as ZooKeeper does.
          for (const event of reply.events ?? []) {
            // Not in the reply scratch: it may hold this read's reply, sent after these.
            const writer = new JuteWriter(16 + event.path.length);
            writeEvent(writer, event.type, KeeperState.SyncConnected, event.path);
            connection.sendReply(Xid.notification, -1n, 0, writer.toBuffer());
          }
          connection.sendReply(head.xid, this.tree.lastProcessedZxid, reply.err, reply.body);
          break;
        }
      }
    }
    if (state.paused && state.queue.length < this.config.connectionRequestsOutstandingMax / 2) {
      state.paused = false;
      connection.setReading(true);
    }
  }

  /** The reply body for an applied write, in the reply scratch. */
  private writeReplyBody(txnType: number, result: ProcessTxnResult | null): Buffer | null {
    if (result === null) return null;
    return writeReply(this.replyScratch.start(), txnType, result) ? this.replyScratch.finish() : null;
  }

  private recordLatency(latencyMs: number): void {
    const stats = this.stats;
    stats.latencyCount++;
    stats.latencyTotalMs += latencyMs;
    if (latencyMs < stats.latencyMinMs) stats.latencyMinMs = latencyMs;
    if (latencyMs > stats.latencyMaxMs) stats.latencyMaxMs = latencyMs;
  }

  // ---- sessions and containers -------------------------------------------

  /** Submits a closeSession for `sessionId` on the server's own behalf (expiry). */
  private expireSession(sessionId: bigint): void {
    this.warn(`expiring session 0x${sessionId.toString(16)}`);
    this.submitWrite(null, null, sessionId, 0, OpCode.closeSession, Buffer.alloc(0), []);
  }

  private scheduleExpiry(): void {
    // A learner's sessions are expired by the leader.
    if (this.stopped || this.replication?.role === "learner") return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    const next = this.sessions.nextExpiryMs();
    if (next === undefined) {
      this.expiryTimer = null;
      return;
    }
    const delay = Math.max(0, next - this.clock.monotonicMs());
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      for (const sessionId of this.sessions.expired(this.clock.monotonicMs())) this.expireSession(sessionId);
      this.scheduleExpiry();
    }, delay);
    this.expiryTimer.unref();
  }

  /** ContainerManager.checkContainers: deletes empty containers and expired TTL nodes. */
  checkContainers(): void {
    // The leader deletes containers for the ensemble.
    if (this.stopped || this.replication?.role === "learner") return;
    const candidates = containerDeletionCandidates(this.tree, this.clock.wallMs());
    const perCheckMax = Math.max(
      1,
      Math.floor(
        (this.config.containerDeletionsPerMinuteMax * this.config.containerCheckIntervalMs) / 60_000,
      ),
    );
    for (const path of candidates.slice(0, perCheckMax)) {
      this.submitWrite(null, null, 0n, 0, OpCode.deleteContainer, Buffer.from(path, "utf8"), []);
    }
  }

  /** Closes every connection and stops the timers; pending writes complete. */
  async close(): Promise<void> {
    this.stop();
    await this.log.close();
  }
}

/** A learner's createSession REQUEST carries the negotiated timeout. */
function encodeTimeout(timeoutMs: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(timeoutMs);
  return body;
}

/** Writes a watch event's body (WatcherEvent). */
function writeEvent(writer: JuteWriter, type: number, state: number, path: string): void {
  writer.int(type).int(state).string(path);
}

/** The stat of a successful create, setData or setACL: the tree always reports one. */
function statOf(result: ProcessTxnResult): Stat {
  if (result.stat === null)
    throw new Error(`txn 0x${result.zxid.toString(16)} of type ${result.type} applied without a stat`);
  return result.stat;
}

/** A multi op's result in the reply: its header, then its record (MultiResponse). */
function writeMultiResult(writer: JuteWriter, result: ProcessTxnResult): void {
  switch (result.type) {
    case OpCode.check:
      writeMultiResultHeader(writer, OpCode.check, 0);
      return;
    case OpCode.create:
      writeMultiResultHeader(writer, OpCode.create, 0);
      writer.string(result.path);
      return;
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer:
      writeMultiResultHeader(writer, OpCode.create2, 0);
      writer.string(result.path);
      Stat.write(writer, statOf(result));
      return;
    case OpCode.delete:
    case OpCode.deleteContainer:
      writeMultiResultHeader(writer, OpCode.delete, 0);
      return;
    case OpCode.setData:
      writeMultiResultHeader(writer, OpCode.setData, 0);
      Stat.write(writer, statOf(result));
      return;
    default:
      // ErrorResponse: the err, again after the header's.
      writeMultiResultHeader(writer, OpCode.error, result.err);
      writer.int(result.err);
  }
}

/**
 * Writes the reply body for an applied write (FinalRequestProcessor's write cases); false
 * when the reply has none.
 */
function writeReply(writer: JuteWriter, txnType: number, result: ProcessTxnResult): boolean {
  switch (txnType) {
    case OpCode.create:
      writer.string(result.path);
      return true;
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer:
      writer.string(result.path);
      Stat.write(writer, statOf(result));
      return true;
    case OpCode.setData:
    case OpCode.setACL:
      Stat.write(writer, statOf(result));
      return true;
    case OpCode.multi:
      for (const sub of result.multiResults ?? []) writeMultiResult(writer, sub);
      writeMultiEnd(writer);
      return true;
    default:
      return false;
  }
}
