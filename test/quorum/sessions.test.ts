/**
 * Sessions across a zkts ensemble: created through a follower and logged by the leader, a
 * session moves to another server when its own dies and keeps its ephemerals; a client
 * that vanishes is expired by the leader and its ephemerals go everywhere; closing the
 * session removes them everywhere.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateMode, ZooKeeperClient } from "../../src/client/index.js";
import { JuteWriter } from "../../src/jute/binary.js";
import { ErrorCode, OpCode } from "../../src/jute/constants.js";
import { CreateRequest } from "../../src/jute/records.js";
import { fourLetterWord, waitFor } from "../support/apache-zookeeper.js";
import {
  layoutEnsemble,
  type Member,
  mntr,
  startEnsemble,
  stopEnsemble,
  stopMember,
  waitForLeader,
  withEnsembleLogs,
} from "../support/ensemble.js";
import { RawSession } from "../support/raw-session.js";

const openAcl = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];

describe("sessions across an ensemble", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-sessions-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a session outlives its server, an abandoned one is expired by the leader, a closed one takes its ephemerals", async () => {
    const ensemble = await layoutEnsemble(join(dir, "sessions"), ["zkts", "zkts", "zkts"]);
    await withEnsembleLogs(ensemble, async () => {
      let moving: ZooKeeperClient | null = null;
      let watcher: ZooKeeperClient | null = null;
      try {
        await startEnsemble(ensemble);
        const leader = await waitForLeader(ensemble);
        const followers = ensemble.members.filter((member) => member !== leader) as [Member, Member];
        // The leader's gauges, as ZooKeeper's mntr shows them on a leader.
        const gauges = await mntr(leader);
        assert.equal(gauges.get("zk_server_state"), "leader");
        assert.equal(gauges.get("zk_synced_followers"), "2");
        assert.equal((await mntr(followers[0])).get("zk_server_state"), "follower");
        watcher = await ZooKeeperClient.connect(`127.0.0.1:${leader.clientPort}`);
        moving = await ZooKeeperClient.connect(
          followers.map((member) => `127.0.0.1:${member.clientPort}`).join(","),
          {
            sessionTimeoutMs: 6000,
          },
        );
        const sessionId = moving.sessionId;
        await moving.create("/e", "mine", { mode: CreateMode.EPHEMERAL });
        // Its server dies; the client moves to the other follower with the same session.
        const hex = sessionId.toString(16);
        let home: Member | null = null;
        for (const follower of followers) {
          if ((await fourLetterWord("127.0.0.1", follower.clientPort, "cons")).includes(`sid=0x${hex}`))
            home = follower;
        }
        assert.ok(home !== null, "the session is on one of the followers");
        await stopMember(home, "SIGKILL");
        const client = moving;
        await waitFor(
          async () => {
            try {
              await client.setData("/e", "moved");
              return true;
            } catch {
              return false;
            }
          },
          30_000,
          50,
        );
        assert.equal(client.sessionId, sessionId);
        await watcher.sync("/");
        assert.equal((await watcher.getData("/e")).data?.toString(), "moved");
        assert.equal((await watcher.exists("/e"))?.ephemeralOwner, sessionId);

        // A client that vanishes without closing: the leader expires it and its ephemeral goes.
        const survivor = followers.find((follower) => follower !== home) as Member;
        const raw = await RawSession.connect("127.0.0.1", survivor.clientPort, 2000);
        const writer = new JuteWriter();
        CreateRequest.write(writer, {
          path: "/gone",
          data: Buffer.from("x"),
          acl: openAcl,
          flags: CreateMode.EPHEMERAL,
        });
        assert.equal((await raw.request(OpCode.create, Buffer.from(writer.toBuffer()))).err, ErrorCode.OK);
        await watcher.sync("/");
        assert.notEqual(await watcher.exists("/gone"), null);
        raw.end();
        const observer = watcher;
        await waitFor(async () => (await observer.exists("/gone")) === null, 20_000, 100);

        // Closing the moved session removes its ephemeral on every server.
        await client.close();
        moving = null;
        await observer.sync("/");
        assert.equal(await observer.exists("/e"), null);
        const other = await ZooKeeperClient.connect(`127.0.0.1:${survivor.clientPort}`);
        await other.sync("/");
        assert.equal(await other.exists("/e"), null);
        await other.close();
      } finally {
        await moving?.close().catch(() => {});
        await watcher?.close().catch(() => {});
        await stopEnsemble(ensemble);
      }
    });
  });
});
