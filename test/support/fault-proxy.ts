/**
 * A fault-injecting TCP proxy on 127.0.0.1 for tests: placed between servers of an
 * ensemble (or between a client and a server), it forwards bytes both ways until told to
 * partition (connections cut, new ones refused), blackhole (connections kept, nothing
 * delivered, as a network that silently loses every packet), add latency, or reset the
 * connections it carries; `heal` restores forwarding.
 *
 * Memory is bounded per direction of each connection: the proxy reads from a socket only
 * while the bytes it holds for that direction (queued for a delay, swallowed by a
 * blackhole, or written to the destination but not yet flushed) are under
 * `bufferBytesMax`, and stops reading while the destination's `write` has returned false
 * (until its 'drain'). A socket that is not read fills its own readable buffer (at most
 * `socketHighWaterMark`) and then the kernel's, so the sender sees TCP backpressure.
 */
import net from "node:net";
import { performance } from "node:perf_hooks";

/** Default for `bufferBytesMax`: bytes held per direction of one connection. */
export const bufferBytesMaxDefault = 16 * 1024 * 1024;
/** Readable and writable buffer limit of every socket the proxy opens or accepts. */
export const socketHighWaterMark = 64 * 1024;

const loopback = "127.0.0.1";

export interface FaultProxyOptions {
  /** Where to forward; a 127.x.x.x address only (default 127.0.0.1). */
  targetHost?: string;
  targetPort: number;
  /** Port to listen on, on 127.0.0.1; 0 (the default) picks a free one. */
  listenPort?: number;
  /** Most bytes held per direction per connection while delayed/paused/blackholed. */
  bufferBytesMax?: number;
}

type Mode = "forward" | "partition" | "blackhole";

/** A chunk waiting out the delay; `null` stands for the source's end of stream (FIN). */
interface Delayed {
  chunk: Buffer | null;
  due: number;
}

/** One direction of a connection: bytes read from `from` and written to `to`. */
class Link {
  private readonly queue: Delayed[] = [];
  private queuedBytes = 0;
  /** Bytes swallowed by a blackhole: counted against the limit, never delivered. */
  private swallowedBytes = 0;
  private writeBlocked = false;
  private timer: NodeJS.Timeout | null = null;
  /** `from` has sent its end of stream (whether or not it was passed on). */
  sourceEnded = false;
  /** `to.end()` has been called: the end of stream was passed on. */
  endDelivered = false;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly from: net.Socket,
    private readonly to: net.Socket | null,
    private readonly count: (bytes: number) => void,
  ) {
    from.on("readable", () => this.pump());
    from.on("end", () => this.onSourceEnd());
    to?.on("drain", () => {
      this.writeBlocked = false;
      this.deliver();
    });
  }

  /** Bytes the proxy holds for this direction now. */
  get held(): number {
    return this.queuedBytes + this.swallowedBytes + (this.to?.writableLength ?? 0);
  }

  /** Reads from `from` while there is room and the destination is not blocked. */
  pump(): void {
    while (!this.from.destroyed && !this.writeBlocked) {
      const room = this.proxy.bufferBytesMax - this.held;
      if (room <= 0) return;
      const available = this.from.readableLength;
      // read() with nothing buffered returns null and asks for a 'readable' when data arrives.
      const chunk: Buffer | null =
        available === 0 ? this.from.read() : this.from.read(Math.min(room, available));
      if (chunk === null) return;
      this.accept(chunk);
    }
  }

  private accept(chunk: Buffer): void {
    if (this.proxy.mode === "blackhole" || this.to === null) {
      this.swallowedBytes += chunk.length;
    } else if (this.proxy.delayMs === 0 && this.queue.length === 0) {
      this.write(chunk);
    } else {
      this.queue.push({ chunk, due: performance.now() + this.proxy.delayMs });
      this.queuedBytes += chunk.length;
      this.schedule();
    }
    this.proxy.observeHeld(this.held);
  }

  private onSourceEnd(): void {
    this.sourceEnded = true;
    // A blackhole loses the FIN like any other packet.
    if (this.proxy.mode === "blackhole" || this.to === null) return;
    if (this.proxy.delayMs === 0 && this.queue.length === 0) this.endDestination();
    else {
      this.queue.push({ chunk: null, due: performance.now() + this.proxy.delayMs });
      this.schedule();
    }
  }

  private write(chunk: Buffer): void {
    if (this.to === null || this.to.destroyed) return;
    this.count(chunk.length);
    // The callback frees room (the bytes left `to`'s buffer): read more.
    if (!this.to.write(chunk, () => this.pump())) this.writeBlocked = true;
  }

  private endDestination(): void {
    if (this.to === null || this.to.destroyed) return;
    this.endDelivered = true;
    this.to.end();
  }

  /** Passes on the queued chunks that are due, in order, until the destination blocks. */
  private deliver(): void {
    this.timer = null;
    while (this.queue.length > 0 && !this.writeBlocked && this.proxy.mode !== "blackhole") {
      const head = this.queue[0]!;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.schedule(wait);
        return;
      }
      this.queue.shift();
      if (head.chunk === null) this.endDestination();
      else {
        this.queuedBytes -= head.chunk.length;
        this.write(head.chunk);
      }
    }
    this.pump();
  }

  private schedule(waitMs = this.proxy.delayMs): void {
    if (this.timer !== null || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.deliver(), Math.max(0, Math.ceil(waitMs)));
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

class Pair {
  readonly toTarget: Link;
  readonly toClient: Link | null;

  constructor(
    private readonly proxy: FaultProxy,
    readonly client: net.Socket,
    readonly target: net.Socket | null,
  ) {
    this.toTarget = new Link(proxy, client, target, (bytes) => proxy.countToTarget(bytes));
    this.toClient =
      target === null ? null : new Link(proxy, target, client, (bytes) => proxy.countToClient(bytes));
    this.watch(client, this.toTarget, this.toClient);
    if (target !== null) this.watch(target, this.toClient, this.toTarget);
  }

  get held(): number {
    return this.toTarget.held + (this.toClient?.held ?? 0);
  }

  /** `inbound` reads from `socket`, `outbound` writes to it. */
  private watch(socket: net.Socket, inbound: Link | null, outbound: Link | null): void {
    socket.on("error", () => this.lost(socket));
    socket.on("close", () => {
      // Closed cleanly both ways (FIN received and FIN passed on): the other side closes
      // once its queue is delivered. Anything else (error, reset, destroy) is passed on.
      const clean = inbound?.sourceEnded === true && outbound?.endDelivered === true;
      if (!clean) this.lost(socket);
      else if (this.other(socket)?.destroyed !== false) this.destroy();
    });
  }

  private other(socket: net.Socket): net.Socket | null {
    return socket === this.client ? this.target : this.client;
  }

  /** `socket` failed or closed abruptly: so does the other side, unless blackholed. */
  private lost(socket: net.Socket): void {
    socket.destroy();
    // Through a blackhole neither a FIN nor a reset arrives: the other side stays open,
    // holding, until heal, partition, reset or close.
    if (this.proxy.mode === "blackhole" && this.other(socket)?.destroyed === false) return;
    this.destroy();
  }

  destroy(): void {
    this.toTarget.stop();
    this.toClient?.stop();
    this.client.destroy();
    this.target?.destroy();
    this.proxy.forget(this);
  }
}

export class FaultProxy {
  /** @internal */ mode: Mode = "forward";
  /** @internal */ delayMs = 0;
  /** @internal */ readonly bufferBytesMax: number;
  private readonly pairs = new Set<Pair>();
  private readonly targetHost: string;
  private readonly targetPort: number;
  private listener: net.Server | null = null;
  private closed = false;
  private listenPort = 0;
  private forwarded = { toTarget: 0, toClient: 0 };
  private heldMax = 0;

  private constructor(options: FaultProxyOptions) {
    this.targetHost = options.targetHost ?? loopback;
    this.targetPort = options.targetPort;
    this.bufferBytesMax = options.bufferBytesMax ?? bufferBytesMaxDefault;
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(this.targetHost)) {
      throw new Error(`FaultProxy: targetHost must be a 127.x.x.x address, not ${this.targetHost}`);
    }
    if (!Number.isInteger(this.targetPort) || this.targetPort < 1 || this.targetPort > 65535) {
      throw new Error(`FaultProxy: bad targetPort ${this.targetPort}`);
    }
    if (!Number.isSafeInteger(this.bufferBytesMax) || this.bufferBytesMax < 1) {
      throw new Error(`FaultProxy: bufferBytesMax must be a positive integer, not ${this.bufferBytesMax}`);
    }
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    const listener = net.createServer({ allowHalfOpen: true, highWaterMark: socketHighWaterMark }, (socket) =>
      proxy.accept(socket),
    );
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(options.listenPort ?? 0, loopback, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    // After listening, a failed accept must not crash the process (nor stop the proxy).
    listener.on("error", () => {});
    const address = listener.address();
    proxy.listenPort = typeof address === "object" && address !== null ? address.port : 0;
    proxy.listener = listener;
    return proxy;
  }

  get port(): number {
    return this.listenPort;
  }

  /** Currently open client-side connections. */
  get connectionCount(): number {
    let open = 0;
    for (const pair of this.pairs) if (!pair.client.destroyed) open++;
    return open;
  }

  /** Bytes passed on so far (a snapshot). */
  get bytesForwarded(): { readonly toTarget: number; readonly toClient: number } {
    return { ...this.forwarded };
  }

  /** Bytes held now, over every connection and direction. */
  get heldBytes(): number {
    let held = 0;
    for (const pair of this.pairs) held += pair.held;
    return held;
  }

  /** The most bytes ever held at once for one direction of one connection. */
  get heldBytesMax(): number {
    return this.heldMax;
  }

  /** Cut: existing connections are destroyed (both sides), new ones accepted then destroyed. */
  partition(): void {
    this.mode = "partition";
    this.destroyAll();
  }

  /**
   * Blackhole: connections stay open but nothing is delivered either way (bytes, FIN or
   * reset). New connections are accepted but the target is not dialled. `heal` destroys
   * every connection that was blackholed, discarding what was held.
   */
  blackhole(): void {
    this.mode = "blackhole";
  }

  /** Back to forwarding for new connections; after a blackhole, its connections are destroyed. The delay is kept. */
  heal(): void {
    if (this.mode === "blackhole") this.destroyAll();
    this.mode = "forward";
  }

  /** Latency added to every chunk (and end of stream) read from now on; order is kept per direction. */
  setDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`FaultProxy: bad delay ${ms}`);
    this.delayMs = ms;
  }

  /** Destroys every current connection (both sides) once; new ones are not blocked. */
  resetConnections(): void {
    this.destroyAll();
  }

  /** Stops listening, destroys all connections, resolves when the server is closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.destroyAll();
    const listener = this.listener;
    this.listener = null;
    if (listener === null) return;
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }

  /** @internal */
  observeHeld(bytes: number): void {
    if (bytes > this.heldMax) this.heldMax = bytes;
  }

  /** @internal */
  countToTarget(bytes: number): void {
    this.forwarded.toTarget += bytes;
  }

  /** @internal */
  countToClient(bytes: number): void {
    this.forwarded.toClient += bytes;
  }

  /** @internal */
  forget(pair: Pair): void {
    this.pairs.delete(pair);
  }

  private destroyAll(): void {
    for (const pair of [...this.pairs]) pair.destroy();
  }

  private accept(client: net.Socket): void {
    client.on("error", () => client.destroy());
    if (this.closed || this.mode === "partition") {
      client.destroy();
      return;
    }
    // A blackholed network would not let the connection reach the target at all.
    const target =
      this.mode === "blackhole"
        ? null
        : net.connect({
            host: this.targetHost,
            port: this.targetPort,
            allowHalfOpen: true,
            highWaterMark: socketHighWaterMark,
          });
    this.pairs.add(new Pair(this, client, target));
  }
}
