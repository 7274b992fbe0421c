/**
 * A disk that refuses a write. The standalone server runs under RLIMIT_FSIZE, so the write that
 * would take its txn log past the limit fails with EFBIG, as a full disk fails one. The server
 * must acknowledge nothing it could not write, stop, exit with status 1 saying why (as ZooKeeper
 * exits on an unrecoverable log error), and after a restart without the limit serve every write
 * it acknowledged.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ZooKeeperClient } from "../../src/client/index.js";
import { startServing, startZktsProcess } from "../support/zkts-process.js";

/** Writers creating znodes at once; each stops at its first error. */
const lanes = 16;
/** Creates per lane at most (about 1,300 fit under the limit). */
const createsPerLaneMax = 1000;

describe("a disk that refuses a txn log write", () => {
  it("the standalone server acknowledges nothing it could not write, exits with status 1, and restarts with every acknowledged write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-disk-refuses-"));
    // Preallocation in steps of 64 KiB: the step past 256 KiB is refused while writes flow.
    const properties = { dataDir: join(dir, "data"), preAllocSize: "64", tickTime: "2000" };
    try {
      const outcome = await startZktsProcess(properties, 30_000, { fileSizeLimitBytes: 256 * 1024 });
      assert.ok(outcome.serving, "the server starts under the limit");
      const server = outcome.server;
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
      await client.close().catch(() => undefined);
      assert.equal(status, 1, server.output());
      assert.match(server.output(), /txn log failed, refusing writes: .*EFBIG/);
      assert.match(server.output(), /unrecoverable error, exiting: .*EFBIG/);
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
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
