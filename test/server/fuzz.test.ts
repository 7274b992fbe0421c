/**
 * Sends random and mutated frames to a live server for a bounded count and time,
 * then checks that it still serves a normal client (node-zookeeper-client) correctly
 * and that data written before the fuzzing is intact.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { JuteWriter } from "../../src/jute/binary.js";
import { OpCode } from "../../src/jute/constants.js";
import { Framer, frame } from "../../src/jute/framer.js";
import { startTestingServer, type TestingServer } from "../../src/server/testing-server.js";
import { connectNzk, nzkClose, nzkCreate, nzkGetData } from "../support/nzk.js";

const fuzzConnectionsMax = 150;
const fuzzDurationMsMax = 8_000;
const socketDeadlineMs = 3_000;

function connectFrame(): Buffer {
  const w = new JuteWriter();
  w.int(0).long(0n).int(10_000).long(0n).buffer_(Buffer.alloc(16)).bool(false);
  return frame(Buffer.from(w.toBuffer()));
}

function requestFrame(xid: number, type: number, body: Buffer): Buffer {
  const w = new JuteWriter();
  w.int(xid).int(type).raw(body);
  return frame(Buffer.from(w.toBuffer()));
}

/** Sends `chunks` on a fresh connection, half-closes, and resolves when the server closes it. */
function sendAndWaitClose(port: number, chunks: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("server did not close a fuzz connection in time"));
    }, socketDeadlineMs);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on("connect", () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.end();
    });
  });
}

const opcodes = Object.values(OpCode);
const pathArbitrary = fc.oneof(
  fc.constantFrom("/", "/fuzz", "/fuzz/a", "/zookeeper", "/zookeeper/quota", "", "//", "/fuzz/", "/a\u0000b"),
  fc.string({ maxLength: 12 }).map((s) => `/fuzz/${s}`),
);

/** Bodies that are valid-looking requests, then mutated. */
const bodyArbitrary = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc
    .record({
      path: pathArbitrary,
      data: fc.uint8Array({ maxLength: 20 }),
      flags: fc.integer({ min: -2, max: 8 }),
    })
    .map(({ path, data, flags }) => {
      const w = new JuteWriter();
      w.string(path).buffer_(Buffer.from(data)).int(1).int(31).string("world").string("anyone").int(flags);
      return Buffer.from(w.toBuffer());
    }),
  fc.record({ path: pathArbitrary, flip: fc.nat(64), watch: fc.boolean() }).map(({ path, flip, watch }) => {
    const w = new JuteWriter();
    w.string(path).bool(watch);
    const bytes = Buffer.from(w.toBuffer());
    if (bytes.length > 0) bytes[flip % bytes.length] = bytes[flip % bytes.length]! ^ 0xff;
    return bytes;
  }),
);

const sessionArbitrary = fc.oneof(
  // garbage from the first byte
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => [Buffer.from(bytes)]),
  // a frame length above jute.maxbuffer
  fc.constant([Buffer.from("7fffffff", "hex")]),
  // a negative frame length
  fc.constant([Buffer.from("80000000", "hex")]),
  // a request before connect
  fc.tuple(fc.constantFrom(...opcodes), bodyArbitrary).map(([type, body]) => [requestFrame(1, type, body)]),
  // connect, then mutated requests, possibly split at random points
  fc
    .tuple(
      fc.array(fc.tuple(fc.oneof(fc.constantFrom(...opcodes), fc.integer()), bodyArbitrary), {
        maxLength: 6,
      }),
      fc.nat(50),
    )
    .map(([requests, split]) => {
      const bytes = Buffer.concat([
        connectFrame(),
        ...requests.map(([type, body], i) => requestFrame(i + 1, type, body)),
      ]);
      const at = Math.min(split, bytes.length);
      return [bytes.subarray(0, at), bytes.subarray(at)];
    }),
);

describe("throttling a connection with too many requests outstanding", () => {
  it("stops reading its socket, then answers every request in order", async () => {
    const server = await startTestingServer({ properties: { globalOutstandingLimit: "8" } });
    try {
      const requestsCount = 2_000;
      const replies = await new Promise<number[]>((resolve, reject) => {
        const socket = net.connect(server.port, "127.0.0.1");
        const framer = new Framer(1 << 20);
        const xids: number[] = [];
        let connected = false;
        const timer = setTimeout(() => reject(new Error(`only ${xids.length} replies`)), 20_000);
        socket.on("connect", () => {
          const getData = new JuteWriter().string("/zookeeper").bool(false).toBuffer();
          const frames = [connectFrame()];
          for (let xid = 1; xid <= requestsCount; xid++)
            frames.push(requestFrame(xid, OpCode.getData, Buffer.from(getData)));
          socket.write(Buffer.concat(frames));
        });
        socket.on("data", (chunk) => {
          for (const body of framer.push(chunk)) {
            if (!connected) {
              connected = true;
              continue;
            }
            xids.push(body.readInt32BE(0));
            if (xids.length === requestsCount) {
              clearTimeout(timer);
              socket.destroy();
              resolve(xids);
            }
          }
        });
        socket.on("error", reject);
      });
      assert.deepEqual(
        replies,
        Array.from({ length: requestsCount }, (_, i) => i + 1),
      );
      assert.ok(server.server.stats.throttledConnections > 0, "the connection was never throttled");
    } finally {
      await server.close();
    }
  });
});

describe("fuzzing the client port", () => {
  let server: TestingServer;
  before(async () => {
    server = await startTestingServer();
  });
  after(async () => {
    await server.close();
  });

  it("survives random and mutated frames, then serves a normal client with nothing lost", async () => {
    const before = await connectNzk(server.connectString);
    await nzkCreate(before, "/keep", Buffer.from("safe"));
    await nzkClose(before);

    const deadline = Date.now() + fuzzDurationMsMax;
    const samples = fc.sample(sessionArbitrary, { numRuns: fuzzConnectionsMax, seed: 20261124 });
    let sent = 0;
    for (const chunks of samples) {
      if (Date.now() > deadline) break;
      await sendAndWaitClose(server.port, chunks);
      sent++;
    }
    assert.ok(sent >= 20, `only ${sent} fuzz connections ran`);

    const client = await connectNzk(server.connectString);
    assert.deepEqual((await nzkGetData(client, "/keep")).data, Buffer.from("safe"));
    await nzkCreate(client, "/after-fuzz", Buffer.from("ok"));
    assert.deepEqual((await nzkGetData(client, "/after-fuzz")).data, Buffer.from("ok"));
    await nzkClose(client);
  });
});
