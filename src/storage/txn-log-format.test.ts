import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OpCode } from "../jute/constants.js";
import { adler32 } from "./adler32.js";
import {
  CorruptionError,
  encodeLogHeader,
  encodeLogRecord,
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
