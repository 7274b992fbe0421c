/**
 * The digest prep predicts for a txn must be the digest the tree has once it applies it,
 * and the tree's running digest must equal one computed from scratch over its nodes: for
 * random multis on a few paths (one path changed many times in a multi, a node created and
 * deleted in one, a parent under many creates), prepped several at a time ahead of apply.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { JuteWriter } from "../jute/binary.js";
import { OpCode } from "../jute/constants.js";
import { type MultiOp, writeMultiRequest } from "../jute/multi.js";
import type { ACL } from "../jute/records.js";
import { DataTree } from "../tree/data-tree.js";
import { addDigest, loadedNodeDigest } from "../tree/digest.js";
import { OutstandingChanges } from "./change-records.js";
import { type PreparedTxn, type PrepContext, prepWrite } from "./prep-request.js";

const open: ACL[] = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];
/** Created before the random txns (they stay unless a txn deletes them). */
const seeded = ["/d", "/d/a", "/d/b"];
/** Created and deleted by the random txns. */
const leaves = ["/d/c", "/d/a/x", "/e"];
const paths = [...seeded, ...leaves];

/** The tree digest summed afresh over every node (no running sum, no remembered digests). */
function digestFromScratch(tree: DataTree): bigint {
  let total = 0n;
  const visit = (path: string) => {
    const node = tree.getNode(path);
    if (node === undefined) return;
    total = addDigest(total, loadedNodeDigest(path, node.data, node.stat));
    for (const child of node.children) visit(path === "/" ? `/${child}` : `${path}/${child}`);
  };
  visit("/");
  return total;
}

function contextOf(tree: DataTree, changes: OutstandingChanges): PrepContext {
  return {
    tree: {
      getNode: (path) => tree.getNode(path),
      aclOf: (path) => {
        const node = tree.getNode(path);
        return node === undefined ? [] : tree.getACL(node);
      },
      getEphemerals: (id) => tree.getEphemerals(id),
      nodeDigest: (path) => tree.nodeDigest(path),
      get treeDigest() {
        return tree.treeDigest;
      },
    },
    changes,
    extendedTypesEnabled: false,
    skipACL: false,
    checkSession: () => {},
  };
}

const setDataArbitrary = fc
  .record({ path: fc.constantFrom(...paths), data: fc.uint8Array({ maxLength: 8 }) })
  .map(
    ({ path, data }): MultiOp => ({
      type: OpCode.setData,
      request: { path, data: Buffer.from(data), version: -1 },
    }),
  );

const opArbitrary: fc.Arbitrary<MultiOp> = fc.oneof(
  { arbitrary: setDataArbitrary, weight: 4 },
  fc
    .record({
      path: fc.constantFrom(...leaves),
      data: fc.uint8Array({ maxLength: 8 }),
      // Persistent, ephemeral, sequential, ephemeral sequential, container.
      flags: fc.constantFrom(0, 1, 2, 3, 4),
    })
    .map(
      ({ path, data, flags }): MultiOp => ({
        type: OpCode.create,
        request: { path, data: Buffer.from(data), acl: open, flags },
      }),
    ),
  fc.constantFrom(...paths).map((path): MultiOp => ({ type: OpCode.delete, request: { path, version: -1 } })),
  fc.record({ path: fc.constantFrom(...paths), data: fc.uint8Array({ maxLength: 8 }) }).map(
    ({ path, data }): MultiOp => ({
      type: OpCode.setData,
      request: { path, data: Buffer.from(data), version: -1 },
    }),
  ),
  fc.constantFrom(...paths).map((path): MultiOp => ({ type: OpCode.check, request: { path, version: -1 } })),
);

/** A read op in a write multi: the multi fails to decode after the ops before it were prepped. */
const readOpArbitrary = fc
  .constantFrom(...paths)
  .map((path): MultiOp => ({ type: OpCode.getData, request: { path, watch: false } }));

/** A txn: a multi of up to 8 ops (now and then one that cannot be decoded), or one op on its own. */
const txnArbitrary = fc.oneof(
  fc
    .array(fc.oneof({ arbitrary: opArbitrary, weight: 15 }, { arbitrary: readOpArbitrary, weight: 1 }), {
      minLength: 1,
      maxLength: 8,
    })
    .map((ops) => ({ multi: true, ops })),
  opArbitrary.map((op) => ({ multi: false, ops: [op] })),
);

function bodyOf(txn: { multi: boolean; ops: MultiOp[] }): { type: number; body: Buffer } {
  const w = new JuteWriter();
  if (txn.multi) {
    writeMultiRequest(w, txn.ops);
    return { type: OpCode.multi, body: Buffer.from(w.toBuffer()) };
  }
  // A lone op: its request as a multi op's, without the multi's headers.
  const one = new JuteWriter();
  writeMultiRequest(one, txn.ops);
  const bytes = one.toBuffer();
  return { type: txn.ops[0]!.type, body: Buffer.from(bytes.subarray(9, bytes.length - 9)) };
}

describe("prep's predicted digests", () => {
  it("are the digests the tree reaches, and the tree's running digest is the one from scratch", () => {
    // Multis that applied whole with two or more changes to one path: the property must see many.
    let multisRepeatingPath = 0;
    fc.assert(
      fc.property(
        fc.array(txnArbitrary, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        (txns, ahead) => {
          const tree = new DataTree();
          const changes = new OutstandingChanges();
          const ctx = contextOf(tree, changes);
          let zxid = 0n;
          for (const path of seeded) {
            tree.applyTxn(
              { clientId: 1n, cxid: 0, zxid: ++zxid, time: 1000n, type: OpCode.create },
              {
                type: OpCode.create,
                txn: { path, data: Buffer.from(path), acl: open, ephemeral: false, parentCVersion: -1 },
              },
            );
          }
          const prepped: PreparedTxn[] = [];
          const applyOldest = () => {
            const { header, txn, digest } = prepped.shift()!;
            const result = tree.applyTxn(header, txn);
            changes.applied(header.zxid);
            if (txn.type === OpCode.multi && result.err === 0) {
              const changed = txn.txns.map((op) => (op as { txn: { path?: string } }).txn.path);
              if (new Set(changed).size < changed.length) multisRepeatingPath++;
            }
            if (digest !== null) assert.equal(tree.treeDigest, digest.treeDigest, `zxid ${header.zxid}`);
            assert.equal(tree.treeDigest, digestFromScratch(tree));
          };
          for (const txn of txns) {
            const { type, body } = bodyOf(txn);
            prepped.push(
              prepWrite(
                ctx,
                { sessionId: 1n, cxid: 1, type, body, authInfo: [] },
                ++zxid,
                1000 + Number(zxid),
              ),
            );
            // Several txns prepped before the oldest applies, as under a pipelined load.
            if (prepped.length >= ahead) applyOldest();
          }
          while (prepped.length > 0) applyOldest();
        },
      ),
      { numRuns: 1000, seed: 20261202 },
    );
    assert.ok(multisRepeatingPath >= 100, `only ${multisRepeatingPath} multis changed a path twice`);
  });
});
