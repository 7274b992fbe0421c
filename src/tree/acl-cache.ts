/**
 * ZooKeeper's ReferenceCountedACLCache: each distinct ACL list gets a long index
 * (stored per node and in snapshots); -1 is world:anyone with all permissions.
 */
import type { ACL } from "../jute/records.js";

/** The index ZooKeeper reserves for OPEN_ACL_UNSAFE. */
export const openUnsafeAclIndex = -1n;
export const openUnsafeAcl: readonly ACL[] = Object.freeze([
  { perms: 31, id: { scheme: "world", id: "anyone" } },
]);

function keyOf(acl: readonly ACL[]): string {
  // The common one-entry list without the intermediate array (the same key as below).
  if (acl.length === 1) {
    const { perms, id } = acl[0]!;
    return `${perms}\u0000${id.scheme}\u0000${id.id}`;
  }
  return acl.map((entry) => `${entry.perms}\u0000${entry.id.scheme}\u0000${entry.id.id}`).join("\u0001");
}

export class AclCache {
  private readonly byIndex = new Map<bigint, ACL[]>();
  private readonly byKey = new Map<string, bigint>();
  private readonly references = new Map<bigint, number>();
  /** Each index's one BigInt, which nodes share (BigInts are heap objects). */
  private readonly canonical = new Map<bigint, bigint>();
  private highestIndex = 0n;

  /** The index for `acl`, adding one reference to it. */
  convert(acl: readonly ACL[] | null): bigint {
    if (acl === null) return openUnsafeAclIndex;
    const key = keyOf(acl);
    let index = this.byKey.get(key);
    if (index === undefined) {
      index = ++this.highestIndex;
      this.byIndex.set(
        index,
        acl.map((entry) => ({ perms: entry.perms, id: { ...entry.id } })),
      );
      this.byKey.set(key, index);
      this.canonical.set(index, index);
    }
    this.references.set(index, (this.references.get(index) ?? 0) + 1);
    return index;
  }

  /** The ACL list behind an index (open-unsafe for -1 or an unknown index, as ZooKeeper). */
  lookup(index: bigint): ACL[] {
    if (index === openUnsafeAclIndex) return openUnsafeAcl as ACL[];
    return this.byIndex.get(index) ?? (openUnsafeAcl as ACL[]);
  }

  /** Drops one reference; the entry goes when none is left. */
  removeUsage(index: bigint): void {
    if (index === openUnsafeAclIndex) return;
    const count = this.references.get(index);
    if (count === undefined) return;
    if (count <= 1) {
      this.references.delete(index);
      const acl = this.byIndex.get(index);
      if (acl !== undefined) this.byKey.delete(keyOf(acl));
      this.byIndex.delete(index);
      this.canonical.delete(index);
    } else {
      this.references.set(index, count - 1);
    }
  }

  /** Replaces the cache with a snapshot's entries, all unreferenced until addUsage. */
  load(entries: Iterable<readonly [bigint, ACL[]]>): void {
    this.byIndex.clear();
    this.byKey.clear();
    this.references.clear();
    this.canonical.clear();
    this.highestIndex = 0n;
    for (const [index, acl] of entries) {
      if (index > this.highestIndex) this.highestIndex = index;
      this.byIndex.set(index, acl);
      this.byKey.set(keyOf(acl), index);
      this.references.set(index, 0);
      this.canonical.set(index, index);
    }
  }

  /**
   * Counts one more node using `index`; returns the cache's own BigInt for it, for the
   * node to keep instead of its own copy (null when the cache has no such entry).
   */
  addUsage(index: bigint): bigint | null {
    if (index === openUnsafeAclIndex) return openUnsafeAclIndex;
    const count = this.references.get(index);
    if (count === undefined) return null;
    this.references.set(index, count + 1);
    return this.canonical.get(index) ?? index;
  }

  /** Drops the entries no node uses (after loading a snapshot). */
  purgeUnused(): void {
    for (const [index, count] of this.references) {
      if (count > 0) continue;
      const acl = this.byIndex.get(index);
      if (acl !== undefined) this.byKey.delete(keyOf(acl));
      this.byIndex.delete(index);
      this.references.delete(index);
      this.canonical.delete(index);
    }
  }

  /** Whether `index` names an entry (or is the open-unsafe index). */
  has(index: bigint): boolean {
    return index === openUnsafeAclIndex || this.byIndex.has(index);
  }

  get size(): number {
    return this.byIndex.size;
  }

  /** Entries in index order, for snapshots. */
  entries(): [bigint, ACL[]][] {
    return [...this.byIndex.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
