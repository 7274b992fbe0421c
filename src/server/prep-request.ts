/**
 * The prep stage (ZooKeeper's PrepRequestProcessor): validates a write, checks its
 * ACLs against the tree plus the outstanding changes, and turns it into the txn
 * that ZooKeeper would log. A write that fails still consumes a zxid and becomes an
 * ErrorTxn, exactly as in ZooKeeper. Pure: time and zxid are passed in.
 */
import { JuteDecodeError, JuteReader } from "../jute/binary.js";
import { CreateMode, ErrorCode, OpCode, Perms } from "../jute/constants.js";
import { KeeperError } from "../jute/keeper-error.js";
import { type MultiOp, readMultiRequest } from "../jute/multi.js";
import {
  type ACL,
  CheckVersionRequest,
  CreateRequest,
  CreateTTLRequest,
  DeleteRequest,
  type Id,
  SetACLRequest,
  SetDataRequest,
  type StatPersisted,
  type TxnDigest,
  type TxnHeader,
} from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { addDigest, digestVersion, predictNodeDigest } from "../tree/digest.js";
import { validatePath } from "../tree/paths.js";
import { checkACL, fixupACL } from "./auth.js";
import { type ChangeRecord, copyStat, type OutstandingChanges } from "./change-records.js";

/** The part of the data tree that prep reads. */
export interface PrepTreeView {
  getNode(
    path: string,
  ): { stat: StatPersisted; children: { readonly size: number }; data: Buffer | null } | undefined;
  aclOf(path: string): ACL[];
  /** The digest of the node at `path` now. */
  nodeDigest(path: string): number;
  /** The tree digest now. */
  readonly treeDigest: bigint;
  /** A fresh copy, in the order ZooKeeper would iterate it. */
  getEphemerals(sessionId: bigint): EphemeralSet;
}

/** A mutable set of paths that iterates in ZooKeeper's order. */
export interface EphemeralSet extends Iterable<string> {
  add(path: string): unknown;
  delete(path: string): unknown;
}

export interface PrepContext {
  tree: PrepTreeView;
  changes: OutstandingChanges;
  extendedTypesEnabled: boolean;
  skipACL: boolean;
  /** Throws KeeperError (SESSIONEXPIRED, UNKNOWNSESSION) unless the session may write. */
  checkSession(sessionId: bigint): void;
}

/** A client write as it reaches prep. */
export interface WriteRequest {
  sessionId: bigint;
  cxid: number;
  type: number;
  body: Buffer;
  authInfo: readonly Id[];
}

/** A mutable set of paths that iterates in ZooKeeper's order. */
export interface EphemeralSet extends Iterable<string> {
  add(path: string): unknown;
  delete(path: string): unknown;
}

/**
 * A prepped write: the txn to log with the tree digest it will leave (none for a failed
 * write, as ZooKeeper logs it), and the error the client will see (0 for none).
 */
export interface PreparedTxn {
  header: TxnHeader;
  txn: Txn;
  digest: TxnDigest | null;
  error: number;
}

/** What the digest of pending changes is computed from. */
export interface DigestContext {
  tree: { readonly treeDigest: bigint };
  changes: OutstandingChanges;
}

/** The tree digest once every prepped txn applies (PrepRequestProcessor.getCurrentTreeDigest). */
export function currentTreeDigest(ctx: DigestContext): bigint {
  return ctx.changes.last()?.treeDigest ?? ctx.tree.treeDigest;
}

/**
 * Adds the change record `path` will have once the txn at `zxid` applies, its digests
 * precalculated from `previous`, the record it replaces. Fields as arguments: one object
 * per change, built in one shape (a spread made them megamorphic).
 */
function addChange(
  ctx: PrepContext,
  previous: ChangeRecord | null,
  zxid: bigint,
  path: string,
  stat: StatPersisted | null,
  childCount: number,
  acl: ACL[],
  data: Buffer | null,
): void {
  const multi = ctx.changes.multiDigestsBefore;
  if (multi !== null) {
    // A record's digests wait for the end of the multi: a later op may change the node again.
    if (!multi.has(path)) multi.set(path, previous?.nodeDigest ?? 0);
    ctx.changes.add({ zxid, path, stat, childCount, acl, data, nodeDigest: -1, treeDigest: 0n });
    return;
  }
  const before = previous?.nodeDigest ?? 0;
  const nodeDigest = stat === null ? 0 : predictNodeDigest(path, data, stat);
  const treeDigest = addDigest(currentTreeDigest(ctx), nodeDigest - before);
  ctx.changes.add({ zxid, path, stat, childCount, acl, data, nodeDigest, treeDigest });
}

/** Opcodes that go through prep and the log. */
export function isWriteOp(type: number): boolean {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer:
    case OpCode.delete:
    case OpCode.deleteContainer:
    case OpCode.setData:
    case OpCode.setACL:
    case OpCode.check:
    case OpCode.multi:
    case OpCode.reconfig:
    case OpCode.closeSession:
      return true;
    default:
      return false;
  }
}

const ttlMax = 0xff_ffff_ffffn;
const containerOwner = -(2n ** 63n);
const extendedMask = -(2n ** 56n); // 0xff00000000000000 as a signed long

/** EphemeralType.get(owner) === NORMAL: the owner is a session. */
function isSessionEphemeral(owner: bigint, extendedTypesEnabled: boolean): boolean {
  if (owner === 0n || owner === containerOwner) return false;
  if (extendedTypesEnabled && (owner & extendedMask) === extendedMask) return false;
  return true;
}

/** EphemeralType.TTL.toEphemeralOwner. */
export function ttlEphemeralOwner(ttl: bigint): bigint {
  return extendedMask | ttl;
}

function normalize(path: string): string {
  return path === "" ? "/" : path;
}

/** The record for `path` once pending txns apply, or null when it will not exist. */
function findRecord(ctx: PrepContext, path: string): ChangeRecord | null {
  const key = normalize(path);
  const pending = ctx.changes.latest(key);
  if (pending !== undefined) return pending.stat === null ? null : pending;
  const node = ctx.tree.getNode(key);
  if (node === undefined) return null;
  return {
    zxid: -1n,
    path: key,
    stat: node.stat,
    childCount: node.children.size,
    acl: ctx.tree.aclOf(key),
    data: node.data,
    nodeDigest: ctx.tree.nodeDigest(key),
    treeDigest: 0n,
  };
}

function recordFor(ctx: PrepContext, path: string): ChangeRecord {
  const record = findRecord(ctx, path);
  if (record === null) throw new KeeperError(ErrorCode.NONODE, path);
  return record;
}

/** Whether `path` will exist once pending txns apply (no exception: creates ask this every time). */
function exists(ctx: PrepContext, path: string): boolean {
  const key = normalize(path);
  const pending = ctx.changes.latest(key);
  if (pending !== undefined) return pending.stat !== null;
  return ctx.tree.getNode(key) !== undefined;
}

function checkPath(path: string): void {
  if (validatePath(path, false) !== null) throw new KeeperError(ErrorCode.BADARGUMENTS, path);
}

const specialPaths = new Set(["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]);

/** PrepRequestProcessor.getParentPathAndValidate. */
function parentOfDeletable(path: string): string {
  const lastSlash = path.lastIndexOf("/");
  if (lastSlash === -1 || path.includes("\0") || specialPaths.has(path)) {
    throw new KeeperError(ErrorCode.BADARGUMENTS, path);
  }
  return path.slice(0, lastSlash);
}

function checkAndIncrementVersion(current: number, expected: number, path: string): number {
  if (expected !== -1 && expected !== current) throw new KeeperError(ErrorCode.BADVERSION, path);
  return (current + 1) | 0;
}

function withParentChange(
  ctx: PrepContext,
  parent: ChangeRecord,
  zxid: bigint,
  childDelta: number,
  cversion?: number,
) {
  const stat = copyStat(parent.stat!);
  if (cversion !== undefined) stat.cversion = cversion;
  stat.pzxid = zxid;
  addChange(ctx, parent, zxid, parent.path, stat, parent.childCount + childDelta, parent.acl, parent.data);
}

type CreateFields = { path: string; data: Buffer | null; acl: ACL[]; flags: number };

function prepCreate(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  type: number,
  fields: CreateFields,
  /** The request's TTL, -1 for a request without one. */
  ttl: bigint,
): Txn {
  const { data, flags } = fields;
  if (flags < 0 || flags > 6) throw new KeeperError(ErrorCode.BADARGUMENTS);
  const isTTL =
    flags === CreateMode.PERSISTENT_WITH_TTL || flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
  const isSequential =
    flags === CreateMode.PERSISTENT_SEQUENTIAL ||
    flags === CreateMode.EPHEMERAL_SEQUENTIAL ||
    flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
  const isEphemeral = flags === CreateMode.EPHEMERAL || flags === CreateMode.EPHEMERAL_SEQUENTIAL;
  if (isTTL && !ctx.extendedTypesEnabled) throw new KeeperError(ErrorCode.UNIMPLEMENTED);
  // ZooKeeper accepts createTTL with a non-TTL mode, then fails while applying it and stops
  // serving; zkts refuses it up front.
  if (type === OpCode.createTTL && !isTTL) throw new KeeperError(ErrorCode.BADARGUMENTS, fields.path);
  if (isTTL ? ttl > ttlMax || ttl <= 0n : ttl >= 0n)
    throw new KeeperError(ErrorCode.BADARGUMENTS, fields.path);
  ctx.checkSession(request.sessionId);
  let path = fields.path;
  const lastSlash = path.lastIndexOf("/");
  if (lastSlash === -1 || path.includes("\0")) throw new KeeperError(ErrorCode.BADARGUMENTS, path);
  const parentPath = path.slice(0, lastSlash);
  const acl = fixupACL(fields.acl, request.authInfo);
  const parent = recordFor(ctx, parentPath);
  checkACL(parent.acl, Perms.CREATE, request.authInfo, ctx.skipACL);
  const parentCversion = parent.stat!.cversion;
  if (isSequential) path += formatSequence(parentCversion);
  checkPath(path);
  if (exists(ctx, path)) throw new KeeperError(ErrorCode.NODEEXISTS, path);
  if (isSessionEphemeral(parent.stat!.ephemeralOwner, ctx.extendedTypesEnabled)) {
    throw new KeeperError(ErrorCode.NOCHILDRENFOREPHEMERALS, path);
  }
  const newCversion = (parentCversion + 1) | 0;
  let txn: Txn;
  if (type === OpCode.createContainer) {
    txn = { type, txn: { path, data, acl, parentCVersion: newCversion } };
  } else if (type === OpCode.createTTL) {
    txn = { type, txn: { path, data, acl, parentCVersion: newCversion, ttl } };
  } else {
    txn = {
      type: type as typeof OpCode.create,
      txn: { path, data, acl, ephemeral: isEphemeral, parentCVersion: newCversion },
    };
  }
  // The owner the tree will give the node, which follows the txn type: ZooKeeper's change record
  // follows the flags instead, so a create2 with the container flag (a plain node once applied)
  // is mispredicted there and logged with a digest its own tree then disagrees with.
  const ephemeralOwner =
    txn.type === OpCode.createContainer
      ? containerOwner
      : txn.type === OpCode.createTTL
        ? ttlEphemeralOwner(ttl)
        : isEphemeral
          ? request.sessionId
          : 0n;
  withParentChange(ctx, parent, header.zxid, 1, newCversion);
  const stat: StatPersisted = {
    czxid: header.zxid,
    mzxid: header.zxid,
    ctime: header.time,
    mtime: header.time,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner,
    pzxid: header.zxid,
  };
  addChange(ctx, null, header.zxid, path, stat, 0, acl, data);
  return txn;
}

/** A sequential suffix: Java's String.format("%010d", cversion). */
export function formatSequence(cversion: number): string {
  return cversion < 0 ? `-${String(-cversion).padStart(9, "0")}` : String(cversion).padStart(10, "0");
}

function prepDelete(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  path: string,
  version: number,
): Txn {
  ctx.checkSession(request.sessionId);
  const parentPath = parentOfDeletable(path);
  const parent = recordFor(ctx, parentPath);
  checkACL(parent.acl, Perms.DELETE, request.authInfo, ctx.skipACL);
  const node = recordFor(ctx, path);
  checkAndIncrementVersion(node.stat!.version, version, path);
  if (node.childCount > 0) throw new KeeperError(ErrorCode.NOTEMPTY, path);
  withParentChange(ctx, parent, header.zxid, -1);
  addChange(ctx, node, header.zxid, path, null, -1, [], null);
  return { type: OpCode.delete, txn: { path } };
}

function prepDeleteContainer(ctx: PrepContext, header: TxnHeader, path: string): Txn {
  const parentPath = parentOfDeletable(path);
  const node = recordFor(ctx, path);
  if (node.childCount > 0) throw new KeeperError(ErrorCode.NOTEMPTY, path);
  if (isSessionEphemeral(node.stat!.ephemeralOwner, ctx.extendedTypesEnabled)) {
    throw new KeeperError(ErrorCode.BADVERSION, path);
  }
  const parent = recordFor(ctx, parentPath);
  withParentChange(ctx, parent, header.zxid, -1);
  addChange(ctx, node, header.zxid, path, null, -1, [], null);
  return { type: OpCode.deleteContainer, txn: { path } };
}

function prepSetData(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  fields: { path: string; data: Buffer | null; version: number },
): Txn {
  const { path, data } = fields;
  ctx.checkSession(request.sessionId);
  checkPath(path);
  const node = recordFor(ctx, path);
  checkACL(node.acl, Perms.WRITE, request.authInfo, ctx.skipACL);
  const version = checkAndIncrementVersion(node.stat!.version, fields.version, path);
  const stat = copyStat(node.stat!);
  stat.version = version;
  stat.mtime = header.time;
  stat.mzxid = header.zxid;
  addChange(ctx, node, header.zxid, node.path, stat, node.childCount, node.acl, data);
  return { type: OpCode.setData, txn: { path, data, version } };
}

function prepSetACL(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  fields: { path: string; acl: ACL[]; version: number },
): Txn {
  const { path } = fields;
  ctx.checkSession(request.sessionId);
  checkPath(path);
  const acl = fixupACL(fields.acl, request.authInfo);
  const node = recordFor(ctx, path);
  checkACL(node.acl, Perms.ADMIN, request.authInfo, ctx.skipACL);
  const version = checkAndIncrementVersion(node.stat!.aversion, fields.version, path);
  const stat = copyStat(node.stat!);
  stat.aversion = version;
  addChange(ctx, node, header.zxid, node.path, stat, node.childCount, acl, node.data);
  return { type: OpCode.setACL, txn: { path, acl, version } };
}

function prepCheck(ctx: PrepContext, request: WriteRequest, path: string, version: number): Txn {
  ctx.checkSession(request.sessionId);
  checkPath(path);
  const node = recordFor(ctx, path);
  checkACL(node.acl, Perms.READ, request.authInfo, ctx.skipACL);
  return {
    type: OpCode.check,
    txn: { path, version: checkAndIncrementVersion(node.stat!.version, version, path) },
  };
}

/** The closeSession txn: every ephemeral the session will own once pending txns apply. */
function prepCloseSession(ctx: PrepContext, request: WriteRequest, header: TxnHeader): Txn {
  const ephemerals = ctx.tree.getEphemerals(request.sessionId);
  ctx.changes.adjustEphemerals(request.sessionId, ephemerals);
  for (const path of ephemerals) {
    const lastSlash = path.lastIndexOf("/");
    const parentPath = normalize(path.slice(0, lastSlash));
    try {
      const parent = recordFor(ctx, parentPath);
      withParentChange(ctx, parent, header.zxid, -1);
    } catch {
      // The parent is going too; ZooKeeper's digest path tolerates this the same way.
    }
    let previous: ChangeRecord | null = null;
    try {
      previous = recordFor(ctx, path);
    } catch {
      // Already going: nothing of it left in the digest.
    }
    addChange(ctx, previous, header.zxid, path, null, 0, [], null);
  }
  return { type: OpCode.closeSession, txn: { paths2Delete: [...ephemerals] } };
}

function prepOne(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  type: number,
  reader: JuteReader,
): Txn {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return prepCreate(ctx, request, header, type, CreateRequest.read(reader), -1n);
    case OpCode.createTTL: {
      const create = CreateTTLRequest.read(reader);
      return prepCreate(ctx, request, header, type, create, create.ttl);
    }
    case OpCode.delete: {
      const { path, version } = DeleteRequest.read(reader);
      return prepDelete(ctx, request, header, path, version);
    }
    case OpCode.deleteContainer:
      return prepDeleteContainer(ctx, header, reader.rest().toString("utf8"));
    case OpCode.setData:
      return prepSetData(ctx, request, header, SetDataRequest.read(reader));
    case OpCode.setACL:
      return prepSetACL(ctx, request, header, SetACLRequest.read(reader));
    case OpCode.check: {
      const { path, version } = CheckVersionRequest.read(reader);
      return prepCheck(ctx, request, path, version);
    }
    case OpCode.reconfig:
      throw new KeeperError(ErrorCode.RECONFIGDISABLED);
    case OpCode.closeSession:
      return prepCloseSession(ctx, request, header);
    default:
      throw new JuteDecodeError(`not a write: ${type}`);
  }
}

function multiOpToTxn(ctx: PrepContext, request: WriteRequest, header: TxnHeader, op: MultiOp): Txn {
  switch (op.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer: {
      // ZooKeeper 3.8.0 rebuilds these ops from their flags (Op.create): a container flag
      // makes a createContainer, anything else a plain create; a TTL flag cannot be prepped.
      const flags = op.request.flags;
      if (flags === CreateMode.PERSISTENT_WITH_TTL || flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL) {
        throw new JuteDecodeError("TTL mode in a create op without a TTL");
      }
      const type = flags === CreateMode.CONTAINER ? OpCode.createContainer : OpCode.create;
      return prepCreate(ctx, request, header, type, op.request, -1n);
    }
    case OpCode.createTTL:
      return prepCreate(ctx, request, header, op.type, op.request, op.request.ttl);
    case OpCode.delete:
      return prepDelete(ctx, request, header, op.request.path, op.request.version);
    case OpCode.setData:
      return prepSetData(ctx, request, header, op.request);
    case OpCode.check:
      return prepCheck(ctx, request, op.request.path, op.request.version);
    default:
      // A read op inside a write multi: ZooKeeper fails to serialize it.
      throw new JuteDecodeError(`read op ${op.type} in multi`);
  }
}

/** The paths a multi's ops may change (each op's path and its parent), each once. */
function opPaths(ops: MultiOp[]): string[] {
  const paths: string[] = [];
  let previous: string | null = null;
  for (const op of ops) {
    const path = normalize(op.request.path);
    // Ops on one path in a row (a common multi) need its paths once.
    if (path === previous) continue;
    previous = path;
    paths.push(path);
    const lastSlash = path.lastIndexOf("/");
    paths.push(lastSlash > 0 ? path.slice(0, lastSlash) : "/");
  }
  return paths;
}

/**
 * Ends a multi's prep: each path it changed gets the digest of its last record, computed once,
 * and the multi's last record the tree digest the multi leaves.
 */
function settleMultiDigests(ctx: PrepContext, treeDigestBefore: bigint, multi: Map<string, number>): void {
  let delta = 0;
  for (const [path, before] of multi) {
    const record = ctx.changes.latest(path)!;
    const after = record.stat === null ? 0 : predictNodeDigest(path, record.data, record.stat);
    record.nodeDigest = after;
    // Each term is under 2^32 and a multi has at most multiOpsMax ops: exact in a double.
    delta += after - before;
  }
  const last = ctx.changes.last();
  if (last !== undefined && multi.size > 0) last.treeDigest = addDigest(treeDigestBefore, delta);
}

function prepMulti(ctx: PrepContext, request: WriteRequest, header: TxnHeader, ops: MultiOp[]): PreparedTxn {
  const saved = ctx.changes.remember(opPaths(ops));
  const txns: Txn[] = [];
  const treeDigestBefore = currentTreeDigest(ctx);
  const digestsBefore = new Map<string, number>();
  ctx.changes.multiDigestsBefore = digestsBefore;
  try {
    prepMultiOps(ctx, request, header, ops, txns, saved);
  } catch (error) {
    // An op that cannot be decoded (a read op, say) fails the whole request after the ops
    // before it made records: they go, or later writes would see them (and their unsettled digests).
    ctx.changes.rollback(header.zxid, saved);
    throw error;
  } finally {
    ctx.changes.multiDigestsBefore = null;
  }
  // A multi that failed has rolled its records back.
  if (txns.every((txn) => txn.type !== OpCode.error))
    settleMultiDigests(ctx, treeDigestBefore, digestsBefore);
  return { header, txn: { type: OpCode.multi, txns }, digest: treeDigestOf(ctx), error: 0 };
}

function prepMultiOps(
  ctx: PrepContext,
  request: WriteRequest,
  header: TxnHeader,
  ops: MultiOp[],
  txns: Txn[],
  saved: Map<string, ChangeRecord | undefined>,
): void {
  let failure: number | null = null;
  for (const op of ops) {
    if (failure !== null) {
      txns.push({ type: OpCode.error, txn: { err: ErrorCode.RUNTIMEINCONSISTENCY } });
      continue;
    }
    try {
      txns.push(multiOpToTxn(ctx, request, header, op));
    } catch (error) {
      if (!(error instanceof KeeperError)) throw error;
      failure = error.code;
      txns.push({ type: OpCode.error, txn: { err: error.code } });
      ctx.changes.rollback(header.zxid, saved);
    }
  }
}

/** The TxnDigest a successful txn is logged with. */
export function treeDigestOf(ctx: DigestContext): TxnDigest {
  return { version: digestVersion, treeDigest: currentTreeDigest(ctx) };
}

/**
 * Preps one write at `zxid`. Never throws for a client's mistake: failures come back
 * as an ErrorTxn with `error` set, as ZooKeeper logs them.
 */
export function prepWrite(
  ctx: PrepContext,
  request: WriteRequest,
  zxid: bigint,
  timeMs: number,
): PreparedTxn {
  const header: TxnHeader = {
    clientId: request.sessionId,
    cxid: request.cxid,
    zxid,
    time: BigInt(timeMs),
    type: request.type,
  };
  try {
    // A request's frame is never written to again: its large values are kept as views.
    const reader = JuteReader.sharingLargeValues(request.body);
    if (request.type === OpCode.multi) return prepMulti(ctx, request, header, readMultiRequest(reader));
    const txn = prepOne(ctx, request, header, request.type, reader);
    return { header, txn, digest: treeDigestOf(ctx), error: 0 };
  } catch (error) {
    const code = error instanceof KeeperError ? error.code : ErrorCode.MARSHALLINGERROR;
    if (!(error instanceof KeeperError) && !(error instanceof JuteDecodeError)) throw error;
    header.type = OpCode.error;
    return { header, txn: { type: OpCode.error, txn: { err: code } }, digest: null, error: code };
  }
}
