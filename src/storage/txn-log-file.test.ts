import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { OpCode } from "../jute/constants.js";
import { FileTxnLog, zeroFillAheadBytes, zeroFillBatchBytesMax } from "./txn-log-file.js";
import { type LogEntry, logFileName, parseTxnLog } from "./txn-log-format.js";

const entry = (zxid: bigint): LogEntry => ({
  header: { clientId: 7n, cxid: Number(zxid), zxid, time: 1000n, type: OpCode.setData },
  txn: {
    type: OpCode.setData,
    txn: { path: `/n${zxid}`, data: Buffer.alloc(100, Number(zxid)), version: 1 },
  },
  digest: { version: 2, treeDigest: zxid * 31n },
});
const entries = (from: bigint, count: number) =>
  Array.from({ length: count }, (_, i) => entry(from + BigInt(i)));

function withLog(preAllocBytes: number, body: (log: FileTxnLog, dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "zkts-txnlog-"));
    const log = new FileTxnLog({
      dir,
      preAllocBytes,
      forceSync: true,
      fsyncWarnMs: 60_000,
      warn: (message) => assert.fail(message),
    });
    try {
      await body(log, dir);
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const zxidsIn = (dir: string, name: string) =>
  parseTxnLog(readFileSync(join(dir, name))).entries.map((e) => e.header.zxid);

describe("file txn log", () => {
  it(
    "places overlapping appends in call order",
    withLog(64 * 1024 * 1024, async (log, dir) => {
      // Started together, finished in whatever order the disk likes.
      await Promise.all([
        log.append(entries(1n, 3)),
        log.append(entries(4n, 50)),
        log.append(entries(54n, 1)),
      ]);
      const parsed = parseTxnLog(readFileSync(join(dir, logFileName(1n))));
      assert.deepEqual(
        parsed.entries.map((e) => e.header.zxid),
        entries(1n, 54).map((e) => e.header.zxid),
      );
      assert.equal(parsed.tornTail, false);
      assert.equal(log.lastLoggedZxid, 54n);
    }),
  );

  it(
    "lets writes to the old file finish before a roll closes it",
    withLog(64 * 1024 * 1024, async (log, dir) => {
      const first = log.append(entries(1n, 20));
      const second = log.append(entries(21n, 20));
      log.roll();
      const third = log.append(entries(41n, 5));
      await Promise.all([first, second, third]);
      assert.deepEqual(readdirSync(dir).sort(), [logFileName(1n), logFileName(41n)].sort());
      assert.deepEqual(
        zxidsIn(dir, logFileName(1n)),
        entries(1n, 40).map((e) => e.header.zxid),
      );
      assert.deepEqual(
        zxidsIn(dir, logFileName(41n)),
        entries(41n, 5).map((e) => e.header.zxid),
      );
    }),
  );

  it(
    "writes zeros ahead of the appends, never over them",
    withLog(4 * zeroFillAheadBytes, async (log, dir) => {
      const name = logFileName(1n);
      // Enough appends to pass several zeroed runs, each overlapping the next.
      let zxid = 1n;
      for (let round = 0; round < 40; round++) {
        const batches = [entries(zxid, 200), entries(zxid + 200n, 200)];
        zxid += 400n;
        await Promise.all(batches.map((batch) => log.append(batch)));
      }
      await log.closeFile();
      const bytes = readFileSync(join(dir, name));
      const parsed = parseTxnLog(bytes);
      assert.equal(parsed.entries.length, 16_000);
      assert.equal(parsed.tornTail, false, "nothing but zeros after the last record");
      assert.equal(bytes.length % (4 * zeroFillAheadBytes), 0, "the file grows in whole preAllocSize blocks");
      // The blocks past the records exist (written zeros), not a hole.
      const allocated = statSync(join(dir, name)).blocks * 512;
      assert.ok(
        allocated >= parsed.validEnd + zeroFillAheadBytes / 2,
        `allocated ${allocated} bytes for ${parsed.validEnd} bytes of records`,
      );
    }),
  );

  it(
    "writes no zeros after large batches",
    withLog(4 * zeroFillAheadBytes, async (log, dir) => {
      const name = logFileName(1n);
      // Each batch is a single txn with a value larger than zeroFillBatchBytesMax.
      const big = (zxid: bigint): LogEntry => {
        const e = entry(zxid);
        return {
          ...e,
          txn: {
            ...e.txn,
            txn: { path: `/big${zxid}`, data: Buffer.alloc(zeroFillBatchBytesMax, 1), version: 1 },
          },
        } as LogEntry;
      };
      for (let zxid = 1n; zxid <= 20n; zxid++) await log.append([big(zxid)]);
      await log.closeFile();
      const parsed = parseTxnLog(readFileSync(join(dir, name)));
      assert.equal(parsed.entries.length, 20);
      const allocated = statSync(join(dir, name)).blocks * 512;
      assert.ok(
        allocated < parsed.validEnd + zeroFillAheadBytes / 2,
        `allocated ${allocated} bytes for ${parsed.validEnd} bytes of records: zeros were written ahead`,
      );
    }),
  );
});
