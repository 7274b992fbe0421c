import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JavaHashSet, javaStringHash } from "./java-hash-set.js";

describe("JavaHashSet", () => {
  it("hashes strings as Java does", () => {
    assert.equal(javaStringHash(""), 0);
    assert.equal(javaStringHash("a"), 97);
    assert.equal(javaStringHash("zookeeper"), 1600681804);
  });

  it("iterates in java.util.HashSet order, through resizes and clones", () => {
    // Orders printed by Java 17 for `new HashSet<>(8)` and for HashSet.clone().
    const set = new JavaHashSet(8);
    for (const name of ["zookeeper", "d0", "d1", "d2", "d10000000005", "d20000000008", "a", "b", "c"])
      set.add(name);
    const expected = ["a", "b", "c", "zookeeper", "d20000000008", "d10000000005", "d0", "d1", "d2"];
    assert.deepEqual([...set], expected);
    assert.deepEqual([...set.clone()], expected);
    set.delete("a");
    assert.deepEqual([...set], expected.slice(1));
  });
});
