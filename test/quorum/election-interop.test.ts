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
import { PeerState } from "../../src/quorum/election-messages.js";
import { MajorityQuorum, parseServers } from "../../src/quorum/quorum-config.js";
import { QuorumElection } from "../../src/quorum/quorum-election.js";
import { fourLetterWord, freePort, waitFor, zookeeperClasspath } from "../support/apache-zookeeper.js";
import { stopProcess } from "../support/processes.js";

interface Ensemble {
  properties: Map<string, string>;
  clientPorts: Map<bigint, number>;
}

async function ensembleConfig(): Promise<Ensemble> {
  const properties = new Map<string, string>();
  const clientPorts = new Map<bigint, number>();
  for (const id of [1n, 2n, 3n]) {
    properties.set(`server.${id}`, `127.0.0.1:${await freePort()}:${await freePort()}`);
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
          const home = join(dir, String(zktsFirst));
          let decision: Awaited<ReturnType<QuorumElection["lookForLeader"]>>;
          if (zktsFirst) {
            // zkts and ZooKeeper server 3 are a quorum: with equal zxids the larger id, 3,
            // leads. (Starting 2 as well at this point made the outcome depend on which JVM
            // came up first: zkts and 2 alone are a quorum too, for 2.)
            const decided = zkts.lookForLeader(0n, 0n);
            peers.push(startZooKeeperPeer(home, 3n, ensemble));
            decision = await decided;
            peers.push(startZooKeeperPeer(home, 2n, ensemble));
          } else {
            peers.push(startZooKeeperPeer(home, 2n, ensemble));
            peers.push(startZooKeeperPeer(home, 3n, ensemble));
          }
          // Servers 2 and 3 are a quorum on their own; with equal zxids the largest id leads.
          await waitFor(async () => (await mode(ensemble.clientPorts.get(3n)!)) === "leader", 60_000, 200);
          await waitFor(async () => (await mode(ensemble.clientPorts.get(2n)!)) === "follower", 60_000, 200);
          if (!zktsFirst) decision = await zkts.lookForLeader(0n, 0n);
          assert.equal(decision!.vote.leader, 3n);
          assert.equal(decision!.state, PeerState.FOLLOWING);
          assert.deepEqual(warnings, []);
        } finally {
          await zkts.close();
          await Promise.all(peers.map(stop));
        }
      },
    );
  }
});
