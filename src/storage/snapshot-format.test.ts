import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { OpCode } from "../jute/constants.js";
import type { ACL, TxnHeader } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { DataTree } from "../tree/data-tree.js";
import { readSnapshot, snapshotChunks } from "./snapshot-format.js";

const paths = ["/a", "/a/b", "/a/b/c", "/d", "/d/e", "/f"];
const acls: ACL[][] = [
  [{ perms: 15, id: { scheme: "world", id: "anyone" } }],
  [{ perms: 3, id: { scheme: "world", id: "anyone" } }],
  [{ perms: 31, id: { scheme: "digest", id: "u:x" } }],
];

type Step =
  | { kind: "create"; path: number; acl: number; owner: number; data: number }
  | { kind: "delete"; path: number }
  | { kind: "setData"; path: number; data: number }
  | { kind: "setACL"; path: number; acl: number }
  | { kind: "closeSession"; owner: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("create" as const),
    path: fc.nat(paths.length - 1),
    acl: fc.nat(acls.length - 1),
    owner: fc.nat(3),
    data: fc.nat(5),
  }),
  fc.record({ kind: fc.constant("delete" as const), path: fc.nat(paths.length - 1) }),
  fc.record({ kind: fc.constant("setData" as const), path: fc.nat(paths.length - 1), data: fc.nat(5) }),
  fc.record({
    kind: fc.constant("setACL" as const),
    path: fc.nat(paths.length - 1),
    acl: fc.nat(acls.length - 1),
  }),
  fc.record({ kind: fc.constant("closeSession" as const), owner: fc.integer({ min: 1, max: 3 }) }),
);

/**
 * The txn prep would log for `s` against `tree` now (parent cversions and versions as
 * prep computes them), or null where prep would refuse it.
 */
function txnFor(tree: DataTree, s: Step, zxid: bigint): { header: TxnHeader; txn: Txn } | null {
  const header = (type: number, clientId = 1n): TxnHeader => ({
    clientId,
    cxid: 0,
    zxid,
    time: zxid * 1000n,
    type,
  });
  switch (s.kind) {
    case "create": {
      const path = paths[s.path]!;
      const parent = tree.getNode(path.slice(0, path.lastIndexOf("/")));
      if (parent === undefined || tree.getNode(path) !== undefined || parent.stat.ephemeralOwner !== 0n)
        return null;
      const parentCVersion = (parent?.stat.cversion ?? 0) + 1;
      const data = s.data === 0 ? null : Buffer.alloc(s.data * 7, s.data);
      return {
        header: header(OpCode.create, BigInt(s.owner || 1)),
        txn: {
          type: OpCode.create,
          txn: { path, data, acl: acls[s.acl]!, ephemeral: s.owner > 0, parentCVersion },
        },
      };
    }
    case "delete":
      if ((tree.getNode(paths[s.path]!)?.children.size ?? 1) > 0) return null;
      return { header: header(OpCode.delete), txn: { type: OpCode.delete, txn: { path: paths[s.path]! } } };
    case "setData": {
      const path = paths[s.path]!;
      if (tree.getNode(path) === undefined) return null;
      const version = (tree.getNode(path)?.stat.version ?? 0) + 1;
      return {
        header: header(OpCode.setData),
        txn: { type: OpCode.setData, txn: { path, data: Buffer.from(`v${s.data}`), version } },
      };
    }
    case "setACL": {
      const path = paths[s.path]!;
      if (tree.getNode(path) === undefined) return null;
      const version = (tree.getNode(path)?.stat.aversion ?? 0) + 1;
      return {
        header: header(OpCode.setACL),
        txn: { type: OpCode.setACL, txn: { path, acl: acls[s.acl]!, version } },
      };
    }
    case "closeSession": {
      const owner = BigInt(s.owner);
      return {
        header: header(OpCode.closeSession, owner),
        txn: { type: OpCode.closeSession, txn: { paths2Delete: [...tree.getEphemerals(owner)] } },
      };
    }
  }
}

function describeTree(tree: DataTree): string[] {
  return [...tree.walk()].map(
    ([path, node]) =>
      `${path} ${node.data?.toString("hex") ?? "null"} ${JSON.stringify(tree.getACL(node))} ${JSON.stringify(node.stat, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`,
  );
}

describe("fuzzy snapshots", () => {
  it("loaded and replayed from their zxid, equal the live tree however writes interleave with the walk", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40 }),
        fc.array(step, { maxLength: 40 }),
        async (before, during) => {
          const live = new DataTree();
          let zxid = 0n;
          for (const s of before) {
            const entry = txnFor(live, s, zxid + 1n);
            if (entry === null) continue;
            zxid++;
            live.applyTxn(entry.header, entry.txn);
          }
          const snapZxid = live.lastProcessedZxid;
          const sessions: [bigint, number][] = [[1n, 30_000]];
          const source = {
            sessions,
            acls: live.acls.entries(),
            zxid: snapZxid,
            getNode: (path: string) => live.getNode(path),
            digestAtEnd: () => live.lastZxidDigest,
          };
          // Tiny chunks: the walk yields after nearly every node, and a write lands at each yield.
          const logged: { header: TxnHeader; txn: Txn }[] = [];
          const chunks: Buffer[] = [];
          let pending = [...during];
          for await (const chunk of snapshotChunks(source, 16)) {
            chunks.push(chunk);
            const s = pending.shift();
            if (s === undefined) continue;
            const entry = txnFor(live, s, zxid + 1n);
            if (entry === null) continue;
            zxid++;
            live.applyTxn(entry.header, entry.txn);
            logged.push(entry);
          }
          pending = [];
          const restored = new DataTree();
          const summary = readSnapshot(Buffer.concat(chunks), {
            acls: (list) => restored.beginLoad(list),
            node: (node) => restored.loadNode(node.path, node.data, node.aclIndex, node.stat),
          });
          restored.finishLoad(snapZxid);
          assert.deepEqual(summary.sessions, sessions);
          for (const entry of logged) {
            restored.applyTxn(entry.header, entry.txn);
            if (summary.digest !== null && entry.header.zxid === summary.digest.zxid) {
              assert.equal(restored.treeDigest, summary.digest.digest);
            }
          }
          assert.deepEqual(describeTree(restored), describeTree(live));
          assert.equal(restored.treeDigest, live.treeDigest);
          for (const owner of [1n, 2n, 3n]) {
            assert.deepEqual(
              [...restored.getEphemerals(owner)].sort(),
              [...live.getEphemerals(owner)].sort(),
            );
          }
        },
      ),
      {
        numRuns: 300,
        // A node created mid-walk, with an ACL list first used then, under a parent not yet written.
        examples: [
          [
            [{ kind: "create", path: 0, acl: 0, owner: 0, data: 1 }],
            [
              { kind: "create", path: 1, acl: 1, owner: 0, data: 2 },
              { kind: "setData", path: 0, data: 3 },
              { kind: "create", path: 2, acl: 2, owner: 2, data: 0 },
            ],
          ],
        ],
      },
    );
  });
});
