/**
 * The bytes of Apache ZooKeeper 3.8's snapshot files (FileSnap, SerializeUtils,
 * DataTree.serialize, SnapStream): a FileHeader {magic "ZKSN", version 2, dbid -1},
 * the sessions with their timeouts, the ACL cache, every znode depth first from the
 * root ("" then "/a", "/a/b", ...), a "/" terminator, then a seal (the Adler32 of
 * everything before it and "/"), the tree digest at the end of the walk and a second
 * seal. Files named `snapshot.<zxid hex>`, `.gz` when gzip-compressed (the checksum
 * is over the uncompressed bytes).
 *
 * Writing is fuzzy, as in ZooKeeper: the walk yields between chunks so writes go on,
 * and replaying the log from the snapshot's zxid repairs what moved meanwhile.
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
import { type ACL, ACL as AclRecord, FileHeader, StatPersisted } from "../jute/records.js";
import type { ZxidDigest } from "../tree/digest.js";
import { adler32 } from "./adler32.js";
import { CorruptionError } from "./txn-log-format.js";

/** "ZKSN" as a big-endian int. */
export const snapshotMagic = 0x5a4b534e;
export const snapshotVersion = 2;
/** FileSnap's dbId. */
const snapshotDbid = -1n;
/** Bytes gathered before a chunk is handed to the file (and the event loop gets a turn). */
export const snapshotChunkBytes = 1 << 20;

/** What is stored beside a snapshot's name: its zxid and compression. */
export interface SnapshotName {
  zxid: bigint;
  compression: "none" | "gz" | "snappy";
}

/** `snapshot.<hex>[.gz|.snappy]`, else null (Util.getZxidFromName and SnapStream's mode). */
export function parseSnapshotName(name: string): SnapshotName | null {
  const parts = name.split(".");
  if (parts.length < 2 || parts[0] !== "snapshot" || !/^[0-9a-fA-F]+$/.test(parts[1]!)) return null;
  const zxid = BigInt(`0x${parts[1]}`);
  const extension = parts.length > 2 ? parts[parts.length - 1]!.toLowerCase() : "";
  const compression = extension === "gz" ? "gz" : extension === "snappy" ? "snappy" : "none";
  return { zxid, compression };
}

export function snapshotFileName(zxid: bigint, compression: "none" | "gz"): string {
  return `snapshot.${zxid.toString(16)}${compression === "gz" ? ".gz" : ""}`;
}

/** A node as a snapshot holds it. */
export interface SnapshotNode {
  path: string;
  data: Buffer | null;
  aclIndex: bigint;
  stat: StatPersisted;
}

/** What the walk reads from the live tree. */
export interface SnapshotSource {
  /** Committed sessions and their timeouts, taken when the snapshot starts. */
  sessions: readonly (readonly [bigint, number])[];
  /** The ACL cache when the snapshot starts. */
  acls: readonly (readonly [bigint, ACL[]])[];
  /** The snapshot's zxid: the last txn applied when it started. */
  zxid: bigint;
  getNode(
    path: string,
  ): { data: Buffer | null; aclIndex: bigint; stat: StatPersisted; children: Iterable<string> } | undefined;
  /** The tree digest once the walk ends (DataTree.lastProcessedZxidDigest), null if none yet. */
  digestAtEnd(): ZxidDigest | null;
}

/**
 * The snapshot's bytes, in chunks, walking the live tree as it changes. Nodes created
 * after the snapshot's zxid are left out (their creates are replayed from the log),
 * and a node whose ACL was replaced after it is written with the open ACL, which the
 * replayed setACL corrects: so every ACL index written is in the ACL map written,
 * which ZooKeeper's loader requires.
 */
export async function* snapshotChunks(
  source: SnapshotSource,
  chunkBytes = snapshotChunkBytes,
): AsyncGenerator<Buffer> {
  let running = 1;
  const out = { writer: new JuteWriter(Math.min(chunkBytes * 2, 1 << 22)) };
  const take = (): Buffer => {
    const bytes = Buffer.from(out.writer.toBuffer());
    running = adler32(bytes, running);
    out.writer = new JuteWriter(Math.min(chunkBytes * 2, 1 << 22));
    return bytes;
  };
  FileHeader.write(out.writer, { magic: snapshotMagic, version: snapshotVersion, dbid: snapshotDbid });
  for (const _ of snapshotBody(out, source, chunkBytes)) {
    yield take();
    await yieldToEventLoop();
  }
  yield take();
  out.writer.long(BigInt(running)).string("/");
  const digest = source.digestAtEnd() ?? { zxid: 0n, digestVersion: 2, digest: 0n };
  out.writer.long(digest.zxid).int(digest.digestVersion).long(digest.digest);
  yield take();
  out.writer.long(BigInt(running)).string("/");
  yield take();
}

/**
 * SerializeUtils.serializeSnapshot: sessions, the ACL map, nodes depth first, then "/",
 * written into `out.writer`; yields whenever `chunkBytes` are buffered so the caller can
 * take them (and swap in a fresh writer).
 */
function* snapshotBody(
  out: { writer: JuteWriter },
  source: SnapshotSource,
  chunkBytes: number,
): Generator<void> {
  out.writer.int(source.sessions.length);
  for (const [id, timeout] of source.sessions) out.writer.long(id).int(timeout);
  const aclIndexes = new Set<bigint>([-1n]);
  out.writer.int(source.acls.length);
  for (const [index, acl] of source.acls) {
    aclIndexes.add(index);
    out.writer.long(index).int(acl.length);
    for (const entry of acl) AclRecord.write(out.writer, entry);
  }
  const stack: string[] = [""];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const node = source.getNode(path === "" ? "/" : path);
    // Deleted since its parent was written, or created after the snapshot's zxid: the log has it.
    if (node === undefined || node.stat.czxid > source.zxid) continue;
    const writer = out.writer;
    writer.string(path);
    writer.buffer_(node.data);
    writer.long(aclIndexes.has(node.aclIndex) ? node.aclIndex : -1n);
    StatPersisted.write(writer, node.stat);
    const children = [...node.children];
    for (let i = children.length - 1; i >= 0; i--) stack.push(`${path}/${children[i]}`);
    if (writer.byteLength >= chunkBytes) yield;
  }
  out.writer.string("/");
}

/**
 * The snapshot body a leader sends after SNAP (LearnerHandler: ZKDatabase.serializeSnapshot),
 * written at once so it is exactly the state at `source.zxid`. Chunks, in order.
 */
export function snapshotBodyChunks(source: SnapshotSource, chunkBytes = snapshotChunkBytes): Buffer[] {
  const out = { writer: new JuteWriter(Math.min(chunkBytes * 2, 1 << 22)) };
  const chunks: Buffer[] = [];
  for (const _ of snapshotBody(out, source, chunkBytes)) {
    chunks.push(Buffer.from(out.writer.toBuffer()));
    out.writer = new JuteWriter(Math.min(chunkBytes * 2, 1 << 22));
  }
  chunks.push(Buffer.from(out.writer.toBuffer()));
  return chunks;
}

/** What reading a snapshot reports, node by node. */
export interface SnapshotVisitor {
  sessions?(sessions: [bigint, number][]): void;
  acls?(acls: [bigint, ACL[]][]): void;
  node(node: SnapshotNode): void;
}

/** The parts of a snapshot besides its nodes. */
export interface SnapshotSummary {
  dbid: bigint;
  sessions: [bigint, number][];
  acls: [bigint, ACL[]][];
  nodeCount: number;
  /** The digest after the second seal; null in snapshots written before ZooKeeper 3.6. */
  digest: ZxidDigest | null;
}

/**
 * Reads an uncompressed snapshot, handing each node to `visitor`. Throws CorruptionError
 * (with the byte offset) when the structure or a seal's checksum is wrong.
 */
export function readSnapshot(bytes: Buffer, visitor: SnapshotVisitor): SnapshotSummary {
  const reader = new JuteReader(bytes);
  try {
    const header = FileHeader.read(reader);
    if (header.magic !== snapshotMagic)
      throw new CorruptionError(`bad snapshot magic 0x${(header.magic >>> 0).toString(16)}`, 0);
    if (header.version !== snapshotVersion)
      throw new CorruptionError(`unsupported snapshot version ${header.version}`, 0);
    const { sessions, acls, nodeCount } = readSnapshotBody(reader, visitor, false);
    checkSeal(bytes, reader);
    let digest: ZxidDigest | null = null;
    if (reader.remaining > 0) {
      digest = { zxid: reader.long(), digestVersion: reader.int(), digest: reader.long() };
      checkSeal(bytes, reader);
    }
    return { dbid: header.dbid, sessions, acls, nodeCount, digest };
  } catch (error) {
    if (error instanceof JuteDecodeError)
      throw new CorruptionError(`truncated snapshot: ${error.message}`, reader.position);
    throw error;
  }
}

/**
 * The part of a snapshot between its file header and its seal (SerializeUtils'
 * serializeSnapshot: sessions, ACL cache, nodes, "/"), which is also what a leader sends
 * after a SNAP packet. With `streaming`, counts are not checked against the bytes at hand
 * (more may be on the way): a short read throws JuteDecodeError.
 */
export function readSnapshotBody(
  reader: JuteReader,
  visitor: SnapshotVisitor,
  streaming: boolean,
): { sessions: [bigint, number][]; acls: [bigint, ACL[]][]; nodeCount: number } {
  const sessionCount = reader.int();
  if (sessionCount < 0 || (!streaming && sessionCount * 12 > reader.remaining))
    throw new CorruptionError(`session count ${sessionCount} out of range`, reader.position - 4);
  const sessions: [bigint, number][] = [];
  for (let i = 0; i < sessionCount; i++) sessions.push([reader.long(), reader.int()]);
  visitor.sessions?.(sessions);
  const aclCount = reader.int();
  if (aclCount < 0 || (!streaming && aclCount * 12 > reader.remaining))
    throw new CorruptionError(`ACL map size ${aclCount} out of range`, reader.position - 4);
  const acls: [bigint, ACL[]][] = [];
  for (let i = 0; i < aclCount; i++) {
    const index = reader.long();
    const length = reader.int();
    if (length < 0 || (!streaming && length * 12 > reader.remaining))
      throw new CorruptionError(`ACL list length ${length} out of range`, reader.position - 4);
    const acl: ACL[] = [];
    for (let j = 0; j < length; j++) acl.push(AclRecord.read(reader));
    acls.push([index, acl]);
  }
  visitor.acls?.(acls);
  let nodeCount = 0;
  for (;;) {
    const at = reader.position;
    const path = reader.string();
    if (path === null) throw new CorruptionError("null path", at);
    if (path === "/") break;
    const data = reader.buffer_();
    const aclIndex = reader.long();
    const stat = readStatPersisted(reader);
    visitor.node({ path, data, aclIndex, stat });
    nodeCount++;
  }
  return { sessions, acls, nodeCount };
}

/**
 * StatPersisted as one object literal in the record's field order: the generic record
 * reader adds fields one by one, which leaves most of them out of the object (more bytes
 * per znode of a loaded tree, and a shape the tree's own stats do not have).
 */
function readStatPersisted(reader: JuteReader): StatPersisted {
  return {
    czxid: reader.long(),
    mzxid: reader.long(),
    ctime: reader.long(),
    mtime: reader.long(),
    version: reader.int(),
    cversion: reader.int(),
    aversion: reader.int(),
    ephemeralOwner: reader.long(),
    pzxid: reader.long(),
  };
}

/** SnapStream.checkSealIntegrity: the Adler32 of every byte before the seal, then "/". */
function checkSeal(bytes: Buffer, reader: JuteReader): void {
  const at = reader.position;
  const expected = adler32(bytes.subarray(0, at));
  const stored = reader.long();
  const slash = reader.string();
  if (stored !== BigInt(expected) || slash !== "/")
    throw new CorruptionError("snapshot checksum mismatch", at);
}

/** SnapStream.isValidCheckedStream: an uncompressed snapshot must end in a sealed "/". */
export function endsLikeSnapshot(tail: Buffer): boolean {
  return tail.length >= 5 && tail.readInt32BE(tail.length - 5) === 1 && tail[tail.length - 1] === 0x2f;
}
