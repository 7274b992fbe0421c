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

/** DigestCalculator.calculateDigest: the node's hash (0 for nodes that are not digested). */
export function nodeDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  if (!isDigested(path)) return 0;
  const name = path === "/" ? "" : path;
  statBytes.writeBigInt64BE(stat.czxid, 0);
  statBytes.writeBigInt64BE(stat.mzxid, 8);
  statBytes.writeBigInt64BE(stat.pzxid, 16);
  statBytes.writeBigInt64BE(stat.ctime, 24);
  statBytes.writeBigInt64BE(stat.mtime, 32);
  statBytes.writeInt32BE(stat.version, 40);
  statBytes.writeInt32BE(stat.cversion, 44);
  statBytes.writeInt32BE(stat.aversion, 48);
  statBytes.writeBigInt64BE(stat.ephemeralOwner, 52);
  let crc = crc32(Buffer.from(name, "utf8"));
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
