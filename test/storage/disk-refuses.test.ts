/**
 * A disk that refuses a write. The standalone server runs under RLIMIT_FSIZE, so the write that
 * would take its txn log past the limit fails with EFBIG, as a full disk fails one. The server
 * must acknowledge nothing it could not write, stop, exit with status 1 saying why (as ZooKeeper
 * exits on an unrecoverable log error), and after a restart without the limit serve every write
 * it acknowledged.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ZooKeeperClient } from "../../src/client/index.js";
import { logFileName, parseTxnLog } from "../../src/storage/txn-log-format.js";
import { prlimitMissing, runProcess } from "../support/processes.js";
import { startServing, startZktsProcess, type ZktsProcess } from "../support/zkts-process.js";

/** Writers creating znodes at once; each stops at its first error. */
const lanes = 16;
/** Creates per lane at most (about 1,300 fit under the limit). */
const createsPerLaneMax = 1000;

/**
 * Run under the limit: a first batch, then a batch that needs the log's next 64 KiB (refused)
 * and, right behind it, a small one that would fit where the refused one should have gone.
 */
const refusedThenSmall = `
import { FileTxnLog } from ${JSON.stringify(new URL("../../src/storage/txn-log-file.js", import.meta.url).href)};
const entry = (zxid, bytes) => ({
  header: { clientId: 7n, cxid: Number(zxid), zxid, time: 1000n, type: 5 },
  txn: { type: 5, txn: { path: "/n" + zxid, data: Buffer.alloc(bytes, 1), version: 1 } },
  digest: { version: 2, treeDigest: zxid },
});
const log = new FileTxnLog({ dir: process.argv[1], preAllocBytes: 65536, forceSync: true, fsyncWarnMs: 60000, warn() {} });
await log.append([entry(1n, 100)]);
const big = log.append(Array.from({ length: 80 }, (_, i) => entry(2n + BigInt(i), 1000)));
const small = log.append([entry(82n, 100)]);
const settled = await Promise.allSettled([big, small]);
const later = await log.append([entry(83n, 100)]).then(() => "fulfilled", () => "rejected");
console.log(JSON.stringify([...settled.map((s) => s.status), later]));
`;

describe("a disk that refuses a txn log write", { skip: prlimitMissing }, () => {
  it("a log whose write was refused takes no later batch (one would leave a txn missing in the middle)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-log-refuses-"));
    try {
      const result = await runProcess(
        "prlimit",
        ["--fsize=65536", process.execPath, "--input-type=module", "-e", refusedThenSmall, dir],
        "",
        30_000,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), ["rejected", "rejected", "rejected"]);
      const zxids = parseTxnLog(readFileSync(join(dir, logFileName(1n)))).entries.map((e) => e.header.zxid);
      assert.deepEqual(zxids, [1n]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the standalone server acknowledges nothing it could not write, exits with status 1, and restarts with every acknowledged write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-disk-refuses-"));
    // Preallocation in steps of 64 KiB: the step past 256 KiB is refused while writes flow.
    const properties = { dataDir: join(dir, "data"), preAllocSize: "64", tickTime: "2000" };
    let server: ZktsProcess | undefined;
    try {
      const outcome = await startZktsProcess(properties, 30_000, { fileSizeLimitBytes: 256 * 1024 });
      assert.ok(outcome.serving, "the server starts under the limit");
      server = outcome.server;
      const client = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
      await client.create("/w", null);
      const value = Buffer.alloc(150, 0x61);
      const acknowledged: string[] = [];
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          for (let n = 0; n < createsPerLaneMax; n++) {
            const path = `/w/l${lane}-${n}`;
            try {
              await client.create(path, value);
            } catch {
              return;
            }
            acknowledged.push(path);
          }
        }),
      );
      // Bounded: a server that stays up after the failure fails the test, not hangs it.
      let timer: NodeJS.Timeout | undefined;
      const status = await Promise.race([
        server.exit(),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve("still running 30 s after its writes failed"), 30_000);
        }),
      ]);
      clearTimeout(timer);
      if (typeof status === "string") await server.kill("SIGKILL");
      const output = server.output();
      server = undefined;
      await client.close().catch(() => undefined);
      assert.equal(status, 1, output);
      assert.match(output, /txn log failed, refusing writes: .*EFBIG/);
      assert.match(output, /unrecoverable error, exiting: .*EFBIG/);
      assert.ok(
        acknowledged.length > 500,
        `writes were acknowledged before the failure (${acknowledged.length})`,
      );
      assert.ok(acknowledged.length < lanes * createsPerLaneMax, "the limit was reached");

      const restarted = await startServing(properties);
      try {
        const reader = await ZooKeeperClient.connect(`127.0.0.1:${restarted.port}`);
        const { children } = await reader.getChildren("/w");
        const present = new Set(children.map((child) => `/w/${child}`));
        assert.deepEqual(
          acknowledged.filter((path) => !present.has(path)),
          [],
          "every acknowledged write survives",
        );
        const { data } = await reader.getData(acknowledged.at(-1)!);
        assert.deepEqual(data, value);
        await reader.close();
      } finally {
        await restarted.kill("SIGTERM");
      }
    } finally {
      await server?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
