/** Session expiry, container and TTL reaping, connection limits and four-letter words on a live zkts server. */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  CreateMode,
  ErrorCode,
  EventType,
  KeeperError,
  OpCode,
  type WatchedEvent,
  ZooKeeperClient,
} from "../../src/client/index.js";
import { JuteWriter } from "../../src/jute/binary.js";
import { frame } from "../../src/jute/framer.js";
import { startTestingServer, type TestingServer } from "../../src/server/testing-server.js";
import { fourLetterWord, waitFor } from "../support/apache-zookeeper.js";
import { RawSession } from "../support/raw-session.js";

function connectFrame(): Buffer {
  const w = new JuteWriter();
  w.int(0).long(0n).int(5000).long(0n).buffer_(Buffer.alloc(16)).bool(false);
  return frame(Buffer.from(w.toBuffer()));
}

describe("zkts server behaviour", () => {
  let server: TestingServer;
  let client: ZooKeeperClient;
  before(async () => {
    server = await startTestingServer({
      properties: {
        tickTime: "100",
        "znode.container.checkIntervalMs": "100",
        maxClientCnxns: "20",
      },
    });
    client = await ZooKeeperClient.connect(server.connectString, { sessionTimeoutMs: 5_000 });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it("expires a silent session, deletes its ephemerals and refuses to resume it", async () => {
    const silent = await RawSession.connect("127.0.0.1", server.port, 200);
    assert.equal(silent.negotiatedTimeoutMs, 200);
    const w = new JuteWriter();
    w.string("/eph").buffer_(null).int(1).int(31).string("world").string("anyone").int(CreateMode.EPHEMERAL);
    assert.equal((await silent.request(1, Buffer.from(w.toBuffer()))).err, 0);
    const deleted = new Promise<WatchedEvent>((resolve) => {
      void client.exists("/eph", resolve);
    });
    silent.end();
    assert.equal((await deleted).type, EventType.NodeDeleted);
    await assert.rejects(
      ZooKeeperClient.connect(server.connectString, {
        sessionId: silent.sessionId,
        sessionPassword: Buffer.alloc(16),
      }),
      (error: unknown) => error instanceof KeeperError && error.code === ErrorCode.SESSIONEXPIRED,
    );
  });

  it("fires the events a reconnecting client missed before answering its setWatches2", async () => {
    await client.create("/missed", "1");
    await client.create("/missed-kids");
    const { stat } = await client.getData("/missed");
    await client.setData("/missed", "2");
    await client.create("/missed-kids/k");
    await client.delete("/missed-kids/k");
    const session = await RawSession.connect("127.0.0.1", server.port, 5_000);
    const w = new JuteWriter();
    w.long(stat.mzxid);
    for (const list of [["/missed", "/never"], ["/missed"], ["/missed-kids"], [], []]) {
      w.int(list.length);
      for (const path of list) w.string(path);
    }
    const reply = await session.request(OpCode.setWatches2, Buffer.from(w.toBuffer()));
    assert.equal(reply.err, 0);
    assert.deepEqual(
      session.events.map((event) => [event.type, event.path]),
      [
        [EventType.NodeDataChanged, "/missed"],
        [EventType.NodeDeleted, "/never"],
        [EventType.NodeCreated, "/missed"],
        [EventType.NodeChildrenChanged, "/missed-kids"],
      ],
    );
    await session.close();
  });

  it("removes containers once emptied and TTL nodes once expired", async () => {
    await client.create("/box", null, { mode: CreateMode.CONTAINER });
    await client.create("/box/item");
    await client.create("/short", null, { mode: CreateMode.PERSISTENT_WITH_TTL, ttlMs: 100 });
    await client.delete("/box/item");
    await waitFor(
      async () => (await client.exists("/box")) === null && (await client.exists("/short")) === null,
      10_000,
      50,
    );
  });

  it("refuses a client that has seen a newer zxid than the server", async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(server.port, "127.0.0.1");
      const w = new JuteWriter();
      w.int(0).long(0x7fffffffn).int(5000).long(0n).buffer_(Buffer.alloc(16)).bool(false);
      socket.on("connect", () => socket.write(frame(Buffer.from(w.toBuffer()))));
      socket.on("data", () => resolve(false));
      socket.on("close", () => resolve(true));
      socket.on("error", () => {});
    });
    assert.equal(closed, true);
  });

  it("limits connections per client address", async () => {
    await waitFor(async () => server.clientPort.connectionCount === 1, 5_000, 20);
    const sockets: net.Socket[] = [];
    const outcomes: Promise<"open" | "closed">[] = [];
    for (let i = 0; i < 25; i++) {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => {});
      sockets.push(socket);
      outcomes.push(
        new Promise((resolve) => {
          // An accepted connection answers the handshake; a refused one closes without a word.
          socket.on("data", () => resolve("open"));
          socket.on("close", () => resolve("closed"));
          socket.on("connect", () => socket.write(connectFrame()));
        }),
      );
    }
    const results = await Promise.all(outcomes);
    for (const socket of sockets) socket.destroy();
    // The limit counts our long-lived client too: 20 in all from 127.0.0.1.
    assert.equal(results.filter((result) => result === "open").length, 19);
    await waitFor(async () => server.clientPort.connectionCount === 1, 5_000, 20);
  });

  it("answers four-letter words", async () => {
    assert.equal(await fourLetterWord("127.0.0.1", server.port, "ruok"), "imok");
    assert.equal(await fourLetterWord("127.0.0.1", server.port, "isro"), "rw");
    const stat = await fourLetterWord("127.0.0.1", server.port, "stat");
    assert.match(stat, /Clients:\n \/127\.0\.0\.1:\d+\[1\]\(/);
    assert.match(stat, /Mode: standalone/);
    assert.match(await fourLetterWord("127.0.0.1", server.port, "conf"), /tickTime=100\n/);
    assert.match(
      await fourLetterWord("127.0.0.1", server.port, "envi"),
      /^Environment:\nzookeeper.version=3\.8/,
    );
    const watched = new Promise<void>((resolve) => {
      void client.getData("/", () => resolve());
    });
    assert.match(await fourLetterWord("127.0.0.1", server.port, "wchs"), /watching 1 paths\nTotal watches:1/);
    assert.match(await fourLetterWord("127.0.0.1", server.port, "dump"), /SessionTracker dump:/);
    assert.match(await fourLetterWord("127.0.0.1", server.port, "mntr"), /zk_server_state\tstandalone\n/);
    await client.setData("/", "x");
    await watched;
  });

  it("counts no request outstanding once every one is answered, connects included", async () => {
    const others = await Promise.all([1, 2, 3].map(() => ZooKeeperClient.connect(server.connectString)));
    await Promise.all(others.map((other, i) => other.create(`/outstanding-${i}`, "v")));
    await Promise.all(others.map((other) => other.close()));
    // Connects, creates and closes answered: none is outstanding (before, each connect left -1).
    assert.match(await fourLetterWord("127.0.0.1", server.port, "mntr"), /\nzk_outstanding_requests\t0\n/);
    assert.match(await fourLetterWord("127.0.0.1", server.port, "srvr"), /\nOutstanding: 0\n/);
  });
});
