import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OpCode } from "../jute/constants.js";
import { adler32 } from "./adler32.js";
import {
  CorruptionError,
  encodeLogHeader,
  encodeLogRecord,
  encodeLogRecordParts,
  encodeLogRecords,
  type LogEntry,
  logFileName,
  marshallTxnEntry,
  parseTxnLog,
  unmarshallTxnEntry,
} from "./txn-log-format.js";

const acl = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];
const entry = (zxid: bigint): LogEntry => ({
  header: { clientId: 7n, cxid: Number(zxid), zxid, time: 1000n, type: OpCode.create },
  txn: {
    type: OpCode.create,
    txn: { path: `/n${zxid}`, data: Buffer.from("v"), acl, ephemeral: false, parentCVersion: 1 },
  },
  digest: { version: 2, treeDigest: zxid * 31n },
});

describe("txn log format", () => {
  it("round-trips records and stops at preallocated zeros", () => {
    const file = Buffer.concat([
      encodeLogHeader(5n),
      encodeLogRecord(entry(1n)),
      encodeLogRecord(entry(2n)),
      Buffer.alloc(4096),
    ]);
    const parsed = parseTxnLog(file);
    assert.equal(parsed.dbid, 5n);
    assert.deepEqual(parsed.entries, [entry(1n), entry(2n)]);
    assert.equal(parsed.tornTail, false);
    assert.equal(logFileName(0x100000001n), "log.100000001");
  });

  it("encodes a batch as its records back to back, received entries included", () => {
    const received = unmarshallTxnEntry(marshallTxnEntry(entry(2n)));
    const batch = encodeLogRecords([entry(1n), received, entry(3n)]);
    assert.deepEqual(
      batch,
      Buffer.concat([encodeLogRecord(entry(1n)), encodeLogRecord(entry(2n)), encodeLogRecord(entry(3n))]),
    );
    const parsed = parseTxnLog(Buffer.concat([encodeLogHeader(), batch]));
    assert.deepEqual(parsed.entries, [entry(1n), entry(2n), entry(3n)]);
    // Each record's checksum covers only its own entry.
    const first = encodeLogRecord(entry(1n));
    assert.equal(first.readUInt32BE(4), adler32(first.subarray(12, first.length - 1)));
    assert.equal(first.readUInt32BE(0), 0);
  });

  it("writes large values from where they are, as parts of the batch, with the same bytes", () => {
    const big = (zxid: bigint, bytes: number): LogEntry => ({
      header: { clientId: 7n, cxid: Number(zxid), zxid, time: 1000n, type: OpCode.setData },
      txn: {
        type: OpCode.setData,
        txn: { path: `/n${zxid}`, data: Buffer.alloc(bytes, Number(zxid)), version: 3 },
      },
      digest: { version: 2, treeDigest: zxid },
    });
    const inMulti: LogEntry = {
      header: { clientId: 7n, cxid: 9, zxid: 9n, time: 1000n, type: OpCode.multi },
      txn: {
        type: OpCode.multi,
        txns: [big(20n, 100), big(21n, 40_000), big(22n, 16_384)].map((e) => e.txn),
      },
      digest: null,
    };
    const received = unmarshallTxnEntry(marshallTxnEntry(big(5n, 70_000)));
    const entries = [entry(1n), big(2n, 102_400), big(3n, 16_383), inMulti, received, entry(6n)];
    const parts = encodeLogRecordParts(entries);
    const whole = Buffer.concat(entries.map((e) => encodeLogRecordParts([e], Number.POSITIVE_INFINITY)[0]!));
    assert.deepEqual(Buffer.concat(parts), whole);
    // Values of 16 KiB or more, and a received entry's bytes, are parts of their own, not copies.
    const uncopied = [setDataValue(entries[1]!), ...multiValues(inMulti).slice(1), received.bytes![0]!];
    for (const value of uncopied) assert.ok(parts.includes(value));
    assert.equal(parts.length, 2 * uncopied.length + 1);
    assert.deepEqual(
      parseTxnLog(Buffer.concat([encodeLogHeader(), ...parts])).entries.length,
      entries.length,
    );
  });

  it("reports a partial last record as a torn tail, keeping what came before", () => {
    const whole = Buffer.concat([encodeLogHeader(), encodeLogRecord(entry(1n))]);
    const second = encodeLogRecord(entry(2n));
    // Cuts inside the non-zero checksum bytes, the length and the body; a cut that leaves only zeros reads as preallocation.
    for (const cut of [6, 12, second.length - 1]) {
      const parsed = parseTxnLog(Buffer.concat([whole, second.subarray(0, cut)]));
      assert.deepEqual(parsed.entries, [entry(1n)]);
      assert.equal(parsed.validEnd, whole.length);
      assert.equal(parsed.tornTail, true);
    }
  });

  it("refuses corruption in the middle, naming the offset", () => {
    const first = Buffer.concat([encodeLogHeader(), encodeLogRecord(entry(1n))]);
    const file = Buffer.concat([first, encodeLogRecord(entry(2n)), encodeLogRecord(entry(3n))]);
    file[first.length + 20] = file[first.length + 20]! ^ 0x01;
    assert.throws(
      () => parseTxnLog(file),
      (error: unknown) => error instanceof CorruptionError && error.offset === first.length,
    );
    const badMagic = Buffer.from(file);
    badMagic[0] = 0;
    assert.throws(() => parseTxnLog(badMagic), CorruptionError);
  });
});

function setDataValue(entry: LogEntry): Buffer {
  assert.equal(entry.txn.type, OpCode.setData);
  return (entry.txn as { txn: { data: Buffer } }).txn.data;
}

function multiValues(entry: LogEntry): Buffer[] {
  assert.equal(entry.txn.type, OpCode.multi);
  return (entry.txn as { txns: { txn: { data: Buffer } }[] }).txns.map((inner) => inner.txn.data);
}
