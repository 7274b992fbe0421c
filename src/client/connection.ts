/**
 * The client side of a ZooKeeper session (modelled on the Java ClientCnxn): one TCP
 * connection at a time to one of the hosts, the connect handshake, xid matching,
 * pings, and reconnection to the next host with the same session, re-sending auth
 * and watches. Requests in flight when a connection drops fail with CONNECTIONLOSS;
 * requests made while disconnected wait for the next connection.
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import { JuteReader, JuteWriter } from "../jute/binary.js";
import { ErrorCode, OpCode, Xid } from "../jute/constants.js";
import { FrameError, Framer } from "../jute/framer.js";
import { KeeperError } from "../jute/keeper-error.js";
import {
  AuthPacket,
  ConnectResponse,
  ReplyHeader,
  SetWatches2,
  type WatcherEvent,
  WatcherEvent as WatcherEventCodec,
} from "../jute/records.js";
import { OutgoingBytes, writeParts } from "../net/outgoing-bytes.js";

/** Requests waiting for a reply on one connection before new ones wait in the queue. */
export const requestsInFlightMax = 10_000;
/** Replies up to jute.maxbuffer plus headers. */
export const replyFrameBytesMax = 0xfffff + 1024;

export type ConnectionState = "connecting" | "connected" | "closed" | "expired" | "authFailed";

export interface HostPort {
  host: string;
  port: number;
}

export interface ConnectionOptions {
  hosts: HostPort[];
  sessionTimeoutMs: number;
  /** Resume an existing session (e.g. from another process); 0 for a new one. */
  sessionId?: bigint;
  sessionPassword?: Buffer;
  /** How long `open` tries the hosts before it fails; the session timeout when not given. */
  connectTimeoutMs?: number;
}

export interface Reply {
  zxid: bigint;
  err: number;
  body: Buffer;
}

interface Pending {
  xid: number;
  type: number;
  body: Buffer;
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

/** Watches the client re-registers after a reconnect (SetWatches2). */
export interface WatchRegistrations {
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  persistentWatches: string[];
  persistentRecursiveWatches: string[];
}

/**
 * Events: "state" (ConnectionState), "event" (WatcherEvent, server paths), "error".
 */
export class Connection extends EventEmitter {
  sessionId: bigint;
  sessionPassword: Buffer;
  negotiatedTimeoutMs = 0;
  lastZxid = 0n;
  state: ConnectionState = "connecting";
  /** Supplies the watches to restore on reconnect. */
  watchRegistrations: () => WatchRegistrations = () => ({
    dataWatches: [],
    existWatches: [],
    childWatches: [],
    persistentWatches: [],
    persistentRecursiveWatches: [],
  });
  private socket: net.Socket | null = null;
  /** The current socket's bytes for this turn (a new one with each socket). */
  private outgoing: OutgoingBytes | null = null;
  private framer = new Framer(replyFrameBytesMax);
  private handshaking = false;
  private readonly inFlight: Pending[] = [];
  private readonly waiting: Pending[] = [];
  private readonly auths: { scheme: string; auth: Buffer }[] = [];
  private nextXid = 1;
  private hostIndex: number;
  private pingTimer: NodeJS.Timeout | null = null;
  private lastReceivedMs = 0;
  private disconnectedSinceMs: number | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Ends a connection whose server has not completed the handshake in its share of the timeout. */
  private handshakeTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ConnectionOptions) {
    super();
    this.sessionId = options.sessionId ?? 0n;
    this.sessionPassword = options.sessionPassword ?? Buffer.alloc(16);
    this.hostIndex = Math.floor(Math.random() * options.hosts.length);
  }

  /**
   * Opens the first connection; resolves when the session is established. It tries the
   * hosts in turn and fails with CONNECTIONLOSS when none has answered within the connect
   * timeout. Until then its timer keeps the process alive (the reconnect timers do not).
   */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        this.finish("closed", ErrorCode.CONNECTIONLOSS);
        this.socket?.destroy();
        this.socket = null;
      }, this.options.connectTimeoutMs ?? this.options.sessionTimeoutMs);
      const onState = (state: ConnectionState) => {
        if (state === "connected") {
          clearTimeout(deadline);
          this.off("state", onState);
          resolve();
        } else if (state === "closed" || state === "expired" || state === "authFailed") {
          clearTimeout(deadline);
          this.off("state", onState);
          reject(new KeeperError(state === "expired" ? ErrorCode.SESSIONEXPIRED : ErrorCode.CONNECTIONLOSS));
        }
      };
      this.on("state", onState);
      this.connectNext();
    });
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  private connectNext(): void {
    if (this.isFinished()) return;
    const target = this.options.hosts[this.hostIndex % this.options.hosts.length]!;
    this.hostIndex++;
    const socket = net.connect(target.port, target.host);
    socket.setNoDelay(true);
    this.socket = socket;
    this.outgoing = new OutgoingBytes((parts) => writeParts(socket, parts));
    this.framer = new Framer(replyFrameBytesMax);
    this.handshaking = true;
    // As the Java client: each host gets the session timeout divided by the number of hosts
    // to answer the handshake, then the next one is tried (a hung server is not waited on).
    this.clearHandshakeTimer();
    this.handshakeTimer = setTimeout(
      () => {
        if (this.socket === socket && this.handshaking) socket.destroy();
      },
      Math.max(50, Math.floor(this.options.sessionTimeoutMs / this.options.hosts.length)),
    );
    this.handshakeTimer.unref();
    socket.on("connect", () => {
      const w = new JuteWriter();
      w.int(0)
        .int(0)
        .long(this.lastZxid)
        .int(this.options.sessionTimeoutMs)
        .long(this.sessionId)
        .buffer_(this.sessionPassword)
        .bool(false);
      w.patchInt(0, w.byteLength - 4);
      socket.write(w.toBuffer());
    });
    socket.on("data", (chunk) => this.onData(socket, chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.onSocketClosed(socket));
  }

  private isFinished(): boolean {
    return this.state === "closed" || this.state === "expired" || this.state === "authFailed";
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.lastReceivedMs = Date.now();
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (error) {
      if (error instanceof FrameError) {
        socket.destroy();
        return;
      }
      throw error;
    }
    for (const frame of frames) {
      if (this.handshaking) this.onConnectResponse(socket, frame);
      else this.onReply(frame);
    }
  }

  private onConnectResponse(socket: net.Socket, frame: Buffer): void {
    const response = ConnectResponse.read(new JuteReader(frame));
    if (response.timeOut <= 0) {
      this.finish("expired", ErrorCode.SESSIONEXPIRED);
      socket.destroy();
      return;
    }
    this.handshaking = false;
    this.clearHandshakeTimer();
    this.sessionId = response.sessionId;
    this.sessionPassword = response.passwd ?? Buffer.alloc(16);
    this.negotiatedTimeoutMs = response.timeOut;
    this.disconnectedSinceMs = null;
    for (const { scheme, auth } of this.auths) this.sendAuth(scheme, auth);
    const watches = this.watchRegistrations();
    const watchCount = Object.values(watches).reduce((sum, list) => sum + list.length, 0);
    if (watchCount > 0) {
      const w = new JuteWriter();
      w.int(0).int(Xid.setWatches).int(OpCode.setWatches2);
      SetWatches2.write(w, { relativeZxid: this.lastZxid, ...watches });
      w.patchInt(0, w.byteLength - 4);
      this.outgoing?.add(w.toBuffer());
    }
    this.startPings();
    this.setState("connected");
    for (const pending of this.waiting.splice(0)) this.transmit(pending);
  }

  private onReply(frame: Buffer): void {
    const reader = new JuteReader(frame);
    const header = ReplyHeader.read(reader);
    if (header.zxid > 0n) this.lastZxid = header.zxid;
    switch (header.xid) {
      case Xid.notification: {
        const event: WatcherEvent = WatcherEventCodec.read(reader);
        this.emit("event", event);
        return;
      }
      case Xid.ping:
      case Xid.setWatches:
        return;
      case Xid.auth:
        if (header.err === ErrorCode.AUTHFAILED) this.finish("authFailed", ErrorCode.AUTHFAILED);
        return;
    }
    const pending = this.inFlight.shift();
    if (pending === undefined || pending.xid !== header.xid) {
      this.socket?.destroy();
      return;
    }
    // A view of the frame: decoding copies what it keeps (data, strings) out of it.
    pending.resolve({ zxid: header.zxid, err: header.err, body: reader.rest() });
  }

  private startPings(): void {
    this.stopPings();
    const interval = Math.max(50, Math.floor(this.negotiatedTimeoutMs / 3));
    this.lastReceivedMs = Date.now();
    this.pingTimer = setInterval(() => {
      // No word from the server for two thirds of the timeout: try another server.
      if (Date.now() - this.lastReceivedMs > (this.negotiatedTimeoutMs * 2) / 3) {
        this.socket?.destroy();
        return;
      }
      this.sendFrame(Xid.ping, OpCode.ping, Buffer.alloc(0));
    }, interval);
    this.pingTimer.unref();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  private stopPings(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private onSocketClosed(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.stopPings();
    this.clearHandshakeTimer();
    for (const pending of this.inFlight.splice(0)) pending.reject(new KeeperError(ErrorCode.CONNECTIONLOSS));
    if (this.isFinished()) return;
    this.disconnectedSinceMs ??= Date.now();
    this.setState("connecting");
    // Spread retries a little, like the Java client's random back-off across hosts.
    const delay =
      this.hostIndex % this.options.hosts.length === 0 ? 100 + Math.floor(Math.random() * 200) : 0;
    this.reconnectTimer = setTimeout(() => this.connectNext(), delay);
    this.reconnectTimer.unref();
  }

  private sendFrame(xid: number, type: number, body: Buffer): void {
    const out = this.outgoing;
    if (this.socket === null || out === null || this.handshaking) return;
    // Requests made in one turn (pipelined callers) leave in one write, not one syscall each.
    const at = out.claim(12);
    const view = out.targetView;
    view.setInt32(at, 8 + body.length);
    view.setInt32(at + 4, xid);
    view.setInt32(at + 8, type);
    out.add(body);
  }

  private sendAuth(scheme: string, auth: Buffer): void {
    const w = new JuteWriter();
    AuthPacket.write(w, { type: 0, scheme, auth });
    this.sendFrame(Xid.auth, OpCode.auth, w.toBuffer());
  }

  private transmit(pending: Pending): void {
    this.inFlight.push(pending);
    this.sendFrame(pending.xid, pending.type, pending.body);
  }

  /** Sends a request; resolves with its reply (any error code), rejects on connection loss. */
  request(type: number, body: Buffer): Promise<Reply> {
    if (this.isFinished()) {
      return Promise.reject(
        new KeeperError(this.state === "expired" ? ErrorCode.SESSIONEXPIRED : ErrorCode.CONNECTIONLOSS),
      );
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { xid: this.nextXid++, type, body, resolve, reject };
      if (this.nextXid > 0x7fffffff) this.nextXid = 1;
      if (this.state === "connected" && !this.handshaking && this.inFlight.length < requestsInFlightMax) {
        this.transmit(pending);
      } else {
        this.waiting.push(pending);
      }
    });
  }

  /** Adds auth for this and every later connection of the session. */
  addAuth(scheme: string, auth: Buffer): void {
    this.auths.push({ scheme, auth });
    if (this.state === "connected") this.sendAuth(scheme, auth);
  }

  /** Ends the connection for good; requests still pending fail with `code`. */
  private finish(state: ConnectionState, code: number): void {
    if (this.isFinished()) return;
    this.stopPings();
    this.clearHandshakeTimer();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    const pending = [...this.inFlight.splice(0), ...this.waiting.splice(0)];
    // One error for them all, made only when there is one to fail (an Error records a stack).
    if (pending.length > 0) {
      const error = new KeeperError(code);
      for (const request of pending) request.reject(error);
    }
    this.setState(state);
  }

  /** Closes the session on the server (closeSession) and the connection. */
  async close(): Promise<void> {
    if (this.isFinished()) return;
    if (this.state === "connected") {
      await this.request(OpCode.closeSession, Buffer.alloc(0)).catch(() => undefined);
    }
    this.finish("closed", ErrorCode.CONNECTIONLOSS);
    // Whatever this turn queued goes before the end of the stream.
    this.outgoing?.flush();
    this.socket?.end();
    this.socket = null;
  }

  /** Ends this client without closing its session, as a crashed client would. */
  abandon(): void {
    if (this.isFinished()) return;
    this.finish("closed", ErrorCode.CONNECTIONLOSS);
    this.socket?.destroy();
    this.socket = null;
  }

  /** Drops the TCP connection without closing the session (tests, failover). */
  dropConnection(): void {
    this.socket?.destroy();
  }
}
