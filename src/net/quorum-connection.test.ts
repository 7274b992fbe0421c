import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { PacketType, type QuorumPacket } from "../quorum/quorum-packet.js";
import { packedPartBytesMax } from "./outgoing-bytes.js";
import { QuorumConnection } from "./quorum-connection.js";

/** A leader-side and a learner-side connection over a loopback socket pair. */
async function connectedPair(): Promise<{
  leader: QuorumConnection;
  learner: QuorumConnection;
  close(): void;
}> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => {
    server.once("connection", resolve);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, "127.0.0.1");
  const [serverSide] = await Promise.all([
    accepted,
    new Promise<void>((resolve) => socket.once("connect", () => resolve())),
  ]);
  const leader = new QuorumConnection(serverSide, { learnerSide: false, extendedTypesEnabled: false });
  const learner = new QuorumConnection(socket, { learnerSide: true, extendedTypesEnabled: false });
  return {
    leader,
    learner,
    close() {
      leader.close("test over");
      learner.close("test over");
      server.close();
    },
  };
}

describe("quorum connection", () => {
  it("delivers a turn's packets whole and in order: no data, small, at and past the packing limit, large, with authinfo", async () => {
    const { leader, learner, close } = await connectedPair();
    try {
      const sizes = [
        0,
        1,
        150,
        packedPartBytesMax - 20,
        packedPartBytesMax,
        packedPartBytesMax + 1,
        100 * 1024,
      ];
      const sent: QuorumPacket[] = [{ type: PacketType.PING, zxid: 0n, data: null, authinfo: null }];
      sizes.forEach((size, i) => {
        sent.push({
          type: PacketType.PROPOSAL,
          zxid: 0x100000000n + BigInt(i),
          data: Buffer.alloc(size, i + 1),
          authinfo: null,
        });
        sent.push({ type: PacketType.COMMIT, zxid: 0x100000000n + BigInt(i), data: null, authinfo: null });
      });
      sent.push({
        type: PacketType.PROPOSAL,
        zxid: -1n,
        data: Buffer.from("with auth"),
        authinfo: [{ scheme: "digest", id: "user:hash" }],
      });
      const received: QuorumPacket[] = [];
      const all = new Promise<void>((resolve, reject) => {
        learner.handlers = {
          packet: (packet) => {
            received.push(packet);
            if (received.length === sent.length) resolve();
          },
          closed: (reason) => reject(new Error(reason)),
        };
      });
      // In one turn: they are packed, the large ones sent as they are between the runs.
      for (const packet of sent) leader.send(packet);
      await all;
      assert.equal(received.length, sent.length);
      for (let i = 0; i < sent.length; i++) {
        const expected = sent[i]!;
        const actual = received[i]!;
        assert.equal(actual.type, expected.type, `packet ${i}`);
        assert.equal(actual.zxid, expected.zxid, `packet ${i}`);
        assert.deepEqual(
          actual.data === null ? null : Buffer.from(actual.data),
          expected.data,
          `packet ${i}`,
        );
        assert.deepEqual(actual.authinfo, expected.authinfo, `packet ${i}`);
      }
    } finally {
      close();
    }
  });
});
