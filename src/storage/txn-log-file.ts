/**
 * The transaction log on disk (ZooKeeper's FileTxnLog): `log.<first zxid hex>` files
 * in `<dataLogDir>/version-2`, preallocated in `preAllocSize` blocks, a new file after
 * each roll (every snapshot). `append` writes a whole group-commit batch with one
 * O_DSYNC write (a write and an fdatasync in one); it resolves only once the batch is on
 * disk. Appends may overlap: each takes its place in the file in call order, and a roll
 * waits for the writes still going to the old file. All disk work is asynchronous
 * (libuv's thread pool): the event loop never waits for the disk.
 *
 * Preallocation makes the file `preAllocSize` long at once (sparse, as ZooKeeper's
 * FilePadding does) and also writes real zeros a little ahead of small appends: an O_DSYNC
 * write into blocks that already exist is a data write only, while one into a hole must
 * also commit the block allocation (about 40% slower on ext4 here for an 8 KiB write).
 */

import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { AvgMinMaxCounter } from "../metrics/avg-min-max-counter.js";
import type { DurableLog, LoggedTxn } from "../server/durable-log.js";
import { syncDirectory } from "./files.js";
import { encodeLogHeader, encodeLogRecordParts, logFileName } from "./txn-log-format.js";

export interface FileTxnLogOptions {
  /** The version-2 directory the log files live in. */
  dir: string;
  /** preAllocSize: the file grows in blocks of this many bytes (64 MiB by default). */
  preAllocBytes: number;
  /** forceSync: false skips fdatasync (unsafe: a power cut can lose acknowledged writes). */
  forceSync: boolean;
  /** fsync.warningthresholdms: a slower fdatasync is logged. */
  fsyncWarnMs: number;
  warn(message: string): void;
  /** Wall-clock milliseconds, injected for tests. */
  nowMs?: () => number;
}

/** Per-file and per-sync figures, for mntr and the bench. */
export interface TxnLogStats {
  fsyncs: number;
  fsyncTotalMs: number;
  fsyncMaxMs: number;
  /** The same syncs in whole milliseconds, as ZooKeeper's fsynctime summary. */
  fsyncTimes: AvgMinMaxCounter;
  filesCreated: number;
  bytesWritten: number;
}

/** How far ahead of the appends zeros are written (FileTxnLog.zeroAhead). */
export const zeroFillAheadBytes = 1024 * 1024;
/**
 * A batch this large is not followed by zeros: the block allocation its write commits is
 * small beside the write itself, and zeros would double the bytes written (100 KiB values
 * went 10-25% faster without them here).
 */
export const zeroFillBatchBytesMax = 64 * 1024;
const zeroBlock = Buffer.alloc(zeroFillAheadBytes);

/** An append's place in the file. */
interface Reserved {
  handle: FileHandle;
  position: number;
  /** The batch's records (after the file header when the file is new), written with one pwritev. */
  parts: Buffer[];
  length: number;
  newFile: boolean;
}

/** Zeros being written ahead of the appends. */
interface ZeroRun {
  handle: FileHandle;
  start: number;
  done: Promise<void>;
}

export class FileTxnLog implements DurableLog {
  private handle: FileHandle | null = null;
  /** The end of the last reservation: the next append reserves after it. */
  private reserving: Promise<void> = Promise.resolve();
  /** Writes (appends and zeros) not finished yet: a roll or close waits for them. */
  private readonly writing = new Set<Promise<void>>();
  /** Bytes [0, zeroedEnd) of the current file are written (records or zeros). */
  private zeroedEnd = 0;
  private zeroing: ZeroRun | null = null;
  private fileName: string | null = null;
  private position = 0;
  private allocatedEnd = 0;
  private rollRequested = false;
  /** The first reservation or write that failed: every append after it fails too. */
  private failure: Error | null = null;
  /** Txns appended since the last roll (ZooKeeper's txnCount, which triggers snapshots). */
  txnsSinceRoll = 0;
  /** Bytes appended since the last roll (the snapSizeLimitInKb trigger). */
  bytesSinceRoll = 0;
  lastLoggedZxid = -1n;
  readonly stats: TxnLogStats = {
    fsyncs: 0,
    fsyncTotalMs: 0,
    fsyncMaxMs: 0,
    fsyncTimes: new AvgMinMaxCounter(),
    filesCreated: 0,
    bytesWritten: 0,
  };
  private readonly nowMs: () => number;

  constructor(private readonly options: FileTxnLogOptions) {
    this.nowMs = options.nowMs ?? (() => performance.now());
  }

  /** The file being appended to, if any. */
  get currentFile(): string | null {
    return this.fileName;
  }

  /** The next append starts a new file (FileTxnLog.rollLog). */
  roll(): void {
    this.rollRequested = true;
    this.txnsSinceRoll = 0;
    this.bytesSinceRoll = 0;
  }

  async append(batch: readonly LoggedTxn[]): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (batch.length === 0) return;
    // Places are taken in call order: the chain runs each reservation after the previous,
    // and a roll applies to the appends called after it.
    const rollFirst = this.rollRequested;
    this.rollRequested = false;
    const place = this.reserving.then(() => this.reserve(batch, rollFirst));
    this.reserving = place.then(
      () => {},
      () => {},
    );
    const { handle, position, parts, length, newFile } = await place;
    const write = this.writeAt(handle, position, parts, length, newFile);
    this.writing.add(write);
    try {
      await write;
    } catch (error) {
      this.failed(error);
      throw error;
    } finally {
      this.writing.delete(write);
    }
    const last = batch[batch.length - 1]!.header.zxid;
    if (last > this.lastLoggedZxid) this.lastLoggedZxid = last;
  }

  /**
   * Where `batch` goes: opens the next file when needed and claims the bytes for it. After a
   * failed reservation or write the log takes nothing more: a later batch would otherwise be
   * placed where the failed one should have gone, and a log with a txn missing in its middle
   * cannot be restored.
   */
  private async reserve(batch: readonly LoggedTxn[], rollFirst: boolean): Promise<Reserved> {
    if (this.failure !== null) throw this.failure;
    try {
      return await this.reserveUnchecked(batch, rollFirst);
    } catch (error) {
      this.failed(error);
      throw error;
    }
  }

  /** Remembers the first failure: every append after it is refused. */
  private failed(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }

  private async reserveUnchecked(batch: readonly LoggedTxn[], rollFirst: boolean): Promise<Reserved> {
    const first = batch[0]!;
    if (rollFirst && this.handle !== null) {
      // Writes still going to the old file finish before it is closed.
      await Promise.allSettled([...this.writing]);
      await this.handle.close();
      this.handle = null;
    }
    const parts: Buffer[] = [];
    let newFile = false;
    if (this.handle === null) {
      this.fileName = logFileName(first.header.zxid);
      // O_EXCL: never reopen an existing log (a zxid reused would mean two histories). With
      // forceSync, O_DSYNC: each write returns once its data is on disk, one trip through
      // libuv's thread pool instead of a write and then an fdatasync.
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
      this.handle = await open(
        join(this.options.dir, this.fileName),
        this.options.forceSync ? flags | constants.O_DSYNC : flags,
      );
      this.position = 0;
      this.allocatedEnd = 0;
      this.zeroedEnd = 0;
      this.zeroing = null;
      this.stats.filesCreated++;
      parts.push(encodeLogHeader());
      newFile = true;
    }
    parts.push(...encodeLogRecordParts(batch));
    let length = 0;
    for (const part of parts) length += part.length;
    const handle = this.handle;
    const position = this.position;
    await this.preallocate(handle, position + length);
    this.position = position + length;
    this.txnsSinceRoll += batch.length;
    this.bytesSinceRoll += length;
    if (length < zeroFillBatchBytesMax) this.zeroAhead(handle);
    return { handle, position, parts, length, newFile };
  }

  private async writeAt(
    handle: FileHandle,
    position: number,
    parts: Buffer[],
    length: number,
    newFile: boolean,
  ): Promise<void> {
    // Zeros being written where this batch goes must land first, not after it.
    const zeroing = this.zeroing;
    if (zeroing !== null && zeroing.handle === handle && zeroing.start < position + length) {
      await zeroing.done;
    }
    const started = this.nowMs();
    // One pwritev (a new file's header, then the batch's records); a short write, which a
    // regular file only gives when the disk fills, goes on from where it stopped.
    let written = (await handle.writev(parts, position)).bytesWritten;
    if (written < length) {
      const rest = Buffer.concat(parts).subarray(written);
      while (written < length) {
        const { bytesWritten } = await handle.write(
          rest,
          written - (length - rest.length),
          length - written,
          position + written,
        );
        if (bytesWritten === 0) throw new Error(`short write to ${this.fileName} at ${position + written}`);
        written += bytesWritten;
      }
    }
    this.stats.bytesWritten += length;
    if (this.options.forceSync) {
      // A new file is only durable once its directory entry is.
      if (newFile) await syncDirectory(this.options.dir);
      const elapsed = this.nowMs() - started;
      this.stats.fsyncs++;
      this.stats.fsyncTotalMs += elapsed;
      if (elapsed > this.stats.fsyncMaxMs) this.stats.fsyncMaxMs = elapsed;
      this.stats.fsyncTimes.add(elapsed);
      if (elapsed > this.options.fsyncWarnMs) {
        this.options.warn(
          `fsync of ${this.fileName} took ${elapsed.toFixed(0)} ms, over fsync.warningthresholdms=${this.options.fsyncWarnMs}`,
        );
      }
    }
  }

  /**
   * Writes zeros over the next `zeroFillAheadBytes` past the appends (when synced),
   * one run at a time. Only bytes no append has claimed are zeroed, and an append that
   * claims bytes of a run still being written waits for it (writeAt).
   */
  private zeroAhead(handle: FileHandle): void {
    if (!this.options.forceSync || this.zeroing !== null) return;
    const start = Math.max(this.zeroedEnd, this.position);
    if (start - this.position >= zeroFillAheadBytes / 2) return;
    const end = Math.min(this.allocatedEnd, start + zeroFillAheadBytes);
    if (end <= start) return;
    // A run is never longer than zeroFillAheadBytes, the size of zeroBlock.
    const zeros = zeroBlock.subarray(0, end - start);
    const done = (async () => {
      let written = 0;
      while (written < zeros.length) {
        const { bytesWritten } = await handle.write(zeros, written, zeros.length - written, start + written);
        written += bytesWritten;
      }
    })();
    const run: ZeroRun = { handle, start, done };
    this.zeroing = run;
    done.then(
      () => {
        if (this.zeroing !== run) return;
        this.zeroing = null;
        this.zeroedEnd = end;
      },
      (error: unknown) => {
        // Only a speed-up: the appends write into the hole instead, and report any disk error.
        if (this.zeroing === run) this.zeroing = null;
        this.options.warn(`writing zeros ahead of the log failed: ${String(error)}`);
      },
    );
    this.writing.add(done);
    done.finally(() => this.writing.delete(done)).catch(() => {});
  }

  /** FilePadding.padFile: grow the file in whole blocks (a sparse extension) ahead of the writes. */
  private async preallocate(handle: FileHandle, needed: number): Promise<void> {
    if (needed <= this.allocatedEnd) return;
    const block = Math.max(4096, this.options.preAllocBytes);
    let end = this.allocatedEnd === 0 ? block : this.allocatedEnd;
    while (end < needed) end += block;
    await handle.truncate(end);
    this.allocatedEnd = end;
  }

  /** Closes the file being appended to; the next append opens a new one. */
  async closeFile(): Promise<void> {
    await this.reserving;
    await Promise.allSettled([...this.writing]);
    const handle = this.handle;
    this.handle = null;
    this.fileName = null;
    await handle?.close();
  }

  async close(): Promise<void> {
    await this.reserving;
    await Promise.allSettled([...this.writing]);
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}
