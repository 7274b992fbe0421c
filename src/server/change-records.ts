/**
 * Outstanding changes: what prepped-but-not-yet-applied txns will do to each path,
 * so that a write prepped behind another one sees its effect (ZooKeeper's
 * outstandingChanges / ChangeRecord in ZooKeeperServer and PrepRequestProcessor).
 */
import type { ACL, StatPersisted } from "../jute/records.js";

/** What a path will look like once every prepped txn up to `zxid` is applied. */
export interface ChangeRecord {
  zxid: bigint;
  path: string;
  /** null when the path will have been deleted. */
  stat: StatPersisted | null;
  childCount: number;
  acl: ACL[];
  /** The node's data once the txn applies (it feeds the digest). */
  data: Buffer | null;
  /**
   * The node's digest once the txn applies (0 when deleted; -1 while a multi is prepped,
   * and for good on a record a later op of the same multi replaced).
   */
  nodeDigest: number;
  /**
   * The tree digest once the txn applies (PrepRequestProcessor's precalculated digest). In a
   * multi, only its last record has it: the digests are settled once the multi is prepped.
   */
  treeDigest: bigint;
}

/** Copy of a stat record (the original belongs to the tree or an older record). */
export function copyStat(stat: StatPersisted): StatPersisted {
  // Field by field, in the order every stat is built in: one hidden class, no spread.
  return {
    czxid: stat.czxid,
    mzxid: stat.mzxid,
    ctime: stat.ctime,
    mtime: stat.mtime,
    version: stat.version,
    cversion: stat.cversion,
    aversion: stat.aversion,
    ephemeralOwner: stat.ephemeralOwner,
    pzxid: stat.pzxid,
  };
}

/** Applied records left at the front of the queue before it is compacted. */
const appliedRecordsKeptMax = 1024;

export class OutstandingChanges {
  /** Records in zxid order; the slots before `head` are emptied (applied) and wait to be dropped. */
  private queue: (ChangeRecord | undefined)[] = [];
  private head = 0;
  private readonly byPath = new Map<string, ChangeRecord>();
  /**
   * While a multi is prepped: each path it changed, with the node's digest before the multi.
   * Its records' digests are computed when it has been prepped whole, once per path.
   */
  multiDigestsBefore: Map<string, number> | null = null;

  get size(): number {
    return this.queue.length - this.head;
  }

  /** The newest record of all, whose treeDigest is the digest once every prepped txn applies. */
  last(): ChangeRecord | undefined {
    return this.queue.length > this.head ? this.queue[this.queue.length - 1] : undefined;
  }

  latest(path: string): ChangeRecord | undefined {
    return this.byPath.get(path);
  }

  add(record: ChangeRecord): void {
    this.queue.push(record);
    this.byPath.set(record.path, record);
  }

  /** The current records for `paths`, to restore if a multi fails part way. */
  remember(paths: Iterable<string>): Map<string, ChangeRecord | undefined> {
    const saved = new Map<string, ChangeRecord | undefined>();
    for (const path of paths) saved.set(path, this.byPath.get(path));
    return saved;
  }

  /** Drops the records a failed multi at `zxid` added and restores the saved ones. */
  rollback(zxid: bigint, saved: Map<string, ChangeRecord | undefined>): void {
    while (this.queue.length > this.head && this.queue[this.queue.length - 1]!.zxid === zxid) {
      this.byPath.delete(this.queue.pop()!.path);
    }
    // A saved record whose txn has been applied meanwhile is stale: the tree is newer.
    const firstZxid = this.queue.length > this.head ? this.queue[this.head]!.zxid : undefined;
    for (const [path, record] of saved) {
      if (record === undefined || firstZxid === undefined || record.zxid < firstZxid)
        this.byPath.delete(path);
      else this.byPath.set(path, record);
    }
  }

  /** Forgets the records of txns up to `zxid`, which are now in the tree. */
  applied(zxid: bigint): void {
    const queue = this.queue;
    while (this.head < queue.length && queue[this.head]!.zxid <= zxid) {
      const record = queue[this.head]!;
      // Emptied, so that an applied record's data is not kept until the queue is compacted.
      queue[this.head++] = undefined;
      if (this.byPath.get(record.path) === record) this.byPath.delete(record.path);
    }
    // Not one shift per record (each moves the array): the applied ones go in one slice.
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
    } else if (this.head >= appliedRecordsKeptMax) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Applies the pending creates and deletes to a session's ephemeral set, in order
   * (PrepRequestProcessor's closeSession walk over outstandingChanges).
   */
  adjustEphemerals(
    sessionId: bigint,
    ephemerals: { add(path: string): unknown; delete(path: string): unknown },
  ): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const record = this.queue[i]!;
      if (record.stat === null) ephemerals.delete(record.path);
      else if (record.stat.ephemeralOwner === sessionId) ephemerals.add(record.path);
    }
  }
}
