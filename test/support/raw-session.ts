/**
 * A bare ZooKeeper protocol session for tests that must see exact bytes: it sends
 * requests it is given, matches replies in order, and records every watch
 * notification. Built on the project's jute codec, not on the client library.
 */
import net from "node:net";
import { JuteReader, JuteWriter } from "../../src/jute/binary.js";
import { OpCode, Xid } from "../../src/jute/constants.js";
import { Framer, frame } from "../../src/jute/framer.js";
import {
  ConnectResponse,
  ReplyHeader,
  type WatcherEvent,
  WatcherEvent as WatcherEventCodec,
} from "../../src/jute/records.js";

export interface RawReply {
  zxid: bigint;
  err: number;
  body: Buffer;
}

const pingIntervalMs = 2_000;
const replyTimeoutMs = 10_000;

export class RawSession {
  readonly events: WatcherEvent[] = [];
  sessionId = 0n;
  negotiatedTimeoutMs = 0;
  private readonly framer = new Framer(16 * 1024 * 1024);
  private readonly pending: {
    xid: number;
    resolve: (reply: RawReply) => void;
    reject: (error: Error) => void;
  }[] = [];
  private nextXid = 1;
  private connected: ((ok: boolean) => void) | null = null;
  private closed = false;
  private readonly ping: NodeJS.Timeout;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      for (const body of this.framer.push(chunk)) this.onFrame(body);
    });
    socket.on("error", () => {});
    socket.on("close", () => this.fail(new Error("connection closed")));
    this.ping = setInterval(() => this.send(Xid.ping, OpCode.ping, Buffer.alloc(0)), pingIntervalMs);
    this.ping.unref();
  }

  /** Connects and establishes a new session with `timeoutMs`. */
  static connect(host: string, port: number, timeoutMs = 30_000): Promise<RawSession> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      const session = new RawSession(socket);
      const deadline = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no session from ${host}:${port}`));
      }, 15_000);
      session.connected = (ok) => {
        clearTimeout(deadline);
        if (ok) resolve(session);
        else reject(new Error("session refused"));
      };
      socket.on("connect", () => {
        const w = new JuteWriter();
        w.int(0).long(0n).int(timeoutMs).long(0n).buffer_(Buffer.alloc(16)).bool(false);
        socket.write(frame(Buffer.from(w.toBuffer())));
      });
      socket.on("close", () => {
        clearTimeout(deadline);
        reject(new Error(`connection to ${host}:${port} closed before the session was established`));
      });
    });
  }

  private onFrame(body: Buffer): void {
    if (this.connected !== null) {
      const response = ConnectResponse.read(new JuteReader(body));
      this.sessionId = response.sessionId;
      this.negotiatedTimeoutMs = response.timeOut;
      const done = this.connected;
      this.connected = null;
      done(response.sessionId !== 0n);
      return;
    }
    const reader = new JuteReader(body);
    const header = ReplyHeader.read(reader);
    if (header.xid === Xid.notification) {
      this.events.push(WatcherEventCodec.read(reader));
      return;
    }
    if (header.xid === Xid.ping) return;
    const waiter = this.pending.shift();
    if (waiter === undefined || waiter.xid !== header.xid) {
      this.fail(new Error(`reply xid ${header.xid} does not match ${waiter?.xid}`));
      return;
    }
    waiter.resolve({ zxid: header.zxid, err: header.err, body: Buffer.from(reader.rest()) });
  }

  private send(xid: number, type: number, body: Buffer): void {
    if (this.closed) return;
    const w = new JuteWriter(8 + body.length);
    w.int(xid).int(type).raw(body);
    this.socket.write(frame(Buffer.from(w.toBuffer())));
  }

  /** Sends a request and resolves with its reply. */
  request(type: number, body: Buffer): Promise<RawReply> {
    if (this.closed) return Promise.reject(new Error("session closed"));
    const xid = type === OpCode.auth ? Xid.auth : this.nextXid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reply to request type ${type} within ${replyTimeoutMs} ms`)),
        replyTimeoutMs,
      );
      this.pending.push({
        xid,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send(xid, type, body);
    });
  }

  /** Sends closeSession, waits for its reply, and closes the socket. */
  async close(): Promise<RawReply> {
    const reply = await this.request(OpCode.closeSession, Buffer.alloc(0));
    this.end();
    return reply;
  }

  /** Drops the connection without closing the session. */
  end(): void {
    this.closed = true;
    clearInterval(this.ping);
    this.socket.end();
  }

  private fail(error: Error): void {
    this.closed = true;
    clearInterval(this.ping);
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}
