/**
 * Data directories move between zkts and Apache ZooKeeper 3.8 in both directions: each
 * server starts on the other's snapshots and logs and serves the same tree, compared
 * node by node through a client (data, stats, ACLs, ephemerals of a live session).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { ZooKeeperClient } from "../../src/client/index.js";
import { startStandalone } from "../../src/server/standalone.js";
import { fourLetterWord, startApacheZooKeeper, zookeeperClasspath } from "../support/apache-zookeeper.js";
import { localServerConfig } from "../support/local-config.js";
import { dumpTree, mixedWorkload } from "../support/tree-dump.js";

const rounds = 40;
const run = promisify(execFile);

function zktsConfig(dataDir: string) {
  return localServerConfig(dataDir, {
    tickTime: "2000",
    snapCount: "60",
    extendedTypesEnabled: "true",
    "4lw.commands.whitelist": "*",
  });
}

function dataFiles(dataDir: string): { snapshots: string[]; logs: string[] } {
  const names = readdirSync(join(dataDir, "version-2"));
  return {
    snapshots: names.filter((name) => name.startsWith("snapshot.")),
    logs: names.filter((name) => name.startsWith("log.")),
  };
}

describe("data directories shared with Apache ZooKeeper 3.8", () => {
  it("Apache ZooKeeper serves the tree zkts wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-to-zk-"));
    const dataDir = join(dir, "data");
    try {
      const zkts = await startStandalone({ config: zktsConfig(dataDir) });
      const client = await ZooKeeperClient.connect(`127.0.0.1:${zkts.port}`);
      const holder = await ZooKeeperClient.connect(`127.0.0.1:${zkts.port}`, { sessionTimeoutMs: 30_000 });
      let written: Awaited<ReturnType<typeof dumpTree>>;
      let ours: string;
      try {
        await mixedWorkload(client, holder, rounds);
        written = await dumpTree(client);
        await client.close();
        // A snapshot of the idle server, set aside: Apache ZooKeeper writes its own of the same
        // zxid once it has replayed our logs, and its SnapshotFormatter must print both alike.
        const name = await zkts.dataDirectory!.takeSnapshot(zkts.server.snapshotSource());
        ours = join(dir, name);
        renameSync(join(dataDir, "version-2", name), ours);
      } finally {
        await client.close();
        holder.abandon();
        await zkts.close();
      }
      const files = dataFiles(dataDir);
      assert.ok(files.snapshots.length >= 3, `snapshots: ${files.snapshots.join(", ")}`);
      assert.ok(files.logs.length >= 2, `logs: ${files.logs.join(", ")}`);

      const zookeeper = await startApacheZooKeeper({ dataDir });
      try {
        const reader = await ZooKeeperClient.connect(`${zookeeper.host}:${zookeeper.port}`);
        const served = await dumpTree(reader);
        await reader.close();
        assert.equal(served.length, written.length);
        assert.deepEqual(served, written);
        assert.ok(served.some((node) => node.path === "/app/session-owned"));
        const mntr = await fourLetterWord(zookeeper.host, zookeeper.port, "mntr");
        assert.match(mntr, /zk_digest_mismatches_count\s+0\b/);
        const theirs = join(dataDir, "version-2", basename(ours));
        assert.ok(existsSync(theirs), "Apache ZooKeeper took its start-up snapshot");
        const format = async (file: string) =>
          (
            await run("java", [
              "-cp",
              zookeeperClasspath,
              "org.apache.zookeeper.server.SnapshotFormatter",
              file,
            ])
          ).stdout;
        const [ourText, theirText] = await Promise.all([format(ours), format(theirs)]);
        assert.match(ourText, /ZNode Details \(count=\d+\)/);
        assert.equal(ourText, theirText);
      } finally {
        await zookeeper.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("mntr shows fsync and snapshot times under ZooKeeper's names, with the same counts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-mntr-times-"));
    const writes = 10;
    // Each server: a new data directory (one snapshot at start-up), then `writes` creates one
    // at a time (one fsync each, after the createSession's).
    const timings = async (connectString: string, port: number, host: string) => {
      const client = await ZooKeeperClient.connect(connectString);
      for (let i = 0; i < writes; i++) await client.create(`/t${i}`, Buffer.from("x"));
      await client.close();
      const rows = (await fourLetterWord(host, port, "mntr"))
        .split("\n")
        .map((line) => line.split("\t"))
        .filter(([key]) => /^zk_(avg|min|max|cnt|sum)_(fsynctime|snapshottime)$/.test(key ?? ""));
      return new Map(rows.map(([key, value]) => [key!, value!]));
    };
    try {
      const zkts = await startStandalone({ config: zktsConfig(join(dir, "zkts")) });
      let ours: Map<string, string>;
      try {
        ours = await timings(`127.0.0.1:${zkts.port}`, zkts.port, "127.0.0.1");
      } finally {
        await zkts.close();
      }
      const zookeeper = await startApacheZooKeeper({ dataDir: join(dir, "zookeeper") });
      let theirs: Map<string, string>;
      try {
        theirs = await timings(`${zookeeper.host}:${zookeeper.port}`, zookeeper.port, zookeeper.host);
      } finally {
        await zookeeper.stop();
      }
      assert.equal(theirs.size, 10, [...theirs.keys()].join(", "));
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
      for (const [key, value] of ours) {
        // The average is a Java double ("0.0", "1.25"); the rest are whole milliseconds or counts.
        assert.match(value, key.startsWith("zk_avg_") ? /^\d+\.\d+$/ : /^\d+$/, `${key} ${value}`);
      }
      assert.equal(ours.get("zk_cnt_snapshottime"), "1");
      assert.equal(theirs.get("zk_cnt_snapshottime"), "1");
      assert.ok(Number(ours.get("zk_cnt_fsynctime")) >= writes, `fsyncs ${ours.get("zk_cnt_fsynctime")}`);
      assert.ok(Number(theirs.get("zk_cnt_fsynctime")) >= writes, `fsyncs ${theirs.get("zk_cnt_fsynctime")}`);
      assert.ok(Number(ours.get("zk_max_fsynctime")) <= Number(ours.get("zk_sum_fsynctime")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("zkts serves the tree Apache ZooKeeper wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zk-to-zkts-"));
    const dataDir = join(dir, "data");
    try {
      const zookeeper = await startApacheZooKeeper({
        dataDir,
        systemProperties: { "zookeeper.snapCount": "60" },
      });
      let written: Awaited<ReturnType<typeof dumpTree>>;
      try {
        const client = await ZooKeeperClient.connect(`${zookeeper.host}:${zookeeper.port}`);
        const holder = await ZooKeeperClient.connect(`${zookeeper.host}:${zookeeper.port}`, {
          sessionTimeoutMs: 30_000,
        });
        try {
          await mixedWorkload(client, holder, rounds);
          written = await dumpTree(client);
        } finally {
          await client.close();
          holder.abandon();
        }
      } finally {
        await zookeeper.stop();
      }
      const files = dataFiles(dataDir);
      assert.ok(files.snapshots.length >= 3, `snapshots: ${files.snapshots.join(", ")}`);
      assert.ok(files.logs.length >= 2, `logs: ${files.logs.join(", ")}`);

      const zkts = await startStandalone({ config: zktsConfig(dataDir) });
      try {
        const reader = await ZooKeeperClient.connect(`127.0.0.1:${zkts.port}`);
        const served = await dumpTree(reader);
        await reader.close();
        assert.deepEqual(served, written);
        assert.ok(served.some((node) => node.path === "/app/session-owned"));
        assert.equal(zkts.server.stats.digestMismatches, 0);
      } finally {
        await zkts.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
