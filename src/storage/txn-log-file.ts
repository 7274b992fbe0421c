/**
 * The transaction log on disk (ZooKeeper's FileTxnLog): `log.<first zxid hex>` files
 * in `<dataLogDir>/version-2`, preallocated in `preAllocSize` blocks, a new file after
 * each roll (every snapshot). `append` writes a whole group-commit batch with one
 * O_DSYNC write (a write and an fdatasync in one); it resolves only once the batch is on disk. All disk work
 * is asynchronous (libuv's thread pool): the event loop never waits for the disk.
 */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import type { DurableLog, LoggedTxn } from "../server/durable-log.js";
import { syncDirectory } from "./files.js";
import { encodeLogHeader, encodeLogRecord, logFileName } from "./txn-log-format.js";

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
  filesCreated: number;
  bytesWritten: number;
}

export class FileTxnLog implements DurableLog {
  private handle: FileHandle | null = null;
  private fileName: string | null = null;
  private position = 0;
  private allocatedEnd = 0;
  private rollRequested = false;
  /** Txns appended since the last roll (ZooKeeper's txnCount, which triggers snapshots). */
  txnsSinceRoll = 0;
  /** Bytes appended since the last roll (the snapSizeLimitInKb trigger). */
  bytesSinceRoll = 0;
  lastLoggedZxid = -1n;
  readonly stats: TxnLogStats = {
    fsyncs: 0,
    fsyncTotalMs: 0,
    fsyncMaxMs: 0,
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
    const first = batch[0];
    if (first === undefined) return;
    if (this.rollRequested && this.handle !== null) {
      await this.handle.close();
      this.handle = null;
    }
    this.rollRequested = false;
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
      this.stats.filesCreated++;
      parts.push(encodeLogHeader());
      newFile = true;
    }
    for (const entry of batch) parts.push(encodeLogRecord(entry));
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const handle = this.handle;
    await this.preallocate(handle, this.position + bytes.length);
    const started = this.nowMs();
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(
        bytes,
        written,
        bytes.length - written,
        this.position + written,
      );
      written += bytesWritten;
    }
    this.position += bytes.length;
    this.stats.bytesWritten += bytes.length;
    if (this.options.forceSync) {
      // A new file is only durable once its directory entry is.
      if (newFile) await syncDirectory(this.options.dir);
      const elapsed = this.nowMs() - started;
      this.stats.fsyncs++;
      this.stats.fsyncTotalMs += elapsed;
      if (elapsed > this.stats.fsyncMaxMs) this.stats.fsyncMaxMs = elapsed;
      if (elapsed > this.options.fsyncWarnMs) {
        this.options.warn(
          `fsync of ${this.fileName} took ${elapsed.toFixed(0)} ms, over fsync.warningthresholdms=${this.options.fsyncWarnMs}`,
        );
      }
    }
    this.txnsSinceRoll += batch.length;
    this.bytesSinceRoll += bytes.length;
    this.lastLoggedZxid = batch[batch.length - 1]!.header.zxid;
  }

  /** FilePadding.padFile: grow the file in whole blocks of zeros ahead of the writes. */
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
    const handle = this.handle;
    this.handle = null;
    this.fileName = null;
    await handle?.close();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}
