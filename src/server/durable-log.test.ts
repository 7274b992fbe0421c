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
  finishOne(): void {
    this.pending.shift()?.();
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
  it("puts everything that arrives during a write into the next one, up to maxBatchSize", async () => {
    const log = new ManualLog();
    const durable: bigint[] = [];
    const commit = new GroupCommit(
      log,
      3,
      (batch) => durable.push(...batch.map((e) => e.header.zxid)),
      assert.fail,
    );
    commit.enqueue(txn(1n));
    for (let zxid = 2n; zxid <= 6n; zxid++) commit.enqueue(txn(zxid));
    assert.deepEqual(log.batches, [[1n]]);
    assert.deepEqual(durable, [], "nothing is durable before its append resolves");
    log.finishOne();
    await settle();
    assert.deepEqual(log.batches, [[1n], [2n, 3n, 4n]]);
    assert.deepEqual(durable, [1n]);
    log.finishOne();
    await settle();
    log.finishOne();
    await settle();
    assert.deepEqual(log.batches, [[1n], [2n, 3n, 4n], [5n, 6n]]);
    assert.deepEqual(durable, [1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it("with flushDelay, waits for more txns to share one write, unless a full batch is waiting", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const log = new ManualLog();
      const commit = new GroupCommit(log, 4, () => {}, assert.fail, 10);
      commit.enqueue(txn(1n));
      commit.enqueue(txn(2n));
      assert.deepEqual(log.batches, []);
      mock.timers.tick(10);
      assert.deepEqual(log.batches, [[1n, 2n]]);
      log.finishOne();
      await settle();
      for (let zxid = 3n; zxid <= 6n; zxid++) commit.enqueue(txn(zxid));
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
