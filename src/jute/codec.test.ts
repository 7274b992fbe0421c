import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { JuteDecodeError, JuteReader, JuteWriter, sharedValueBytesMin } from "./binary.js";
import { type Codec, decode, encode } from "./codec.js";
import { FrameError, Framer, frame } from "./framer.js";
import { readMultiRequest, readMultiResponse, writeMultiRequest, writeMultiResponse } from "./multi.js";
import * as records from "./records.js";
import { encodeTxn, readTxn, type Txn } from "./txn.js";

/** An arbitrary value for any codec built from the jute primitives. */
function arbitraryFor(codec: Codec<unknown>): fc.Arbitrary<unknown> {
  switch (codec.name) {
    case "int":
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case "long":
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case "boolean":
      return fc.boolean();
    case "buffer":
      return fc.option(
        fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
        { nil: null },
      );
    case "ustring":
      return fc.string({ unit: "grapheme", maxLength: 32 });
  }
  if (codec.item !== undefined) return fc.array(arbitraryFor(codec.item), { maxLength: 4 });
  if (codec.fields !== undefined) {
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [field, fieldCodec] of codec.fields) shape[field] = arbitraryFor(fieldCodec);
    return fc.record(shape).map((value) => ({ ...value }));
  }
  throw new Error(`no arbitrary for ${codec.name}`);
}

const allRecords: [string, Codec<unknown>][] = Object.entries(records as Record<string, unknown>)
  .filter(
    ([, value]) =>
      typeof value === "object" && value !== null && (value as Codec<unknown>).fields !== undefined,
  )
  .map(([name, value]) => [name, value as Codec<unknown>]);

describe("jute records", () => {
  it("declares every record of zookeeper.jute that clients, txns and files use", () => {
    const names = new Set(allRecords.map(([, codec]) => codec.name));
    for (const expected of [
      "Stat",
      "StatPersisted",
      "ACL",
      "Id",
      "ConnectRequest",
      "ConnectResponse",
      "SetWatches2",
      "WatcherEvent",
      "MultiHeader",
      "CreateTxn",
      "CreateContainerTxn",
      "CreateTTLTxn",
      "DeleteTxn",
      "SetDataTxn",
      "SetACLTxn",
      "CheckVersionTxn",
      "ErrorTxn",
      "MultiTxn",
      "CreateSessionTxn",
      "CloseSessionTxn",
      "TxnHeader",
      "TxnDigest",
      "FileHeader",
      "QuorumPacket",
      "WhoAmIResponse",
    ]) {
      assert.ok(names.has(expected), `missing ${expected}`);
    }
  });

  for (const [name, codec] of allRecords) {
    it(`${name} round-trips whole and split byte by byte through the framer`, () => {
      fc.assert(
        fc.property(arbitraryFor(codec), (value) => {
          const bytes = encode(codec, value);
          assert.deepEqual(decode(codec, bytes), value);
          const framer = new Framer(bytes.length);
          const framed = frame(bytes);
          const frames: Buffer[] = [];
          for (let i = 0; i < framed.length; i++) frames.push(...framer.push(framed.subarray(i, i + 1)));
          assert.equal(frames.length, 1);
          assert.deepEqual(decode(codec, frames[0]!), value);
        }),
        { numRuns: 30 },
      );
    });
  }

  it("shares a large value with a frame only when asked, and copies small ones", () => {
    const encodeValue = (bytes: number) => {
      const w = new JuteWriter();
      w.buffer_(Buffer.alloc(bytes, 7));
      return Buffer.from(w.toBuffer());
    };
    const large = encodeValue(sharedValueBytesMin);
    const shared = JuteReader.sharingLargeValues(large).buffer_()!;
    const copied = new JuteReader(large).buffer_()!;
    large[4] = 9; // the frame's first value byte
    assert.equal(shared[0], 9, "a large value read with sharing is a view of the frame");
    assert.equal(copied[0], 7, "a plain reader copies");
    const small = encodeValue(sharedValueBytesMin - 1);
    const smallValue = JuteReader.sharingLargeValues(small).buffer_()!;
    small[4] = 9;
    assert.equal(smallValue[0], 7, "a small value is copied even when sharing");
    // A large value that is a small part of a big allocation is copied: it must not keep it alive.
    const inBig = Buffer.concat([large, Buffer.alloc(4 * sharedValueBytesMin)]);
    const fromBig = JuteReader.sharingLargeValues(inBig).buffer_()!;
    inBig[4] = 1;
    assert.equal(fromBig[0], 9);
  });

  it("matches ZooKeeper's bytes for a known Stat", () => {
    const stat = {
      czxid: 1n,
      mzxid: 2n,
      ctime: 3n,
      mtime: 4n,
      version: 5,
      cversion: 6,
      aversion: 7,
      ephemeralOwner: -1n,
      dataLength: 8,
      numChildren: 9,
      pzxid: 10n,
    };
    const hex = encode(records.Stat, stat).toString("hex");
    assert.equal(
      hex,
      "0000000000000001" +
        "0000000000000002" +
        "0000000000000003" +
        "0000000000000004" +
        "00000005" +
        "00000006" +
        "00000007" +
        "ffffffffffffffff" +
        "00000008" +
        "00000009" +
        "000000000000000a",
    );
  });

  it("writes every string as its UTF-8 length and bytes, ASCII or not, short or long", () => {
    // Short ASCII strings take a byte loop, the rest Buffer's encoder; a non-ASCII char
    // anywhere, and a writer that must grow, must not matter.
    const chars = fc.constantFrom("a", "/", "\u007f", "\u0080", "é", "ÿ", "€", "😀");
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 70 }),
      fc.array(chars, { maxLength: 70 }).map((list) => list.join("")),
      // Mostly ASCII, at and around the length where the byte loop gives way.
      fc
        .tuple(fc.integer({ min: 62, max: 66 }), fc.option(chars, { nil: "" }))
        .map(([length, last]) => "p".repeat(length) + last),
    );
    fc.assert(
      fc.property(fc.array(text, { maxLength: 6 }), fc.integer({ min: 1, max: 64 }), (values, initial) => {
        const w = new JuteWriter(initial);
        for (const value of values) w.int(7).string(value);
        const expected = Buffer.concat(
          values.flatMap((value) => {
            const bytes = Buffer.from(value, "utf8");
            const header = Buffer.alloc(8);
            header.writeInt32BE(7, 0);
            header.writeInt32BE(bytes.length, 4);
            return [header, bytes];
          }),
        );
        assert.deepEqual(w.toBuffer(), expected);
        const r = new JuteReader(w.toBuffer());
        for (const value of values) {
          assert.equal(r.int(), 7);
          assert.equal(r.string(), Buffer.from(value, "utf8").toString("utf8"));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("writes null buffers and strings as length -1 and reads them back", () => {
    const bytes = new JuteWriter().buffer_(null).string(null).toBuffer();
    assert.equal(bytes.toString("hex"), "ffffffffffffffff");
    const reader = new JuteReader(bytes);
    assert.equal(reader.buffer_(), null);
    assert.equal(reader.string(), null);
  });

  it("rejects lengths that lie about what follows", () => {
    assert.throws(() => decode(records.GetDataRequest, Buffer.from("7fffffff", "hex")), JuteDecodeError);
    assert.throws(() => decode(records.GetChildrenResponse, Buffer.from("7fffffff", "hex")), JuteDecodeError);
    assert.throws(() => decode(records.GetDataResponse, Buffer.from("fffffffe", "hex")), JuteDecodeError);
    assert.throws(
      () => decode(records.RequestHeader, Buffer.from("000000010000000100", "hex")),
      JuteDecodeError,
    );
  });
});

describe("framer", () => {
  it("rejects a frame longer than the limit from its header alone", () => {
    const framer = new Framer(0xfffff);
    assert.throws(() => framer.push(Buffer.from("00100000", "hex")), FrameError);
  });

  it("rejects a negative length", () => {
    assert.throws(() => new Framer(100).push(Buffer.from("ffffffff", "hex")), FrameError);
  });

  it("returns every frame of a chunk and keeps a partial one", () => {
    const framer = new Framer(100);
    const chunk = Buffer.concat([
      frame(Buffer.from("a")),
      frame(Buffer.from("bc")),
      frame(Buffer.from("def")).subarray(0, 5),
    ]);
    assert.deepEqual(
      framer.push(chunk).map((body) => body.toString()),
      ["a", "bc"],
    );
    assert.deepEqual(
      framer.push(frame(Buffer.from("def")).subarray(5)).map((body) => body.toString()),
      ["def"],
    );
    assert.equal(framer.bufferedBytes, 0);
  });

  it("returns the same frames however the stream is cut into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 2400 }), { maxLength: 12 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map((body) => frame(Buffer.from(body))));
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
          const framer = new Framer(300);
          const frames: Buffer[] = [];
          let from = 0;
          for (const point of [...points, stream.length]) {
            frames.push(...framer.push(stream.subarray(from, point)));
            from = point;
          }
          assert.deepEqual(
            frames.map((body) => body.toString("hex")),
            bodies.map((body) => Buffer.from(body).toString("hex")),
          );
          assert.equal(framer.bufferedBytes, 0);
        },
      ),
    );
  });
});

describe("multi and txn codecs", () => {
  it("round-trips a multi request and response", () => {
    const ops = [
      { type: 1 as const, request: { path: "/a", data: Buffer.from("x"), acl: [], flags: 0 } },
      { type: 2 as const, request: { path: "/b", version: -1 } },
      { type: 13 as const, request: { path: "/c", version: 3 } },
    ];
    const w = new JuteWriter();
    writeMultiRequest(w, ops);
    assert.deepEqual(readMultiRequest(new JuteReader(w.toBuffer())), ops);
    const results = [
      { type: 1 as const, path: "/a" },
      { type: 2 as const },
      { type: -1 as const, err: -101 },
    ];
    const w2 = new JuteWriter();
    writeMultiResponse(w2, results);
    assert.deepEqual(readMultiResponse(new JuteReader(w2.toBuffer())), results);
  });

  it("round-trips a multi txn with nested txns", () => {
    const txn: Txn = {
      type: 14,
      txns: [
        { type: 1, txn: { path: "/a", data: null, acl: [], ephemeral: false, parentCVersion: 1 } },
        { type: -1, txn: { err: -110 } },
      ],
    };
    assert.deepEqual(readTxn(14, new JuteReader(encodeTxn(txn))), txn);
  });

  it("reads a closeSession with no body as the pre-3.6 form", () => {
    assert.deepEqual(readTxn(-11, new JuteReader(Buffer.alloc(0))), { type: -11, txn: null });
  });
});
