import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, EventType, OpCode } from "../jute/constants.js";
import type { ACL, TxnHeader } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { containerDeletionCandidates } from "./containers.js";
import { DataTree } from "./data-tree.js";
import { ttlOwner } from "./ephemeral-type.js";
import { validatePath } from "./paths.js";

const open: ACL[] = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];
let zxid = 0n;
const header = (type: number, clientId = 1n, time = 1000n): TxnHeader => ({
  clientId,
  cxid: 0,
  zxid: ++zxid,
  time,
  type,
});
const create = (
  tree: DataTree,
  path: string,
  options: { ephemeral?: boolean; owner?: bigint; cversion?: number } = {},
) =>
  tree.applyTxn(header(OpCode.create, options.owner ?? 1n), {
    type: OpCode.create,
    txn: {
      path,
      data: Buffer.from("d"),
      acl: open,
      ephemeral: options.ephemeral ?? false,
      parentCVersion: options.cversion ?? -1,
    },
  });

describe("DataTree", () => {
  it("starts with ZooKeeper's system nodes and their client-visible stats", () => {
    const tree = new DataTree();
    assert.deepEqual([...tree.getNode("/")!.children], ["zookeeper"]);
    assert.equal(tree.statOf(tree.getNode("/")!).cversion, -1);
    assert.equal(tree.statOf(tree.getNode("/zookeeper")!).cversion, -2);
    const config = tree.getNode("/zookeeper/config")!;
    assert.equal(config.stat.aversion, -1);
    assert.deepEqual(tree.getACL(config), [{ perms: 1, id: { scheme: "world", id: "anyone" } }]);
    assert.equal(tree.nodeCount, 4);
    assert.equal(tree.getAllChildrenNumber("/"), 3);
  });

  it("loads a snapshot's nodes with the digest a live tree has, and refuses a path listed twice", () => {
    const live = new DataTree();
    live.applyTxn(header(OpCode.create), {
      type: OpCode.create,
      txn: { path: "/a", data: Buffer.from("x"), acl: open, ephemeral: false, parentCVersion: 1 },
    });
    const loaded = new DataTree();
    loaded.beginLoad([[1n, open]]);
    const stat = (path: string) => ({ ...live.getNode(path)!.stat });
    loaded.loadNode("", Buffer.alloc(0), 1n, stat("/"));
    loaded.loadNode("/zookeeper", Buffer.alloc(0), 1n, stat("/zookeeper"));
    loaded.loadNode("/zookeeper/quota", Buffer.alloc(0), 1n, stat("/zookeeper/quota"));
    loaded.loadNode("/a", Buffer.from("x"), 1n, stat("/a"));
    loaded.finishLoad(zxid);
    assert.equal(loaded.treeDigest, live.treeDigest); // nodes under /zookeeper/ are not digested
    assert.throws(() => loaded.loadNode("/a", Buffer.from("x"), 1n, stat("/a")), /holds \/a twice/);
  });

  it("creates with stats, moves the parent's cversion and pzxid, and triggers watches", () => {
    const tree = new DataTree();
    const result = create(tree, "/a");
    assert.equal(result.err, 0);
    assert.deepEqual(
      result.events.map((event) => [event.type, event.path]),
      [
        [EventType.NodeCreated, "/a"],
        [EventType.NodeChildrenChanged, "/"],
      ],
    );
    const node = tree.getNode("/a")!;
    assert.equal(node.stat.czxid, result.zxid);
    assert.equal(node.stat.pzxid, result.zxid);
    const root = tree.getNode("/")!;
    assert.equal(root.stat.cversion, 1);
    assert.equal(root.stat.pzxid, result.zxid);
    assert.equal(tree.lastProcessedZxid, result.zxid);
  });

  it("counts deletions in the client's cversion but not in the stored one", () => {
    const tree = new DataTree();
    create(tree, "/p");
    create(tree, "/p/c");
    const deleted = tree.applyTxn(header(OpCode.delete), { type: OpCode.delete, txn: { path: "/p/c" } });
    assert.equal(deleted.err, 0);
    const parent = tree.getNode("/p")!;
    assert.equal(parent.stat.cversion, 1);
    assert.equal(tree.statOf(parent).cversion, 2);
    assert.equal(parent.stat.pzxid, deleted.zxid);
  });

  it("returns ZooKeeper's errors when replaying txns that do not fit", () => {
    const tree = new DataTree();
    create(tree, "/x");
    assert.equal(create(tree, "/x").err, ErrorCode.NODEEXISTS);
    assert.equal(create(tree, "/none/y").err, ErrorCode.NONODE);
    const missing = tree.applyTxn(header(OpCode.setData), {
      type: OpCode.setData,
      txn: { path: "/nope", data: null, version: 1 },
    });
    assert.equal(missing.err, ErrorCode.NONODE);
  });

  it("tracks ephemerals per session and deletes them on closeSession", () => {
    const tree = new DataTree();
    create(tree, "/e1", { ephemeral: true, owner: 7n });
    create(tree, "/e2", { ephemeral: true, owner: 7n });
    create(tree, "/other", { ephemeral: true, owner: 8n });
    assert.deepEqual([...tree.getEphemerals(7n)].sort(), ["/e1", "/e2"]);
    const closed = tree.applyTxn(header(OpCode.closeSession, 7n), {
      type: OpCode.closeSession,
      txn: { paths2Delete: ["/e2"] },
    });
    assert.equal(tree.getNode("/e1"), undefined);
    assert.equal(tree.getNode("/e2"), undefined);
    assert.ok(tree.getNode("/other"));
    assert.deepEqual(
      closed.events.filter((event) => event.type === EventType.NodeDeleted).map((event) => event.path),
      ["/e2", "/e1"],
    );
  });

  it("turns the ops before a failed multi into OK errors and the rest into RUNTIMEINCONSISTENCY", () => {
    const tree = new DataTree();
    const multi: Txn = {
      type: OpCode.multi,
      txns: [
        {
          type: OpCode.create,
          txn: { path: "/m", data: null, acl: open, ephemeral: false, parentCVersion: -1 },
        },
        { type: OpCode.error, txn: { err: ErrorCode.NONODE } },
        { type: OpCode.error, txn: { err: ErrorCode.RUNTIMEINCONSISTENCY } },
      ],
    };
    const result = tree.applyTxn(header(OpCode.multi), multi);
    assert.equal(tree.getNode("/m"), undefined);
    assert.deepEqual(
      result.multiResults?.map((sub) => [sub.type, sub.err]),
      [
        [OpCode.error, 0],
        [OpCode.error, ErrorCode.NONODE],
        [OpCode.error, ErrorCode.RUNTIMEINCONSISTENCY],
      ],
    );
  });

  it("applies a multi's ops with their own types and lists all their triggers on the multi, in order", () => {
    const tree = new DataTree();
    create(tree, "/p");
    const multi: Txn = {
      type: OpCode.multi,
      txns: [
        {
          type: OpCode.create,
          txn: { path: "/p/c", data: null, acl: open, ephemeral: false, parentCVersion: -1 },
        },
        { type: OpCode.setData, txn: { path: "/p/c", data: Buffer.from("v"), version: 1 } },
        { type: OpCode.delete, txn: { path: "/p/c" } },
        { type: OpCode.setData, txn: { path: "/p", data: Buffer.from("w"), version: 1 } },
      ],
    };
    const result = tree.applyTxn(header(OpCode.multi), multi);
    assert.equal(result.err, 0);
    assert.deepEqual(
      result.events.map((event) => [event.type, event.path]),
      [
        [EventType.NodeCreated, "/p/c"],
        [EventType.NodeChildrenChanged, "/p"],
        [EventType.NodeDataChanged, "/p/c"],
        [EventType.NodeDeleted, "/p/c"],
        [EventType.NodeChildrenChanged, "/p"],
        [EventType.NodeDataChanged, "/p"],
      ],
    );
    const subs = result.multiResults ?? [];
    assert.deepEqual(
      subs.map((sub) => [sub.type, sub.err, sub.path, sub.zxid, sub.events.length]),
      [
        [OpCode.create, 0, "/p/c", result.zxid, 0],
        [OpCode.setData, 0, "/p/c", result.zxid, 0],
        [OpCode.delete, 0, "/p/c", result.zxid, 0],
        [OpCode.setData, 0, "/p", result.zxid, 0],
      ],
    );
    // A plain create answers with its path only; a setData with the stat it left.
    assert.equal(subs[0]?.stat, null);
    assert.equal(subs[1]?.stat?.version, 1);
    assert.equal(subs[3]?.stat?.mzxid, result.zxid);
    assert.equal(tree.getNode("/p")?.data?.toString(), "w");
  });

  it("shares and releases ACL cache entries by reference count", () => {
    const tree = new DataTree();
    const before = tree.acls.size;
    create(tree, "/a1");
    create(tree, "/a2");
    assert.equal(tree.acls.size, before + 1);
    tree.applyTxn(header(OpCode.delete), { type: OpCode.delete, txn: { path: "/a1" } });
    assert.equal(tree.acls.size, before + 1);
    tree.applyTxn(header(OpCode.delete), { type: OpCode.delete, txn: { path: "/a2" } });
    assert.equal(tree.acls.size, before);
  });

  it("finds empty used containers and expired TTL nodes", () => {
    const tree = new DataTree({ extendedTypesEnabled: true });
    tree.applyTxn(header(OpCode.createContainer), {
      type: OpCode.createContainer,
      txn: { path: "/box", data: null, acl: open, parentCVersion: -1 },
    });
    tree.applyTxn(header(OpCode.createContainer), {
      type: OpCode.createContainer,
      txn: { path: "/fresh", data: null, acl: open, parentCVersion: -1 },
    });
    create(tree, "/box/item");
    assert.deepEqual(containerDeletionCandidates(tree, 10_000), []);
    tree.applyTxn(header(OpCode.delete), { type: OpCode.delete, txn: { path: "/box/item" } });
    tree.applyTxn(header(OpCode.createTTL, 1n, 1000n), {
      type: OpCode.createTTL,
      txn: { path: "/ttl", data: null, acl: open, parentCVersion: -1, ttl: 500n },
    });
    assert.equal(tree.statOf(tree.getNode("/ttl")!).ephemeralOwner, 0n);
    assert.equal(tree.getNode("/ttl")!.stat.ephemeralOwner, ttlOwner(500n));
    assert.deepEqual(containerDeletionCandidates(tree, 1400).sort(), ["/box"]);
    assert.deepEqual(containerDeletionCandidates(tree, 1600).sort(), ["/box", "/ttl"]);
  });
});

describe("validatePath (PathUtils)", () => {
  const cases: [string, boolean][] = [
    ["/", true],
    ["/a", true],
    ["/a/b.c", true],
    ["/a/..b", true],
    ["", false],
    ["a", false],
    ["/a/", false],
    ["//a", false],
    ["/a/./b", false],
    ["/a/../b", false],
    ["/a/.", false],
    ["/a\u0000b", false],
    ["/a\u0001", false],
    ["/a\ud800", false],
  ];
  for (const [path, valid] of cases) {
    it(`${JSON.stringify(path)} is ${valid ? "valid" : "invalid"}`, () => {
      assert.equal(validatePath(path, false) === null, valid);
    });
  }
  it("allows a trailing slash for sequential nodes", () => {
    assert.equal(validatePath("/a/", true), null);
  });
});
