/**
 * The durable stage: where a prepped txn must be before it is applied and
 * acknowledged. Standalone uses the file log (persistence issue) or, until then and
 * in tests, the in-memory log; the group commit in front of it batches appends.
 */
import type { TxnDigest, TxnHeader } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { asError } from "./fatal-stop.js";

/** A txn as the log stores it. */
export interface LoggedTxn {
  header: TxnHeader;
  txn: Txn;
  /** The tree digest once the txn applies; null for the ErrorTxn of a failed write. */
  digest: TxnDigest | null;
  /**
   * The txn marshalled (header, txn, digest), when that is done already: a leader's
   * proposal carries the bytes it sends its learners and logs, a learner's the bytes it
   * received; the log writes them instead of encoding the txn again. In parts: a large value
   * is a part of its own, never copied in.
   */
  readonly bytes?: readonly Buffer[];
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

/** How many log writes may be on their way to disk at once (see GroupCommit). */
export const logWritesInFlightDefault = 2;
/** The most zkts.logWritesInFlight may ask for. */
export const logWritesInFlightMax = 8;

/** A batch handed to the log, and whether its write has finished. */
interface InFlightWrite {
  batch: LoggedTxn[];
  durable: boolean;
}

/**
 * Group commit (ZooKeeper's SyncRequestProcessor, with one difference): txns that arrive
 * in one turn of the event loop share one append, up to `batchTxnsMax`; up to
 * `writesInFlightMax` appends may be on their way to disk at once, and batches are
 * reported durable strictly in order, each only once it and every batch before it are
 * on disk. ZooKeeper has one fdatasync at a time; a disk that completes two overlapping
 * O_DSYNC writes in about the time of one then commits twice as often.
 */
export class GroupCommit {
  private queue: LoggedTxn[] = [];
  /** Appends started and not yet reported durable, oldest first. */
  private readonly inFlight: InFlightWrite[] = [];
  private failed: Error | null = null;
  private flushScheduled = false;
  private delayTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: DurableLog,
    private readonly batchTxnsMax: number,
    /** Called, in zxid order, with each batch once it is durable. */
    private readonly onDurable: (batch: LoggedTxn[]) => void,
    private readonly onFailure: (error: Error) => void,
    /** zookeeper.flushDelay: wait this long for more txns before a write (0: write at once). */
    private readonly flushDelayMs = 0,
    private readonly writesInFlightMax = logWritesInFlightDefault,
  ) {}

  get queuedTxns(): number {
    return this.queue.length;
  }

  /** How many appends are on their way to disk. */
  get writesInFlight(): number {
    return this.inFlight.length;
  }

  enqueue(entry: LoggedTxn): void {
    if (this.failed !== null) throw this.failed;
    this.queue.push(entry);
    this.flushSoon();
  }

  /**
   * Writes once this turn of the event loop has handed over what it read (setImmediate
   * runs after the poll phase), or after flushDelay unless a whole batch is waiting.
   */
  private flushSoon(): void {
    if (this.inFlight.length >= this.writesInFlightMax || this.queue.length === 0) return;
    if (this.flushDelayMs <= 0 || this.queue.length >= this.batchTxnsMax) {
      if (this.delayTimer !== null) clearTimeout(this.delayTimer);
      this.delayTimer = null;
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    } else if (this.delayTimer === null) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = null;
        this.flush();
      }, this.flushDelayMs);
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && this.failed === null && this.inFlight.length < this.writesInFlightMax) {
      const batch =
        this.queue.length <= this.batchTxnsMax ? this.queue : this.queue.slice(0, this.batchTxnsMax);
      this.queue = this.queue.length <= this.batchTxnsMax ? [] : this.queue.slice(this.batchTxnsMax);
      const write: InFlightWrite = { batch, durable: false };
      this.inFlight.push(write);
      this.log.append(batch).then(
        () => this.written(write),
        (error: unknown) => this.fail(asError(error)),
      );
    }
  }

  private written(write: InFlightWrite): void {
    if (this.failed !== null) return;
    write.durable = true;
    const durable: LoggedTxn[][] = [];
    while (this.inFlight[0]?.durable === true) durable.push(this.inFlight.shift()!.batch);
    // Start the next write first: the disk works on it while these batches are applied.
    if (durable.length > 0) this.flush();
    for (const batch of durable) this.onDurable(batch);
  }

  private fail(error: Error): void {
    if (this.failed !== null) return;
    this.failed = error;
    this.inFlight.length = 0;
    this.onFailure(error);
  }
}
