/**
 * Damaged data files: each either recovers with no acknowledged write lost, or refuses
 * to start with a message naming the file and what to do; never serves damaged data.
 */
import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ZooKeeperClient } from "../../src/client/index.js";
import { startStandalone } from "../../src/server/standalone.js";
import { StartupError } from "../../src/storage/data-directory.js";
import { parseTxnLog } from "../../src/storage/txn-log-format.js";
import { localServerConfig } from "../support/local-config.js";
import { runProcess } from "../support/processes.js";
import { type DumpedNode, dumpTree } from "../support/tree-dump.js";

const zktsBin = new URL("../../../bin/zkts", import.meta.url).pathname;

function config(dataDir: string, extra: Record<string, string> = {}) {
  return localServerConfig(dataDir, { preAllocSize: "64", ...extra });
}

/** Starts a server on `dataDir`, runs `work` with a client, returns the tree it leaves. */
async function withServer(
  dataDir: string,
  work: (client: ZooKeeperClient) => Promise<void>,
  extra: Record<string, string> = {},
): Promise<DumpedNode[]> {
  const server = await startStandalone({ config: config(dataDir, extra) });
  try {
    const client = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
    await work(client);
    const tree = await dumpTree(client);
    await client.close();
    return tree;
  } finally {
    await server.close();
  }
}

async function writeNodes(client: ZooKeeperClient, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await client.create(`/${prefix}${i}`, `value ${i}`);
    await client.setData(`/${prefix}${i}`, `value ${i} again`);
  }
}

function files(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith(`${prefix}.`))
    .sort((a, b) => (BigInt(`0x${a.split(".")[1]}`) < BigInt(`0x${b.split(".")[1]}`) ? -1 : 1));
}

function patch(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

describe("damaged data files", () => {
  let dir: string;
  let dataDir: string;
  let versionDir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-faults-"));
    dataDir = join(dir, "data");
    versionDir = join(dataDir, "version-2");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("cuts a torn record at the end of the log (a crash mid-write) and keeps every acknowledged write", async () => {
    const written = await withServer(dataDir, (client) => writeNodes(client, "n", 20));
    const log = join(versionDir, files(versionDir, "log").at(-1)!);
    const bytes = readFileSync(log);
    const { validEnd, entries } = parseTxnLog(bytes);
    // Half of a copy of the last record, where the next record would have gone.
    const recordStart = 16;
    const firstRecordLength = 12 + bytes.readInt32BE(recordStart + 8) + 1;
    patch(log, validEnd, bytes.subarray(recordStart, recordStart + Math.floor(firstRecordLength / 2)));
    assert.equal(parseTxnLog(readFileSync(log)).tornTail, true);
    const served = await withServer(dataDir, async () => {});
    assert.deepEqual(served, written);
    assert.equal(statSync(log).size, validEnd);
    assert.equal(parseTxnLog(readFileSync(log)).entries.length, entries.length);
  });

  it("treats a record whose end is still preallocated zeros as torn", async () => {
    const written = await withServer(dataDir, (client) => writeNodes(client, "n", 10));
    const log = join(versionDir, files(versionDir, "log").at(-1)!);
    const bytes = readFileSync(log);
    const { validEnd } = parseTxnLog(bytes);
    const length = bytes.readInt32BE(16 + 8);
    // Checksum and length written, the body only in part, the end-of-record byte never.
    const partial = Buffer.from(bytes.subarray(16, 16 + 12 + length + 1));
    partial.fill(0, 12 + Math.floor(length / 2));
    patch(log, validEnd, partial);
    const served = await withServer(dataDir, async () => {});
    assert.deepEqual(served, written);
  });

  it("refuses to start on a flipped bit in a log record, naming file, offset and zxid; txnlog repair then cuts there", async () => {
    await withServer(dataDir, (client) => writeNodes(client, "n", 20));
    const log = join(versionDir, files(versionDir, "log").at(-1)!);
    const bytes = readFileSync(log);
    // Inside the body of the third record.
    let offset = 16;
    for (let i = 0; i < 2; i++) offset += 12 + bytes.readInt32BE(offset + 8) + 1;
    const flipped = Buffer.from([bytes[offset + 20]! ^ 0x10]);
    patch(log, offset + 20, flipped);
    await assert.rejects(
      startStandalone({ config: config(dataDir) }),
      (error: unknown) =>
        error instanceof StartupError &&
        error.message.includes(log) &&
        error.message.includes(`offset ${offset}`) &&
        error.message.includes("after zxid 0x2") &&
        error.message.includes("zkts txnlog repair"),
    );
    const refused = await runProcess(
      process.execPath,
      [zktsBin, "server", `-DdataDir=${dataDir}`, "-DclientPort=0"],
      "",
      30_000,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is corrupt at offset/);
    const repair = await runProcess(
      process.execPath,
      [zktsBin, "txnlog", "repair", log, "--yes"],
      "",
      30_000,
    );
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.match(repair.stdout, new RegExp(`truncated .* at offset ${offset}`));
    const served = await withServer(dataDir, async () => {});
    // The first two txns (a session and the first create) survive; nothing damaged is served.
    assert.deepEqual(
      served.map((node) => node.path),
      ["/", "/n0"],
    );
  });

  it("falls back to an older snapshot when the newest one has a flipped bit", async () => {
    await withServer(dataDir, (client) => writeNodes(client, "a", 10));
    const written = await withServer(dataDir, (client) => writeNodes(client, "b", 10));
    const snapshots = files(versionDir, "snapshot");
    assert.ok(snapshots.length >= 2);
    const newest = join(versionDir, snapshots.at(-1)!);
    const size = statSync(newest).size;
    patch(newest, Math.floor(size / 2), Buffer.from([readFileSync(newest)[Math.floor(size / 2)]! ^ 0x01]));
    const served = await withServer(dataDir, async () => {});
    assert.deepEqual(served, written);
  });

  it("falls back to an older snapshot when the newest one is missing", async () => {
    await withServer(dataDir, (client) => writeNodes(client, "a", 10));
    const written = await withServer(dataDir, (client) => writeNodes(client, "b", 10));
    unlinkSync(join(versionDir, files(versionDir, "snapshot").at(-1)!));
    const served = await withServer(dataDir, async () => {});
    assert.deepEqual(served, written);
  });

  it("removes an empty newest log file (ZOOKEEPER-2332)", async () => {
    const written = await withServer(dataDir, (client) => writeNodes(client, "n", 5));
    const empty = join(versionDir, "log.ffff");
    writeFileSync(empty, Buffer.alloc(0));
    const served = await withServer(dataDir, async () => {});
    assert.deepEqual(served, written);
    assert.ok(!readdirSync(versionDir).includes("log.ffff"));
  });

  it("refuses logs without any snapshot unless snapshot.trust.empty (ZOOKEEPER-2325)", async () => {
    const written = await withServer(dataDir, (client) => writeNodes(client, "n", 5));
    for (const name of files(versionDir, "snapshot")) unlinkSync(join(versionDir, name));
    await assert.rejects(
      startStandalone({ config: config(dataDir) }),
      (error: unknown) => error instanceof StartupError && /no snapshot/.test(error.message),
    );
    const served = await withServer(dataDir, async () => {}, { "snapshot.trust.empty": "true" });
    assert.deepEqual(served, written);
  });

  it("datadir verify reports a sound directory and a damaged one", async () => {
    await withServer(dataDir, (client) => writeNodes(client, "n", 5));
    const sound = await runProcess(process.execPath, [zktsBin, "datadir", "verify", dataDir], "", 30_000);
    assert.equal(sound.code, 0, sound.stdout);
    assert.match(sound.stdout, /data directory is sound/);
    const snapshot = join(versionDir, files(versionDir, "snapshot").at(-1)!);
    patch(snapshot, 20, Buffer.from([0xff, 0xff]));
    const damaged = await runProcess(process.execPath, [zktsBin, "datadir", "verify", dataDir], "", 30_000);
    assert.equal(damaged.code, 1, damaged.stdout);
    assert.match(damaged.stdout, /BAD {2}snapshot\./);
  });
});
