/**
 * The client port: accepts TCP connections, frames them, answers four-letter words,
 * performs the connect handshake and auth, and hands requests to the pipeline. A
 * broken frame closes only its own connection, with one log line.
 */
import net from "node:net";
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
import { ErrorCode, OpCode, Xid } from "../jute/constants.js";
import { FrameError, Framer } from "../jute/framer.js";
import { AuthPacket, ConnectRequest, type Id, RequestHeader } from "../jute/records.js";
import { authenticate, orderAuthInfo } from "../server/auth.js";
import { fourLetterWordCode, runFourLetterWord } from "../server/four-letter-words.js";
import type { ReplyBody } from "../server/read-requests.js";
import type { ClientConnection, ZooKeeperServer } from "../server/zookeeper-server.js";
import { OutgoingBytes, writeParts } from "./outgoing-bytes.js";

/** A logger with pino's call shape (the CLI passes pino; tests may pass nothing). */
export interface Logger {
  debug?(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** Bytes queued for a socket beyond which we stop answering it until it drains. */
export const socketWriteBufferBytesMax = 16 * 1024 * 1024;

let nextConnectionId = 1;

/** Per-connection counters, as `cons` reports them. */
export interface ConnectionStats {
  establishedMs: number;
  received: number;
  sent: number;
  lastCxid: number;
  lastZxid: bigint;
  lastOperation: string;
}

class SocketConnection implements ClientConnection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  sessionId = 0n;
  sessionTimeoutMs = 0;
  readonly authInfo: Id[];
  /** Auth ids in the order they were added; `authInfo` holds them in ZooKeeper's iteration order. */
  private readonly insertionOrder: Id[];
  readonly stats: ConnectionStats;
  private readonly framer: Framer;
  private handshakeDone = false;
  private clientSentReadOnly = false;
  private readonly outgoing = new OutgoingBytes((parts) => this.sendParts(parts));
  private closed = false;
  private reading = true;
  private writeBlocked = false;
  private firstWordChecked = false;
  private head: Buffer = Buffer.alloc(0);

  constructor(
    private readonly socket: net.Socket,
    private readonly port: ClientPort,
  ) {
    this.remoteAddress = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    this.remotePort = socket.remotePort ?? 0;
    this.insertionOrder = [{ scheme: "ip", id: this.remoteAddress }];
    this.authInfo = [...this.insertionOrder];
    this.framer = new Framer(port.server.config.frameBytesMax);
    this.stats = {
      establishedMs: Date.now(),
      received: 0,
      sent: 0,
      lastCxid: -1,
      lastZxid: -1n,
      lastOperation: "NA",
    };
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.onClose());
    socket.on("drain", () => {
      this.writeBlocked = false;
      this.updateReading();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    if (!this.firstWordChecked) {
      // A new connection whose first 4 bytes spell a known command is a four-letter word.
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 4) return;
      this.firstWordChecked = true;
      const word = fourLetterWordCode(this.head.readInt32BE(0));
      if (word !== undefined) {
        this.answerFourLetterWord(word);
        return;
      }
      chunk = this.head;
      this.head = Buffer.alloc(0);
    }
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (error) {
      if (error instanceof FrameError) {
        this.port.logger.warn(`closing ${this.describe()}: ${error.message}`);
        this.close("bad frame");
        return;
      }
      throw error;
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.stats.received++;
      try {
        this.onFrame(frame);
      } catch (error) {
        if (error instanceof JuteDecodeError) {
          this.port.logger.warn(`closing ${this.describe()}: malformed request: ${error.message}`);
          this.close("malformed request");
          return;
        }
        throw error;
      }
    }
  }

  private answerFourLetterWord(word: string): void {
    const server = this.port.server;
    let text: string;
    if (!server.config.fourLetterWords.has(word)) {
      text = `${word} is not executed because it is not in the whitelist.\n`;
    } else {
      text = runFourLetterWord(word, server, this.port);
    }
    this.socket.end(text);
    this.closed = true;
  }

  private onFrame(frame: Buffer): void {
    const server = this.port.server;
    const reader = new JuteReader(frame);
    if (!this.handshakeDone) {
      const request = ConnectRequest.read(reader);
      if (reader.remaining > 0) {
        reader.bool();
        this.clientSentReadOnly = true;
      }
      this.handshakeDone = true;
      if (!this.port.serving()) {
        // ZooKeeper's "ZooKeeperServer not running": the client tries another server.
        this.close("not serving: no quorum");
        return;
      }
      server.connect(this, request);
      return;
    }
    const header = RequestHeader.read(reader);
    this.stats.lastCxid = header.xid;
    if (header.type === OpCode.auth) {
      const packet = AuthPacket.read(reader);
      const outcome = authenticate(packet.scheme, packet.auth, this.remoteAddress, server.config.superDigest);
      if (outcome.ok) {
        for (const id of outcome.ids) {
          if (!this.insertionOrder.some((known) => known.scheme === id.scheme && known.id === id.id)) {
            this.insertionOrder.push(id);
          }
        }
        this.authInfo.splice(0, this.authInfo.length, ...orderAuthInfo(this.insertionOrder));
        this.sendReply(Xid.auth, 0n, ErrorCode.OK, null);
      } else {
        this.port.logger.warn(`authentication failed for scheme ${packet.scheme} from ${this.describe()}`);
        this.sendReply(Xid.auth, 0n, ErrorCode.AUTHFAILED, null);
        this.close("auth failed");
      }
      return;
    }
    server.request(this, header.xid, header.type, reader.rest());
  }

  /** Hands a turn's bytes to the socket; stops reading from a client that does not read. */
  private sendParts(parts: readonly Buffer[]): void {
    if (!writeParts(this.socket, parts)) {
      this.writeBlocked = this.socket.writableLength > socketWriteBufferBytesMax;
      this.updateReading();
    }
  }

  sendReply(xid: number, zxid: bigint, err: number, body: ReplyBody): void {
    if (this.closed) return;
    let bodyBytes = 0;
    if (Buffer.isBuffer(body)) bodyBytes = body.length;
    else if (body !== null) for (const part of body) bodyBytes += part.length;
    // The header is packed into the turn's bytes for this socket; a small body is copied
    // behind it, a large one follows it as it is.
    const out = this.outgoing;
    const at = out.claim(20);
    const view = out.targetView;
    view.setInt32(at, 16 + bodyBytes);
    view.setInt32(at + 4, xid);
    view.setBigInt64(at + 8, zxid);
    view.setInt32(at + 16, err);
    if (Buffer.isBuffer(body)) out.add(body);
    else if (body !== null) for (const part of body) out.add(part);
    this.stats.sent++;
    if (xid >= 0) this.stats.lastZxid = zxid;
  }

  sendConnectResponse(timeoutMs: number, sessionId: bigint, password: Buffer): void {
    const writer = new JuteWriter(48);
    writer.int(0).int(0).int(timeoutMs).long(sessionId).buffer_(password);
    if (this.clientSentReadOnly) writer.bool(false);
    writer.patchInt(0, writer.byteLength - 4);
    this.stats.sent++;
    if (!this.closed) this.outgoing.add(writer.toBuffer());
  }

  setReading(reading: boolean): void {
    this.reading = reading;
    this.updateReading();
  }

  private updateReading(): void {
    if (this.closed) return;
    if (this.reading && !this.writeBlocked) this.socket.resume();
    else this.socket.pause();
  }

  /** Closes the connection; `routine` closes (the client asked) are logged at debug level. */
  close(reason: string, routine = false): void {
    if (this.closed) return;
    this.closed = true;
    const message = `closing ${this.describe()}: ${reason}`;
    if (routine) this.port.logger.debug?.(message);
    else this.port.logger.info(message);
    this.outgoing.flush();
    this.socket.end();
    this.socket.destroySoon();
  }

  private onClose(): void {
    this.closed = true;
    this.port.forget(this);
  }

  describe(): string {
    const session = this.sessionId === 0n ? "" : ` session 0x${this.sessionId.toString(16)}`;
    return `${this.remoteAddress}:${this.remotePort}${session}`;
  }
}

/** The listening client port of one server. */
export class ClientPort {
  private readonly listener: net.Server;
  private readonly connections = new Set<SocketConnection>();
  private readonly perAddress = new Map<string, number>();

  /** In an ensemble: whether the current role serves clients (else new sessions are turned away). */
  serving: () => boolean = () => true;

  constructor(
    /** The server requests go to; an ensemble member swaps it when its role changes. */
    public server: ZooKeeperServer,
    readonly logger: Logger = silentLogger,
  ) {
    this.listener = net.createServer((socket) => this.accept(socket));
  }

  /** Listens; resolves with the port actually bound (useful with port 0). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(port, host, () => {
        this.listener.off("error", reject);
        const address = this.listener.address();
        resolve(typeof address === "object" && address !== null ? address.port : port);
      });
    });
  }

  private accept(socket: net.Socket): void {
    const address = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    const count = this.perAddress.get(address) ?? 0;
    const max = this.server.config.maxClientCnxns;
    if (max > 0 && count >= max) {
      this.logger.warn(`too many connections from ${address} - max is ${max}`);
      socket.destroy();
      return;
    }
    this.perAddress.set(address, count + 1);
    const connection = new SocketConnection(socket, this);
    this.connections.add(connection);
  }

  forget(connection: SocketConnection): void {
    if (!this.connections.delete(connection)) return;
    const count = (this.perAddress.get(connection.remoteAddress) ?? 1) - 1;
    if (count <= 0) this.perAddress.delete(connection.remoteAddress);
    else this.perAddress.set(connection.remoteAddress, count);
    this.server.disconnected(connection);
  }

  /** Connection details for `cons`. */
  describeConnections(): {
    description: string;
    stats: ConnectionStats;
    sessionId: bigint;
    timeoutMs: number;
  }[] {
    return [...this.connections].map((connection) => ({
      description: connection.describe(),
      stats: connection.stats,
      sessionId: connection.sessionId,
      timeoutMs: connection.sessionTimeoutMs,
    }));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Role change in an ensemble: every client is disconnected (they reconnect and resume their sessions). */
  switchServer(server: ZooKeeperServer, reason: string): void {
    for (const connection of [...this.connections]) connection.close(reason);
    this.server = server;
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.close("server stopping");
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}
