import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { OpCode } from "../jute/constants.js";
import { type DurableLog, GroupCommit, type LoggedTxn } from "./durable-log.js";

/** A log whose appends finish when the test says so. */
class ManualLog implements DurableLog {
  readonly batches: bigint[][] = [];
  private readonly pending: (() => void)[] = [];
  append(batch: readonly LoggedTxn[]): Promise<void> {
    this.batches.push(batch.map((entry) => entry.header.zxid));
    return new Promise((resolve) => this.pending.push(resolve));
  }
  /** Finishes the index-th of the appends not finished yet. */
  finish(index: number): void {
    const [resolve] = this.pending.splice(index, 1);
    resolve?.();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function txn(zxid: bigint): LoggedTxn {
  return {
    header: { clientId: 1n, cxid: 0, zxid, time: 0n, type: OpCode.createSession },
    txn: { type: OpCode.createSession, txn: { timeOut: 1000 } },
    digest: null,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("group commit", () => {
  it("puts what arrives in one turn into one append, up to maxBatchSize, with at most two appends at once", async () => {
    const log = new ManualLog();
    const durable: bigint[] = [];
    const commit = new GroupCommit(
      log,
      3,
      (batch) => durable.push(...batch.map((e) => e.header.zxid)),
      assert.fail,
    );
    for (let zxid = 1n; zxid <= 8n; zxid++) commit.enqueue(txn(zxid));
    assert.deepEqual(log.batches, [], "the write waits for the end of the turn");
    await settle();
    assert.deepEqual(log.batches, [
      [1n, 2n, 3n],
      [4n, 5n, 6n],
    ]);
    assert.equal(commit.writesInFlight, 2);
    assert.deepEqual(durable, [], "nothing is durable before its append resolves");
    log.finish(0);
    await settle();
    assert.deepEqual(durable, [1n, 2n, 3n]);
    assert.deepEqual(log.batches, [
      [1n, 2n, 3n],
      [4n, 5n, 6n],
      [7n, 8n],
    ]);
    log.finish(0);
    log.finish(0);
    await settle();
    assert.deepEqual(durable, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  });

  it("reports batches durable in order when a later write finishes first", async () => {
    const log = new ManualLog();
    const durable: bigint[][] = [];
    const commit = new GroupCommit(
      log,
      2,
      (batch) => durable.push(batch.map((e) => e.header.zxid)),
      assert.fail,
    );
    for (let zxid = 1n; zxid <= 5n; zxid++) commit.enqueue(txn(zxid));
    await settle();
    log.finish(1);
    await settle();
    assert.deepEqual(durable, [], "the second batch waits for the first");
    assert.equal(log.batches.length, 2, "no third write while the first is unfinished");
    log.finish(0);
    await settle();
    assert.deepEqual(durable, [
      [1n, 2n],
      [3n, 4n],
    ]);
    assert.deepEqual(log.batches[2], [5n]);
  });

  it("with one write in flight, everything that arrives meanwhile goes into the next", async () => {
    const log = new ManualLog();
    const durable: bigint[] = [];
    const commit = new GroupCommit(
      log,
      100,
      (batch) => durable.push(...batch.map((e) => e.header.zxid)),
      assert.fail,
      0,
      1,
    );
    commit.enqueue(txn(1n));
    await settle();
    for (let zxid = 2n; zxid <= 4n; zxid++) {
      commit.enqueue(txn(zxid));
      await settle();
    }
    assert.deepEqual(log.batches, [[1n]]);
    log.finish(0);
    await settle();
    assert.deepEqual(log.batches, [[1n], [2n, 3n, 4n]]);
    assert.deepEqual(durable, [1n]);
  });

  it("with flushDelay, waits for more txns to share one write, unless a full batch is waiting", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const log = new ManualLog();
      const commit = new GroupCommit(log, 4, () => {}, assert.fail, 10);
      commit.enqueue(txn(1n));
      commit.enqueue(txn(2n));
      await settle();
      assert.deepEqual(log.batches, []);
      mock.timers.tick(10);
      assert.deepEqual(log.batches, [[1n, 2n]]);
      for (let zxid = 3n; zxid <= 6n; zxid++) commit.enqueue(txn(zxid));
      await settle();
      assert.deepEqual(
        log.batches,
        [
          [1n, 2n],
          [3n, 4n, 5n, 6n],
        ],
        "a full batch does not wait",
      );
    } finally {
      mock.timers.reset();
    }
  });

  it("stops accepting txns once an append fails", async () => {
    const failing: DurableLog = {
      append: () => Promise.reject(new Error("disk full")),
      close: async () => {},
    };
    const failures: string[] = [];
    const commit = new GroupCommit(
      failing,
      10,
      () => assert.fail("nothing is durable"),
      (error) => failures.push(error.message),
    );
    commit.enqueue(txn(1n));
    await settle();
    assert.deepEqual(failures, ["disk full"]);
    assert.throws(() => commit.enqueue(txn(2n)), /disk full/);
  });
});
