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

const statBytes = Buffer.alloc(60);
const statView = new DataView(statBytes.buffer, statBytes.byteOffset, statBytes.byteLength);

/** DigestCalculator.calculateDigest: the node's hash (0 for nodes that are not digested). */
export function nodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  statView.setBigInt64(0, stat.czxid);
  statView.setBigInt64(8, stat.mzxid);
  statView.setBigInt64(16, stat.pzxid);
  statView.setBigInt64(24, stat.ctime);
  statView.setBigInt64(32, stat.mtime);
  statView.setInt32(40, stat.version);
  statView.setInt32(44, stat.cversion);
  statView.setInt32(48, stat.aversion);
  statView.setBigInt64(52, stat.ephemeralOwner);
  // zlib.crc32 hashes a string as its UTF-8 bytes, as Java's path.getBytes() on Linux.
  let crc = crc32(path === "/" ? "" : path);
  if (data !== null && data.length > 0) crc = crc32(data, crc);
  return crc32(statBytes, crc);
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
