import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  checkLinearizable,
  type Operation,
  partitionedCheck,
  type RegisterInput,
  registerModel,
} from "./linearizability.js";

type Op = Operation<RegisterInput, string | null>;
const write = (client: number, value: string, call: number, ret: number, key = "k"): Op => ({
  client,
  input: { op: "write", key, value },
  output: null,
  call,
  return: ret,
});
const read = (client: number, value: string | null, call: number, ret: number, key = "k"): Op => ({
  client,
  input: { op: "read", key },
  output: value,
  call,
  return: ret,
});
const check = (history: Op[]) => checkLinearizable(registerModel, history).linearizable;

describe("linearizability checker (register)", () => {
  it("accepts a sequential history and rejects a stale read after a completed write", () => {
    assert.equal(
      check([write(1, "a", 0, 1), read(2, "a", 2, 3), write(1, "b", 4, 5), read(2, "b", 6, 7)]),
      true,
    );
    assert.equal(check([write(1, "a", 0, 1), write(1, "b", 2, 3), read(2, "a", 4, 5)]), false);
  });

  it("lets overlapping writes take either order, but reads must agree on one", () => {
    const overlapping = [write(1, "a", 0, 10), write(2, "b", 1, 9)];
    assert.equal(check([...overlapping, read(3, "a", 11, 12)]), true);
    assert.equal(check([...overlapping, read(3, "b", 11, 12)]), true);
    // Two later reads disagreeing in an order no single linearization explains.
    assert.equal(check([...overlapping, read(3, "a", 11, 12), read(3, "b", 13, 14)]), false);
  });

  it("rejects a read of a value never written", () => {
    assert.equal(check([write(1, "a", 0, 1), read(2, "zzz", 2, 3)]), false);
  });

  it("lets a write that never returned take effect later, or never", () => {
    assert.equal(
      check([write(1, "a", 0, 1), write(2, "b", 2, Number.POSITIVE_INFINITY), read(3, "b", 5, 6)]),
      true,
    );
    assert.equal(
      check([write(1, "a", 0, 1), write(2, "b", 2, Number.POSITIVE_INFINITY), read(3, "a", 5, 6)]),
      true,
    );
    // But not before it was called.
    assert.equal(
      check([write(1, "a", 0, 1), read(3, "b", 2, 3), write(2, "b", 5, Number.POSITIVE_INFINITY)]),
      false,
    );
  });

  it("accepts random sequential runs widened around their real points, and rejects one bad read among them", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.nat(5), fc.nat(5)), {
          minLength: 1,
          maxLength: 60,
        }),
        (steps) => {
          let value: string | null = null;
          const history: Op[] = [];
          for (const [index, [isWrite, client, before, after]] of steps.entries()) {
            // Each operation really happens at time 10 * index; its interval covers that point.
            const point = 10 * index;
            if (isWrite) {
              value = `v${index}`;
              history.push(write(client, value, point - before, point + after));
            } else history.push(read(client, value, point - before, point + after));
          }
          assert.equal(check(history), true);
          const reads = history.filter((op) => op.input.op === "read");
          const victim = reads[0];
          if (victim !== undefined) {
            victim.output = "never-written";
            assert.equal(check(history), false);
          }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });

  it("checks 2,000 operations over 10 keys key by key", () => {
    const history: Op[] = [];
    const values = new Map<string, string | null>();
    for (let index = 0; index < 2000; index++) {
      const key = `k${index % 10}`;
      const point = 10 * index;
      if (index % 3 === 0) {
        values.set(key, `v${index}`);
        history.push(write(index % 7, `v${index}`, point - 3, point + 4, key));
      } else history.push(read(index % 7, values.get(key) ?? null, point - 2, point + 3, key));
    }
    assert.equal(partitionedCheck(registerModel, history, (input) => input.key).linearizable, true);
  });
});
