import assert from "node:assert/strict";
import { test } from "node:test";
import { AvgMinMaxCounter, javaDouble } from "./avg-min-max-counter.js";

test("an empty counter reports zeros, as ZooKeeper's mntr shows them", () => {
  assert.deepEqual(new AvgMinMaxCounter().mntrRows("snapshottime"), [
    ["zk_avg_snapshottime", "0.0"],
    ["zk_min_snapshottime", "0"],
    ["zk_max_snapshottime", "0"],
    ["zk_cnt_snapshottime", "0"],
    ["zk_sum_snapshottime", "0"],
  ]);
});

test("values are truncated to whole milliseconds; the mean is rounded to 4 decimals", () => {
  const counter = new AvgMinMaxCounter();
  for (const ms of [0.9, 2.99, 7.5]) counter.add(ms);
  assert.deepEqual(counter.mntrRows("fsynctime"), [
    ["zk_avg_fsynctime", "3.0"],
    ["zk_min_fsynctime", "0"],
    ["zk_max_fsynctime", "7"],
    ["zk_cnt_fsynctime", "3"],
    ["zk_sum_fsynctime", "9"],
  ]);
  counter.add(1);
  assert.equal(counter.avg, 2.5);
  const thirds = new AvgMinMaxCounter();
  for (const ms of [1, 1, 0]) thirds.add(ms);
  assert.equal(javaDouble(thirds.avg), "0.6667");
});

test("javaDouble writes doubles as Java's Double.toString does", () => {
  assert.equal(javaDouble(0), "0.0");
  assert.equal(javaDouble(12), "12.0");
  assert.equal(javaDouble(0.25), "0.25");
  assert.equal(javaDouble(0.0005), "5.0E-4");
  assert.equal(javaDouble(12_345_678), "1.2345678E7");
  assert.equal(javaDouble(1e7), "1.0E7");
});
