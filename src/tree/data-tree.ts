/**
 * The DataTree: znodes with ZooKeeper 3.8's stats, the ACL cache, ephemerals per
 * session, containers and TTL nodes. `applyTxn` is the one way it changes (live
 * writes, log replay and, later, learner sync all go through it), with
 * DataTree.processTxn's semantics, including its replay tolerance. Pure.
 */
import { ErrorCode, EventType, OpCode } from "../jute/constants.js";
import type { ACL, Stat, StatPersisted, TxnHeader } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { AclCache, openUnsafeAclIndex } from "./acl-cache.js";
import { addDigest, digestVersion, loadedNodeDigest, nodeDigest, type ZxidDigest } from "./digest.js";
import { type EphemeralKind, ephemeralKind, ttlOwner } from "./ephemeral-type.js";
import { JavaHashSet, noChildren } from "./java-hash-set.js";

/** One znode. `stat` is owned by the tree: copy it before handing it out. */
export interface Znode {
  data: Buffer | null;
  aclIndex: bigint;
  stat: StatPersisted;
  /** Child names, iterated in ZooKeeper's (Java HashSet) order. */
  children: JavaHashSet;
  /**
   * The node's digest as of its last change, as a signed 32-bit int (a small integer in
   * V8, where an unsigned CRC above 2^31 would take a heap number per node); -1 means
   * "compute it" (a CRC that really is 0xffffffff is just computed again).
   */
  digest: number;
}

/** A watch trigger caused by a txn, with the ACL a watcher needs READ on to see it. */
export interface TriggeredEvent {
  type: EventType;
  path: string;
  acl: readonly ACL[];
}

/** What applying a txn did (ZooKeeper's ProcessTxnResult). */
export interface ProcessTxnResult {
  clientId: bigint;
  cxid: number;
  zxid: bigint;
  type: number;
  err: number;
  path: string;
  stat: Stat | null;
  multiResults: ProcessTxnResult[] | null;
  /** The watch triggers, in order; a multi's ops add theirs to the multi's list (their own is empty). */
  events: TriggeredEvent[];
}

/** The events list of a multi's ops: never added to (they add to their multi's list). */
const noEvents: TriggeredEvent[] = Object.freeze([]) as unknown as TriggeredEvent[];

class TreeError extends Error {
  constructor(readonly code: number) {
    super(String(code));
  }
}

function emptyStatPersisted(): StatPersisted {
  return {
    czxid: 0n,
    mzxid: 0n,
    ctime: 0n,
    mtime: 0n,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    pzxid: 0n,
  };
}

const zeroBigInt = 0n;

/**
 * Makes equal values of a freshly read stat share one BigInt (each is a 24-byte heap
 * object), in place: a node never changed has mzxid = czxid and mtime = ctime, a leaf
 * pzxid = czxid, and most nodes no ephemeral owner. Saves about 90 bytes per znode of a
 * loaded tree.
 */
function shareBigInts(stat: StatPersisted): void {
  const { czxid, ctime } = stat;
  if (stat.mzxid === czxid) stat.mzxid = czxid;
  if (stat.pzxid === czxid) stat.pzxid = czxid;
  else if (stat.pzxid === stat.mzxid) stat.pzxid = stat.mzxid;
  if (stat.mtime === ctime) stat.mtime = ctime;
  if (stat.ephemeralOwner === zeroBigInt) stat.ephemeralOwner = zeroBigInt;
}

export interface DataTreeOptions {
  /** zookeeper.extendedTypesEnabled: TTL owners are recognised as TTL, not sessions. */
  extendedTypesEnabled?: boolean;
}

export class DataTree {
  private readonly nodes = new Map<string, Znode>();
  private readonly aclCache = new AclCache();
  private readonly ephemerals = new Map<bigint, JavaHashSet>();
  private readonly containerPaths = new Set<string>();
  private readonly ttlPaths = new Set<string>();
  private readonly extendedTypesEnabled: boolean;
  private dataBytes = 0;
  /** The zxid of the last txn applied. */
  lastProcessedZxid = 0n;
  /** The sum of the digested nodes' hashes (NodeHashMapImpl's AdHash). */
  private digest = 0n;
  /** While a multi applies: each node it changed, by path ("/" for the root), with its digest before the multi. */
  private multiDigestsBefore: Map<string, number> | null = null;
  /** The digest after the last applied txn (null until one is applied). */
  lastZxidDigest: ZxidDigest | null = null;
  private readonly digestHistory: ZxidDigest[] = [];
  /** The parent of the node loaded last, while a snapshot loads (see loadNode). */
  private lastLoadedParent: { path: string; node: Znode } | null = null;

  constructor(options: DataTreeOptions = {}) {
    this.extendedTypesEnabled = options.extendedTypesEnabled ?? false;
    const root: Znode = {
      data: Buffer.alloc(0),
      aclIndex: openUnsafeAclIndex,
      stat: emptyStatPersisted(),
      children: new JavaHashSet(8),
      digest: -1,
    };
    const proc: Znode = {
      data: Buffer.alloc(0),
      aclIndex: openUnsafeAclIndex,
      stat: emptyStatPersisted(),
      children: new JavaHashSet(8),
      digest: -1,
    };
    const quota: Znode = {
      data: Buffer.alloc(0),
      aclIndex: openUnsafeAclIndex,
      stat: emptyStatPersisted(),
      children: new JavaHashSet(8),
      digest: -1,
    };
    // Reconfig node is access controlled by default (ZOOKEEPER-2014): world:anyone READ, aversion -1.
    const config: Znode = {
      data: Buffer.alloc(0),
      aclIndex: this.aclCache.convert([{ perms: 1, id: { scheme: "world", id: "anyone" } }]),
      stat: { ...emptyStatPersisted(), aversion: -1 },
      children: new JavaHashSet(8),
      digest: -1,
    };
    root.children.add("zookeeper");
    proc.children.add("quota");
    proc.children.add("config");
    this.nodes.set("/", root);
    this.nodes.set("/zookeeper", proc);
    this.nodes.set("/zookeeper/quota", quota);
    this.nodes.set("/zookeeper/config", config);
    for (const [path, node] of this.nodes) {
      this.dataBytes += nodeSize(path, node.data);
      this.digest = addDigest(this.digest, nodeDigest(path, node.data, node.stat));
    }
  }

  /** The tree digest now (DataTree.getTreeDigest). */
  get treeDigest(): bigint {
    return this.digest;
  }

  /** The digests of every 128th zxid, oldest first, at most 1024 (the `hash` command). */
  get digestLog(): readonly ZxidDigest[] {
    return this.digestHistory;
  }

  /**
   * Replaces the whole tree with a snapshot's content (DataTree.deserialize): call
   * `loadNode` for every node, parents first, then `finishLoad`.
   */
  beginLoad(aclEntries: Iterable<readonly [bigint, ACL[]]>): void {
    this.nodes.clear();
    this.ephemerals.clear();
    this.containerPaths.clear();
    this.ttlPaths.clear();
    this.dataBytes = 0;
    this.digest = 0n;
    this.lastZxidDigest = null;
    this.digestHistory.length = 0;
    this.aclCache.load(aclEntries);
  }

  /** Adds one node of a snapshot. `path` is "" for the root. Throws when its parent is missing. */
  loadNode(path: string, data: Buffer | null, aclIndex: bigint, stat: StatPersisted): void {
    const key = path === "" ? "/" : path;
    const index = this.aclCache.addUsage(aclIndex);
    if (index === null) {
      throw new Error(`snapshot node ${key} uses ACL ${aclIndex}, which the snapshot's ACL map lacks`);
    }
    shareBigInts(stat);
    const node: Znode = { data, aclIndex: index, stat, children: noChildren, digest: -1 };
    if (path !== "") {
      const lastSlash = path.lastIndexOf("/");
      // A snapshot lists a node's children together, after it: the parent is often the last one.
      const loaded = this.lastLoadedParent;
      const parent =
        loaded !== null && lastSlash === loaded.path.length && path.startsWith(loaded.path)
          ? loaded.node
          : this.getNode(path.slice(0, lastSlash));
      if (parent === undefined) throw new Error(`snapshot node ${path} comes before its parent`);
      if (parent !== loaded?.node) this.lastLoadedParent = { path: path.slice(0, lastSlash), node: parent };
      if (parent.children === noChildren) parent.children = new JavaHashSet(8);
      parent.children.add(path.slice(lastSlash + 1));
      const owner = stat.ephemeralOwner;
      const kind = this.kindOf(owner);
      if (kind === "container") this.containerPaths.add(path);
      else if (kind === "ttl") this.ttlPaths.add(path);
      else if (owner !== 0n) {
        let owned = this.ephemerals.get(owner);
        if (owned === undefined) this.ephemerals.set(owner, (owned = new JavaHashSet()));
        owned.add(path);
      }
    }
    // One probe of a million-entry map, not two: a repeated path leaves the size unchanged.
    const count = this.nodes.size;
    this.nodes.set(key, node);
    if (this.nodes.size === count) throw new Error(`snapshot holds ${key} twice`);
    this.dataBytes += nodeSize(key, data);
    const digest = loadedNodeDigest(key, data, stat);
    node.digest = digest | 0;
    this.digest = addDigest(this.digest, digest);
  }

  /** Ends a load: the root must be there; unused ACL entries go. */
  finishLoad(lastProcessedZxid: bigint): void {
    this.lastLoadedParent = null;
    if (!this.nodes.has("/")) throw new Error("snapshot has no root node");
    this.aclCache.purgeUnused();
    this.lastProcessedZxid = lastProcessedZxid;
  }

  /** Deletes a dead session's ephemerals without a txn (ZooKeeperServer.loadData's clean-up). */
  killSession(sessionId: bigint, zxid: bigint): void {
    const owned = this.ephemerals.get(sessionId);
    this.ephemerals.delete(sessionId);
    if (owned !== undefined) this.deleteNodes([...owned], zxid, []);
  }

  /** The digest of one node as it is now (0 for nodes that are not digested). */
  nodeDigest(path: string): number {
    const node = this.getNode(path);
    if (node === undefined) return 0;
    if (node.digest === -1) node.digest = nodeDigest(path, node.data, node.stat) | 0;
    return node.digest >>> 0;
  }

  /**
   * The node's digest as it stands, before a change: the change's `afterChange` takes it.
   * Not computed for a node a multi has changed already (its digest before the multi is kept).
   */
  private beforeChange(path: string, node: Znode): number {
    if (this.multiDigestsBefore?.has(path === "" ? "/" : path) === true) return 0;
    return node.digest !== -1 ? node.digest >>> 0 : nodeDigest(path, node.data, node.stat);
  }

  /**
   * Moves the tree digest by the node's change, one 64-bit addition (not one per side). In a
   * multi, only notes the node's digest before its first change: `settleMultiDigests` hashes
   * each node the multi changed once, as the multi left it.
   */
  private afterChange(path: string, node: Znode, before: number): void {
    const multi = this.multiDigestsBefore;
    if (multi !== null) {
      const key = path === "" ? "/" : path;
      if (!multi.has(key)) multi.set(key, before);
      node.digest = -1;
      return;
    }
    const digest = nodeDigest(path, node.data, node.stat);
    node.digest = digest | 0;
    if (digest !== before) this.digest = addDigest(this.digest, digest - before);
  }

  /** Takes a node out of the tree digest (it is being deleted). */
  private removeDigest(path: string, node: Znode): void {
    const before = this.beforeChange(path, node);
    const multi = this.multiDigestsBefore;
    if (multi === null) this.digest = addDigest(this.digest, -before);
    else if (!multi.has(path)) multi.set(path, before); // never the root
  }

  /** Ends a multi's changes: each node it changed moves the tree digest once, from before to after. */
  private settleMultiDigests(multi: Map<string, number>): void {
    let delta = 0;
    for (const [path, before] of multi) {
      const node = this.getNode(path);
      let after = 0;
      if (node !== undefined) {
        after = nodeDigest(path, node.data, node.stat);
        node.digest = after | 0;
      }
      // Each term is under 2^32 and a multi has at most multiOpsMax ops: exact in a double.
      delta += after - before;
    }
    if (delta !== 0) this.digest = addDigest(this.digest, delta);
  }

  /** The node at `path` ("" is the root, as in ZooKeeper). */
  getNode(path: string): Znode | undefined {
    return this.nodes.get(path === "" ? "/" : path);
  }

  /** DataNode.copyStat: the client-visible Stat of a node (containers and TTL nodes show owner 0). */
  statOf(node: Znode): Stat {
    const s = node.stat;
    const owner = this.kindOf(s.ephemeralOwner) === "session" ? s.ephemeralOwner : 0n;
    return {
      czxid: s.czxid,
      mzxid: s.mzxid,
      ctime: s.ctime,
      mtime: s.mtime,
      version: s.version,
      // The tree counts creations; clients see creations plus deletions (DataNode.copyStat).
      cversion: s.cversion * 2 - node.children.size,
      aversion: s.aversion,
      ephemeralOwner: owner,
      dataLength: node.data === null ? 0 : node.data.length,
      numChildren: node.children.size,
      pzxid: s.pzxid,
    };
  }

  getACL(node: Znode): ACL[] {
    return this.aclCache.lookup(node.aclIndex);
  }

  get acls(): AclCache {
    return this.aclCache;
  }

  /** A copy of the ephemerals `sessionId` owns, in ZooKeeper's order (DataTree.getEphemerals clones). */
  getEphemerals(sessionId: bigint): JavaHashSet {
    return this.ephemerals.get(sessionId)?.clone() ?? new JavaHashSet();
  }

  sessionsWithEphemerals(): bigint[] {
    return [...this.ephemerals.entries()].filter(([, paths]) => paths.size > 0).map(([id]) => id);
  }

  containers(): ReadonlySet<string> {
    return this.containerPaths;
  }

  ttls(): ReadonlySet<string> {
    return this.ttlPaths;
  }

  /** Every znode, the root included. */
  get nodeCount(): number {
    return this.nodes.size;
  }

  /** ZooKeeper's approximate data size: path lengths plus data lengths. */
  approximateDataSize(): number {
    return this.dataBytes;
  }

  /** DataTree.getAllChildrenNumber: every descendant of `path`. */
  getAllChildrenNumber(path: string): number {
    // ZooKeeper counts its "" and "/" root aliases out of nodes.size().
    if (path === "/") return this.nodes.size - 1;
    const prefix = `${path}/`;
    let count = 0;
    for (const key of this.nodes.keys()) if (key.startsWith(prefix)) count++;
    return count;
  }

  /** Every (path, node) pair, parents before children, for snapshots and dumps. */
  *walk(path = "/"): Generator<[string, Znode]> {
    const node = this.nodes.get(path);
    if (node === undefined) return;
    yield [path, node];
    for (const child of node.children) yield* this.walk(path === "/" ? `/${child}` : `${path}/${child}`);
  }

  kindOf(ephemeralOwner: bigint): EphemeralKind {
    return ephemeralKind(ephemeralOwner, this.extendedTypesEnabled);
  }

  /** Applies one txn (DataTree.processTxn). Never throws for a txn that does not fit the tree. */
  applyTxn(header: TxnHeader, txn: Txn): ProcessTxnResult {
    const result = this.process(header, txn);
    if (result.type === OpCode.create && result.err === ErrorCode.NODEEXISTS && txn.type === OpCode.create) {
      // Replay over a fuzzy snapshot: the node exists, but the parent's cversion/pzxid must still move.
      try {
        this.setCversionPzxid(parentPath(result.path), txn.txn.parentCVersion, header.zxid);
      } catch (error) {
        if (!(error instanceof TreeError)) throw error;
        result.err = error.code;
      }
    }
    if (header.zxid > this.lastProcessedZxid) this.lastProcessedZxid = header.zxid;
    this.logZxidDigest(header.zxid);
    return result;
  }

  /** DataTree.logZxidDigest: remember the digest after `zxid`, every 128th in the history. */
  private logZxidDigest(zxid: bigint): void {
    const entry = { zxid, digestVersion, digest: this.digest };
    this.lastZxidDigest = entry;
    if (zxid % digestLogInterval === 0n) {
      this.digestHistory.push(entry);
      if (this.digestHistory.length > digestLogMax) this.digestHistory.shift();
    }
  }

  /**
   * Applies `txn` as `type` (a multi's op has its own type, the rest of its header is the
   * multi's) and triggers into `events` (a multi's ops into the multi's list).
   */
  private process(
    header: TxnHeader,
    txn: Txn,
    type: number = header.type,
    events: TriggeredEvent[] | null = null,
  ): ProcessTxnResult {
    const result: ProcessTxnResult = {
      clientId: header.clientId,
      cxid: header.cxid,
      zxid: header.zxid,
      type,
      err: 0,
      path: "",
      stat: null,
      multiResults: null,
      events: events === null ? [] : noEvents,
    };
    try {
      this.processInto(result, header, txn, events ?? result.events);
    } catch (error) {
      if (!(error instanceof TreeError)) throw error;
      result.err = error.code;
    }
    return result;
  }

  private processInto(result: ProcessTxnResult, header: TxnHeader, txn: Txn, events: TriggeredEvent[]): void {
    const { zxid, time } = header;
    switch (txn.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createTTL:
      case OpCode.createContainer: {
        const { path, data, acl, parentCVersion } = txn.txn;
        let owner: bigint;
        if (txn.type === OpCode.createTTL) owner = ttlOwner(txn.txn.ttl);
        else if (txn.type === OpCode.createContainer) owner = containerOwnerValue;
        else owner = txn.txn.ephemeral ? header.clientId : 0n;
        result.path = path;
        const stat = this.createNode(path, data, acl, owner, parentCVersion, zxid, time, events);
        // A plain create answers with the path only (ProcessTxnResult.stat stays null).
        if (result.type !== OpCode.create) result.stat = stat;
        return;
      }
      case OpCode.delete:
      case OpCode.deleteContainer:
        result.path = txn.txn.path;
        this.deleteNode(txn.txn.path, zxid, events);
        return;
      case OpCode.setData:
        result.path = txn.txn.path;
        result.stat = this.setData(txn.txn.path, txn.txn.data, txn.txn.version, zxid, time, events);
        return;
      case OpCode.setACL:
        result.path = txn.txn.path;
        result.stat = this.setACL(txn.txn.path, txn.txn.acl, txn.txn.version);
        return;
      case OpCode.closeSession: {
        const local = this.ephemerals.get(header.clientId);
        this.ephemerals.delete(header.clientId);
        const inTxn = txn.txn?.paths2Delete ?? null;
        if (inTxn !== null) this.deleteNodes(inTxn, zxid, events);
        if (local !== undefined) {
          if (inTxn !== null) for (const path of inTxn) local.delete(path);
          this.deleteNodes([...local], zxid, events);
        }
        return;
      }
      case OpCode.error:
        result.err = txn.txn.err;
        return;
      case OpCode.check:
        result.path = txn.txn.path;
        return;
      case OpCode.createSession:
        return;
      case OpCode.multi: {
        const failed = txn.txns.some((inner) => inner.type === OpCode.error);
        // A multi that applies changes nodes; one that failed in prep changes none.
        const digestsBefore = failed ? null : new Map<string, number>();
        this.multiDigestsBefore = digestsBefore;
        try {
          this.processMultiOps(result, header, txn.txns, failed, events);
        } finally {
          this.multiDigestsBefore = null;
        }
        if (digestsBefore !== null) this.settleMultiDigests(digestsBefore);
        return;
      }
      default:
        return;
    }
  }

  private processMultiOps(
    result: ProcessTxnResult,
    header: TxnHeader,
    txns: Txn[],
    failed: boolean,
    events: TriggeredEvent[],
  ): void {
    let postFailed = false;
    result.multiResults = [];
    for (const inner of txns) {
      let applied: Txn = inner;
      if (inner.type === OpCode.error) postFailed = true;
      else if (failed)
        applied = {
          type: OpCode.error,
          txn: { err: postFailed ? ErrorCode.RUNTIMEINCONSISTENCY : ErrorCode.OK },
        };
      const sub = this.process(header, applied, applied.type, events);
      result.multiResults.push(sub);
      if (sub.err !== 0 && result.err === 0) result.err = sub.err;
    }
  }

  private createNode(
    path: string,
    data: Buffer | null,
    acl: ACL[],
    ephemeralOwner: bigint,
    parentCVersion: number,
    zxid: bigint,
    time: bigint,
    events: TriggeredEvent[],
  ): Stat {
    const parentName = parentPath(path);
    const childName = path.slice(path.lastIndexOf("/") + 1);
    const parent = this.getNode(parentName);
    if (parent === undefined) throw new TreeError(ErrorCode.NONODE);
    const parentAcl = this.getACL(parent);
    if (parent.children.has(childName)) throw new TreeError(ErrorCode.NODEEXISTS);
    const aclIndex = this.aclCache.convert(acl);
    const parentBefore = this.beforeChange(parentName, parent);
    let cversion = parentCVersion;
    if (cversion === -1) cversion = parent.stat.cversion + 1;
    if (cversion > parent.stat.cversion) {
      parent.stat.cversion = cversion;
      parent.stat.pzxid = zxid;
    }
    const node: Znode = {
      data,
      aclIndex,
      stat: {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeralOwner,
        pzxid: zxid,
      },
      children: noChildren,
      digest: -1,
    };
    if (parent.children === noChildren) parent.children = new JavaHashSet(8);
    parent.children.add(childName);
    this.afterChange(parentName, parent, parentBefore);
    this.nodes.set(path, node);
    this.afterChange(path, node, 0);
    this.dataBytes += nodeSize(path, data);
    const kind = this.kindOf(ephemeralOwner);
    if (kind === "container") this.containerPaths.add(path);
    else if (kind === "ttl") this.ttlPaths.add(path);
    else if (ephemeralOwner !== 0n) {
      let owned = this.ephemerals.get(ephemeralOwner);
      if (owned === undefined) this.ephemerals.set(ephemeralOwner, (owned = new JavaHashSet()));
      owned.add(path);
    }
    events.push({ type: EventType.NodeCreated, path, acl });
    events.push({
      type: EventType.NodeChildrenChanged,
      path: parentName === "" ? "/" : parentName,
      acl: parentAcl,
    });
    return this.statOf(node);
  }

  private deleteNode(path: string, zxid: bigint, events: TriggeredEvent[]): void {
    const parentName = parentPath(path);
    const childName = path.slice(path.lastIndexOf("/") + 1);
    const parent = this.getNode(parentName);
    if (parent === undefined) throw new TreeError(ErrorCode.NONODE);
    const parentBefore = this.beforeChange(parentName, parent);
    parent.children.delete(childName);
    if (zxid > parent.stat.pzxid) parent.stat.pzxid = zxid;
    this.afterChange(parentName, parent, parentBefore);
    const node = this.nodes.get(path);
    if (node === undefined || path === "/") throw new TreeError(ErrorCode.NONODE);
    const acl = this.getACL(node);
    this.removeDigest(path, node);
    this.nodes.delete(path);
    this.aclCache.removeUsage(node.aclIndex);
    this.dataBytes -= nodeSize(path, node.data);
    const parentAcl = this.getACL(parent);
    const owner = node.stat.ephemeralOwner;
    const kind = this.kindOf(owner);
    if (kind === "container") this.containerPaths.delete(path);
    else if (kind === "ttl") this.ttlPaths.delete(path);
    else if (owner !== 0n) this.ephemerals.get(owner)?.delete(path);
    events.push({ type: EventType.NodeDeleted, path, acl });
    events.push({
      type: EventType.NodeChildrenChanged,
      path: parentName === "" ? "/" : parentName,
      acl: parentAcl,
    });
  }

  private deleteNodes(paths: Iterable<string>, zxid: bigint, events: TriggeredEvent[]): void {
    for (const path of paths) {
      try {
        this.deleteNode(path, zxid, events);
      } catch (error) {
        if (!(error instanceof TreeError)) throw error;
        // ZooKeeper logs and goes on: the node was already gone.
      }
    }
  }

  /**
   * ZKDatabase.initConfigInZKDatabase: an ensemble member keeps its quorum configuration in
   * /zookeeper/config, set locally (no txn) as DataTree.setData(CONFIG_NODE, config, -1, version, now).
   */
  setConfigNode(config: string, configVersion: bigint, timeMs: number): void {
    this.setData("/zookeeper/config", Buffer.from(config, "utf8"), -1, configVersion, BigInt(timeMs), []);
  }

  private setData(
    path: string,
    data: Buffer | null,
    version: number,
    zxid: bigint,
    time: bigint,
    events: TriggeredEvent[],
  ): Stat {
    const node = this.getNode(path);
    if (node === undefined) throw new TreeError(ErrorCode.NONODE);
    const acl = this.getACL(node);
    this.dataBytes += nodeSize(path, data) - nodeSize(path, node.data);
    const before = this.beforeChange(path, node);
    node.data = data;
    node.stat.mtime = time;
    node.stat.mzxid = zxid;
    node.stat.version = version;
    this.afterChange(path, node, before);
    events.push({ type: EventType.NodeDataChanged, path, acl });
    return this.statOf(node);
  }

  private setACL(path: string, acl: ACL[], version: number): Stat {
    const node = this.getNode(path);
    if (node === undefined) throw new TreeError(ErrorCode.NONODE);
    const before = this.beforeChange(path, node);
    this.aclCache.removeUsage(node.aclIndex);
    node.stat.aversion = version;
    node.aclIndex = this.aclCache.convert(acl);
    this.afterChange(path, node, before);
    return this.statOf(node);
  }

  private setCversionPzxid(path: string, cversion: number, zxid: bigint): void {
    const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
    const node = this.getNode(trimmed);
    if (node === undefined) throw new TreeError(ErrorCode.NONODE);
    const next = cversion === -1 ? node.stat.cversion + 1 : cversion;
    const before = this.beforeChange(trimmed, node);
    if (next > node.stat.cversion) {
      node.stat.cversion = next;
      node.stat.pzxid = zxid;
    }
    this.afterChange(trimmed, node, before);
  }
}

const containerOwnerValue = -(2n ** 63n);
/** DataTree.DIGEST_LOG_INTERVAL and DIGEST_LOG_LIMIT. */
const digestLogInterval = 128n;
const digestLogMax = 1024;

function parentPath(path: string): string {
  return path.slice(0, Math.max(0, path.lastIndexOf("/")));
}

function nodeSize(path: string, data: Buffer | null): number {
  return path.length + (data === null ? 0 : data.length);
}
