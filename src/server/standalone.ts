/**
 * A standalone server: the pipeline plus its client port, wired once here (the
 * place where roles are put together, like ZooKeeper's setupRequestProcessors).
 */
import { mkdirSync } from "node:fs";
import { ClientPort, type Logger } from "../net/client-port.js";
import type { ServerConfig } from "./config.js";
import type { DurableLog } from "./durable-log.js";
import { type Clock, ZooKeeperServer } from "./zookeeper-server.js";

export interface StandaloneServer {
  readonly server: ZooKeeperServer;
  readonly clientPort: ClientPort;
  /** The port actually listened on. */
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export interface StandaloneOptions {
  config: ServerConfig;
  logger?: Logger;
  clock?: Clock;
  log?: DurableLog;
}

/** Starts a standalone server and resolves once its client port listens. */
export async function startStandalone(options: StandaloneOptions): Promise<StandaloneServer> {
  const { config } = options;
  const logger = options.logger ?? { info: () => {}, warn: () => {} };
  mkdirSync(config.dataDir, { recursive: true });
  const server = new ZooKeeperServer({
    config,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.log === undefined ? {} : { log: options.log }),
    warn: (message) => logger.warn(message),
  });
  const clientPort = new ClientPort(server, logger);
  const host = config.clientPortAddress;
  const port = await clientPort.listen(config.clientPort, host);
  server.start();
  logger.info(`zkts standalone serving on ${host}:${port}, tickTime ${config.tickTimeMs} ms`);
  return {
    server,
    clientPort,
    port,
    host,
    async close() {
      await clientPort.close();
      await server.close();
    },
  };
}
