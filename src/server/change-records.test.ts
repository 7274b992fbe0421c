import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ChangeRecord, OutstandingChanges } from "./change-records.js";

const record = (zxid: bigint, path: string): ChangeRecord => ({
  zxid,
  path,
  stat: null,
  childCount: 0,
  acl: [],
  data: null,
  nodeDigest: 0,
  treeDigest: zxid,
});

describe("OutstandingChanges", () => {
  it("forgets applied records in order, across many compactions, and keeps the rest", () => {
    const changes = new OutstandingChanges();
    let next = 1n;
    let applied = 0n;
    // Prep stays up to 700 records ahead of apply, for 5000 records: the queue is compacted often.
    while (applied < 5000n) {
      while (next <= 5000n && next - applied <= 700n) {
        changes.add(record(next, `/p${next % 50n}`));
        next++;
      }
      applied += 37n;
      if (applied > next - 1n) applied = next - 1n;
      changes.applied(applied);
      assert.equal(changes.size, Number(next - 1n - applied));
      if (changes.size > 0) assert.equal(changes.last()?.zxid, next - 1n);
      else assert.equal(changes.last(), undefined);
      for (let p = 0n; p < 50n; p++) {
        // The newest record for the path, if it is not applied yet.
        let zxid = next - 1n - ((((next - 1n - p) % 50n) + 50n) % 50n);
        if (zxid <= 0n || zxid <= applied) zxid = -1n;
        assert.equal(changes.latest(`/p${p}`)?.zxid ?? -1n, zxid, `/p${p} after ${applied}`);
      }
    }
  });

  it("rolls back a failed multi's records and restores the ones it replaced", () => {
    const changes = new OutstandingChanges();
    changes.add(record(1n, "/a"));
    changes.add(record(2n, "/b"));
    changes.applied(1n);
    const saved = changes.remember(["/a", "/b"]);
    changes.add(record(3n, "/a"));
    changes.add(record(3n, "/b"));
    changes.rollback(3n, saved);
    assert.equal(changes.size, 1);
    assert.equal(changes.last()?.zxid, 2n);
    // /a's record was applied meanwhile: the tree has it, not the changes.
    assert.equal(changes.latest("/a"), undefined);
    assert.equal(changes.latest("/b")?.zxid, 2n);
  });
});
