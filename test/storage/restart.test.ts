/** What a restart keeps: data, sessions with their timeouts, and the expiry of sessions nobody resumes. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CreateMode, ZooKeeperClient } from "../../src/client/index.js";
import { startStandalone } from "../../src/server/standalone.js";
import { fourLetterWord, waitFor, zookeeperClasspath } from "../support/apache-zookeeper.js";
import { localServerConfig } from "../support/local-config.js";
import { runProcess } from "../support/processes.js";

function config(dataDir: string, extra: Record<string, string> = {}) {
  return localServerConfig(dataDir, { tickTime: "100", "4lw.commands.whitelist": "*", ...extra });
}

const zktsBin = new URL("../../../bin/zkts", import.meta.url).pathname;

describe("restart", () => {
  it("brings sessions back with their timeouts: a resumed one keeps its ephemerals, an abandoned one expires", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-restart-"));
    const dataDir = join(dir, "data");
    try {
      const first = await startStandalone({ config: config(dataDir) });
      const kept = await ZooKeeperClient.connect(`127.0.0.1:${first.port}`, { sessionTimeoutMs: 1_500 });
      const gone = await ZooKeeperClient.connect(`127.0.0.1:${first.port}`, { sessionTimeoutMs: 1_500 });
      await kept.create("/kept", "k", { mode: CreateMode.EPHEMERAL });
      await gone.create("/gone", "g", { mode: CreateMode.EPHEMERAL });
      const { sessionId, sessionPassword } = kept;
      kept.abandon();
      gone.abandon();
      await first.close();

      const second = await startStandalone({ config: config(dataDir) });
      try {
        const observer = await ZooKeeperClient.connect(`127.0.0.1:${second.port}`);
        // Both sessions are back: their ephemerals are served.
        assert.ok(await observer.exists("/kept"));
        assert.ok(await observer.exists("/gone"));
        assert.equal((await observer.getData("/gone")).stat.ephemeralOwner, gone.sessionId);
        const resumed = await ZooKeeperClient.connect(`127.0.0.1:${second.port}`, {
          sessionId,
          sessionPassword,
          sessionTimeoutMs: 1_500,
        });
        assert.equal(resumed.sessionId, sessionId);
        // The abandoned session expires after its timeout and takes its ephemeral with it.
        await waitFor(async () => (await observer.exists("/gone")) === null, 10_000, 50);
        assert.ok(await observer.exists("/kept"));
        const dirs = await fourLetterWord("127.0.0.1", second.port, "dirs");
        assert.match(dirs, /datadir_size: [1-9]\d*/);
        await resumed.close();
        assert.equal(await observer.exists("/kept"), null);
        await observer.close();
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes gzip snapshots that zkts and ZooKeeper's SnapshotFormatter read, and purges old files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-gz-"));
    const dataDir = join(dir, "data");
    const versionDir = join(dataDir, "version-2");
    try {
      const settings = { "snapshot.compression.method": "gz", snapCount: "20" };
      for (let round = 0; round < 3; round++) {
        const server = await startStandalone({ config: config(dataDir, settings) });
        const client = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
        for (let i = 0; i < 30; i++) await client.create(`/r${round}n${i}`, `v${i}`);
        await client.close();
        await server.close();
      }
      const snapshots = readdirSync(versionDir).filter((name) => name.startsWith("snapshot."));
      assert.ok(snapshots.length > 4, snapshots.join(", "));
      assert.ok(
        snapshots.every((name) => name.endsWith(".gz")),
        snapshots.join(", "),
      );
      const newest = snapshots.sort((a, b) =>
        BigInt(`0x${a.split(".")[1]}`) < BigInt(`0x${b.split(".")[1]}`) ? 1 : -1,
      )[0]!;
      const formatted = await runProcess(
        "java",
        [
          "-cp",
          zookeeperClasspath,
          "org.apache.zookeeper.server.SnapshotFormatter",
          join(versionDir, newest),
        ],
        "",
        60_000,
      );
      assert.equal(formatted.code, 0, formatted.stderr);
      assert.match(formatted.stdout, /\/r1n29/);

      const purged = await runProcess(process.execPath, [zktsBin, "purge", dataDir, "-n", "3"], "", 30_000);
      assert.equal(purged.code, 0, purged.stderr);
      const left = readdirSync(versionDir).filter((name) => name.startsWith("snapshot."));
      assert.equal(left.length, 3);
      const server = await startStandalone({ config: config(dataDir, settings) });
      try {
        const client = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
        for (const round of [0, 1, 2]) assert.ok(await client.exists(`/r${round}n29`));
        await client.close();
      } finally {
        await server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
