/**
 * Replicated ensembles of real processes on 127.0.0.1: three zkts servers, and mixed
 * ensembles with Apache ZooKeeper 3.8 (a ZooKeeper leader with zkts followers, a zkts
 * leader with ZooKeeper followers). Clients from node-zookeeper-client write through
 * every server while the leader is killed with SIGKILL; a new leader takes over, the
 * old one comes back, and afterwards every server holds every acknowledged write, the
 * same tree node by node, and no digest mismatch.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ZooKeeperClient } from "../../src/client/index.js";
import { waitFor } from "../support/apache-zookeeper.js";
import {
  type Ensemble,
  layoutEnsemble,
  type Member,
  type MemberKind,
  mntr,
  startEnsemble,
  startMember,
  stopEnsemble,
  stopMember,
  waitForLeader,
} from "../support/ensemble.js";
import { connectNzk, type NzkClient, nzkClose, nzkCreate } from "../support/nzk.js";
import { dumpTree } from "../support/tree-dump.js";

/** Creates `/w/<tag>-<n>` through `client` until `stop()`; records what was acknowledged. */
async function writeUntil(
  client: NzkClient,
  tag: string,
  acknowledged: Set<string>,
  stop: () => boolean,
): Promise<void> {
  for (let n = 0; !stop() && n < 10_000; n++) {
    const path = `/w/${tag}-${n}`;
    try {
      await nzkCreate(client, path, Buffer.from(tag));
      acknowledged.add(path);
    } catch {
      // Connection loss while the ensemble re-elects: the outcome is unknown, so it is not
      // counted; the client reconnects by itself. Pace the retry.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

async function verifyAgreement(ensemble: Ensemble, acknowledged: Set<string>): Promise<void> {
  const dumps: string[] = [];
  for (const member of ensemble.members) {
    const client = await ZooKeeperClient.connect(`127.0.0.1:${member.clientPort}`);
    try {
      await client.sync("/");
      const { children } = await client.getChildren("/w");
      const present = new Set(children.map((child) => `/w/${child}`));
      const missing = [...acknowledged].filter((path) => !present.has(path));
      assert.deepEqual(missing, [], `server ${member.id} (${member.kind}) lacks acknowledged writes`);
      dumps.push(
        JSON.stringify(await dumpTree(client), (_, value) =>
          typeof value === "bigint" ? value.toString() : value,
        ),
      );
    } finally {
      await client.close();
    }
    const metrics = await mntr(member);
    assert.equal(
      metrics.get("zk_digest_mismatches_count") ?? "0",
      "0",
      `server ${member.id} saw a digest mismatch`,
    );
  }
  for (const [index, dump] of dumps.entries()) {
    assert.equal(dump, dumps[0], `server ${index + 1} differs from server 1 node by node`);
  }
}

const shapes: { kinds: MemberKind[]; title: string }[] = [
  { kinds: ["zkts", "zkts", "zkts"], title: "three zkts servers" },
  { kinds: ["apache", "zkts", "zkts"], title: "a zkts leader with an Apache ZooKeeper follower" },
  { kinds: ["zkts", "apache", "apache"], title: "an Apache ZooKeeper leader with a zkts follower" },
  { kinds: ["zkts", "zkts", "apache"], title: "an Apache ZooKeeper leader with two zkts followers" },
  { kinds: ["apache", "apache", "zkts"], title: "a zkts leader with two Apache ZooKeeper followers" },
];

describe("replicated ensembles of real processes", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-ensemble-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [index, shape] of shapes.entries()) {
    it(`${shape.title}: the leader is killed -9 under load, restarted, and nothing acknowledged is lost`, async () => {
      const ensemble = await layoutEnsemble(join(dir, String(index)), shape.kinds);
      const clients: NzkClient[] = [];
      try {
        await startEnsemble(ensemble);
        const leader = await waitForLeader(ensemble);
        // With fresh data the election goes to the highest id: the shape decides who leads.
        assert.equal(leader.id, 3n);
        assert.equal(leader.kind, shape.kinds[2]);
        const setup = await connectNzk(`127.0.0.1:${leader.clientPort}`);
        await nzkCreate(setup, "/w", null);
        await nzkClose(setup);

        // Writers on the two followers run through the leader's death.
        const acknowledged = new Set<string>();
        let stopping = false;
        const survivors = ensemble.members.filter((member) => member !== leader);
        for (const member of survivors)
          clients.push(await connectNzk(`127.0.0.1:${member.clientPort}`, 20_000));
        const writers = clients.map((client, n) =>
          writeUntil(client, `s${survivors[n]?.id}`, acknowledged, () => stopping),
        );
        await waitFor(async () => acknowledged.size >= 40, 30_000, 20);
        const before = acknowledged.size;
        await stopMember(leader, "SIGKILL");
        const next = await waitForLeader(ensemble);
        assert.notEqual(next.id, leader.id);
        await waitFor(async () => acknowledged.size >= before + 40, 60_000, 20);

        // The old leader returns (its uncommitted tail, if any, is truncated) and catches up.
        startMember(leader);
        await waitForLeader(ensemble);
        await waitFor(async () => acknowledged.size >= before + 80, 60_000, 20);
        stopping = true;
        await Promise.all(writers);
        await verifyAgreement(ensemble, acknowledged);
      } finally {
        await Promise.all(clients.map((client) => nzkClose(client).catch(() => {})));
        await stopEnsemble(ensemble);
      }
    });
  }

  it("a member whose data directory was wiped resyncs by snapshot and serves everything", async () => {
    const ensemble = await layoutEnsemble(join(dir, "wiped"), ["zkts", "zkts", "zkts"], {
      commitLogCount: "10",
    });
    try {
      for (const member of ensemble.members) startMember(member);
      const leader = await waitForLeader(ensemble);
      const client = await ZooKeeperClient.connect(`127.0.0.1:${leader.clientPort}`);
      await client.create("/w", null);
      const acknowledged = new Set<string>();
      for (let n = 0; n < 50; n++) {
        await client.create(`/w/n${n}`, `v${n}`);
        acknowledged.add(`/w/n${n}`);
      }
      await client.close();
      const follower = ensemble.members.find((member) => member !== leader) as Member;
      await stopMember(follower, "SIGKILL");
      rmSync(join(follower.dataDir, "version-2"), { recursive: true, force: true });
      rmSync(join(follower.dataDir, "acceptedEpoch"), { force: true });
      rmSync(join(follower.dataDir, "currentEpoch"), { force: true });
      startMember(follower);
      await waitForLeader(ensemble);
      await verifyAgreement(ensemble, acknowledged);
    } finally {
      await stopEnsemble(ensemble);
    }
  });
});
