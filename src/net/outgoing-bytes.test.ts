import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OutgoingBytes, outgoingFlushBytes, packBufferBytes, packedPartBytesMax } from "./outgoing-bytes.js";

/** Collects each send as a copy of its parts (and the parts themselves, to check identity). */
function recorder() {
  const sends: { parts: readonly Buffer[]; copies: Buffer[] }[] = [];
  const out = new OutgoingBytes((parts) => sends.push({ parts, copies: parts.map((p) => Buffer.from(p)) }));
  return { out, sends };
}

const bytes = (length: number, fill: number) => Buffer.alloc(length, fill);
const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe("outgoing bytes", () => {
  it("sends a turn's small messages packed into one buffer, at the end of the tick", async () => {
    const { out, sends } = recorder();
    const at = out.claim(4);
    out.targetView.setInt32(at, 0x01020304);
    out.add(bytes(10, 7));
    out.add(bytes(3, 9));
    assert.equal(sends.length, 0);
    assert.equal(out.pendingBytes, 17);
    await nextTick();
    assert.equal(sends.length, 1);
    assert.deepEqual(sends[0]!.copies, [
      Buffer.concat([Buffer.from([1, 2, 3, 4]), bytes(10, 7), bytes(3, 9)]),
    ]);
    assert.equal(out.pendingBytes, 0);
    assert.equal(out.retainedBytes, 0, "an idle connection keeps no packing buffer");
  });

  it("sends a large part as it is, in order between the packed runs", async () => {
    const { out, sends } = recorder();
    const large = bytes(packedPartBytesMax + 1, 5);
    out.add(bytes(2, 1));
    out.add(large);
    out.add(bytes(2, 2));
    await nextTick();
    assert.equal(sends.length, 1);
    const { parts, copies } = sends[0]!;
    assert.equal(parts.length, 3);
    assert.equal(parts[1], large, "the large part is not copied");
    assert.deepEqual(copies, [bytes(2, 1), large, bytes(2, 2)]);
  });

  it("never overwrites bytes already handed over, across buffers", async () => {
    const { out, sends } = recorder();
    // Enough turns to fill several packing buffers.
    const turns = Math.ceil((3 * packBufferBytes) / 1000);
    for (let turn = 0; turn < turns; turn++) {
      out.add(bytes(1000, turn & 0xff));
      await nextTick();
    }
    assert.equal(sends.length, turns);
    for (let turn = 0; turn < turns; turn++) {
      assert.deepEqual(sends[turn]!.parts, [bytes(1000, turn & 0xff)], `turn ${turn}`);
    }
  });

  it("sends at once when a turn queues more than the flush size, without splitting a message", async () => {
    const { out, sends } = recorder();
    const message = 4000;
    const count = Math.ceil(outgoingFlushBytes / message) + 2;
    for (let i = 0; i < count; i++) out.add(bytes(message, i & 0xff));
    assert.ok(sends.length >= 1, "sent before the end of the tick");
    for (const send of sends) {
      const total = send.copies.reduce((sum, part) => sum + part.length, 0);
      assert.ok(total <= outgoingFlushBytes, `a send of ${total} bytes`);
    }
    await nextTick();
    const all = Buffer.concat(sends.flatMap((send) => send.copies));
    assert.deepEqual(all, Buffer.concat(Array.from({ length: count }, (_, i) => bytes(message, i & 0xff))));
  });
});
