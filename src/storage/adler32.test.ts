import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { adler32, adler32Range, adler32RangeJs, adler32UsesWasm, wasmMinBytes } from "./adler32.js";
import { adler32Wasm } from "./adler32-wasm.js";

/** A running sum as java.util.zip.Adler32 can hold one: both halves below 65521. */
const runningSum = fc
  .tuple(fc.integer({ min: 0, max: 65520 }), fc.integer({ min: 0, max: 65520 }))
  .map(([a, b]) => ((b << 16) | a) >>> 0);

/** Bytes with long runs of 0xff (the largest sums) as well as random ones. */
const bytes = (maxLength: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.integer({ min: 0, max: maxLength }).map((n) => new Uint8Array(n).fill(0xff)),
    fc
      .tuple(fc.integer({ min: 0, max: maxLength }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([n, seed]) => {
        const out = new Uint8Array(n);
        let x = seed | 1;
        for (let i = 0; i < n; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          out[i] = (x & 3) === 0 ? 0xff : x >>> 24;
        }
        return out;
      }),
  );

describe("Adler-32", () => {
  it("computes Adler-32 as java.util.zip.Adler32", () => {
    // Values printed by Java 17.
    assert.equal(adler32(Buffer.alloc(0)), 1);
    assert.equal(adler32(Buffer.from("a")), 6422626);
    assert.equal(adler32(Buffer.from("Wikipedia")), 300286872);
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    assert.equal(adler32(big), 1779471407);
    assert.equal(adler32RangeJs(big, 0, big.length), 1779471407);
  });

  it("uses the WebAssembly kernel on this Node", () => {
    assert.equal(adler32UsesWasm, true);
  });

  it("the kernel agrees with the JavaScript sum on any range and running sum", () => {
    fc.assert(
      fc.property(bytes(200_000), fc.nat(), fc.nat(), runningSum, (data, x, y, running) => {
        const start = data.length === 0 ? 0 : x % (data.length + 1);
        const end = start + (y % (data.length - start + 1));
        assert.equal(adler32Range(data, start, end, running), adler32RangeJs(data, start, end, running));
      }),
      { numRuns: 300 },
    );
  });

  it("sums every length around the kernel's threshold, window and block sizes alike", () => {
    const data = new Uint8Array(140_000).fill(0xff);
    for (let i = 0; i < data.length; i += 3) data[i] = i & 0xff;
    const lengths = [
      wasmMinBytes - 1,
      wasmMinBytes,
      wasmMinBytes + 15,
      16_383,
      16_384,
      16_385,
      65_535,
      65_536,
    ];
    for (const n of [...lengths, 65_537, 131_072 + 17]) {
      for (const start of [0, 1, 15]) {
        assert.equal(
          adler32Range(data, start, start + n),
          adler32RangeJs(data, start, start + n),
          `${start}+${n}`,
        );
      }
    }
  });

  it("the committed module is adler32.wat compiled (npm run build:wasm)", async () => {
    const root = new URL("../../../", import.meta.url);
    const { compileWat } = (await import(new URL("scripts/build-wasm.mjs", root).href)) as {
      compileWat: (path: string) => Promise<Buffer>;
    };
    const compiled = await compileWat(new URL("src/storage/adler32.wat", root).pathname);
    assert.equal(compiled.toString("base64"), adler32Wasm);
  });
});
