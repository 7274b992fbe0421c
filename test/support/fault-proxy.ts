/**
 * A fault-injecting TCP proxy on 127.0.0.1 for tests: placed between servers of an
 * ensemble (or between a client and a server), it forwards bytes both ways until told to
 * partition (connections cut, new ones refused) or blackhole (connections kept, bytes held
 * and dropped, as a network that loses every packet), and heals.
 */
import net from "node:net";

/** Bytes held per direction of a connection while blackholed before the connection is cut. */
export const heldBytesMaxDefault = 16 * 1024 * 1024;

export interface FaultProxyOptions {
  targetHost?: string;
  targetPort: number;
  listenPort?: number;
  heldBytesMax?: number;
}

type Mode = "forward" | "partition" | "blackhole";

interface Pair {
  client: net.Socket;
  target: net.Socket;
}

export class FaultProxy {
  private mode: Mode = "forward";
  private readonly pairs = new Set<Pair>();
  private listener: net.Server | null = null;
  port = 0;
  readonly bytesForwarded = { toTarget: 0, toClient: 0 };

  private constructor(private readonly options: FaultProxyOptions) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    const listener = net.createServer((socket) => proxy.accept(socket));
    proxy.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(options.listenPort ?? 0, "127.0.0.1", () => {
        listener.off("error", reject);
        resolve();
      });
    });
    const address = listener.address();
    proxy.port = typeof address === "object" && address !== null ? address.port : 0;
    return proxy;
  }

  get connectionCount(): number {
    return this.pairs.size;
  }

  private accept(client: net.Socket): void {
    if (this.mode === "partition") {
      client.destroy();
      return;
    }
    const target = net.connect(this.options.targetPort, this.options.targetHost ?? "127.0.0.1");
    const pair = { client, target };
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      target.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", close);
    target.on("error", close);
    client.on("close", close);
    target.on("close", close);
    const pipe = (from: net.Socket, to: net.Socket, count: (bytes: number) => void) => {
      let held = 0;
      from.on("data", (chunk: Buffer) => {
        if (this.mode === "blackhole") {
          // Lost: a blackholed network delivers nothing; past the limit the connection is cut.
          held += chunk.length;
          if (held > (this.options.heldBytesMax ?? heldBytesMaxDefault)) close();
          return;
        }
        count(chunk.length);
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
    };
    pipe(client, target, (bytes) => {
      this.bytesForwarded.toTarget += bytes;
    });
    pipe(target, client, (bytes) => {
      this.bytesForwarded.toClient += bytes;
    });
  }

  /** Cuts every connection and refuses new ones until `heal`. */
  partition(): void {
    this.mode = "partition";
    for (const { client, target } of [...this.pairs]) {
      client.destroy();
      target.destroy();
    }
    this.pairs.clear();
  }

  /** Keeps connections open but delivers nothing (until `heal`, which cuts them). */
  blackhole(): void {
    this.mode = "blackhole";
  }

  heal(): void {
    if (this.mode === "blackhole") {
      // What was held is gone; TCP would eventually give up on these connections.
      for (const { client, target } of [...this.pairs]) {
        client.destroy();
        target.destroy();
      }
      this.pairs.clear();
    }
    this.mode = "forward";
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => {
      if (this.listener === null) resolve();
      else this.listener.close(() => resolve());
    });
  }
}
