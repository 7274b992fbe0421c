/**
 * A standalone server: the pipeline plus its client port, wired once here (the
 * place where roles are put together, like ZooKeeper's setupRequestProcessors).
 */
import { mkdirSync } from "node:fs";
import { ClientPort, type Logger } from "../net/client-port.js";
import { DataDirectory, type DataDirectoryOptions, type Restored } from "../storage/data-directory.js";
import type { ServerConfig } from "./config.js";
import type { DurableLog } from "./durable-log.js";
import { closeThenReport } from "./fatal-stop.js";
import { type Clock, ZooKeeperServer } from "./zookeeper-server.js";

export interface StandaloneServer {
  readonly server: ZooKeeperServer;
  readonly clientPort: ClientPort;
  /** The port actually listened on. */
  readonly port: number;
  readonly host: string;
  /** The files behind the server (null when a log was injected). */
  readonly dataDirectory: DataDirectory | null;
  close(): Promise<void>;
}

export interface StandaloneOptions {
  config: ServerConfig;
  logger?: Logger;
  clock?: Clock;
  log?: DurableLog;
  /**
   * The server could not write its txn log: it stops serving, closes itself (see
   * fatal-stop.ts), then calls this. `zkts server` exits with status 1, as ZooKeeper does.
   * Without it a failed server stays up, refusing writes.
   */
  onFatal?: (error: Error) => void;
}

/** The data directory settings a zoo.cfg gives (dataDir, dataLogDir, snapCount, forceSync, ...). */
export function dataDirectoryOptions(config: ServerConfig, logger: Logger): DataDirectoryOptions {
  return {
    dataDir: config.dataDir,
    dataLogDir: config.dataLogDir,
    preAllocBytes: config.preAllocSizeKiB * 1024,
    forceSync: config.forceSync,
    fsyncWarnMs: config.fsyncWarnMs,
    snapCount: config.snapCount,
    snapSizeLimitBytes: config.snapSizeLimitBytes,
    compression: config.snapshotCompression,
    trustEmptySnapshot: config.trustEmptySnapshot,
    info: (message) => logger.info(message),
    warn: (message) => logger.warn(message),
  };
}

/** Starts a standalone server and resolves once its client port listens. */
export async function startStandalone(options: StandaloneOptions): Promise<StandaloneServer> {
  const { config } = options;
  const logger = options.logger ?? { info: () => {}, warn: () => {} };
  mkdirSync(config.dataDir, { recursive: true });
  // Without an injected log, the data lives in dataDir/dataLogDir in ZooKeeper's formats.
  let directory: DataDirectory | null = null;
  let restored: Restored | null = null;
  if (options.log === undefined) {
    directory = await DataDirectory.open(dataDirectoryOptions(config, logger));
    const started = performance.now();
    restored = await directory.restore({ extendedTypesEnabled: config.extendedTypesEnabled });
    // ZooKeeperServer.loadData: ephemerals of sessions that no longer exist go.
    for (const sessionId of restored.tree.sessionsWithEphemerals()) {
      if (!restored.sessions.has(sessionId))
        restored.tree.killSession(sessionId, restored.tree.lastProcessedZxid);
    }
    logger.info(
      `restored ${restored.tree.nodeCount} znodes and ${restored.sessions.size} sessions up to zxid 0x${restored.tree.lastProcessedZxid.toString(16)} ` +
        `(${restored.snapshotFile ?? "no snapshot"} + ${restored.txnsReplayed} txns) in ${(performance.now() - started).toFixed(0)} ms`,
    );
  }
  const dataDirectory = directory;
  const onFatal = options.onFatal;
  const server: ZooKeeperServer = new ZooKeeperServer({
    config,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(dataDirectory === null ? {} : { log: dataDirectory.log }),
    ...(restored === null ? {} : { restored: { tree: restored.tree, sessions: restored.sessions } }),
    ...(dataDirectory === null
      ? {}
      : {
          onCommitted: () => dataDirectory.maybeSnapshot(() => server.snapshotSource()),
          diskTimings: () => dataDirectory.timings,
        }),
    warn: (message) => logger.warn(message),
    ...(onFatal === undefined
      ? {}
      : { onLogFailure: (error: Error) => closeThenReport(() => standalone.close(), error, onFatal) }),
  });
  if (restored !== null) server.stats.digestMismatches += restored.digestMismatches;
  let purgeTimer: NodeJS.Timeout | null = null;
  if (dataDirectory !== null) {
    // A clean snapshot of what was restored, as ZooKeeper takes one at start-up. ZooKeeper
    // serves only once it is written; zkts writes it in the background (it is fuzzy-safe like
    // any other), except on a new data directory, whose logs must never exist without one.
    if (restored?.snapshotFile === null) await dataDirectory.takeSnapshot(server.snapshotSource());
    else dataDirectory.startSnapshot(server.snapshotSource());
    if (config.purgeIntervalHours > 0) {
      const purge = () =>
        dataDirectory.purge(config.purgeRetainCount).then(
          (deleted) => {
            if (deleted.length > 0) logger.info(`autopurge deleted ${deleted.join(", ")}`);
          },
          (error: unknown) => logger.warn(`autopurge failed: ${(error as Error).message}`),
        );
      purgeTimer = setInterval(purge, config.purgeIntervalHours * 3_600_000);
      purgeTimer.unref();
      void purge();
    }
  }
  const clientPort = new ClientPort(server, logger);
  const host = config.clientPortAddress;
  const port = await clientPort.listen(config.clientPort, host);
  server.start();
  logger.info(`zkts standalone serving on ${host}:${port}, tickTime ${config.tickTimeMs} ms`);
  let closing: Promise<void> | null = null;
  const closeOnce = async () => {
    if (purgeTimer !== null) clearInterval(purgeTimer);
    await clientPort.close();
    await server.close();
    await dataDirectory?.close();
  };
  const standalone: StandaloneServer = {
    server,
    clientPort,
    port,
    host,
    dataDirectory,
    close() {
      closing ??= closeOnce();
      return closing;
    },
  };
  return standalone;
}
