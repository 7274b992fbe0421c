/**
 * The project's client against zkts and, as an oracle, against Apache ZooKeeper 3.8:
 * the same assertions must hold on both.
 */
import assert from "node:assert/strict";
import { type AddressInfo, createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { requestsInFlightMax } from "../../src/client/connection.js";
import {
  AddWatchMode,
  CreateMode,
  ErrorCode,
  EventType,
  KeeperError,
  MultiError,
  OpCode,
  openAclUnsafe,
  type WatchedEvent,
  WatcherType,
  ZooKeeperClient,
} from "../../src/client/index.js";
import { generateDigest } from "../../src/server/auth.js";
import { startTestingServer } from "../../src/server/testing-server.js";
import { startApacheZooKeeper } from "../support/apache-zookeeper.js";

/** Resolves with the next event a watcher sees (rejects after a deadline). */
function nextEvent(): { watcher: (event: WatchedEvent) => void; event: Promise<WatchedEvent> } {
  let resolve!: (event: WatchedEvent) => void;
  const event = new Promise<WatchedEvent>((r) => {
    resolve = r;
  });
  const timer = setTimeout(() => resolve({ type: 0, state: 0, path: "timeout" }), 10_000);
  return {
    watcher: (e) => {
      clearTimeout(timer);
      resolve(e);
    },
    event,
  };
}

const code = (expected: number) => (error: unknown) =>
  error instanceof KeeperError && error.code === expected;

const servers: [string, () => Promise<{ connectString: string; close(): Promise<void> }>][] = [
  ["zkts", async () => startTestingServer()],
  [
    "Apache ZooKeeper 3.8",
    async () => {
      const zk = await startApacheZooKeeper();
      return { connectString: `${zk.host}:${zk.port}`, close: () => zk.stop() };
    },
  ],
];

for (const [name, start] of servers) {
  describe(`client against ${name}`, () => {
    let server: { connectString: string; close(): Promise<void> };
    let client: ZooKeeperClient;
    before(async () => {
      server = await start();
      client = await ZooKeeperClient.connect(server.connectString, { sessionTimeoutMs: 10_000 });
    });
    after(async () => {
      await client?.close();
      await server?.close();
    });

    it("negotiates a session", () => {
      assert.notEqual(client.sessionId, 0n);
      assert.equal(client.sessionTimeoutMs, 10_000);
      assert.equal(client.state, "connected");
    });

    it("creates in every mode and reads back stats", async () => {
      const created = await client.create("/c", "data");
      assert.equal(created.path, "/c");
      assert.equal(created.stat.dataLength, 4);
      assert.equal(created.stat.czxid, created.stat.mzxid);
      const seq = await client.create("/c/s-", null, { mode: CreateMode.PERSISTENT_SEQUENTIAL });
      assert.equal(seq.path, "/c/s-0000000000");
      const eph = await client.create("/c/e", null, { mode: CreateMode.EPHEMERAL });
      assert.equal(eph.stat.ephemeralOwner, client.sessionId);
      const container = await client.create("/c/box", null, { mode: CreateMode.CONTAINER });
      assert.equal(container.stat.ephemeralOwner, 0n);
      const ttl = await client.create("/c/ttl", null, {
        mode: CreateMode.PERSISTENT_WITH_TTL,
        ttlMs: 60_000,
      });
      assert.equal(ttl.stat.ephemeralOwner, 0n);
      const parent = await client.getData("/c");
      assert.equal(parent.stat.numChildren, 4);
      assert.equal(parent.stat.cversion, 4);
      assert.deepEqual(parent.data, Buffer.from("data"));
      await assert.rejects(client.create("/c/e/child"), code(ErrorCode.NOCHILDRENFOREPHEMERALS));
      await assert.rejects(client.create("/c"), code(ErrorCode.NODEEXISTS));
      await assert.rejects(client.create("/missing/x"), code(ErrorCode.NONODE));
      // The parent is looked up before the path is validated, so "/missing/" is NONODE but "/c/" is bad.
      await assert.rejects(client.create("/missing/"), code(ErrorCode.NONODE));
      await assert.rejects(client.create("/c/"), code(ErrorCode.BADARGUMENTS));
    });

    it("updates and deletes with versions", async () => {
      await client.create("/v", "0");
      const stat = await client.setData("/v", "1", 0);
      assert.equal(stat.version, 1);
      await assert.rejects(client.setData("/v", "2", 0), code(ErrorCode.BADVERSION));
      await assert.rejects(client.delete("/v", 0), code(ErrorCode.BADVERSION));
      await client.delete("/v", 1);
      assert.equal(await client.exists("/v"), null);
      await assert.rejects(client.delete("/c"), code(ErrorCode.NOTEMPTY));
    });

    it("lists children, counts descendants and ephemerals", async () => {
      const { children, stat } = await client.getChildren("/c");
      assert.deepEqual([...children].sort(), ["box", "e", "s-0000000000", "ttl"]);
      assert.equal(stat.numChildren, 4);
      assert.equal(await client.getAllChildrenNumber("/c"), 4);
      assert.deepEqual(await client.getEphemerals("/c"), ["/c/e"]);
    });

    it("fires one-shot data, exist and child watches once", async () => {
      await client.create("/w", "a");
      const data = nextEvent();
      const child = nextEvent();
      const exist = nextEvent();
      await client.getData("/w", data.watcher);
      await client.getChildren("/w", child.watcher);
      assert.equal(await client.exists("/w/new", exist.watcher), null);
      await client.setData("/w", "b");
      await client.create("/w/new");
      assert.deepEqual(await data.event, { type: EventType.NodeDataChanged, state: 3, path: "/w" });
      assert.deepEqual(await child.event, { type: EventType.NodeChildrenChanged, state: 3, path: "/w" });
      assert.deepEqual(await exist.event, { type: EventType.NodeCreated, state: 3, path: "/w/new" });
    });

    it("keeps persistent recursive watches and removes them on request", async () => {
      await client.create("/r");
      const seen: WatchedEvent[] = [];
      await client.addWatch("/r", AddWatchMode.PERSISTENT_RECURSIVE, (event) => seen.push(event));
      await client.create("/r/a");
      await client.create("/r/a/b", "x");
      await client.setData("/r/a/b", "y");
      await client.delete("/r/a/b");
      await client.sync("/");
      await client.exists("/");
      assert.deepEqual(
        seen.map((event) => [event.type, event.path]),
        [
          [EventType.NodeCreated, "/r/a"],
          [EventType.NodeCreated, "/r/a/b"],
          [EventType.NodeDataChanged, "/r/a/b"],
          [EventType.NodeDeleted, "/r/a/b"],
        ],
      );
      await client.checkWatches("/r", WatcherType.Any);
      await client.removeWatches("/r", WatcherType.Any);
      await assert.rejects(client.checkWatches("/r", WatcherType.Any), code(ErrorCode.NOWATCHER));
    });

    it("fires the watches of every op of a multi, in op order", async () => {
      await client.create("/mw");
      const seen: WatchedEvent[] = [];
      await client.addWatch("/mw", AddWatchMode.PERSISTENT_RECURSIVE, (event) => seen.push(event));
      const child = nextEvent();
      await client.getChildren("/mw", child.watcher);
      const acl = openAclUnsafe;
      await client.multi([
        { type: OpCode.create, request: { path: "/mw/a", data: null, acl, flags: 0 } },
        { type: OpCode.setData, request: { path: "/mw/a", data: Buffer.from("x"), version: -1 } },
        { type: OpCode.create, request: { path: "/mw/b", data: null, acl, flags: 0 } },
        { type: OpCode.delete, request: { path: "/mw/a", version: -1 } },
        { type: OpCode.setData, request: { path: "/mw", data: Buffer.from("y"), version: -1 } },
      ]);
      assert.deepEqual(await child.event, { type: EventType.NodeChildrenChanged, state: 3, path: "/mw" });
      // The multi's notifications all precede the reply to a later request.
      await client.exists("/");
      assert.deepEqual(
        seen.map((event) => [event.type, event.path]),
        [
          [EventType.NodeCreated, "/mw/a"],
          [EventType.NodeDataChanged, "/mw/a"],
          [EventType.NodeCreated, "/mw/b"],
          [EventType.NodeDeleted, "/mw/a"],
          [EventType.NodeDataChanged, "/mw"],
        ],
      );
    });

    it("runs multi all or nothing with ZooKeeper's per-op results", async () => {
      const results = await client.multi([
        {
          type: OpCode.create,
          request: {
            path: "/m",
            data: null,
            acl: openAclUnsafe,
            flags: 0,
          },
        },
        { type: OpCode.setData, request: { path: "/m", data: Buffer.from("x"), version: 0 } },
        { type: OpCode.check, request: { path: "/m", version: 1 } },
      ]);
      assert.deepEqual(
        results.map((result) => result.type),
        [OpCode.create, OpCode.setData, OpCode.check],
      );
      await assert.rejects(
        client.multi([
          { type: OpCode.setData, request: { path: "/m", data: Buffer.from("y"), version: -1 } },
          { type: OpCode.delete, request: { path: "/nope", version: -1 } },
          { type: OpCode.setData, request: { path: "/m", data: Buffer.from("z"), version: -1 } },
        ]),
        (error: unknown) =>
          error instanceof MultiError &&
          error.code === ErrorCode.NONODE &&
          JSON.stringify(error.results) ===
            JSON.stringify([
              { type: -1, err: 0 },
              { type: -1, err: ErrorCode.NONODE },
              { type: -1, err: ErrorCode.RUNTIMEINCONSISTENCY },
            ]),
      );
      assert.deepEqual((await client.getData("/m")).data, Buffer.from("x"));
      const reads = await client.multiRead([
        { type: OpCode.getData, request: { path: "/m", watch: false } },
        { type: OpCode.getChildren, request: { path: "/nope", watch: false } },
      ]);
      assert.equal(reads[0]?.type, OpCode.getData);
      assert.deepEqual(reads[1], { type: OpCode.error, err: ErrorCode.NONODE });
    });

    it("answers writes pipelined in one turn with their own replies, a large multi's among them", async () => {
      await client.create("/piped", null);
      const setOp = {
        type: OpCode.setData,
        request: { path: "/piped", data: Buffer.from("v"), version: -1 },
      };
      // 100 setData results (77 bytes each) make a reply of over 4 KiB; the replies after it
      // leave in the same turn.
      const bigMulti = client.multi(Array.from({ length: 100 }, () => setOp));
      const set = client.setData("/piped", Buffer.from("w"));
      const created = client.create("/piped/c", "x");
      const smallMulti = client.multi([setOp, setOp]);
      const results = await bigMulti;
      assert.deepEqual(
        results.map((result) => (result.type === OpCode.setData ? result.stat.version : -1)),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      assert.equal((await set).version, 101);
      const child = await created;
      assert.equal(child.path, "/piped/c");
      assert.equal(child.stat.dataLength, 1);
      assert.deepEqual(
        (await smallMulti).map((result) => (result.type === OpCode.setData ? result.stat.version : -1)),
        [102, 103],
      );
    });

    it("works under a chroot: paths sent under it, and given back without it", async () => {
      await client.create("/app", null);
      const rooted = await ZooKeeperClient.connect(`${server.connectString}/app`);
      try {
        assert.equal((await rooted.create("/x", "1")).path, "/x");
        const results = await rooted.multi([
          { type: OpCode.create, request: { path: "/y", data: null, acl: openAclUnsafe, flags: 0 } },
          { type: OpCode.setData, request: { path: "/x", data: Buffer.from("2"), version: 0 } },
        ]);
        assert.deepEqual(results[0], { type: OpCode.create, path: "/y" });
        assert.equal((await rooted.setData("/x", "3")).version, 2);
        assert.deepEqual((await client.getData("/app/x")).data, Buffer.from("3"));
        assert.deepEqual((await client.getChildren("/app")).children.sort(), ["x", "y"]);
      } finally {
        await rooted.close();
      }
    });

    it("answers reads pipelined in one turn with their own replies, large ones among them", async () => {
      await client.create("/reads", "r");
      const names = Array.from({ length: 300 }, (_, i) => `child-${String(i).padStart(4, "0")}`);
      await Promise.all(names.map((name) => client.create(`/reads/${name}`, null)));
      const big = Buffer.alloc(4090, 7); // with its length and stat, a body just over 4 KiB
      await client.create("/reads/big", big);
      // A children list of over 4 KiB, a value just over, then small replies: one turn's replies.
      const children = client.getChildren("/reads");
      const bigData = client.getData("/reads/big");
      const small = client.getData("/reads");
      const stat = client.exists("/reads/big");
      assert.deepEqual([...(await children).children].sort(), [...names, "big"].sort());
      assert.deepEqual((await bigData).data, big);
      assert.deepEqual((await small).data, Buffer.from("r"));
      assert.equal((await stat)?.dataLength, 4090);
    });

    it("enforces digest ACLs, masks digests for non-admins, and reports identities", async () => {
      const owner = await ZooKeeperClient.connect(server.connectString);
      try {
        await owner.addAuth("digest", "carol:pw");
        await owner.create("/acl", "s", { acl: [{ perms: 31, id: { scheme: "auth", id: "" } }] });
        await assert.rejects(client.getData("/acl"), code(ErrorCode.NOAUTH));
        assert.deepEqual((await owner.getData("/acl")).data, Buffer.from("s"));
        const { acl } = await owner.getACL("/acl");
        assert.deepEqual(acl, [{ perms: 31, id: { scheme: "digest", id: generateDigest("carol:pw") } }]);
        await owner.setACL("/acl", [{ perms: 1, id: { scheme: "world", id: "anyone" } }, ...acl]);
        const masked = await client.getACL("/acl");
        assert.deepEqual(masked.acl[1], { perms: 31, id: { scheme: "digest", id: "carol:x" } });
        const identities = await owner.whoAmI();
        assert.ok(identities.some((info) => info.authScheme === "digest" && info.user === "carol"));
      } finally {
        await owner.close();
      }
    });

    it("deletes a session's ephemerals when it closes and tells watchers", async () => {
      const other = await ZooKeeperClient.connect(server.connectString);
      await other.create("/gone", null, { mode: CreateMode.EPHEMERAL });
      const deleted = nextEvent();
      await client.exists("/gone", deleted.watcher);
      await other.close();
      assert.equal((await deleted.event).type, EventType.NodeDeleted);
      assert.equal(await client.exists("/gone"), null);
    });

    it("reconnects with the same session and restores watches", async () => {
      await client.create("/again", "1");
      const changed = nextEvent();
      await client.getData("/again", changed.watcher);
      const sessionId = client.sessionId;
      const reconnected = new Promise<void>((resolve) => {
        const onState = (state: string) => {
          if (state === "connected") {
            client.off("state", onState);
            resolve();
          }
        };
        client.on("state", onState);
      });
      client.dropConnection();
      await reconnected;
      assert.equal(client.sessionId, sessionId);
      const writer = await ZooKeeperClient.connect(server.connectString);
      await writer.setData("/again", "2");
      await writer.close();
      assert.deepEqual(await changed.event, { type: EventType.NodeDataChanged, state: 3, path: "/again" });
    });

    it("fails the requests still pending when it is abandoned, each with CONNECTIONLOSS", {
      timeout: 30_000,
    }, async () => {
      for (const count of [1, 3]) {
        const doomed = await ZooKeeperClient.connect(server.connectString);
        const requests = [() => doomed.create("/never"), () => doomed.exists("/"), () => doomed.getData("/")];
        const pending = requests.slice(0, count).map((request) => request());
        doomed.abandon();
        await Promise.all(pending.map((request) => assert.rejects(request, code(ErrorCode.CONNECTIONLOSS))));
      }
      // Past requestsInFlightMax, requests wait in the client's queue, unsent: they fail too.
      const doomed = await ZooKeeperClient.connect(server.connectString);
      const pending = Array.from({ length: requestsInFlightMax + 3 }, () => doomed.exists("/"));
      doomed.abandon();
      const settled = await Promise.allSettled(pending);
      assert.ok(settled.every((s) => s.status === "rejected" && code(ErrorCode.CONNECTIONLOSS)(s.reason)));
      assert.equal(await client.exists("/never"), null);
    });

    it("refuses to resume a session with the wrong password", async () => {
      await assert.rejects(
        ZooKeeperClient.connect(server.connectString, {
          sessionId: client.sessionId,
          sessionPassword: Buffer.alloc(16, 7),
        }),
        code(ErrorCode.SESSIONEXPIRED),
      );
    });
  });
}

describe("client connect with no server answering", () => {
  it("fails with CONNECTIONLOSS after its connect timeout, having tried every host", async () => {
    // Two ports that accept and never answer: the handshake cannot complete on either.
    const accepted: number[] = [];
    const silent = [0, 1].map((index) =>
      createServer((socket) => {
        accepted.push(index);
        socket.resume();
      }),
    );
    const ports = await Promise.all(
      silent.map(
        (server) =>
          new Promise<number>((resolve) =>
            server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
          ),
      ),
    );
    try {
      const started = performance.now();
      await assert.rejects(
        ZooKeeperClient.connect(ports.map((port) => `127.0.0.1:${port}`).join(","), {
          // Each host has half the session timeout to answer, so both are tried in time.
          sessionTimeoutMs: 200,
          connectTimeoutMs: 1000,
        }),
        (error: unknown) => error instanceof KeeperError && error.code === ErrorCode.CONNECTIONLOSS,
      );
      assert.ok(performance.now() - started >= 990, "gave up before its connect timeout");
      assert.deepEqual(
        [...new Set(accepted)].sort(),
        [0, 1],
        "a hung host was waited on and the other not tried",
      );
    } finally {
      await Promise.all(silent.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });
});
