/**
 * zkts's leader election against Apache ZooKeeper 3.8's: a 3-server ensemble of two
 * ZooKeeper quorum peers (QuorumPeerMain, Debian's jars) and zkts's election (server 1).
 * They must agree on the leader, whether zkts is there from the start or joins later.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateMode, OpCode, ZooKeeperClient } from "../../src/client/index.js";
import { PeerState } from "../../src/quorum/election-messages.js";
import { readEpoch, writeEpoch } from "../../src/quorum/epoch-files.js";
import { Learner, type LearnerOptions, type LearnerStorage } from "../../src/quorum/learner.js";
import { MajorityQuorum, parseServers, type QuorumServer } from "../../src/quorum/quorum-config.js";
import { QuorumElection } from "../../src/quorum/quorum-election.js";
import { dataDirectoryOptions } from "../../src/server/standalone.js";
import { DataDirectory, treeSnapshotSource } from "../../src/storage/data-directory.js";
import { DataTree } from "../../src/tree/data-tree.js";
import { fourLetterWord, freePort, waitFor, zookeeperClasspath } from "../support/apache-zookeeper.js";
import { localServerConfig } from "../support/local-config.js";
import { stopProcess } from "../support/processes.js";
import { dumpTree } from "../support/tree-dump.js";

const open = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];

interface Ensemble {
  properties: Map<string, string>;
  clientPorts: Map<bigint, number>;
}

async function ensembleConfig(zktsRole: "participant" | "observer" = "participant"): Promise<Ensemble> {
  const properties = new Map<string, string>();
  const clientPorts = new Map<bigint, number>();
  for (const id of [1n, 2n, 3n]) {
    const role = id === 1n ? `:${zktsRole}` : "";
    properties.set(`server.${id}`, `127.0.0.1:${await freePort()}:${await freePort()}${role}`);
    clientPorts.set(id, await freePort());
  }
  return { properties, clientPorts };
}

function startZooKeeperPeer(
  dir: string,
  id: bigint,
  ensemble: Ensemble,
  systemProperties: string[] = [],
): ChildProcess {
  const dataDir = join(dir, `zk${id}`);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "myid"), `${id}\n`);
  const lines = [
    "tickTime=500",
    "initLimit=10",
    "syncLimit=5",
    `dataDir=${dataDir}`,
    `clientPort=${ensemble.clientPorts.get(id)}`,
    "clientPortAddress=127.0.0.1",
    "4lw.commands.whitelist=*",
    "admin.enableServer=false",
    ...[...ensemble.properties].map(([key, value]) => `${key}=${value}`),
  ];
  const cfg = join(dir, `zk${id}.cfg`);
  writeFileSync(cfg, `${lines.join("\n")}\n`);
  const log = openSync(join(dir, `zk${id}.log`), "a");
  return spawn(
    "java",
    [
      "-Xmx256m",
      ...systemProperties,
      "-cp",
      zookeeperClasspath,
      "org.apache.zookeeper.server.quorum.QuorumPeerMain",
      cfg,
    ],
    { stdio: ["ignore", log, log] },
  );
}

/** A learner with id 1 for `leader`, from an empty tree and epoch 0 unless told otherwise. */
function learnerFor(leader: QuorumServer, options: Partial<LearnerOptions> = {}): Learner {
  return new Learner({
    myId: 1n,
    leaderHost: leader.host,
    leaderQuorumPort: leader.quorumPort,
    acceptedEpoch: 0n,
    currentEpoch: 0n,
    tree: new DataTree(),
    ...options,
  });
}

async function mode(port: number): Promise<string> {
  const answer = await fourLetterWord("127.0.0.1", port, "srvr").catch(() => "");
  return /Mode: (\w+)/.exec(answer)?.[1] ?? "";
}

function stop(child: ChildProcess): Promise<void> {
  return stopProcess(child);
}

describe("leader election with Apache ZooKeeper 3.8 peers", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-election-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const zktsFirst of [true, false]) {
    it(
      zktsFirst ? "all three elect the same leader" : "zkts joining later finds the ZooKeeper leader",
      async () => {
        const ensemble = await ensembleConfig();
        const quorum = new MajorityQuorum(parseServers(ensemble.properties));
        const warnings: string[] = [];
        const zkts = await QuorumElection.start({ myId: 1n, quorum, warn: (m) => warnings.push(m) });
        const peers: ChildProcess[] = [];
        try {
          const decided = zktsFirst ? zkts.lookForLeader(0n, 0n) : null;
          peers.push(startZooKeeperPeer(join(dir, String(zktsFirst)), 2n, ensemble));
          peers.push(startZooKeeperPeer(join(dir, String(zktsFirst)), 3n, ensemble));
          // Servers 2 and 3 are a quorum on their own; with equal zxids the largest id leads.
          await waitFor(async () => (await mode(ensemble.clientPorts.get(3n)!)) === "leader", 60_000, 200);
          await waitFor(async () => (await mode(ensemble.clientPorts.get(2n)!)) === "follower", 60_000, 200);
          const decision = await (decided ?? zkts.lookForLeader(0n, 0n));
          assert.equal(decision.vote.leader, 3n);
          assert.equal(decision.state, PeerState.FOLLOWING);
          assert.deepEqual(warnings, []);
        } finally {
          await zkts.close();
          await Promise.all(peers.map(stop));
        }
      },
    );
  }

  it("zkts follows the Apache ZooKeeper leader: a snapshot sync, commits, then a diff sync on return", async () => {
    const ensemble = await ensembleConfig();
    const servers = parseServers(ensemble.properties);
    const quorum = new MajorityQuorum(servers);
    const peers: ChildProcess[] = [];
    const election = await QuorumElection.start({ myId: 1n, quorum });
    let learner: Learner | null = null;
    let client: ZooKeeperClient | null = null;
    const expectSame = async (zookeeper: ZooKeeperClient, tree: DataTree) => {
      await zookeeper.sync("/");
      const expected = await dumpTree(zookeeper);
      let last = 0n;
      for (const node of expected) if (node.stat.mzxid > last) last = node.stat.mzxid;
      await waitFor(async () => tree.lastProcessedZxid >= last, 10_000, 20);
      const ours = [...tree.walk()]
        .filter(([path]) => path !== "/zookeeper" && !path.startsWith("/zookeeper/"))
        .map(([path, node]) => ({
          path,
          data: node.data === null ? null : node.data.toString("base64"),
          stat: tree.statOf(node),
          acl: tree.getACL(node),
        }))
        .sort((a, b) => (a.path < b.path ? -1 : 1));
      assert.deepEqual(
        ours,
        [...expected].sort((a, b) => (a.path < b.path ? -1 : 1)),
      );
    };
    try {
      peers.push(startZooKeeperPeer(join(dir, "follow"), 2n, ensemble));
      peers.push(startZooKeeperPeer(join(dir, "follow"), 3n, ensemble));
      await waitFor(async () => (await mode(ensemble.clientPorts.get(3n)!)) === "leader", 60_000, 200);
      client = await ZooKeeperClient.connect(`127.0.0.1:${ensemble.clientPorts.get(2n)}`);
      // Written before zkts joins: an empty learner gets them as the leader's snapshot.
      await client.create("/before", "b");
      for (let i = 0; i < 20; i++) await client.create(`/before/n${i}`, `v${i}`);
      await client.setACL("/before/n3", [{ perms: 1, id: { scheme: "world", id: "anyone" } }]);
      const decision = await election.lookForLeader(0n, 0n);
      const leader = servers.get(decision.vote.leader)!;
      const join_ = async (tree: DataTree, acceptedEpoch: bigint, currentEpoch: bigint) => {
        const next = learnerFor(leader, { tree, acceptedEpoch, currentEpoch });
        await next.follow();
        return next;
      };
      learner = await join_(new DataTree(), 0n, 0n);
      assert.equal(learner.syncMode, "SNAP");
      // Written after: they come as proposals and commits.
      await client.create("/after", "a", { mode: CreateMode.PERSISTENT_SEQUENTIAL });
      await client.setData("/before/n1", "changed");
      await client.delete("/before/n2");
      await client.multi([
        { type: OpCode.create, request: { path: "/m", data: null, acl: open, flags: 0 } },
        { type: OpCode.setData, request: { path: "/before", data: Buffer.from("m"), version: -1 } },
      ]);
      await expectSame(client, learner.tree);
      assert.ok(learner.committedSinceUpToDate >= 4);
      // Away for a while, then back with what it had: the leader sends only the difference.
      const { tree, acceptedEpoch, currentEpoch } = learner;
      learner.close();
      for (let i = 0; i < 5; i++) await client.setData(`/before/n${i + 5}`, `while away ${i}`);
      await client.delete("/m");
      learner = await join_(tree, acceptedEpoch, currentEpoch);
      assert.equal(learner.syncMode, "DIFF");
      await expectSame(client, learner.tree);
    } finally {
      learner?.close();
      await client?.close();
      await election.close();
      await Promise.all(peers.map(stop));
    }
  });

  it("a durable zkts follower makes the quorum: with a ZooKeeper server down, writes commit on its acks", async () => {
    const ensemble = await ensembleConfig();
    const servers = parseServers(ensemble.properties);
    const quorum = new MajorityQuorum(servers);
    const base = join(dir, "durable");
    const zktsDataDir = join(base, "zkts");
    const peers = new Map<bigint, ChildProcess>();
    const election = await QuorumElection.start({ myId: 1n, quorum });
    let learner: Learner | null = null;
    let client: ZooKeeperClient | null = null;
    const openDirectory = () =>
      DataDirectory.open(
        dataDirectoryOptions(localServerConfig(zktsDataDir), { info: () => {}, warn: () => {} }),
      );
    const storageFor = (directory: DataDirectory): LearnerStorage => ({
      append: (entries) => directory.log.append(entries),
      snapshot: async (tree, sessions) => {
        directory.log.roll();
        await directory.takeSnapshot(treeSnapshotSource(tree, sessions));
      },
      saveEpoch: (name, epoch) => writeEpoch(zktsDataDir, name, epoch),
    });
    try {
      peers.set(2n, startZooKeeperPeer(base, 2n, ensemble));
      peers.set(3n, startZooKeeperPeer(base, 3n, ensemble));
      await waitFor(async () => (await mode(ensemble.clientPorts.get(3n)!)) === "leader", 60_000, 200);
      client = await ZooKeeperClient.connect(`127.0.0.1:${ensemble.clientPorts.get(3n)}`);
      await client.create("/d", "0");
      const decision = await election.lookForLeader(0n, 0n);
      const leader = servers.get(decision.vote.leader)!;
      let directory = await openDirectory();
      // A new data directory starts with snapshot.0, as zkts server and ZooKeeper write it.
      await directory.takeSnapshot(treeSnapshotSource(new DataTree(), []));
      const follow = async (
        tree: DataTree,
        sessions: Map<bigint, number>,
        accepted: bigint,
        current: bigint,
      ) => {
        const next = learnerFor(leader, {
          acceptedEpoch: accepted,
          currentEpoch: current,
          tree,
          sessions,
          storage: storageFor(directory),
        });
        await next.follow();
        return next;
      };
      learner = await follow(new DataTree(), new Map(), 0n, 0n);
      // Server 2 goes: the leader and zkts are the quorum now, so every commit needs zkts's ack.
      await stop(peers.get(2n)!);
      for (let i = 0; i < 10; i++) await client.create(`/d/n${i}`, `v${i}`);
      await client.setData("/d", "10");
      assert.equal((await client.getData("/d/n9")).data?.toString(), "v9");
      await client.sync("/");
      let last = 0n;
      for (const node of await dumpTree(client)) if (node.stat.mzxid > last) last = node.stat.mzxid;
      await waitFor(async () => learner!.tree.lastProcessedZxid >= last, 10_000, 20);
      // Server 2 back, zkts restarted from its own disk: it has everything it acknowledged.
      peers.set(2n, startZooKeeperPeer(base, 2n, ensemble));
      await waitFor(async () => (await mode(ensemble.clientPorts.get(2n)!)) === "follower", 60_000, 200);
      learner.close();
      await directory.close();
      directory = await openDirectory();
      const restored = await directory.restore({});
      assert.equal(restored.tree.lastProcessedZxid, last);
      assert.equal((restored.tree.getNode("/d/n9")?.data ?? Buffer.alloc(0)).toString(), "v9");
      const accepted = (await readEpoch(zktsDataDir, "acceptedEpoch")) ?? -1n;
      const current = (await readEpoch(zktsDataDir, "currentEpoch")) ?? -1n;
      assert.equal(accepted, current);
      assert.ok(current >= 1n);
      learner = await follow(restored.tree, restored.sessions, accepted, current);
      assert.equal(learner.syncMode, "DIFF");
      await client.create("/d/after", "a");
      await client.sync("/");
      await waitFor(async () => learner!.tree.getNode("/d/after") !== undefined, 10_000, 20);
      await directory.close();
    } finally {
      learner?.close();
      await client?.close();
      await election.close();
      await Promise.all([...peers.values()].map(stop));
    }
  });

  it("zkts observes an Apache ZooKeeper ensemble: it decides OBSERVING and learns every commit by INFORM", async () => {
    const ensemble = await ensembleConfig("observer");
    const servers = parseServers(ensemble.properties);
    const quorum = new MajorityQuorum(servers);
    const peers: ChildProcess[] = [];
    const election = await QuorumElection.start({ myId: 1n, quorum });
    let learner: Learner | null = null;
    let client: ZooKeeperClient | null = null;
    try {
      peers.push(startZooKeeperPeer(join(dir, "observe"), 2n, ensemble));
      peers.push(startZooKeeperPeer(join(dir, "observe"), 3n, ensemble));
      await waitFor(async () => (await mode(ensemble.clientPorts.get(3n)!)) === "leader", 60_000, 200);
      client = await ZooKeeperClient.connect(`127.0.0.1:${ensemble.clientPorts.get(2n)}`);
      await client.create("/o", "before");
      const decision = await election.lookForLeader(0n, 0n);
      assert.equal(decision.state, PeerState.OBSERVING);
      assert.equal(decision.vote.leader, 3n);
      const leader = servers.get(3n)!;
      learner = learnerFor(leader, { role: "observer" });
      await learner.follow();
      for (let i = 0; i < 5; i++) await client.create(`/o/n${i}`, `v${i}`);
      await client.setData("/o", "after");
      await client.sync("/");
      const observed = learner;
      await waitFor(async () => observed.tree.getNode("/o")?.data?.toString() === "after", 10_000, 20);
      assert.equal(observed.tree.getNode("/o")?.children.size, 5);
      assert.ok(observed.committedSinceUpToDate >= 6);
    } finally {
      learner?.close();
      await client?.close();
      await election.close();
      await Promise.all(peers.map(stop));
    }
  });
});
