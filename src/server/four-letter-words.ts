/**
 * Four-letter words (ZooKeeper's FourLetterCommands and server/command/*): a new
 * connection whose first four bytes spell a command gets a text answer and is closed.
 */

import { readdirSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { AvgMinMaxCounter } from "../metrics/avg-min-max-counter.js";
import type { ZooKeeperServer } from "./zookeeper-server.js";

/** The version we report where ZooKeeper reports its own (clients parse the 3.8 prefix). */
export const zookeeperCompatibleVersion = "3.8.4-zkts-0.1.0";
export const versionLine = `${zookeeperCompatibleVersion}, built on 2026-11-24 00:00 UTC`;

/** Commands Apache ZooKeeper knows (whether or not zkts answers them). */
const knownWords = new Set([
  "conf",
  "cons",
  "crst",
  "dirs",
  "dump",
  "envi",
  "gtmk",
  "hash",
  "ruok",
  "stmk",
  "srst",
  "srvr",
  "stat",
  "wchc",
  "wchp",
  "wchs",
  "mntr",
  "isro",
]);

/** The command a connection's first 4 bytes spell, if they spell one. */
export function fourLetterWordCode(first4: number): string | undefined {
  const word = String.fromCharCode(
    (first4 >>> 24) & 0xff,
    (first4 >>> 16) & 0xff,
    (first4 >>> 8) & 0xff,
    first4 & 0xff,
  );
  return knownWords.has(word) ? word : undefined;
}

/** What `cons`, `stat` and `mntr` need from the client port. */
export interface ConnectionsView {
  connectionCount: number;
  /** In an ensemble: whether this member serves clients now. */
  serving?(): boolean;
  describeConnections(): {
    description: string;
    stats: {
      received: number;
      sent: number;
      lastCxid: number;
      lastZxid: bigint;
      lastOperation: string;
      establishedMs: number;
    };
    sessionId: bigint;
    timeoutMs: number;
  }[];
}

const hex = (value: bigint) => `0x${BigInt.asUintN(64, value).toString(16)}`;

function latency(server: ZooKeeperServer): { min: number; avg: number; max: number } {
  const stats = server.stats;
  if (stats.latencyCount === 0) return { min: 0, avg: 0, max: 0 };
  return {
    min: Math.round(stats.latencyMinMs),
    avg: stats.latencyTotalMs / stats.latencyCount,
    max: Math.round(stats.latencyMaxMs),
  };
}

function srvr(server: ZooKeeperServer, connections: ConnectionsView): string {
  const { min, avg, max } = latency(server);
  return [
    `Zookeeper version: ${versionLine}`,
    `Latency min/avg/max: ${min}/${avg.toFixed(4)}/${max}`,
    `Received: ${server.stats.packetsReceived}`,
    `Sent: ${server.stats.packetsSent}`,
    `Connections: ${connections.connectionCount}`,
    `Outstanding: ${server.stats.requestsOutstanding}`,
    `Zxid: ${hex(server.lastProcessedZxid)}`,
    `Mode: ${server.mode}`,
    `Node count: ${server.tree.nodeCount}`,
    "",
  ].join("\n");
}

function cons(connections: ConnectionsView): string {
  const lines = connections.describeConnections().map(({ description, stats, sessionId, timeoutMs }) => {
    const fields = [
      "queued=0",
      `recved=${stats.received}`,
      `sent=${stats.sent}`,
      `sid=${hex(sessionId)}`,
      `lop=${stats.lastOperation}`,
      `est=${stats.establishedMs}`,
      `to=${timeoutMs}`,
      `lcxid=0x${(stats.lastCxid >>> 0).toString(16)}`,
      `lzxid=${hex(stats.lastZxid)}`,
    ];
    return ` /${description.split(" ")[0]}[1](${fields.join(",")})`;
  });
  return `${lines.join("\n")}\n\n`;
}

function mntr(server: ZooKeeperServer, connections: ConnectionsView): string {
  const { min, avg, max } = latency(server);
  const counts = server.watches.counts();
  const ephemerals = server.tree
    .sessionsWithEphemerals()
    .reduce((sum, id) => sum + server.tree.getEphemerals(id).size, 0);
  const memory = process.memoryUsage();
  const rows: [string, string | number][] = [
    ["zk_version", versionLine],
    ["zk_server_state", server.mode],
    ["zk_avg_latency", avg.toFixed(4)],
    ["zk_max_latency", max],
    ["zk_min_latency", min],
    ["zk_packets_received", server.stats.packetsReceived],
    ["zk_packets_sent", server.stats.packetsSent],
    ["zk_num_alive_connections", connections.connectionCount],
    ["zk_outstanding_requests", server.stats.requestsOutstanding],
    ["zk_znode_count", server.tree.nodeCount],
    ["zk_watch_count", counts.watches],
    ["zk_ephemerals_count", ephemerals],
    ["zk_approximate_data_size", server.tree.approximateDataSize()],
    ["zk_open_file_descriptor_count", 0],
    ["zk_global_sessions", server.sessions.sessions().size],
    ["zk_last_zxid", hex(server.lastProcessedZxid)],
    ["zk_group_commits", server.stats.groupCommits],
    ["zk_txns_committed", server.stats.txnsCommitted],
    ["zk_digest_mismatches_count", server.stats.digestMismatches],
    ["zk_fsync_count", server.fsyncStats.fsyncs],
    ["zk_fsync_time_ms_sum", Math.round(server.fsyncStats.fsyncTotalMs)],
    ["zk_fsync_time_ms_max", Math.round(server.fsyncStats.fsyncMaxMs)],
    // ZooKeeper's ServerMetrics summaries of the same fsyncs, and of snapshots.
    ...(server.diskTimings?.fsyncTimes ?? new AvgMinMaxCounter()).mntrRows("fsynctime"),
    ...(server.diskTimings?.snapshotTimes ?? new AvgMinMaxCounter()).mntrRows("snapshottime"),
    ["zk_rss_bytes", memory.rss],
    ["zk_uptime", Date.now() - server.stats.startedAtMs],
  ];
  // Leader.java's gauges, on the leader only.
  const quorum = server.quorumStats?.();
  if (quorum !== undefined && quorum !== null) {
    rows.push(
      ["zk_learners", quorum.learners],
      ["zk_synced_followers", quorum.syncedFollowers],
      ["zk_synced_observers", quorum.syncedObservers],
      ["zk_pending_syncs", quorum.pendingSyncs],
      ["zk_outstanding_proposals", quorum.outstandingProposals],
    );
  }
  return rows.map(([key, value]) => `${key}\t${value}\n`).join("");
}

function conf(server: ZooKeeperServer): string {
  const config = server.config;
  const rows: [string, string | number][] = [
    ["clientPort", config.clientPort],
    ["clientPortAddress", config.clientPortAddress],
    ["dataDir", config.dataDir],
    ["dataLogDir", config.dataLogDir],
    ["tickTime", config.tickTimeMs],
    ["maxClientCnxns", config.maxClientCnxns],
    ["minSessionTimeout", config.minSessionTimeoutMs],
    ["maxSessionTimeout", config.maxSessionTimeoutMs],
    ["clientPortListenBacklog", -1],
    ["serverId", config.serverId],
  ];
  return rows.map(([key, value]) => `${key}=${value}\n`).join("");
}

function envi(): string {
  const rows: [string, string][] = [
    ["zookeeper.version", versionLine],
    ["host.name", hostname()],
    ["node.version", process.version],
    ["os.name", process.platform],
    ["os.arch", process.arch],
    ["user.dir", process.cwd()],
    ["process.pid", String(process.pid)],
  ];
  return `Environment:\n${rows.map(([key, value]) => `${key}=${value}\n`).join("")}`;
}

function wchs(server: ZooKeeperServer, connections: ConnectionsView): string {
  const counts = server.watches.counts();
  return `${connections.connectionCount} connections watching ${counts.paths} paths\nTotal watches:${counts.watches}\n`;
}

function dump(server: ZooKeeperServer): string {
  const sessions = server.sessions.sessions();
  const lines = [`SessionTracker dump:`, `Global Sessions(${sessions.size}):`];
  for (const [id, timeout] of sessions) lines.push(`${hex(id)}\t${timeout}ms`);
  const owners = server.tree.sessionsWithEphemerals();
  lines.push("ephemeral nodes dump:", `Sessions with Ephemerals (${owners.length}):`);
  for (const owner of owners) {
    lines.push(`${hex(owner)}:`);
    for (const path of [...server.tree.getEphemerals(owner)].sort()) lines.push(`\t${path}`);
  }
  return `${lines.join("\n")}\n`;
}

function watchesBy(map: Map<unknown, string[] | number[]>, label: (key: unknown) => string): string {
  const lines: string[] = [];
  for (const [key, values] of map) {
    lines.push(label(key));
    for (const value of values)
      lines.push(`\t${typeof value === "number" ? `0x${value.toString(16)}` : value}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Bytes in the data files of `<dir>/version-2` (the `dirs` command). */
function directorySize(dir: string): number {
  const versionDir = join(dir, "version-2");
  let total = 0;
  try {
    for (const name of readdirSync(versionDir)) {
      if (name.startsWith("snapshot.") || name.startsWith("log."))
        total += statSync(join(versionDir, name)).size;
    }
  } catch {
    // No data directory yet (an injected in-memory log).
  }
  return total;
}

/** Runs one four-letter word and returns its text answer. */
export function runFourLetterWord(
  word: string,
  server: ZooKeeperServer,
  connections: ConnectionsView,
): string {
  // ZooKeeper's commands that need a running server, while an ensemble member has no quorum.
  if (
    connections.serving?.() === false &&
    ["srvr", "stat", "mntr", "cons", "wchs", "wchc", "wchp", "dump"].includes(word)
  ) {
    return "This ZooKeeper instance is not currently serving requests\n";
  }
  switch (word) {
    case "ruok":
      return "imok";
    case "srvr":
      return srvr(server, connections);
    case "stat":
      return `${srvr(server, connections).replace("Latency", `Clients:\n${cons(connections)}Latency`)}`;
    case "mntr":
      return mntr(server, connections);
    case "conf":
      return conf(server);
    case "cons":
      return cons(connections);
    case "crst":
      return "Connection stats reset.\n";
    case "srst":
      server.stats.latencyMinMs = Number.POSITIVE_INFINITY;
      server.stats.latencyMaxMs = 0;
      server.stats.latencyTotalMs = 0;
      server.stats.latencyCount = 0;
      server.stats.packetsReceived = 0;
      server.stats.packetsSent = 0;
      return "Server stats reset.\n";
    case "envi":
      return envi();
    case "wchs":
      return wchs(server, connections);
    case "wchc":
      return watchesBy(server.watches.byWatcher(), (key) => `connection ${String(key)}`);
    case "wchp":
      return watchesBy(server.watches.byPath(), (key) => String(key));
    case "dump":
      return dump(server);
    case "isro":
      return "rw";
    case "hash":
      return server.tree.digestLog.map((entry) => `${entry.zxid.toString(16)}: ${entry.digest}\n`).join("");
    case "dirs":
      return `datadir_size: ${directorySize(server.config.dataDir)}\nlogdir_size: ${directorySize(server.config.dataLogDir)}\n`;
    default:
      return `${word} is not executed because it is not supported by zkts.\n`;
  }
}
