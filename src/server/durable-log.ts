/**
 * The durable stage: where a prepped txn must be before it is applied and
 * acknowledged. Standalone uses the file log (persistence issue) or, until then and
 * in tests, the in-memory log; the group commit in front of it batches appends.
 */
import type { TxnDigest, TxnHeader } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";

/** A txn as the log stores it. */
export interface LoggedTxn {
  header: TxnHeader;
  txn: Txn;
  /** The tree digest once the txn applies; null for the ErrorTxn of a failed write. */
  digest: TxnDigest | null;
}

/** Storage that makes txns durable; `append` resolves once the whole batch is durable. */
export interface DurableLog {
  append(batch: readonly LoggedTxn[]): Promise<void>;
  close(): Promise<void>;
  /** fsync figures, for mntr (absent when nothing is synced). */
  readonly stats?: { fsyncs: number; fsyncTotalMs: number; fsyncMaxMs: number };
}

/** The most recent txns the in-memory log keeps (ZooKeeper's commitLogCount default). */
export const inMemoryTxnsRetainedMax = 500;

/** Keeps the latest txns in memory: durable only as long as the process lives. */
export class InMemoryTxnLog implements DurableLog {
  private readonly retained: LoggedTxn[] = [];
  /** How many append calls (one per group commit) there were. */
  appendCalls = 0;
  /** How many txns were ever appended. */
  appendedTxns = 0;

  /** The most recent txns, oldest first (at most inMemoryTxnsRetainedMax). */
  get txns(): readonly LoggedTxn[] {
    return this.retained;
  }

  append(batch: readonly LoggedTxn[]): Promise<void> {
    this.appendCalls++;
    this.appendedTxns += batch.length;
    for (const entry of batch) this.retained.push(entry);
    if (this.retained.length > inMemoryTxnsRetainedMax) {
      this.retained.splice(0, this.retained.length - inMemoryTxnsRetainedMax);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Group commit (ZooKeeper's SyncRequestProcessor): one append in flight at a time;
 * everything that arrives meanwhile goes into the next one, up to `batchTxnsMax`.
 */
export class GroupCommit {
  private queue: LoggedTxn[] = [];
  private flushing = false;
  private failed: Error | null = null;

  private delayTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: DurableLog,
    private readonly batchTxnsMax: number,
    /** Called, in zxid order, with each batch once it is durable. */
    private readonly onDurable: (batch: LoggedTxn[]) => void,
    private readonly onFailure: (error: Error) => void,
    /** zookeeper.flushDelay: wait this long for more txns before a write (0: write at once). */
    private readonly flushDelayMs = 0,
  ) {}

  get queuedTxns(): number {
    return this.queue.length;
  }

  get inFlight(): boolean {
    return this.flushing;
  }

  enqueue(entry: LoggedTxn): void {
    if (this.failed !== null) throw this.failed;
    this.queue.push(entry);
    if (!this.flushing) this.flushSoon();
  }

  /** Flushes now, or after flushDelay unless a whole batch is already waiting. */
  private flushSoon(): void {
    if (this.flushDelayMs <= 0 || this.queue.length >= this.batchTxnsMax) {
      if (this.delayTimer !== null) clearTimeout(this.delayTimer);
      this.delayTimer = null;
      this.flush();
    } else if (this.delayTimer === null && this.queue.length > 0) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = null;
        if (!this.flushing) this.flush();
      }, this.flushDelayMs);
    }
  }

  private flush(): void {
    if (this.queue.length === 0 || this.failed !== null) return;
    const batch =
      this.queue.length <= this.batchTxnsMax ? this.queue : this.queue.slice(0, this.batchTxnsMax);
    this.queue = this.queue.length <= this.batchTxnsMax ? [] : this.queue.slice(this.batchTxnsMax);
    this.flushing = true;
    this.log.append(batch).then(
      () => {
        this.flushing = false;
        // Start the next write first: the disk works on it while this batch is applied.
        this.flushSoon();
        this.onDurable(batch);
      },
      (error: unknown) => {
        this.flushing = false;
        this.failed = error instanceof Error ? error : new Error(String(error));
        this.onFailure(this.failed);
      },
    );
  }
}
