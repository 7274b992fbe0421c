import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generatePassword, initialSessionId, SessionTracker } from "./session-tracker.js";

describe("SessionTracker", () => {
  it("puts the server id in the top byte of session ids", () => {
    const id = initialSessionId(1, 1_764_000_000_000);
    assert.equal(id >> 56n, 1n);
    assert.notEqual(id & 0xffffffffffffffn, 0n);
  });

  it("derives the 16-byte password as java.util.Random seeded with id ^ 0xB3415C00", () => {
    // new java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16]), printed by Java 17.
    assert.equal(generatePassword(0n).toString("hex"), "f22acd4a97e69d6d20a49bb638eadb38");
    assert.equal(generatePassword(42n).toString("hex"), "c813ee495620c3a68794ef27a239e8a9");
    assert.equal(generatePassword(0x01a20fdca60c0000n).toString("hex"), "d6639209abf7e302a4e1384f6cb3c3a6");
  });

  it("expires sessions a tick bucket at a time and lets touches move them", () => {
    const tracker = new SessionTracker({ tickMs: 1000, serverId: 1, nowMs: 0 });
    const a = tracker.nextSessionId();
    const b = tracker.nextSessionId();
    assert.equal(b, a + 1n);
    tracker.add(a, 3000, 100);
    tracker.add(b, 3000, 100);
    assert.equal(tracker.nextExpiryMs(), 4000);
    assert.equal(tracker.touch(b, 3000, 2500), true);
    assert.deepEqual(tracker.expired(3999), []);
    assert.deepEqual(tracker.expired(4000), [a]);
    assert.equal(tracker.isClosing(a), true);
    assert.equal(tracker.touch(a, 3000, 4000), false);
    tracker.remove(a);
    assert.equal(tracker.has(a), false);
    assert.deepEqual(tracker.expired(6000), [b]);
  });
});
