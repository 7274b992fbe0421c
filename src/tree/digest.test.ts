import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import type { StatPersisted } from "../jute/records.js";
import { digestMemoStats, nodeDigest, predictNodeDigest } from "./digest.js";

/** DigestCalculator.calculateDigest written out plainly: CRC32 of path, data, 60 stat bytes. */
function referenceDigest(path: string, data: Buffer | null, stat: StatPersisted): number {
  const statBytes = Buffer.alloc(60);
  statBytes.writeBigInt64BE(stat.czxid, 0);
  statBytes.writeBigInt64BE(stat.mzxid, 8);
  statBytes.writeBigInt64BE(stat.pzxid, 16);
  statBytes.writeBigInt64BE(stat.ctime, 24);
  statBytes.writeBigInt64BE(stat.mtime, 32);
  statBytes.writeInt32BE(stat.version, 40);
  statBytes.writeInt32BE(stat.cversion, 44);
  statBytes.writeInt32BE(stat.aversion, 48);
  statBytes.writeBigInt64BE(stat.ephemeralOwner, 52);
  const path_ = Buffer.from(path === "/" ? "" : path, "utf8");
  return crc32(Buffer.concat([path_, data ?? Buffer.alloc(0), statBytes]));
}

const stat = (): StatPersisted => ({
  czxid: 5n,
  mzxid: 6n,
  ctime: 1000n,
  mtime: 2000n,
  version: 1,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0n,
  pzxid: 5n,
});

describe("node digest", () => {
  it("is the CRC32 of path, data and stat, and the root hashes as the empty path", () => {
    const data = Buffer.from("hello");
    assert.equal(nodeDigest("/a", data, stat()), referenceDigest("/a", data, stat()));
    assert.equal(nodeDigest("/", null, stat()), referenceDigest("/", null, stat()));
    assert.equal(nodeDigest("/zookeeper/quota", data, stat()), 0);
  });

  it("never answers from a prediction made for other inputs", () => {
    const fields = [
      "czxid",
      "mzxid",
      "ctime",
      "mtime",
      "version",
      "cversion",
      "aversion",
      "ephemeralOwner",
      "pzxid",
    ] as const;
    const step = fc.record({
      path: fc.constantFrom("/p", "/q", "/p/r"),
      field: fc.constantFrom(...fields),
      bump: fc.integer({ min: 0, max: 2 }),
      newData: fc.boolean(),
      bytes: fc.uint8Array({ maxLength: 40 }),
      mispredict: fc.boolean(),
      otherPath: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const current = new Map<string, { data: Buffer | null; stat: StatPersisted }>();
        for (const { path, field, bump, newData, bytes, mispredict, otherPath } of steps) {
          const now = current.get(path) ?? { data: null, stat: stat() };
          // The same buffer may be handed in again with its stat changed, or a new buffer
          // with the same bytes: either way the answer must be computed for these inputs.
          const data = newData ? Buffer.from(bytes) : now.data;
          const next: Record<string, bigint | number> = { ...now.stat };
          const value = next[field]!;
          next[field] = typeof value === "bigint" ? value + BigInt(bump) : value + bump;
          current.set(path, { data, stat: next as unknown as StatPersisted });
          const nextStat = next as unknown as StatPersisted;
          // Prep predicts with these inputs, apply may come with these or (mispredicted) others.
          assert.equal(predictNodeDigest(path, data, nextStat), referenceDigest(path, data, nextStat));
          const applied = mispredict ? { ...nextStat, [field]: next[field] } : { ...nextStat };
          if (mispredict) {
            const value = applied[field];
            (applied as Record<string, bigint | number>)[field] =
              typeof value === "bigint" ? value + 1n : value + 1;
          }
          assert.equal(
            nodeDigest(otherPath ? `${path}x` : path, data, applied),
            referenceDigest(otherPath ? `${path}x` : path, data, applied),
          );
          assert.equal(nodeDigest(path, data, nextStat), referenceDigest(path, data, nextStat));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("recalls pipelined predictions for one path in order, with or without data", () => {
    // A parent under 200 pipelined creates: one prediction per create, then the applies.
    for (const data of [null, Buffer.from("parent")]) {
      const stats = Array.from({ length: 200 }, (_, i) => ({
        ...stat(),
        cversion: i + 1,
        pzxid: 100n + BigInt(i),
      }));
      for (const s of stats) predictNodeDigest("/parent", data, s);
      const before = { ...digestMemoStats };
      for (const s of stats)
        assert.equal(nodeDigest("/parent", data, s), referenceDigest("/parent", data, s));
      assert.equal(digestMemoStats.recalled - before.recalled, stats.length);
      assert.equal(digestMemoStats.computed, before.computed);
    }
  });

  it("is right when predictions pile up before their applies, some never applied", () => {
    const change = fc.record({
      path: fc.constantFrom("/p", "/q"),
      version: fc.integer({ min: 0, max: 3 }),
      pzxid: fc.integer({ min: 0, max: 3 }),
      withData: fc.boolean(),
      applied: fc.constantFrom("same", "other stat", "never"),
    });
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 40 }), (changes) => {
        const shared = Buffer.from("x");
        const made = changes.map((c) => {
          const s = { ...stat(), version: c.version, pzxid: BigInt(c.pzxid) };
          const data = c.withData ? shared : null;
          assert.equal(predictNodeDigest(c.path, data, s), referenceDigest(c.path, data, s));
          return { ...c, s, data };
        });
        for (const c of made) {
          if (c.applied === "never") continue;
          const s = c.applied === "same" ? c.s : { ...c.s, version: c.s.version + 10 };
          assert.equal(nodeDigest(c.path, c.data, s), referenceDigest(c.path, c.data, s));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("is right for every data length, whatever lengths came before", () => {
    // Short and long values in turn, both sides of the lengths whose scratch views are kept.
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ minLength: 4000, maxLength: 4200 }),
    );
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 8 }), (values) => {
        for (const value of values) {
          const data = Buffer.from(value);
          assert.equal(nodeDigest("/v", data, stat()), referenceDigest("/v", data, stat()));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("is right for data larger than its scratch buffer", () => {
    const data = Buffer.alloc(100_000, 7);
    assert.equal(nodeDigest("/big", data, stat()), referenceDigest("/big", data, stat()));
    assert.equal(predictNodeDigest("/big", data, stat()), referenceDigest("/big", data, stat()));
    assert.equal(nodeDigest("/big", data, stat()), referenceDigest("/big", data, stat()));
  });
});
