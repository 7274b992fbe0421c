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

/** DigestCalculator.calculateDigest: the node's hash (0 for nodes that are not digested). */
export function nodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  const running = pathCrc(path);
  const dataBytes = data === null ? 0 : data.length;
  if (dataBytes + statBytes <= scratch.length) {
    if (dataBytes > 0) data!.copy(scratch, 0);
    writeStat(dataBytes, stat);
    return crc32(scratch.subarray(0, dataBytes + statBytes), running);
  }
  const crc = crc32(data!, running);
  writeStat(0, stat);
  return crc32(scratch.subarray(0, statBytes), crc);
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
