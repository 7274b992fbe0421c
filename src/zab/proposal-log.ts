/**
 * The in-memory tail of a peer's txn log: contiguous proposals after `base`, in zxid order.
 * A leader syncs learners by DIFF from it (ZooKeeper's committedLog); anything older than
 * `base` is only in snapshots, so a learner behind it gets SNAP. Pure.
 */
import { epochOf, hex, makeZxid, type Proposal, ZabProtocolError } from "./zab-types.js";

export class ProposalLog<T> {
  private entries: Proposal<T>[];

  constructor(
    /** The zxid just before the first entry. */
    public base: bigint,
    entries: readonly Proposal<T>[],
  ) {
    this.entries = [...entries];
    let previous = base;
    for (const entry of this.entries) {
      if (entry.zxid <= previous) throw new ZabProtocolError(`log out of order at ${hex(entry.zxid)}`);
      previous = entry.zxid;
    }
  }

  get lastZxid(): bigint {
    return this.entries.at(-1)?.zxid ?? this.base;
  }

  get length(): number {
    return this.entries.length;
  }

  /**
   * Appends the next proposal. Within an epoch a leader numbers proposals 1, 2, 3, ... and
   * every log holds a prefix of each epoch, so a gap means a proposal was lost on the way:
   * refused here (ZooKeeper only logs a warning, and a follower with a hole can later lead).
   */
  append(proposal: Proposal<T>): void {
    const last = this.lastZxid;
    const expected =
      epochOf(proposal.zxid) === epochOf(last) ? last + 1n : makeZxid(epochOf(proposal.zxid), 1n);
    if (proposal.zxid <= last || proposal.zxid !== expected) {
      throw new ZabProtocolError(
        `proposal ${hex(proposal.zxid)} after ${hex(last)}: expected ${hex(expected)}`,
      );
    }
    this.entries.push(proposal);
  }

  /** Whether `zxid` is a point of this history: the base or one of the entries. */
  contains(zxid: bigint): boolean {
    return zxid === this.base || this.indexOf(zxid) >= 0;
  }

  private indexOf(zxid: bigint): number {
    let low = 0;
    let high = this.entries.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const found = this.entries[middle]?.zxid ?? 0n;
      if (found === zxid) return middle;
      if (found < zxid) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /** The greatest point of this history at or below `zxid` (the base if none). */
  floor(zxid: bigint): bigint {
    const index = this.firstAfter(zxid);
    return index === 0 ? this.base : this.entries[index - 1]!.zxid;
  }

  /**
   * Entries after `zxid` up to and including `upTo`. Called on every commit, with up to
   * commitLogCount committed entries kept before them: found by binary search, not a scan
   * (a filter over the whole log was 6% of a busy follower's and leader's CPU).
   */
  between(zxid: bigint, upTo: bigint): Proposal<T>[] {
    const result: Proposal<T>[] = [];
    for (let i = this.firstAfter(zxid); i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.zxid > upTo) break;
      result.push(entry);
    }
    return result;
  }

  /** The index of the first entry with a zxid above `zxid` (the length if none). */
  private firstAfter(zxid: bigint): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.entries[middle]?.zxid ?? 0n) <= zxid) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  get(zxid: bigint): Proposal<T> | undefined {
    const index = this.indexOf(zxid);
    return index < 0 ? undefined : this.entries[index];
  }

  /** Drops every entry after `zxid`. */
  truncate(zxid: bigint): void {
    if (zxid < this.base)
      throw new ZabProtocolError(`cannot truncate to ${hex(zxid)}, before ${hex(this.base)}`);
    this.entries = this.entries.filter((entry) => entry.zxid <= zxid);
  }

  /** Starts over after a snapshot at `zxid`. */
  reset(zxid: bigint): void {
    this.base = zxid;
    this.entries = [];
  }

  /** Forgets the oldest entries at or below `committed` beyond the newest `keep` of them. */
  trim(committed: bigint, keep: number): void {
    // Entries are in zxid order: the committed ones are a prefix.
    const committedCount = this.firstAfter(committed);
    const drop = committedCount - keep;
    if (drop <= 0) return;
    // Trimmed in batches so that each commit does not copy the whole window.
    if (drop < Math.max(1, keep >> 3)) return;
    this.base = this.entries[drop - 1]?.zxid ?? this.base;
    this.entries = this.entries.slice(drop);
  }
}
