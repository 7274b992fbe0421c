/**
 * The election connections between servers (ZooKeeper's QuorumCnxManager): every
 * server listens on its election port; one TCP connection per pair, kept only when the
 * initiator has the larger id (a smaller one is dropped and the larger side connects
 * back); messages are length-prefixed; only the newest message per peer is kept while
 * it is unreachable (SEND_CAPACITY 1) and it is sent again on a new connection. A
 * message to ourselves is delivered locally.
 */
import net from "node:net";
import {
  decodeInitialMessage,
  decodeNotification,
  ElectionProtocolError,
  electionMessageBytesMax,
  encodeInitialMessage,
  encodeNotification,
  type Notification,
} from "./election-messages.js";
import type { QuorumServer } from "./quorum-config.js";

export interface ElectionNetworkOptions {
  myId: bigint;
  servers: ReadonlyMap<bigint, QuorumServer>;
  /** quorumListenOnAllIPs: listen on 0.0.0.0 instead of our configured host. */
  listenOnAllIps: boolean;
  /** cnxTimeout: how long a connection attempt may take (ZooKeeper's default 5 s). */
  connectTimeoutMs: number;
  onNotification(sid: bigint, notification: Notification): void;
  warn(message: string): void;
}

interface Peer {
  socket: net.Socket | null;
  connecting: boolean;
  /** The newest notification for this peer, kept until it has been written to a connection. */
  last: Buffer | null;
}

export class ElectionNetwork {
  private server: net.Server | null = null;
  private readonly peers = new Map<bigint, Peer>();
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  constructor(private readonly options: ElectionNetworkOptions) {}

  private get me(): QuorumServer {
    const me = this.options.servers.get(this.options.myId);
    if (me === undefined) throw new Error(`server.${this.options.myId} is not in the configuration`);
    return me;
  }

  /** Listens on our election port. */
  async listen(): Promise<void> {
    const me = this.me;
    this.server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(me.electionPort, this.options.listenOnAllIps ? "0.0.0.0" : me.host, () =>
        resolve(),
      );
    });
  }

  private peer(sid: bigint): Peer {
    let peer = this.peers.get(sid);
    if (peer === undefined) this.peers.set(sid, (peer = { socket: null, connecting: false, last: null }));
    return peer;
  }

  /** Sends a notification to `sid` (ourselves included), connecting first if needed. */
  send(sid: bigint, notification: Notification): void {
    if (this.closed) return;
    if (sid === this.options.myId) {
      setImmediate(() => this.options.onNotification(sid, notification));
      return;
    }
    const peer = this.peer(sid);
    const bytes = encodeNotification(notification);
    peer.last = bytes;
    if (peer.socket !== null) {
      peer.socket.write(bytes);
      peer.last = null;
    } else {
      this.connect(sid);
    }
  }

  /** QuorumCnxManager.connectOne / startConnection. */
  private connect(sid: bigint): void {
    const peer = this.peer(sid);
    const target = this.options.servers.get(sid);
    if (peer.connecting || peer.socket !== null || target === undefined || this.closed) return;
    peer.connecting = true;
    const socket = net.connect({ host: target.host, port: target.electionPort });
    this.sockets.add(socket);
    socket.setTimeout(this.options.connectTimeoutMs);
    socket.once("timeout", () => socket.destroy());
    socket.once("close", () => {
      this.sockets.delete(socket);
      peer.connecting = false;
      if (peer.socket === socket) peer.socket = null;
    });
    socket.on("error", () => {});
    socket.once("connect", () => {
      socket.setTimeout(0);
      peer.connecting = false;
      socket.write(encodeInitialMessage(this.options.myId, `${this.me.host}:${this.me.electionPort}`));
      // Only the larger id keeps a connection it started; the other side connects back.
      if (sid > this.options.myId) {
        socket.end();
        return;
      }
      this.attach(sid, socket, Buffer.alloc(0));
    });
  }

  /** An incoming connection: its initial message says who it is. */
  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => this.sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      let initial: ReturnType<typeof decodeInitialMessage>;
      try {
        initial = decodeInitialMessage(buffered);
      } catch (error) {
        this.options.warn(`election connection from ${socket.remoteAddress}: ${(error as Error).message}`);
        socket.destroy();
        return;
      }
      if (initial === null) {
        if (buffered.length > 4096) socket.destroy();
        return;
      }
      socket.off("data", onData);
      const { sid } = initial;
      const rest = buffered.subarray(initial.consumed);
      if (sid === this.options.myId || !this.options.servers.has(sid)) {
        this.options.warn(`election connection claiming id ${sid} refused`);
        socket.destroy();
      } else if (sid < this.options.myId) {
        // We win the challenge: drop theirs, open ours.
        socket.destroy();
        const peer = this.peer(sid);
        peer.socket?.destroy();
        peer.socket = null;
        this.connect(sid);
      } else {
        this.attach(sid, socket, rest);
      }
    };
    socket.on("data", onData);
  }

  /** Makes `socket` the connection to `sid`: reads its messages, flushes what waits for it. */
  private attach(sid: bigint, socket: net.Socket, initial: Buffer): void {
    const peer = this.peer(sid);
    if (peer.socket !== null && peer.socket !== socket) peer.socket.destroy();
    peer.socket = socket;
    socket.once("close", () => {
      if (peer.socket === socket) peer.socket = null;
    });
    let pending = initial;
    const consume = () => {
      while (pending.length >= 4) {
        const length = pending.readInt32BE(0);
        if (length <= 0 || length > electionMessageBytesMax) {
          this.options.warn(`election message of ${length} bytes from server.${sid}: closing`);
          socket.destroy();
          return;
        }
        if (pending.length < 4 + length) return;
        const body = pending.subarray(4, 4 + length);
        pending = pending.subarray(4 + length);
        try {
          this.options.onNotification(sid, decodeNotification(body));
        } catch (error) {
          if (!(error instanceof ElectionProtocolError)) throw error;
          // ZooKeeper skips a malformed notification and keeps the connection.
          this.options.warn(`malformed notification from server.${sid}: ${error.message}`);
        }
      }
    };
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      consume();
    });
    consume();
    if (peer.last !== null) {
      socket.write(peer.last);
      peer.last = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.server === null ? resolve() : this.server.close(() => resolve()),
    );
  }
}
