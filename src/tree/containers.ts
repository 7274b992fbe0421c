/**
 * ContainerManager.getCandidates: containers that had children and are now empty,
 * never-used containers older than `neverUsedMsMax` (0 = never), and TTL nodes with
 * no children whose mtime is older than their TTL. The server deletes them with
 * deleteContainer requests.
 */
import type { DataTree } from "./data-tree.js";
import { ttlOf } from "./ephemeral-type.js";

export function containerDeletionCandidates(tree: DataTree, nowMs: number, neverUsedMsMax = 0): string[] {
  const now = BigInt(nowMs);
  const candidates: string[] = [];
  for (const path of tree.containers()) {
    const node = tree.getNode(path);
    if (node === undefined || node.children.size > 0) continue;
    if (node.stat.cversion > 0) candidates.push(path);
    else if (neverUsedMsMax !== 0 && now - node.stat.mtime > BigInt(neverUsedMsMax)) candidates.push(path);
  }
  for (const path of tree.ttls()) {
    const node = tree.getNode(path);
    if (node === undefined || node.children.size > 0) continue;
    if (tree.kindOf(node.stat.ephemeralOwner) !== "ttl") continue;
    const ttl = ttlOf(node.stat.ephemeralOwner);
    if (ttl !== 0n && now - node.stat.mtime > ttl) candidates.push(path);
  }
  return candidates;
}
