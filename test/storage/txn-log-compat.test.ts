/** zkts's txn log bytes against Apache ZooKeeper's own reader, and Apache ZooKeeper's logs against ours. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { CreateMode, OpCode, ZooKeeperClient } from "../../src/client/index.js";
import {
  encodeLogHeader,
  encodeLogRecord,
  type LogEntry,
  parseTxnLog,
} from "../../src/storage/txn-log-format.js";
import { DataTree } from "../../src/tree/data-tree.js";
import { startApacheZooKeeper, zookeeperClasspath } from "../support/apache-zookeeper.js";

const run = promisify(execFile);
const acl = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];

describe("txn log compatibility with Apache ZooKeeper 3.8", () => {
  it("ZooKeeper's TxnLogToolkit reads a log zkts wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-log-"));
    try {
      const header = (zxid: bigint, type: number) => ({
        clientId: 0x1000001n,
        cxid: Number(zxid),
        zxid,
        time: 1_764_000_000_000n,
        type,
      });
      const entries: LogEntry[] = [
        {
          header: header(1n, OpCode.createSession),
          txn: { type: OpCode.createSession, txn: { timeOut: 30_000 } },
          digest: null,
        },
        {
          header: header(2n, OpCode.create),
          txn: {
            type: OpCode.create,
            txn: { path: "/a", data: Buffer.from("hello"), acl, ephemeral: false, parentCVersion: 1 },
          },
          digest: { version: 2, treeDigest: 99n },
        },
        {
          header: header(3n, OpCode.setData),
          txn: { type: OpCode.setData, txn: { path: "/a", data: Buffer.from("x"), version: 1 } },
          digest: null,
        },
        { header: header(4n, OpCode.error), txn: { type: OpCode.error, txn: { err: -110 } }, digest: null },
        {
          header: header(5n, OpCode.closeSession),
          txn: { type: OpCode.closeSession, txn: { paths2Delete: [] } },
          digest: null,
        },
      ];
      const file = join(dir, "log.1");
      writeFileSync(
        file,
        Buffer.concat([encodeLogHeader(), ...entries.map(encodeLogRecord), Buffer.alloc(4096)]),
      );
      const { stdout } = await run("java", [
        "-cp",
        zookeeperClasspath,
        "org.apache.zookeeper.server.persistence.TxnLogToolkit",
        "-d",
        file,
      ]);
      assert.match(stdout, /txnlog format version 2/);
      assert.match(stdout, /zxid 0x1 createSession 30000/);
      assert.match(stdout, /zxid 0x2 create \/a,hello/);
      assert.match(stdout, /zxid 0x3 setData \/a,x,1/);
      assert.match(stdout, /zxid 0x4 error -110/);
      assert.match(stdout, /EOF reached after 5 txns/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("zkts reads the log Apache ZooKeeper wrote, digests included", async () => {
    const zookeeper = await startApacheZooKeeper();
    try {
      const client = await ZooKeeperClient.connect(`${zookeeper.host}:${zookeeper.port}`);
      await client.create("/p", "1");
      await client.create("/p/e", null, { mode: CreateMode.EPHEMERAL });
      await client.setData("/p", "2");
      await client.create("/p", "again").catch(() => undefined);
      await client.setACL("/p", [{ perms: 15, id: { scheme: "world", id: "anyone" } }]);
      await client.create("/q", "s", { mode: CreateMode.PERSISTENT_SEQUENTIAL });
      await client.delete("/p/e");
      await client.close();
      const logDir = join(zookeeper.dataDir, "version-2");
      const logs = readdirSync(logDir).filter((name) => name.startsWith("log."));
      assert.equal(logs.length, 1);
      const parsed = parseTxnLog(readFileSync(join(logDir, logs[0]!)));
      assert.deepEqual(
        parsed.entries.map((entry) => entry.header.type),
        [
          OpCode.createSession,
          OpCode.create2,
          OpCode.create2,
          OpCode.setData,
          OpCode.error,
          OpCode.setACL,
          OpCode.create2,
          OpCode.delete,
          OpCode.closeSession,
        ],
      );
      // ZooKeeper 3.8 writes a tree digest after every txn except the ErrorTxn of a failed write.
      assert.deepEqual(
        parsed.entries.map((entry) => entry.digest !== null),
        [true, true, true, true, false, true, true, true, true],
      );
      assert.equal(parsed.tornTail, false);
      // Replayed from an empty tree, zkts's tree digest is ZooKeeper's after every txn.
      const tree = new DataTree();
      for (const entry of parsed.entries) {
        tree.applyTxn(entry.header, entry.txn);
        if (entry.digest !== null) assert.equal(tree.treeDigest, entry.digest.treeDigest);
      }
    } finally {
      await zookeeper.stop();
    }
  });
});
