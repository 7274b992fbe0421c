/**
 * A promise-based ZooKeeper client: every 3.8 operation, watches as callbacks,
 * typed errors with ZooKeeper's codes, reconnection with the same session.
 */
import { EventEmitter } from "node:events";
import { JuteReader, JuteWriter } from "../jute/binary.js";
import { type Codec, encode, encodeSized } from "../jute/codec.js";
import {
  AddWatchMode,
  CreateMode,
  ErrorCode,
  EventType,
  KeeperState,
  OpCode,
  WatcherType,
} from "../jute/constants.js";
import { KeeperError } from "../jute/keeper-error.js";
import { type MultiOp, type MultiResult, readMultiResponse, writeMultiRequest } from "../jute/multi.js";
import * as R from "../jute/records.js";
import { Connection, type ConnectionState, type HostPort, type Reply } from "./connection.js";

export type Stat = R.Stat;
export type ACL = R.ACL;

/** A watch notification as the application sees it (chroot removed). */
export interface WatchedEvent {
  type: number;
  state: number;
  path: string;
}

export type Watcher = (event: WatchedEvent) => void;

export const openAclUnsafe: ACL[] = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];

export interface ClientOptions {
  sessionTimeoutMs?: number;
  sessionId?: bigint;
  sessionPassword?: Buffer;
  /** How long `connect` tries the servers before it fails (default: the session timeout). */
  connectTimeoutMs?: number;
}

export interface CreateOptions {
  mode?: number;
  acl?: ACL[];
  /** For TTL modes, in milliseconds. */
  ttlMs?: number;
}

/**
 * About the bytes of a request for `path` (as the server sees it, chroot included) carrying
 * `data` and `acl`: strings at up to 3 UTF-8 bytes a char, the data, and room for lengths,
 * a version and flags. A short hint only costs a copy as the writer grows.
 */
function requestBytesHint(path: string, data: Buffer | null, acl: readonly ACL[] = []): number {
  let bytes = 64 + 3 * path.length + (data?.length ?? 0);
  for (const entry of acl) bytes += 12 + 3 * (entry.id.scheme.length + entry.id.id.length);
  return bytes;
}

/** Parses "host:port,host:port/chroot". */
export function parseConnectString(connectString: string): { hosts: HostPort[]; chroot: string } {
  const slash = connectString.indexOf("/");
  const hostPart = slash === -1 ? connectString : connectString.slice(0, slash);
  let chroot = slash === -1 ? "" : connectString.slice(slash);
  if (chroot === "/") chroot = "";
  const hosts = hostPart
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const colon = entry.lastIndexOf(":");
      if (colon === -1) return { host: entry, port: 2181 };
      return { host: entry.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(entry.slice(colon + 1)) };
    });
  if (hosts.length === 0 || hosts.some((h) => !Number.isInteger(h.port) || h.port <= 0 || h.port > 65535)) {
    throw new Error(`invalid connect string "${connectString}"`);
  }
  return { hosts, chroot };
}

type WatchTable = Map<string, Set<Watcher>>;

function addTo(table: WatchTable, path: string, watcher: Watcher): void {
  let set = table.get(path);
  if (set === undefined) table.set(path, (set = new Set()));
  set.add(watcher);
}

function take(table: WatchTable, path: string, into: Set<Watcher>): void {
  const set = table.get(path);
  if (set === undefined) return;
  for (const watcher of set) into.add(watcher);
  table.delete(path);
}

function decodeWith<T>(codec: Codec<T>, body: Buffer): T {
  return codec.read(new JuteReader(body));
}

/**
 * Events: "state" with "connecting" | "connected" | "closed" | "expired" | "authFailed".
 */
export class ZooKeeperClient extends EventEmitter {
  private readonly dataWatches: WatchTable = new Map();
  private readonly existWatches: WatchTable = new Map();
  private readonly childWatches: WatchTable = new Map();
  private readonly persistentWatches: WatchTable = new Map();
  private readonly recursiveWatches: WatchTable = new Map();

  private constructor(
    private readonly connection: Connection,
    readonly chroot: string,
  ) {
    super();
    connection.on("state", (state: ConnectionState) => this.emit("state", state));
    connection.on("event", (event: R.WatcherEvent) => this.dispatch(event));
    connection.watchRegistrations = () => ({
      dataWatches: [...this.dataWatches.keys()].map((p) => this.serverPath(p)),
      existWatches: [...this.existWatches.keys()].map((p) => this.serverPath(p)),
      childWatches: [...this.childWatches.keys()].map((p) => this.serverPath(p)),
      persistentWatches: [...this.persistentWatches.keys()].map((p) => this.serverPath(p)),
      persistentRecursiveWatches: [...this.recursiveWatches.keys()].map((p) => this.serverPath(p)),
    });
  }

  /** Connects to one of the hosts and resolves once a session is established. */
  static async connect(connectString: string, options: ClientOptions = {}): Promise<ZooKeeperClient> {
    const { hosts, chroot } = parseConnectString(connectString);
    const connection = new Connection({
      hosts,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
      ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
      ...(options.sessionPassword === undefined ? {} : { sessionPassword: options.sessionPassword }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    });
    const client = new ZooKeeperClient(connection, chroot);
    await connection.open();
    return client;
  }

  get sessionId(): bigint {
    return this.connection.sessionId;
  }

  get sessionPassword(): Buffer {
    return this.connection.sessionPassword;
  }

  get sessionTimeoutMs(): number {
    return this.connection.negotiatedTimeoutMs;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The last zxid this client has seen. */
  get lastZxid(): bigint {
    return this.connection.lastZxid;
  }

  private serverPath(path: string): string {
    if (this.chroot === "") return path;
    return path === "/" ? this.chroot : this.chroot + path;
  }

  private clientPath(path: string): string {
    if (this.chroot === "" || !path.startsWith(this.chroot)) return path;
    const stripped = path.slice(this.chroot.length);
    return stripped === "" ? "/" : stripped;
  }

  /** Sends a raw request body for `opCode`; resolves with the reply, whatever its error code. */
  request(opCode: number, body: Buffer): Promise<Reply> {
    return this.connection.request(opCode, body);
  }

  private async call(opCode: number, body: Buffer, path?: string): Promise<Reply> {
    const reply = await this.connection.request(opCode, body);
    if (reply.err !== 0) throw new KeeperError(reply.err, path);
    return reply;
  }

  private dispatch(raw: R.WatcherEvent): void {
    const path = this.clientPath(raw.path);
    const event: WatchedEvent = { type: raw.type, state: raw.state, path };
    const watchers = new Set<Watcher>();
    switch (raw.type) {
      case EventType.NodeCreated:
      case EventType.NodeDataChanged:
        take(this.dataWatches, path, watchers);
        take(this.existWatches, path, watchers);
        break;
      case EventType.NodeChildrenChanged:
        take(this.childWatches, path, watchers);
        break;
      case EventType.NodeDeleted:
        take(this.dataWatches, path, watchers);
        take(this.existWatches, path, watchers);
        take(this.childWatches, path, watchers);
        break;
    }
    for (const watcher of this.persistentWatches.get(path) ?? []) watchers.add(watcher);
    if (raw.type !== EventType.NodeChildrenChanged) {
      for (let current = path; ; ) {
        for (const watcher of this.recursiveWatches.get(current) ?? []) watchers.add(watcher);
        if (current === "/") break;
        current = current.slice(0, current.lastIndexOf("/")) || "/";
      }
    }
    for (const watcher of watchers) {
      try {
        watcher(event);
      } catch (error) {
        this.emit("error", error);
      }
    }
  }

  /** Creates a node; returns its actual path (sequential suffix included) and stat. */
  async create(
    path: string,
    data: Buffer | string | null = null,
    options: CreateOptions = {},
  ): Promise<{ path: string; stat: Stat }> {
    const mode = options.mode ?? CreateMode.PERSISTENT;
    const acl = options.acl ?? openAclUnsafe;
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const serverPath = this.serverPath(path);
    let reply: Reply;
    if (mode === CreateMode.PERSISTENT_WITH_TTL || mode === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL) {
      const body = encode(R.CreateTTLRequest, {
        path: serverPath,
        data: bytes,
        acl,
        flags: mode,
        ttl: BigInt(options.ttlMs ?? -1),
      });
      reply = await this.call(OpCode.createTTL, body, path);
    } else {
      const opCode = mode === CreateMode.CONTAINER ? OpCode.createContainer : OpCode.create2;
      reply = await this.call(
        opCode,
        encodeSized(
          R.CreateRequest,
          { path: serverPath, data: bytes, acl, flags: mode },
          requestBytesHint(serverPath, bytes, acl),
        ),
        path,
      );
    }
    const response = decodeWith(R.Create2Response, reply.body);
    return { path: this.clientPath(response.path), stat: response.stat };
  }

  async delete(path: string, version = -1): Promise<void> {
    await this.call(OpCode.delete, encode(R.DeleteRequest, { path: this.serverPath(path), version }), path);
  }

  /** The node's stat, or null if it does not exist; `watch` fires on its creation, change or deletion. */
  async exists(path: string, watch?: Watcher): Promise<Stat | null> {
    const reply = await this.connection.request(
      OpCode.exists,
      encode(R.ExistsRequest, { path: this.serverPath(path), watch: watch !== undefined }),
    );
    if (reply.err === ErrorCode.NONODE) {
      if (watch !== undefined) addTo(this.existWatches, path, watch);
      return null;
    }
    if (reply.err !== 0) throw new KeeperError(reply.err, path);
    if (watch !== undefined) addTo(this.dataWatches, path, watch);
    return decodeWith(R.ExistsResponse, reply.body).stat;
  }

  async getData(path: string, watch?: Watcher): Promise<{ data: Buffer | null; stat: Stat }> {
    const reply = await this.call(
      OpCode.getData,
      encode(R.GetDataRequest, { path: this.serverPath(path), watch: watch !== undefined }),
      path,
    );
    if (watch !== undefined) addTo(this.dataWatches, path, watch);
    return decodeWith(R.GetDataResponse, reply.body);
  }

  async setData(path: string, data: Buffer | string | null, version = -1): Promise<Stat> {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const serverPath = this.serverPath(path);
    const reply = await this.call(
      OpCode.setData,
      encodeSized(
        R.SetDataRequest,
        { path: serverPath, data: bytes, version },
        requestBytesHint(serverPath, bytes),
      ),
      path,
    );
    return decodeWith(R.SetDataResponse, reply.body).stat;
  }

  /** Children (in the server's order) and the node's stat (getChildren2). */
  async getChildren(path: string, watch?: Watcher): Promise<{ children: string[]; stat: Stat }> {
    const reply = await this.call(
      OpCode.getChildren2,
      encode(R.GetChildren2Request, { path: this.serverPath(path), watch: watch !== undefined }),
      path,
    );
    if (watch !== undefined) addTo(this.childWatches, path, watch);
    return decodeWith(R.GetChildren2Response, reply.body);
  }

  async getAllChildrenNumber(path: string): Promise<number> {
    const reply = await this.call(
      OpCode.getAllChildrenNumber,
      encode(R.GetAllChildrenNumberRequest, { path: this.serverPath(path) }),
      path,
    );
    return decodeWith(R.GetAllChildrenNumberResponse, reply.body).totalNumber;
  }

  /** This session's ephemeral nodes under `prefixPath`. */
  async getEphemerals(prefixPath = "/"): Promise<string[]> {
    const reply = await this.call(
      OpCode.getEphemerals,
      encode(R.GetEphemeralsRequest, { prefixPath: this.serverPath(prefixPath) }),
    );
    return decodeWith(R.GetEphemeralsResponse, reply.body).ephemerals.map((p) => this.clientPath(p));
  }

  async getACL(path: string): Promise<{ acl: ACL[]; stat: Stat }> {
    const reply = await this.call(
      OpCode.getACL,
      encode(R.GetACLRequest, { path: this.serverPath(path) }),
      path,
    );
    return decodeWith(R.GetACLResponse, reply.body);
  }

  async setACL(path: string, acl: ACL[], version = -1): Promise<Stat> {
    const reply = await this.call(
      OpCode.setACL,
      encode(R.SetACLRequest, { path: this.serverPath(path), acl, version }),
      path,
    );
    return decodeWith(R.SetACLResponse, reply.body).stat;
  }

  private multiBody(ops: MultiOp[]): Buffer {
    let bytes = 16;
    for (const op of ops) {
      const request = op.request;
      bytes +=
        16 +
        3 * this.chroot.length +
        requestBytesHint(
          request.path,
          "data" in request ? request.data : null,
          "acl" in request ? request.acl : [],
        );
    }
    const w = new JuteWriter(bytes);
    writeMultiRequest(
      w,
      this.chroot === ""
        ? ops
        : ops.map(
            (op) =>
              ({ ...op, request: { ...op.request, path: this.serverPath(op.request.path) } }) as MultiOp,
          ),
    );
    return w.toBuffer();
  }

  /** All-or-nothing writes; on failure throws a MultiError carrying every op's result. */
  async multi(ops: MultiOp[]): Promise<MultiResult[]> {
    const reply = await this.call(OpCode.multi, this.multiBody(ops));
    const results = readMultiResponse(new JuteReader(reply.body)).map((result) =>
      "path" in result ? { ...result, path: this.clientPath(result.path) } : result,
    );
    const failed = results.find((result) => result.type === OpCode.error && result.err !== 0);
    if (failed !== undefined && failed.type === OpCode.error) throw new MultiError(failed.err, results);
    return results;
  }

  /** Several reads answered together; each op has its own result or error. */
  async multiRead(ops: MultiOp[]): Promise<MultiResult[]> {
    const reply = await this.call(OpCode.multiRead, this.multiBody(ops));
    return readMultiResponse(new JuteReader(reply.body));
  }

  /** Waits until this server has every write committed before the call. */
  async sync(path = "/"): Promise<void> {
    await this.call(OpCode.sync, encode(R.SyncRequest, { path: this.serverPath(path) }), path);
  }

  /** Authenticates this session (e.g. "digest", "user:password"), now and after reconnects. */
  async addAuth(scheme: string, auth: Buffer | string): Promise<void> {
    const bytes = typeof auth === "string" ? Buffer.from(auth) : auth;
    this.connection.addAuth(scheme, bytes);
    // The server answers auth packets in order with everything else: a sync after it
    // tells us the auth was processed (an AUTHFAILED closes the session instead).
    await this.sync("/");
    if (this.state === "authFailed") throw new KeeperError(ErrorCode.AUTHFAILED);
  }

  /** A persistent (or persistent recursive) watch that stays until removed. */
  async addWatch(path: string, mode: number, watcher: Watcher): Promise<void> {
    await this.call(OpCode.addWatch, encode(R.AddWatchRequest, { path: this.serverPath(path), mode }), path);
    addTo(
      mode === AddWatchMode.PERSISTENT_RECURSIVE ? this.recursiveWatches : this.persistentWatches,
      path,
      watcher,
    );
  }

  /** Removes this session's watches of `type` on `path`, on the server and here. */
  async removeWatches(path: string, type: number = WatcherType.Any): Promise<void> {
    await this.call(
      OpCode.removeWatches,
      encode(R.RemoveWatchesRequest, { path: this.serverPath(path), type }),
      path,
    );
    const removed = new Set<Watcher>();
    if (type !== WatcherType.Data) {
      take(this.childWatches, path, removed);
    }
    if (type !== WatcherType.Children) {
      take(this.dataWatches, path, removed);
      take(this.existWatches, path, removed);
      take(this.persistentWatches, path, removed);
      take(this.recursiveWatches, path, removed);
    }
    const eventType =
      type === WatcherType.Children ? EventType.ChildWatchRemoved : EventType.DataWatchRemoved;
    for (const watcher of removed) watcher({ type: eventType, state: KeeperState.SyncConnected, path });
  }

  /** Resolves if the server holds a watch of `type` on `path` for this session, else throws NOWATCHER. */
  async checkWatches(path: string, type: number = WatcherType.Any): Promise<void> {
    await this.call(
      OpCode.checkWatches,
      encode(R.CheckWatchesRequest, { path: this.serverPath(path), type }),
      path,
    );
  }

  /** The identities this session is authenticated as. */
  async whoAmI(): Promise<{ authScheme: string; user: string }[]> {
    const reply = await this.call(OpCode.whoAmI, Buffer.alloc(0));
    return decodeWith(R.WhoAmIResponse, reply.body).clientInfo;
  }

  /** Closes the session: its ephemerals go and its watches end. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  /** Stops this client without closing its session: the server expires it after its timeout. */
  abandon(): void {
    this.connection.abandon();
  }

  /** Drops the TCP connection, keeping the session (the client reconnects). */
  dropConnection(): void {
    this.connection.dropConnection();
  }
}

/** A failed multi: `code` is the failing op's error, `results` every op's result. */
export class MultiError extends KeeperError {
  override name = "MultiError";
  constructor(
    code: number,
    readonly results: MultiResult[],
  ) {
    super(code);
  }
}
