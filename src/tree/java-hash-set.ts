/**
 * A set of strings that iterates in the order Java's HashSet<String> does (bucket
 * by String.hashCode spread over the table, insertion order within a bucket, the
 * table doubling past a 0.75 load). ZooKeeper keeps a znode's children and a
 * session's ephemerals in HashSets, so clients see that order in getChildren,
 * getEphemerals and the deletions of a closing session.
 */

const loadFactor = 0.75;

/** Java's String.hashCode. */
export function javaStringHash(value: string): number {
  let hash = 0;
  for (let i = 0; i < value.length; i++) hash = (Math.imul(hash, 31) + value.charCodeAt(i)) | 0;
  return hash;
}

/** HashMap.tableSizeFor: the next power of two at or above `capacity`. */
function tableSizeFor(capacity: number): number {
  let size = 1;
  while (size < capacity) size *= 2;
  return size;
}

export class JavaHashSet implements Iterable<string> {
  private capacity: number;
  /**
   * Each value's spread hash, cut to 30 bits (always a small integer in V8, and a table has
   * at most 2^30 buckets). A Map keeps insertion order, which is the order within a bucket.
   */
  private readonly entries = new Map<string, number>();
  private ordered: string[] | null = null;

  /** @param initialCapacity as in `new HashSet<>(initialCapacity)`; Java's default is 16. */
  constructor(initialCapacity = 16) {
    this.capacity = tableSizeFor(Math.max(1, initialCapacity));
  }

  get size(): number {
    return this.entries.size;
  }

  has(value: string): boolean {
    return this.entries.has(value);
  }

  add(value: string): this {
    if (this.entries.has(value)) return this;
    const hash = javaStringHash(value);
    this.entries.set(value, (hash ^ (hash >>> 16)) & 0x3fff_ffff);
    if (this.entries.size > this.capacity * loadFactor) this.capacity *= 2;
    this.ordered = null;
    return this;
  }

  delete(value: string): boolean {
    const deleted = this.entries.delete(value);
    if (deleted) this.ordered = null;
    return deleted;
  }

  [Symbol.iterator](): Iterator<string> {
    if (this.ordered === null) {
      const mask = this.capacity - 1;
      // A stable sort by bucket keeps insertion order within each bucket, as Java's chains do.
      this.ordered = [...this.entries.entries()]
        .sort(([, a], [, b]) => (a & mask) - (b & mask))
        .map(([value]) => value);
    }
    return this.ordered[Symbol.iterator]();
  }

  /** HashSet.clone: a table sized for the current size, filled in iteration order. */
  clone(): JavaHashSet {
    const copy = new JavaHashSet(this.size === 0 ? 16 : Math.floor(this.size / loadFactor + 1));
    for (const value of this) copy.add(value);
    return copy;
  }
}

/**
 * The children of a node that never had any: one shared, empty set (ZooKeeper's DataNode
 * also allocates its HashSet only on the first addChild). Adding to it is a bug.
 */
class NoChildren extends JavaHashSet {
  override add(value: string): this {
    throw new Error(`adding ${value} to the shared empty child set`);
  }
}

export const noChildren: JavaHashSet = new NoChildren(8);
