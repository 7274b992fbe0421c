/** node-zookeeper-client (npm), a client written by others, against a zkts server. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import zookeeper from "node-zookeeper-client";
import { startTestingServer, type TestingServer } from "../../src/server/testing-server.js";
import { connectNzk, type NzkClient, nzkClose, nzkCreate, nzkGetData } from "../support/nzk.js";

function call<T>(run: (callback: (error: Error | null, result: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, result) => (error ? reject(error) : resolve(result))));
}

function codeOf(error: unknown): number | undefined {
  return (error as { getCode?: () => number }).getCode?.();
}

describe("node-zookeeper-client against zkts", () => {
  let server: TestingServer;
  let client: NzkClient;
  before(async () => {
    server = await startTestingServer();
    client = await connectNzk(server.connectString);
  });
  after(async () => {
    await nzkClose(client);
    await server.close();
  });

  it("creates, reads, updates and deletes with versions", async () => {
    assert.equal(await nzkCreate(client, "/nzk", Buffer.from("v0")), "/nzk");
    const stat = await call<{ version: number }>((cb) => client.setData("/nzk", Buffer.from("v1"), 0, cb));
    assert.equal(stat.version, 1);
    await assert.rejects(
      call((cb) => client.setData("/nzk", Buffer.from("v2"), 0, cb)),
      (error) => codeOf(error) === zookeeper.Exception.BAD_VERSION,
    );
    assert.deepEqual(await nzkGetData(client, "/nzk"), { data: Buffer.from("v1"), version: 1 });
    await call<void>((cb) => client.remove("/nzk", 1, (error) => cb(error, undefined)));
    await assert.rejects(
      nzkGetData(client, "/nzk"),
      (error) => codeOf(error) === zookeeper.Exception.NO_NODE,
    );
  });

  it("reads back values of every size up to 1 MiB, the small and the large reply paths", async () => {
    // 4096 bytes and below are copied into the reply; above, the node's buffer is sent as is.
    for (const size of [0, 1, 4095, 4096, 4097, 100_000, 1024 * 1024 - 64]) {
      const value = Buffer.alloc(size);
      for (let i = 0; i < size; i++) value[i] = (i * 31 + size) & 0xff;
      await nzkCreate(client, `/size-${size}`, value);
      const read = await nzkGetData(client, `/size-${size}`);
      assert.equal(read.data?.length ?? 0, size);
      if (size > 0) assert.ok(read.data!.equals(value), `value of ${size} bytes`);
      assert.equal(read.version, 0);
    }
    // A large reply followed by a small one on the same connection keeps the framing.
    const stat = await call<{ dataLength: number } | null>((cb) =>
      client.exists("/size-100000", undefined, cb),
    );
    assert.equal(stat?.dataLength, 100_000);
  });

  it("names sequential nodes from the parent's cversion", async () => {
    await nzkCreate(client, "/seq", null);
    const first = await nzkCreate(client, "/seq/n-", null, zookeeper.CreateMode.PERSISTENT_SEQUENTIAL);
    const second = await nzkCreate(client, "/seq/n-", null, zookeeper.CreateMode.PERSISTENT_SEQUENTIAL);
    assert.equal(first, "/seq/n-0000000000");
    assert.equal(second, "/seq/n-0000000001");
  });

  it("fires data and child watches once", async () => {
    await nzkCreate(client, "/watched", Buffer.from("a"));
    const dataEvent = new Promise<{ type: number; path: string }>((resolve) =>
      client.getData(
        "/watched",
        (event) => resolve({ type: event.getType(), path: event.getPath() }),
        () => {},
      ),
    );
    const childEvent = new Promise<{ type: number; path: string }>((resolve) =>
      client.getChildren(
        "/watched",
        (event) => resolve({ type: event.getType(), path: event.getPath() }),
        () => {},
      ),
    );
    await call((cb) => client.setData("/watched", Buffer.from("b"), -1, cb));
    await nzkCreate(client, "/watched/kid", null);
    assert.deepEqual(await dataEvent, { type: zookeeper.Event.NODE_DATA_CHANGED, path: "/watched" });
    assert.deepEqual(await childEvent, { type: zookeeper.Event.NODE_CHILDREN_CHANGED, path: "/watched" });
  });

  it("removes a session's ephemerals when it closes", async () => {
    const other = await connectNzk(server.connectString);
    await nzkCreate(other, "/ephemeral", null, zookeeper.CreateMode.EPHEMERAL);
    const deleted = new Promise<number>((resolve) =>
      client.exists(
        "/ephemeral",
        (event) => resolve(event.getType()),
        () => {},
      ),
    );
    await nzkClose(other);
    assert.equal(await deleted, zookeeper.Event.NODE_DELETED);
    const stat = await call<unknown>((cb) => client.exists("/ephemeral", undefined, cb));
    assert.equal(stat, null);
  });

  it("commits a transaction all or nothing", async () => {
    await call((cb) =>
      client.transaction().create("/tx").create("/tx/a").setData("/tx", Buffer.from("t")).commit(cb),
    );
    assert.deepEqual((await nzkGetData(client, "/tx")).data, Buffer.from("t"));
    await assert.rejects(call((cb) => client.transaction().create("/tx/b").create("/tx/a").commit(cb)));
    await assert.rejects(
      nzkGetData(client, "/tx/b"),
      (error) => codeOf(error) === zookeeper.Exception.NO_NODE,
    );
  });

  it("enforces digest ACLs", async () => {
    const owner = await connectNzk(server.connectString);
    owner.addAuthInfo("digest", Buffer.from("bob:pw"));
    const acl = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id("auth", ""))];
    await call<string>((cb) => owner.create("/secret", Buffer.from("s"), acl, 0, cb));
    await assert.rejects(
      nzkGetData(client, "/secret"),
      (error) => codeOf(error) === zookeeper.Exception.NO_AUTH,
    );
    assert.deepEqual((await nzkGetData(owner, "/secret")).data, Buffer.from("s"));
    await nzkClose(owner);
  });
});
