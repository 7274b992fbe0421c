/**
 * zoo.cfg as Apache ZooKeeper 3.8 reads it (QuorumPeerConfig/ServerConfig): a Java
 * properties file. Keys ZooKeeper does not know become `zookeeper.<key>` system
 * properties there; here they become properties too, and we warn about them.
 */

import { readFileSync } from "node:fs";
import { frameBytesMaxDefault } from "../jute/constants.js";
import { parseServers, QuorumConfigError, type QuorumServer } from "../quorum/quorum-config.js";
import { logWritesInFlightDefault, logWritesInFlightMax } from "./durable-log.js";

export interface ServerConfig {
  tickTimeMs: number;
  dataDir: string;
  dataLogDir: string;
  clientPort: number;
  clientPortAddress: string;
  /** Connections per client IP; 0 means no limit. */
  maxClientCnxns: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  fourLetterWords: ReadonlySet<string>;
  extendedTypesEnabled: boolean;
  frameBytesMax: number;
  superDigest: string | undefined;
  skipACL: boolean;
  /** ZooKeeper's globalOutstandingLimit, applied per connection: past it, that socket stops being read. */
  connectionRequestsOutstandingMax: number;
  containerCheckIntervalMs: number;
  containerDeletionsPerMinuteMax: number;
  snapCount: number;
  /** zookeeper.snapSizeLimitInKb in bytes: a snapshot also follows this much log (0: off). */
  snapSizeLimitBytes: number;
  preAllocSizeKiB: number;
  forceSync: boolean;
  fsyncWarnMs: number;
  /** zookeeper.maxBatchSize: txns written and fdatasync'd together at most. */
  groupCommitTxnsMax: number;
  /** zookeeper.flushDelay: how long a write may wait for others to share its fdatasync. */
  flushDelayMs: number;
  /** zkts.logWritesInFlight: txn log writes on their way to disk at once (ZooKeeper: 1). */
  logWritesInFlight: number;
  snapshotCompression: "none" | "gz";
  trustEmptySnapshot: boolean;
  /** autopurge.snapRetainCount (at least 3). */
  purgeRetainCount: number;
  /** autopurge.purgeInterval in hours; 0 disables it. */
  purgeIntervalHours: number;
  serverId: number;
  /** The ensemble zoo.cfg lists (two or more server.N lines); null when standalone. */
  ensemble: EnsembleConfig | null;
  /** Everything read, as strings, including the keys we do not interpret. */
  properties: ReadonlyMap<string, string>;
  /** Keys that neither ZooKeeper's config nor ours know. */
  unknownKeys: string[];
}

/** The four-letter words zkts answers. */
export const fourLetterWordsAll = [
  "ruok",
  "srvr",
  "stat",
  "mntr",
  "conf",
  "cons",
  "crst",
  "envi",
  "wchs",
  "wchc",
  "wchp",
  "dump",
  "isro",
  "srst",
  "dirs",
  "hash",
] as const;

const knownKeys = new Set([
  "tickTime",
  "dataDir",
  "dataLogDir",
  "clientPort",
  "clientPortAddress",
  "maxClientCnxns",
  "minSessionTimeout",
  "maxSessionTimeout",
  "4lw.commands.whitelist",
  "extendedTypesEnabled",
  "jute.maxbuffer",
  "DigestAuthenticationProvider.superDigest",
  "zookeeper.DigestAuthenticationProvider.superDigest",
  "skipACL",
  "globalOutstandingLimit",
  "znode.container.checkIntervalMs",
  "znode.container.maxPerMinute",
  "snapCount",
  "preAllocSize",
  "forceSync",
  "initLimit",
  "syncLimit",
  "autopurge.snapRetainCount",
  "autopurge.purgeInterval",
  "admin.enableServer",
  "admin.serverPort",
  "admin.serverAddress",
  "standaloneEnabled",
  "reconfigEnabled",
  "digest.enabled",
  "metricsProvider.className",
  "metricsProvider.httpPort",
  "audit.enable",
  "serverCnxnFactory",
  "snapshot.trust.empty",
  "snapshot.compression.method",
  "fsync.warningthresholdms",
  "snapSizeLimitInKb",
  "maxBatchSize",
  "flushDelay",
  "zkts.logWritesInFlight",
  "cnxTimeout",
  "quorumListenOnAllIPs",
  "peerType",
  "electionAlg",
  "secureClientPort",
  "secureClientPortAddress",
]);

/** Parses Java properties text (key=value or key:value, # and ! comments, \ continuations). */
export function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trimStart();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.trimStart();
    const match = /^((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (match === null) {
      properties.set(line.trim(), "");
      continue;
    }
    properties.set(match[1]!.replace(/\\(.)/g, "$1"), match[2]!.trim());
  }
  return properties;
}

function integer(properties: Map<string, string>, key: string, fallback: number): number {
  const text = properties.get(key);
  if (text === undefined || text === "") return fallback;
  const value = text.startsWith("0x") ? Number.parseInt(text.slice(2), 16) : Number(text);
  if (!Number.isInteger(value)) throw new ConfigError(`${key}=${text} is not an integer`);
  return value;
}

function integerOf(text: string | undefined, key: string, fallback: number): number {
  return integer(new Map(text === undefined ? [] : [[key, text]]), key, fallback);
}

function compressionOf(text: string | undefined): "none" | "gz" {
  if (text === undefined || text === "") return "none";
  if (text === "gz") return "gz";
  throw new ConfigError(
    `snapshot.compression.method=${text} is not supported (zkts writes none or gz; snappy is read by neither)`,
  );
}

function yes(text: string | undefined, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  return text === "yes" || text === "true";
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** QuorumPeerConfig's ensemble settings. */
export interface EnsembleConfig {
  servers: Map<bigint, QuorumServer>;
  /** Ticks a learner has to connect and sync with its leader. */
  initLimit: number;
  /** Ticks a learner may lag (or stay silent) before it is dropped. */
  syncLimit: number;
  /** cnxTimeout: election connection timeout. */
  connectTimeoutMs: number;
  listenOnAllIps: boolean;
  /** Committed txns kept in memory to sync learners by DIFF. */
  commitLogCount: number;
}

function parseServersOrThrow(properties: ReadonlyMap<string, string>): Map<bigint, QuorumServer> {
  try {
    return parseServers(properties);
  } catch (error) {
    if (error instanceof QuorumConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

/** Builds a config from properties (zoo.cfg keys, plus system properties such as jute.maxbuffer). */
export function configFromProperties(properties: Map<string, string>, baseDir = "."): ServerConfig {
  const prop = (key: string) => properties.get(key) ?? properties.get(`zookeeper.${key}`);
  const tickTimeMs = integer(properties, "tickTime", 3000);
  if (tickTimeMs <= 0) throw new ConfigError("tickTime must be positive");
  const dataDir = properties.get("dataDir") ?? `${baseDir}/data`;
  const minSessionTimeoutMs = integer(properties, "minSessionTimeout", -1);
  const maxSessionTimeoutMs = integer(properties, "maxSessionTimeout", -1);
  const min = minSessionTimeoutMs === -1 ? tickTimeMs * 2 : minSessionTimeoutMs;
  const max = maxSessionTimeoutMs === -1 ? tickTimeMs * 20 : maxSessionTimeoutMs;
  if (min > max)
    throw new ConfigError(`minSessionTimeout ${min} must not be larger than maxSessionTimeout ${max}`);
  const whitelistText = prop("4lw.commands.whitelist") ?? "srvr";
  const words = whitelistText
    .split(",")
    .map((word) => word.trim())
    .filter((word) => word !== "");
  const fourLetterWords = new Set<string>(words.includes("*") ? fourLetterWordsAll : words);
  const unknownKeys = [...properties.keys()].filter(
    (key) =>
      !knownKeys.has(key) &&
      !key.startsWith("server.") &&
      !key.startsWith("zookeeper.") &&
      !key.startsWith("group.") &&
      !key.startsWith("weight."),
  );
  // Two or more server.N lines: an ensemble (QuorumPeerConfig); one or none: standalone.
  let ensemble: EnsembleConfig | null = null;
  const servers = parseServersOrThrow(properties);
  if (servers.size > 1) {
    const initLimit = integer(properties, "initLimit", 10);
    const syncLimit = integer(properties, "syncLimit", 5);
    if (initLimit <= 0 || syncLimit <= 0) throw new ConfigError("initLimit and syncLimit must be positive");
    ensemble = {
      servers,
      initLimit,
      syncLimit,
      connectTimeoutMs: integerOf(prop("cnxTimeout"), "cnxTimeout", 5000),
      listenOnAllIps: yes(properties.get("quorumListenOnAllIPs"), false),
      commitLogCount: Math.max(1, integerOf(prop("commitLogCount"), "commitLogCount", 500)),
    };
  }
  const clientPort = integer(properties, "clientPort", 2181);
  if (clientPort < 0 || clientPort > 65535) throw new ConfigError(`clientPort ${clientPort} out of range`);
  return {
    tickTimeMs,
    dataDir,
    dataLogDir: properties.get("dataLogDir") ?? dataDir,
    clientPort,
    clientPortAddress: properties.get("clientPortAddress") ?? "0.0.0.0",
    maxClientCnxns: integer(properties, "maxClientCnxns", 60),
    minSessionTimeoutMs: min,
    maxSessionTimeoutMs: max,
    fourLetterWords,
    extendedTypesEnabled: yes(prop("extendedTypesEnabled"), false),
    frameBytesMax: integer(properties, "jute.maxbuffer", frameBytesMaxDefault),
    superDigest: prop("DigestAuthenticationProvider.superDigest"),
    skipACL: prop("skipACL") === "yes",
    connectionRequestsOutstandingMax: integer(properties, "globalOutstandingLimit", 1000),
    containerCheckIntervalMs: integer(properties, "znode.container.checkIntervalMs", 60_000),
    containerDeletionsPerMinuteMax: integer(properties, "znode.container.maxPerMinute", 10_000),
    snapCount: Math.max(2, integerOf(prop("snapCount"), "snapCount", 100_000)),
    snapSizeLimitBytes: integerOf(prop("snapSizeLimitInKb"), "snapSizeLimitInKb", 4_194_304) * 1024,
    preAllocSizeKiB: integerOf(prop("preAllocSize"), "preAllocSize", 65_536),
    forceSync: yes(prop("forceSync"), true),
    flushDelayMs: Math.max(0, integerOf(prop("flushDelay"), "flushDelay", 0)),
    groupCommitTxnsMax: Math.max(1, integerOf(prop("maxBatchSize"), "maxBatchSize", 1000)),
    logWritesInFlight: Math.min(
      logWritesInFlightMax,
      Math.max(
        1,
        integerOf(prop("zkts.logWritesInFlight"), "zkts.logWritesInFlight", logWritesInFlightDefault),
      ),
    ),
    fsyncWarnMs: integerOf(prop("fsync.warningthresholdms"), "fsync.warningthresholdms", 1000),
    snapshotCompression: compressionOf(prop("snapshot.compression.method")),
    trustEmptySnapshot: yes(prop("snapshot.trust.empty"), false),
    purgeRetainCount: Math.max(3, integer(properties, "autopurge.snapRetainCount", 3)),
    purgeIntervalHours: integer(properties, "autopurge.purgeInterval", 0),
    serverId: 0,
    ensemble,
    properties,
    unknownKeys,
  };
}

/** Reads a zoo.cfg file; `overrides` are applied on top (like -D system properties). */
export function readConfigFile(path: string, overrides: Map<string, string> = new Map()): ServerConfig {
  const properties = parseProperties(readFileSync(path, "utf8"));
  for (const [key, value] of overrides) properties.set(key, value);
  return configFromProperties(properties);
}
