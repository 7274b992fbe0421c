import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { JuteWriter } from "../jute/binary.js";
import { PacketType, type QuorumPacket, writeQuorumPacket } from "../quorum/quorum-packet.js";
import { packBufferBytes, packedPartBytesMax } from "./outgoing-bytes.js";
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

/** Sends `packets` in one turn and resolves with what the other side received, once it has as many. */
function roundTrip(
  leader: QuorumConnection,
  learner: QuorumConnection,
  packets: QuorumPacket[],
): Promise<QuorumPacket[]> {
  const received: QuorumPacket[] = [];
  const all = new Promise<QuorumPacket[]>((resolve, reject) => {
    learner.handlers = {
      packet: (packet) => {
        received.push(packet);
        if (received.length === packets.length) resolve(received);
      },
      closed: (reason) => reject(new Error(reason)),
    };
  });
  for (const packet of packets) leader.send(packet);
  return all;
}

function assertSame(received: QuorumPacket[], sent: QuorumPacket[], label: string): void {
  assert.equal(received.length, sent.length, label);
  for (let i = 0; i < sent.length; i++) {
    const expected = sent[i]!;
    const actual = received[i]!;
    assert.equal(actual.type, expected.type, `${label}, packet ${i}`);
    assert.equal(actual.zxid, expected.zxid, `${label}, packet ${i}`);
    assert.deepEqual(
      actual.data === null ? null : Buffer.from(actual.data),
      expected.data,
      `${label}, packet ${i}`,
    );
    assert.deepEqual(actual.authinfo, expected.authinfo, `${label}, packet ${i}`);
  }
}

const proposal = (zxid: bigint, size: number): QuorumPacket => ({
  type: PacketType.PROPOSAL,
  zxid,
  data: Buffer.alloc(size, Number(zxid % 250n) + 1),
  authinfo: null,
});
const commit = (zxid: bigint): QuorumPacket => ({
  type: PacketType.COMMIT,
  zxid,
  data: null,
  authinfo: null,
});

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
        sent.push(proposal(0x100000000n + BigInt(i), size), commit(0x100000000n + BigInt(i)));
      });
      sent.push({
        type: PacketType.PROPOSAL,
        zxid: -1n,
        data: Buffer.from("with auth"),
        authinfo: [{ scheme: "digest", id: "user:hash" }],
      });
      // A forwarded request's large data leaves as it is, between the header and the authinfo.
      sent.push({
        type: PacketType.REQUEST,
        zxid: -1n,
        data: Buffer.alloc(100 * 1024, 9),
        authinfo: [{ scheme: "ip", id: "127.0.0.1" }],
      });
      assertSame(await roundTrip(leader, learner, sent), sent, "mixed sizes");
    } finally {
      close();
    }
  });

  it("sends data given in parts (a leader's proposal) as one packet's data", async () => {
    const { leader, learner, close } = await connectedPair();
    try {
      const parts = [Buffer.from("header"), Buffer.alloc(100 * 1024, 5), Buffer.from("digest")];
      const received = new Promise<QuorumPacket[]>((resolve, reject) => {
        const packets: QuorumPacket[] = [];
        learner.handlers = {
          packet: (packet) => {
            packets.push(packet);
            if (packets.length === 3) resolve(packets);
          },
          closed: (reason) => reject(new Error(reason)),
        };
      });
      leader.send({ type: PacketType.PROPOSAL, zxid: 7n, data: parts, authinfo: null });
      leader.send({
        type: PacketType.PROPOSAL,
        zxid: 8n,
        data: [Buffer.from("small"), Buffer.from("parts")],
        authinfo: null,
      });
      leader.send(commit(7n));
      const [large, small, committed] = await received;
      assert.deepEqual(Buffer.from(large!.data!), Buffer.concat(parts));
      assert.equal(large!.zxid, 7n);
      assert.deepEqual(small!.data, Buffer.from("smallparts"));
      assert.equal(small!.authinfo, null);
      assert.equal(committed!.type, PacketType.COMMIT);
    } finally {
      close();
    }
  });

  it("keeps a large packet whole wherever its header falls in the packing buffer", async () => {
    const { leader, learner, close } = await connectedPair();
    try {
      // A small packet of 20 + n bytes, then a large one whose 16-byte header ends at
      // 36 + n: across n, the header ends at every offset near the end of a packing buffer,
      // so the large packet's 4-byte trailer sometimes needs a new one.
      for (let n = packBufferBytes - 60; n <= packBufferBytes + 20; n++) {
        const zxid = BigInt(n);
        const sent = [proposal(zxid, n), proposal(zxid + 1n, packedPartBytesMax + 100), commit(zxid)];
        assertSame(await roundTrip(leader, learner, sent), sent, `first packet of ${20 + n} bytes`);
      }
    } finally {
      close();
    }
  });

  it("reads packets whole however their bytes are split across reads", async () => {
    const { leader, close } = await connectedPair();
    try {
      const sent: QuorumPacket[] = [
        proposal(0x200000001n, 200 * 1024),
        {
          type: PacketType.REQUEST,
          zxid: -1n,
          data: Buffer.alloc(70_000, 7),
          authinfo: [{ scheme: "ip", id: "127.0.0.1" }],
        },
        commit(0x200000001n),
        { type: PacketType.PING, zxid: 5n, data: null, authinfo: null },
        // Authinfo longer than what is joined beyond a packet's data for it.
        {
          type: PacketType.REQUEST,
          zxid: -1n,
          data: Buffer.alloc(20_000, 3),
          authinfo: [{ scheme: "digest", id: "x".repeat(3000) }],
        },
        proposal(0x200000002n, 10),
      ];
      const writer = new JuteWriter();
      for (const packet of sent) writeQuorumPacket(writer, packet);
      const bytes = writer.toBuffer();
      const received: QuorumPacket[] = [];
      let closedReason: string | null = null;
      leader.handlers = {
        packet: (packet) => received.push(packet),
        closed: (reason) => {
          closedReason = reason;
        },
      };
      // Reads of 1, 7 and 15 bytes split headers; 4093 bytes, data; the rest, several packets.
      const sizes = [1, 7, 15, 4093, 65_536, 3, 200_000];
      let offset = 0;
      for (let i = 0; offset < bytes.length; i++) {
        const size = sizes[i % sizes.length]!;
        // The socket's "data" path, called directly so that the reads are exactly these.
        (leader as unknown as { received(chunk: Buffer): void }).received(
          Buffer.from(bytes.subarray(offset, offset + size)),
        );
        offset += size;
      }
      assert.equal(closedReason, null);
      assertSame(received, sent, "split reads");
    } finally {
      close();
    }
  });
});
