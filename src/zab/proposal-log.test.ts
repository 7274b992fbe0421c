import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ProposalLog } from "./proposal-log.js";
import { makeZxid, type Proposal } from "./zab-types.js";

/** A log over epochs 1..3: each epoch's proposals numbered 1, 2, 3, ... after `base`. */
const logArbitrary = fc
  .tuple(
    fc.integer({ min: 0, max: 5 }),
    fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 3 }),
  )
  .map(([baseCounter, perEpoch]) => {
    const base = makeZxid(1n, BigInt(baseCounter));
    const entries: Proposal<number>[] = [];
    perEpoch.forEach((count, i) => {
      const epoch = BigInt(i + 1);
      const first = i === 0 ? BigInt(baseCounter) + 1n : 1n;
      for (let c = 0n; c < BigInt(count); c++)
        entries.push({ zxid: makeZxid(epoch, first + c), txn: entries.length });
    });
    return { base, entries };
  });

/** Points to ask about: around every entry and the base, past the end, and epoch boundaries. */
function probes(base: bigint, entries: readonly Proposal<number>[]): bigint[] {
  const points = new Set<bigint>([0n, base, makeZxid(4n, 0n), makeZxid(2n, 0n), makeZxid(3n, 0n)]);
  for (const { zxid } of entries) for (const d of [-1n, 0n, 1n]) points.add(zxid + d);
  return [...points].filter((zxid) => zxid >= 0n);
}

describe("ProposalLog", () => {
  it("between and floor answer as a scan of the entries does, after trims", () => {
    fc.assert(
      fc.property(
        logArbitrary,
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 8 }),
        (log, trimAt, keep) => {
          const { base, entries } = log;
          const proposals = new ProposalLog(base, entries);
          // Trim as commits do: forget committed entries beyond the newest `keep`.
          const committed = entries[Math.min(trimAt, entries.length - 1)]?.zxid ?? base;
          proposals.trim(committed, keep);
          const kept = entries.filter((entry) => entry.zxid > proposals.base);
          assert.equal(proposals.length, kept.length);
          for (const zxid of probes(base, entries)) {
            for (const upTo of probes(base, entries)) {
              const expected = kept.filter((entry) => entry.zxid > zxid && entry.zxid <= upTo);
              assert.deepEqual(proposals.between(zxid, upTo), expected);
            }
            const below = kept.filter((entry) => entry.zxid <= zxid);
            assert.equal(proposals.floor(zxid), below.at(-1)?.zxid ?? proposals.base);
          }
        },
      ),
      { numRuns: 300, seed: 20261203 },
    );
  });
});
