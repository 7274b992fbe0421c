/**
 * A server's data on disk (ZooKeeper's FileTxnSnapLog): snapshots in
 * `<dataDir>/version-2`, txn logs in `<dataLogDir>/version-2`. Restores the tree at
 * start-up (newest good snapshot, then the logs after it replayed through
 * `applyTxn`), takes fuzzy snapshots every snapCount txns (randomised so that servers
 * do not snapshot together), and purges old files.
 */

import { randomInt } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip, gunzip } from "node:zlib";
import { OpCode } from "../jute/constants.js";
import { AvgMinMaxCounter } from "../metrics/avg-min-max-counter.js";
import { DataTree, type DataTreeOptions } from "../tree/data-tree.js";
import type { ZxidDigest } from "../tree/digest.js";
import { listZxidFiles, syncDirectory } from "./files.js";
import {
  endsLikeSnapshot,
  parseSnapshotName,
  readSnapshot,
  type SnapshotSource,
  snapshotChunks,
  snapshotFileName,
} from "./snapshot-format.js";
import { FileTxnLog } from "./txn-log-file.js";
import {
  CorruptionError,
  fileHeaderBytes,
  LogCorruptionError,
  type LogEntry,
  parseTxnLog,
} from "./txn-log-format.js";

const gunzipAsync = promisify(gunzip);

/** The data directory cannot be served from; the message says what is wrong and what to do. */
export class StartupError extends Error {
  override name = "StartupError";
}

/** ZooKeeper's subdirectory for the current file format. */
export const versionDirName = "version-2";
/** FileSnap.deserialize tries at most this many snapshots, newest first. */
const snapshotsTriedMax = 100;
/** zookeeper.snapSizeLimitInKb's default, 4 GiB of log between snapshots. */
export const snapSizeLimitBytesDefault = 4 * 1024 ** 3;

export interface DataDirectoryOptions {
  dataDir: string;
  dataLogDir: string;
  preAllocBytes: number;
  forceSync: boolean;
  fsyncWarnMs: number;
  snapCount: number;
  snapSizeLimitBytes: number;
  compression: "none" | "gz";
  /** snapshot.trust.empty: logs without any snapshot are replayed from zxid 1 instead of refused. */
  trustEmptySnapshot: boolean;
  info(message: string): void;
  warn(message: string): void;
  /** A random integer in [0, bound): randomises the snapshot interval. */
  random?: (bound: number) => number;
}

export interface Restored {
  tree: DataTree;
  /** Sessions live at the last txn, with their timeouts. */
  sessions: Map<bigint, number>;
  snapshotFile: string | null;
  txnsReplayed: number;
  /** Log txns whose logged digest differed from the rebuilt tree's. */
  digestMismatches: number;
  /** Files whose torn tail was cut off, with the offset. */
  truncated: string[];
  /** The newest txns replayed (at most `recentTxnsMax` asked of restore), oldest first. */
  recent: LogEntry[];
}

/** What the disk's work took, in whole milliseconds per fsync and per snapshot. */
export interface DiskTimings {
  readonly fsyncTimes: AvgMinMaxCounter;
  readonly snapshotTimes: AvgMinMaxCounter;
}

export class DataDirectory {
  readonly snapDir: string;
  readonly logDir: string;
  readonly log: FileTxnLog;
  private readonly random: (bound: number) => number;
  private randRoll = 0;
  private randSize = 0;
  private running: Promise<void> | null = null;
  /** Snapshots written by this process and the time each took (ZooKeeper's snapshottime). */
  readonly snapshotTimes = new AvgMinMaxCounter();

  /** The fsync and snapshot times mntr shows (ZooKeeper's fsynctime and snapshottime). */
  get timings(): DiskTimings {
    return { fsyncTimes: this.log.stats.fsyncTimes, snapshotTimes: this.snapshotTimes };
  }

  private constructor(private readonly options: DataDirectoryOptions) {
    this.snapDir = join(options.dataDir, versionDirName);
    this.logDir = join(options.dataLogDir, versionDirName);
    this.random = options.random ?? ((bound) => (bound <= 0 ? 0 : randomInt(bound)));
    this.log = new FileTxnLog({
      dir: this.logDir,
      preAllocBytes: options.preAllocBytes,
      forceSync: options.forceSync,
      fsyncWarnMs: options.fsyncWarnMs,
      warn: options.warn,
    });
    this.resetSnapshotStats();
  }

  /** Opens a data directory only to read it (the tools): nothing is created, changed or removed. */
  static inspect(
    dataDir: string,
    dataLogDir: string,
    warn: (message: string) => void,
  ): Promise<DataDirectory> {
    return DataDirectory.open(
      {
        dataDir,
        dataLogDir,
        preAllocBytes: 0,
        forceSync: true,
        fsyncWarnMs: 0,
        snapCount: 2,
        snapSizeLimitBytes: 0,
        compression: "none",
        trustEmptySnapshot: false,
        info: () => {},
        warn,
      },
      true,
    );
  }

  /** Creates the version-2 directories and removes snapshot temporaries a crash left. */
  static async open(options: DataDirectoryOptions, readOnly = false): Promise<DataDirectory> {
    const directory = new DataDirectory(options);
    if (readOnly) return directory;
    await mkdir(directory.snapDir, { recursive: true });
    await mkdir(directory.logDir, { recursive: true });
    for (const name of await readdir(directory.snapDir)) {
      if (name.startsWith(".snapshot.") && name.endsWith(".tmp")) await unlink(join(directory.snapDir, name));
    }
    if (!options.forceSync) {
      options.warn(
        "forceSync=no: writes are acknowledged before they are on disk; a power cut can lose them",
      );
    }
    return directory;
  }

  // ---- restore -------------------------------------------------------------

  /**
   * FileTxnSnapLog.restore: the newest good snapshot, then every logged txn after it.
   * With `readOnly` nothing on disk is changed (torn tails are reported, not cut).
   */
  async restore(
    treeOptions: DataTreeOptions,
    readOnly = false,
    recentTxnsMax = 0,
    /** Replay no further than this zxid (a learner rebuilding its state after a truncation). */
    upToZxid: bigint | null = null,
  ): Promise<Restored> {
    const snapshots = (await listZxidFiles(this.snapDir, "snapshot")).reverse();
    let tree = new DataTree(treeOptions);
    let sessions = new Map<bigint, number>();
    let snapshotFile: string | null = null;
    let snapshotDigest: ZxidDigest | null = null;
    for (const snapshot of snapshots.slice(0, snapshotsTriedMax)) {
      const candidate = new DataTree(treeOptions);
      try {
        const loaded = await loadSnapshot(join(this.snapDir, snapshot.name), candidate, snapshot.zxid);
        tree = candidate;
        sessions = loaded.sessions;
        snapshotFile = snapshot.name;
        snapshotDigest = loaded.digest;
        break;
      } catch (error) {
        if (!(error instanceof CorruptionError || error instanceof StartupError)) throw error;
        this.options.warn(`snapshot ${snapshot.name} is unusable (${error.message}); trying an older one`);
      }
    }
    const logs = await listZxidFiles(this.logDir, "log");
    if (snapshotFile === null && snapshots.length > 0) {
      throw new StartupError(
        `none of the ${snapshots.length} snapshots in ${this.snapDir} is readable; refusing to start with data missing`,
      );
    }
    if (snapshotFile === null && logs.length > 0 && !this.options.trustEmptySnapshot) {
      throw new StartupError(
        `no snapshot in ${this.snapDir}, but there are txn logs in ${this.logDir}: something is broken. ` +
          "Set snapshot.trust.empty=true only when upgrading from ZooKeeper before 3.5.3 (ZOOKEEPER-2325/3056).",
      );
    }
    if (snapshotFile !== null) {
      this.options.info(`loaded ${snapshotFile}: ${tree.nodeCount} znodes, ${sessions.size} sessions`);
    }
    // A digest written before the snapshot's zxid cannot be checked against the replay (ZooKeeper skips it too).
    if (
      snapshotDigest !== null &&
      (snapshotDigest.zxid === 0n || snapshotDigest.zxid < tree.lastProcessedZxid)
    ) {
      snapshotDigest = null;
    }
    const replay = await this.replayLogs(
      tree,
      sessions,
      logs,
      snapshotDigest,
      readOnly,
      recentTxnsMax,
      upToZxid,
    );
    return { tree, sessions, snapshotFile, ...replay };
  }

  private async replayLogs(
    tree: DataTree,
    sessions: Map<bigint, number>,
    logs: { name: string; zxid: bigint }[],
    snapshotDigest: ZxidDigest | null,
    readOnly: boolean,
    recentTxnsMax: number,
    upToZxid: bigint | null,
  ): Promise<Omit<Restored, "tree" | "sessions" | "snapshotFile">> {
    let recent: LogEntry[] = [];
    const from = tree.lastProcessedZxid + 1n;
    // FileTxnLog.getLogFiles: the newest log starting at or before `from`, and every later one.
    let first = 0;
    for (let i = 0; i < logs.length; i++) if (logs[i]!.zxid <= from) first = i;
    const selected = logs.slice(first);
    const truncated: string[] = [];
    let txnsReplayed = 0;
    let digestMismatches = 0;
    let pendingDigest = snapshotDigest;
    if (pendingDigest !== null && pendingDigest.zxid === tree.lastProcessedZxid) {
      this.checkSnapshotDigest(tree, pendingDigest);
      pendingDigest = null;
    }
    for (let i = 0; i < selected.length; i++) {
      const file = selected[i]!;
      const path = join(this.logDir, file.name);
      const isLast = i === selected.length - 1;
      const bytes = await readFile(path);
      if (bytes.length < fileHeaderBytes || isZeroed(bytes.subarray(0, fileHeaderBytes))) {
        // ZOOKEEPER-2332: a log created but never written (a crash right after its creation).
        if (isLast && isZeroed(bytes)) {
          this.options.warn(`removing empty txn log ${file.name}`);
          if (!readOnly) await unlink(path);
          continue;
        }
        throw new StartupError(`txn log ${path} has no valid header`);
      }
      let parsed: ReturnType<typeof parseTxnLog>;
      try {
        parsed = parseTxnLog(bytes);
      } catch (error) {
        if (!(error instanceof LogCorruptionError)) throw error;
        const after =
          error.lastGoodZxid === null
            ? "before its first txn"
            : `after zxid 0x${error.lastGoodZxid.toString(16)}`;
        throw new StartupError(
          `txn log ${path} is corrupt at offset ${error.offset} (${error.message}), ${after}. ` +
            `'zkts txnlog repair ${path}' truncates it there; txns after that point are lost.`,
        );
      }
      if (parsed.tornTail) {
        if (!readOnly) await truncateFile(path, parsed.validEnd);
        truncated.push(`${file.name}@${parsed.validEnd}`);
        this.options.warn(
          `${readOnly ? "found" : "cut"} the torn tail of ${file.name} at offset ${parsed.validEnd} (never acknowledged)`,
        );
      }
      for (const entry of parsed.entries) {
        const { header } = entry;
        if (header.zxid <= tree.lastProcessedZxid) continue;
        if (upToZxid !== null && header.zxid > upToZxid) break;
        const previous = tree.lastProcessedZxid;
        if (previous >> 32n === header.zxid >> 32n && header.zxid !== previous + 1n && previous !== 0n) {
          throw new StartupError(
            `txns 0x${(previous + 1n).toString(16)} to 0x${(header.zxid - 1n).toString(16)} are missing from the logs in ${this.logDir} (next is in ${file.name})`,
          );
        }
        if (header.type === OpCode.createSession && entry.txn.type === OpCode.createSession) {
          sessions.set(header.clientId, entry.txn.txn.timeOut);
        } else if (header.type === OpCode.closeSession) {
          sessions.delete(header.clientId);
        }
        tree.applyTxn(header, entry.txn);
        txnsReplayed++;
        if (recentTxnsMax > 0) {
          recent.push(entry);
          if (recent.length >= recentTxnsMax * 2) recent = recent.slice(-recentTxnsMax);
        }
        if (entry.digest !== null && pendingDigest === null && entry.digest.treeDigest !== tree.treeDigest) {
          digestMismatches++;
          if (digestMismatches === 1) {
            this.options.warn(
              `digest after zxid 0x${header.zxid.toString(16)} differs from the logged one (${entry.digest.treeDigest} vs ${tree.treeDigest})`,
            );
          }
        }
        if (pendingDigest !== null && header.zxid === pendingDigest.zxid) {
          this.checkSnapshotDigest(tree, pendingDigest);
          pendingDigest = null;
        }
      }
    }
    if (pendingDigest !== null) {
      this.options.warn(
        `the logs end at 0x${tree.lastProcessedZxid.toString(16)}, before the snapshot digest's zxid 0x${pendingDigest.zxid.toString(16)}`,
      );
    }
    return { txnsReplayed, digestMismatches, truncated, recent: recent.slice(-recentTxnsMax) };
  }

  /**
   * FileTxnSnapLog.truncateLog: drops every logged txn after `zxid` (a leader's TRUNC, or
   * what a leader's snapshot replaces) and every snapshot newer than it; the next append
   * starts a new log file.
   */
  async truncateAfter(zxid: bigint): Promise<void> {
    this.log.roll();
    await this.log.closeFile();
    for (const snapshot of await listZxidFiles(this.snapDir, "snapshot")) {
      if (snapshot.zxid > zxid) await unlink(join(this.snapDir, snapshot.name));
    }
    for (const file of await listZxidFiles(this.logDir, "log")) {
      const path = join(this.logDir, file.name);
      if (file.zxid > zxid) {
        await unlink(path);
        continue;
      }
      const parsed = parseTxnLog(await readFile(path));
      let last = -1;
      for (const [index, entry] of parsed.entries.entries()) if (entry.header.zxid <= zxid) last = index;
      const end = last < 0 ? fileHeaderBytes : (parsed.ends[last] ?? fileHeaderBytes);
      if (last < parsed.entries.length - 1 || parsed.validEnd !== end) await truncateFile(path, end);
    }
    await syncDirectory(this.logDir);
    await syncDirectory(this.snapDir);
  }

  private checkSnapshotDigest(tree: DataTree, expected: ZxidDigest): void {
    if (expected.digestVersion !== 2 || tree.treeDigest === expected.digest) return;
    throw new StartupError(
      `the tree rebuilt up to zxid 0x${expected.zxid.toString(16)} has digest ${tree.treeDigest}, the snapshot recorded ${expected.digest}: the data on disk is inconsistent`,
    );
  }

  // ---- snapshots -----------------------------------------------------------

  /** SyncRequestProcessor.resetSnapshotStats: the next snapshot comes after snapCount/2 + rand txns. */
  private resetSnapshotStats(): void {
    this.randRoll = this.random(Math.max(1, Math.floor(this.options.snapCount / 2)));
    this.randSize = this.random(Math.max(1, Math.floor(this.options.snapSizeLimitBytes / 2)));
  }

  shouldSnapshot(): boolean {
    return (
      this.log.txnsSinceRoll > Math.floor(this.options.snapCount / 2) + this.randRoll ||
      (this.options.snapSizeLimitBytes > 0 &&
        this.log.bytesSinceRoll > Math.floor(this.options.snapSizeLimitBytes / 2) + this.randSize)
    );
  }

  /** Called after each durable batch: rolls the log and starts a fuzzy snapshot when due. */
  maybeSnapshot(source: () => SnapshotSource): void {
    if (!this.shouldSnapshot()) return;
    this.resetSnapshotStats();
    this.log.roll();
    this.startSnapshot(source());
  }

  /** Starts writing a fuzzy snapshot in the background, unless one is being written. */
  startSnapshot(source: SnapshotSource): void {
    if (this.running !== null) {
      this.options.warn("too busy to snapshot (the previous one is still being written), skipping");
      return;
    }
    const started = performance.now();
    this.running = this.takeSnapshot(source)
      .then((name) => this.options.info(`wrote ${name} in ${(performance.now() - started).toFixed(0)} ms`))
      .catch((error: unknown) => this.options.warn(`snapshot failed: ${(error as Error).message}`))
      .finally(() => {
        this.running = null;
      });
  }

  /** Writes a snapshot: temporary file, fsync, rename, directory fsync. Returns its name. */
  async takeSnapshot(source: SnapshotSource): Promise<string> {
    const started = performance.now();
    const name = snapshotFileName(source.zxid, this.options.compression);
    const temporary = join(this.snapDir, `.${name}.tmp`);
    const chunks = Readable.from(snapshotChunks(source));
    if (this.options.compression === "gz") {
      await pipeline(chunks, createGzip(), createWriteStream(temporary));
    } else {
      await pipeline(chunks, createWriteStream(temporary));
    }
    const handle = await open(temporary, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, join(this.snapDir, name));
    await syncDirectory(this.snapDir);
    this.snapshotTimes.add(performance.now() - started);
    return name;
  }

  /** Resolves once no snapshot is being written. */
  async idle(): Promise<void> {
    await this.running;
  }

  // ---- retention -----------------------------------------------------------

  /**
   * PurgeTxnLog.purge: keeps the newest `retainCount` snapshots and the logs needed to
   * replay from the oldest of them; deletes older files. Returns the names deleted.
   */
  async purge(retainCount: number): Promise<string[]> {
    const snapshots = (await listZxidFiles(this.snapDir, "snapshot")).reverse();
    const valid: bigint[] = [];
    for (const snapshot of snapshots) {
      if (valid.length >= retainCount) break;
      if (await looksValid(join(this.snapDir, snapshot.name))) valid.push(snapshot.zxid);
    }
    const oldestKept = valid[valid.length - 1];
    if (oldestKept === undefined) return [];
    const logs = await listZxidFiles(this.logDir, "log");
    let neededFrom = 0;
    for (let i = 0; i < logs.length; i++) if (logs[i]!.zxid <= oldestKept) neededFrom = i;
    const deleted: string[] = [];
    for (const snapshot of snapshots) {
      if (snapshot.zxid < oldestKept) {
        await unlink(join(this.snapDir, snapshot.name));
        deleted.push(snapshot.name);
      }
    }
    for (let i = 0; i < neededFrom; i++) {
      const log = logs[i]!;
      if (log.name === this.log.currentFile) continue;
      await unlink(join(this.logDir, log.name));
      deleted.push(log.name);
    }
    return deleted;
  }

  async close(): Promise<void> {
    await this.running;
    await this.log.close();
  }
}

/** Reads one snapshot file (gzip or plain) into `tree`. */
export async function loadSnapshot(
  path: string,
  tree: DataTree,
  zxid: bigint,
): Promise<{ sessions: Map<bigint, number>; digest: ZxidDigest | null }> {
  const bytes = await readSnapshotBytes(path);
  const sessions = new Map<bigint, number>();
  try {
    const summary = readSnapshot(bytes, {
      sessions: (list) => {
        for (const [id, timeout] of list) sessions.set(id, timeout);
      },
      acls: (acls) => tree.beginLoad(acls),
      node: (node) => tree.loadNode(node.path, node.data, node.aclIndex, node.stat),
    });
    tree.finishLoad(zxid);
    return { sessions, digest: summary.digest };
  } catch (error) {
    if (error instanceof CorruptionError) throw error;
    throw new CorruptionError((error as Error).message, 0);
  }
}

/** A snapshot's uncompressed bytes. */
export async function readSnapshotBytes(path: string): Promise<Buffer> {
  const name = parseSnapshotName(path.slice(path.lastIndexOf("/") + 1));
  const raw = await readFile(path);
  if (name?.compression === "snappy") {
    throw new StartupError(`${path}: snappy snapshots are not supported; use snapshot.compression.method=gz`);
  }
  if (name?.compression === "gz") {
    try {
      return await gunzipAsync(raw);
    } catch (error) {
      throw new CorruptionError(`gzip: ${(error as Error).message}`, 0);
    }
  }
  if (!endsLikeSnapshot(raw.subarray(Math.max(0, raw.length - 5)))) {
    throw new CorruptionError("does not end with a sealed '/' (incomplete)", raw.length);
  }
  return raw;
}

/** SnapStream.isValidSnapshot: the cheap check ZooKeeper uses when choosing snapshots. */
async function looksValid(path: string): Promise<boolean> {
  const name = parseSnapshotName(path.slice(path.lastIndexOf("/") + 1));
  if (name === null) return false;
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (name.compression === "gz") {
      const head = Buffer.alloc(2);
      await handle.read(head, 0, 2, 0);
      return head[0] === 0x1f && head[1] === 0x8b;
    }
    if (size < 10) return false;
    const tail = Buffer.alloc(5);
    await handle.read(tail, 0, 5, size - 5);
    return endsLikeSnapshot(tail);
  } finally {
    await handle.close();
  }
}

function isZeroed(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/** Cuts a file at `end` and makes the cut durable. */
export async function truncateFile(path: string, end: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.truncate(end);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What a snapshot of `tree` reads, from now on (the walk is fuzzy if the tree changes meanwhile). */
export function treeSnapshotSource(
  tree: DataTree,
  sessions: Iterable<readonly [bigint, number]>,
): SnapshotSource {
  return {
    sessions: [...sessions],
    acls: tree.acls.entries(),
    zxid: tree.lastProcessedZxid,
    getNode: (path) => tree.getNode(path),
    digestAtEnd: () => tree.lastZxidDigest,
  };
}
