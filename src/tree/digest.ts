/**
 * The data digest of ZooKeeper 3.6+ (ZOOKEEPER-3114, DigestCalculator version 2):
 * each znode hashes to the CRC32 of its path, its data and 60 bytes of its stat;
 * the tree digest is the sum of its znodes' hashes (AdHash), kept incrementally.
 * Nodes under /zookeeper/ are left out, and "/" is hashed as "" (the root's alias).
 * Pure.
 */
import { crc32 } from "node:zlib";
import type { StatPersisted } from "../jute/records.js";

/** DigestCalculator.DIGEST_VERSION in ZooKeeper 3.8. */
export const digestVersion = 2;

/** ZooDefs.ZOOKEEPER_NODE_SUBTREE: these nodes are not digested. */
const undigestedPrefix = "/zookeeper/";

/** Whether the node at `path` counts in the tree digest. */
export function isDigested(path: string): boolean {
  return !path.startsWith(undigestedPrefix);
}

/**
 * The CRC32 of recent paths: a znode's path is hashed every time it changes, twice per
 * write (prep predicts the digest, apply computes it), and the string conversion is a
 * third of the cost. Cleared whole when full.
 */
const pathCrcs = new Map<string, number>();
const pathCrcsMax = 65_536;

function pathCrc(path: string): number {
  let crc = pathCrcs.get(path);
  if (crc === undefined) {
    if (pathCrcs.size >= pathCrcsMax) pathCrcs.clear();
    // zlib.crc32 hashes a string as its UTF-8 bytes, as Java's path.getBytes() on Linux.
    crc = crc32(path === "/" ? "" : path);
    pathCrcs.set(path, crc);
  }
  return crc;
}

/**
 * Digests computed lately, by path. A write's node digests are computed twice with the
 * same inputs: prep predicts them (the data and the stat the txn will leave), apply
 * computes them (the same data buffer, now the node's). The second call finds the
 * first's answer here when data buffer and stat match too, and takes it out. A path
 * holds a list, oldest first: a parent under many pipelined creates has one prediction
 * per create, recalled in the same order. Cleared whole when it holds too many entries
 * or data bytes (it keeps the buffers alive until then).
 */
interface RememberedDigest {
  data: Buffer | null;
  /** The stat the prediction was made with (kept, not copied: a change record's stat never changes). */
  stat: StatPersisted;
  digest: number;
}
const remembered = new Map<string, RememberedDigest[]>();
const rememberedMax = 16_384;
/** Predictions kept per path: a longer list drops its oldest (one never applied, say). */
const rememberedPerPathMax = 1024;
const rememberedDataBytesMax = 8 * 1024 * 1024;
let rememberedCount = 0;
let rememberedDataBytes = 0;

function matches(entry: RememberedDigest, data: Buffer | null, stat: StatPersisted): boolean {
  const known = entry.stat;
  return (
    entry.data === data &&
    known.mzxid === stat.mzxid &&
    known.pzxid === stat.pzxid &&
    known.version === stat.version &&
    known.cversion === stat.cversion &&
    known.mtime === stat.mtime &&
    known.czxid === stat.czxid &&
    known.ctime === stat.ctime &&
    known.aversion === stat.aversion &&
    known.ephemeralOwner === stat.ephemeralOwner
  );
}

/** Forgets the entries of `list` up to and including `index`. */
function forget(path: string, list: RememberedDigest[], index: number): void {
  const dropped = list.splice(0, index + 1);
  if (list.length === 0) remembered.delete(path);
  rememberedCount -= dropped.length;
  for (const entry of dropped) rememberedDataBytes -= entry.data?.length ?? 0;
}

/** How often `nodeDigest` found a prediction (for tests and profiling). */
export const digestMemoStats = { recalled: 0, computed: 0 };

function recall(path: string, data: Buffer | null, stat: StatPersisted): number {
  const list = remembered.get(path);
  if (list !== undefined) {
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (matches(entry, data, stat)) {
        // Predictions are applied in the order they were made: older ones left before this
        // one were never applied (a multi rolled back, say) and would only be scanned past.
        forget(path, list, i);
        digestMemoStats.recalled++;
        return entry.digest;
      }
    }
  }
  digestMemoStats.computed++;
  return -1;
}

function remember(path: string, data: Buffer | null, stat: StatPersisted, digest: number): void {
  const dataBytes = data?.length ?? 0;
  if (rememberedCount >= rememberedMax || rememberedDataBytes + dataBytes > rememberedDataBytesMax) {
    remembered.clear();
    rememberedCount = 0;
    rememberedDataBytes = 0;
  }
  let list = remembered.get(path);
  if (list === undefined) remembered.set(path, (list = []));
  else if (list.length >= rememberedPerPathMax) forget(path, list, 0);
  list.push({ data, stat, digest });
  rememberedCount++;
  rememberedDataBytes += dataBytes;
}

/** Data and stat go through zlib in one call when they fit here (a call costs ~100 ns). */
const scratch = Buffer.allocUnsafe(64 * 1024);
const scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
const statBytes = 60;

/** Writes the 60 stat bytes DigestCalculator hashes at `offset` of the scratch buffer. */
function writeStat(offset: number, stat: StatPersisted): void {
  scratchView.setBigInt64(offset, stat.czxid);
  scratchView.setBigInt64(offset + 8, stat.mzxid);
  scratchView.setBigInt64(offset + 16, stat.pzxid);
  scratchView.setBigInt64(offset + 24, stat.ctime);
  scratchView.setBigInt64(offset + 32, stat.mtime);
  scratchView.setInt32(offset + 40, stat.version);
  scratchView.setInt32(offset + 44, stat.cversion);
  scratchView.setInt32(offset + 48, stat.aversion);
  scratchView.setBigInt64(offset + 52, stat.ephemeralOwner);
}

/** Views of the scratch buffer's first N bytes, by N, made once (a view per digest was garbage). */
const scratchPrefixesMax = 4096 + statBytes;
const scratchPrefixes: (Buffer | undefined)[] = new Array(scratchPrefixesMax + 1);

function scratchPrefix(bytes: number): Buffer {
  if (bytes > scratchPrefixesMax) return scratch.subarray(0, bytes);
  let view = scratchPrefixes[bytes];
  if (view === undefined) scratchPrefixes[bytes] = view = scratch.subarray(0, bytes);
  return view;
}

function computeDigest(crc: number, data: Buffer | null, stat: StatPersisted): number {
  const dataBytes = data === null ? 0 : data.length;
  if (dataBytes + statBytes <= scratch.length) {
    if (dataBytes > 0) data!.copy(scratch, 0);
    writeStat(dataBytes, stat);
    return crc32(scratchPrefix(dataBytes + statBytes), crc);
  }
  const dataCrc = crc32(data!, crc);
  writeStat(0, stat);
  return crc32(scratchPrefix(statBytes), dataCrc);
}

/**
 * DigestCalculator.calculateDigest: the node's hash (0 for nodes that are not digested);
 * a digest `predictNodeDigest` computed for these inputs is used, not recomputed.
 */
export function nodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  const known = recall(path, data, stat);
  if (known !== -1) return known;
  return computeDigest(pathCrc(path), data, stat);
}

/**
 * `nodeDigest` for a node seen once, as a snapshot's nodes are while it loads: neither
 * memory is read or filled (a million paths would only churn them).
 */
export function loadedNodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  return computeDigest(crc32(path === "/" ? "" : path), data, stat);
}

/**
 * `nodeDigest` for a change not applied yet: remembered for when it is. `stat` is kept as
 * it is, so it must not change afterwards (prep's change records never do).
 */
export function predictNodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  const digest = computeDigest(pathCrc(path), data, stat);
  remember(path, data, stat, digest);
  return digest;
}

/** Java long arithmetic for the running sum. */
export function addDigest(total: bigint, delta: number | bigint): bigint {
  return BigInt.asIntN(64, total + BigInt(delta));
}

/** A tree digest at a zxid (DataTree.ZxidDigest). */
export interface ZxidDigest {
  zxid: bigint;
  digestVersion: number;
  digest: bigint;
}
