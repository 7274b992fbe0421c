/**
 * A client cut off from its server by a fault-injecting proxy: within its session timeout
 * it resumes the session on another server with its ephemerals intact; cut off for longer,
 * the leader expires the session, its ephemerals go on every server, and resuming it is
 * refused as expired.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateMode, ZooKeeperClient } from "../../src/client/index.js";
import { waitFor } from "../support/apache-zookeeper.js";
import {
  layoutEnsemble,
  type Member,
  startEnsemble,
  stopEnsemble,
  waitForLeader,
  withEnsembleLogs,
} from "../support/ensemble.js";
import { FaultProxy } from "../support/fault-proxy.js";

describe("clients partitioned from their server", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-client-partition-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a short cut resumes the session elsewhere; a long one expires it everywhere", async () => {
    const ensemble = await layoutEnsemble(join(dir, "clients"), ["zkts", "zkts", "zkts"]);
    const proxies: FaultProxy[] = [];
    const clients: ZooKeeperClient[] = [];
    await withEnsembleLogs(ensemble, async () => {
      try {
        await startEnsemble(ensemble);
        const leader = await waitForLeader(ensemble);
        const [near, far] = ensemble.members.filter((member) => member !== leader) as [Member, Member];
        const watcher = await ZooKeeperClient.connect(`127.0.0.1:${leader.clientPort}`);
        clients.push(watcher);

        // Short: blackholed well within the 6 s session timeout, then resumed on the other follower.
        const proxy = await FaultProxy.start({ targetPort: near.clientPort });
        proxies.push(proxy);
        const cut = await ZooKeeperClient.connect(`127.0.0.1:${proxy.port}`, { sessionTimeoutMs: 6000 });
        clients.push(cut);
        await cut.create("/short", "mine", { mode: CreateMode.EPHEMERAL });
        proxy.blackhole();
        const resumed = await ZooKeeperClient.connect(`127.0.0.1:${far.clientPort}`, {
          sessionTimeoutMs: 6000,
          sessionId: cut.sessionId,
          sessionPassword: cut.sessionPassword,
        });
        clients.push(resumed);
        assert.equal(resumed.sessionId, cut.sessionId);
        await resumed.setData("/short", "resumed");
        await watcher.sync("/");
        assert.equal((await watcher.getData("/short")).data?.toString(), "resumed");

        // Long: cut off past the session timeout (minimum 2 ticks here): the leader expires it.
        const longProxy = await FaultProxy.start({ targetPort: far.clientPort });
        proxies.push(longProxy);
        const lost = await ZooKeeperClient.connect(`127.0.0.1:${longProxy.port}`, { sessionTimeoutMs: 1000 });
        clients.push(lost);
        await lost.create("/long", "mine", { mode: CreateMode.EPHEMERAL });
        longProxy.blackhole();
        await waitFor(async () => (await watcher.exists("/long")) === null, 20_000, 100);
        const other = await ZooKeeperClient.connect(`127.0.0.1:${near.clientPort}`);
        clients.push(other);
        await other.sync("/");
        assert.equal(await other.exists("/long"), null);
        await assert.rejects(
          ZooKeeperClient.connect(`127.0.0.1:${near.clientPort}`, {
            sessionTimeoutMs: 1000,
            sessionId: lost.sessionId,
            sessionPassword: lost.sessionPassword,
          }),
        );
      } finally {
        for (const proxy of proxies) proxy.heal();
        await Promise.all(clients.map((client) => client.close().catch(() => {})));
        await Promise.all(proxies.map((proxy) => proxy.close()));
        await stopEnsemble(ensemble);
      }
    });
  });
});
