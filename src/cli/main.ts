/**
 * The `zkts` command: `zkts server [zoo.cfg] [-Dkey=value ...]`, `zkts shell ...`, the
 * data file tools (`snapshot`, `txnlog`, `datadir`, `purge`), `zkts version`.
 */
import { existsSync, readFileSync } from "node:fs";
import { pino } from "pino";
import { ConfigError, configFromProperties, parseProperties } from "../server/config.js";
import { zookeeperCompatibleVersion } from "../server/four-letter-words.js";
import { startStandalone } from "../server/standalone.js";

const usage = `usage:
  zkts server [zoo.cfg] [-Dkey=value ...]   start a standalone server (default: data under ./data, port 2181)
  zkts shell [-server host:port[,host:port]] [-timeout ms] [command ...]
                                            ZooKeeper shell (zkCli commands); reads standard input when not a terminal
  zkts version
`;

async function runServer(args: string[]): Promise<void> {
  const logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime });
  const overrides = new Map<string, string>();
  let file: string | undefined;
  for (const arg of args) {
    if (arg.startsWith("-D")) {
      const [key, ...rest] = arg.slice(2).split("=");
      overrides.set(key ?? "", rest.join("="));
    } else if (file === undefined) {
      file = arg;
    } else {
      throw new ConfigError(`unexpected argument ${arg}`);
    }
  }
  if (file !== undefined && !existsSync(file)) throw new ConfigError(`no such file ${file}`);
  const properties =
    file === undefined ? new Map<string, string>() : parseProperties(readFileSync(file, "utf8"));
  for (const [key, value] of overrides) properties.set(key, value);
  const config = configFromProperties(properties);
  for (const key of config.unknownKeys)
    logger.warn(`zoo.cfg: unknown key ${key} (kept as property zookeeper.${key})`);
  // The server has closed itself after an error that leaves nothing safe to do.
  const exitOnFatal = (error: Error) => {
    logger.error(`unrecoverable error, exiting: ${error.message}`);
    process.exit(1);
  };
  if (config.ensemble !== null) {
    const { startQuorumPeer } = await import("../server/quorum-peer.js");
    const peer = await startQuorumPeer({ config, logger, onFatal: exitOnFatal });
    const stop = (signal: string) => {
      logger.info(`${signal}: shutting down`);
      peer.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
    return;
  }
  const standalone = await startStandalone({ config, logger, onFatal: exitOnFatal });
  const shutdown = (signal: string) => {
    logger.info(`${signal}: shutting down`);
    standalone.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "server":
      if (wantsHelp(rest)) {
        process.stdout.write(usage);
        return 0;
      }
      await runServer(rest);
      return -1;
    case "shell": {
      const { runShell } = await import("./shell.js");
      return runShell(rest);
    }
    case "snapshot":
    case "txnlog":
    case "datadir":
    case "purge": {
      const { runStorageTool } = await import("./storage-tools.js");
      return runStorageTool(command, rest);
    }
    case "ensemble": {
      const { runEnsembleCommand } = await import("./ensemble-command.js");
      return runEnsembleCommand(rest);
    }
    case "bench": {
      const { benchUsage, runBenchCommand } = await import("../bench/bench-command.js");
      if (wantsHelp(rest)) {
        process.stdout.write(`usage:\n${benchUsage}`);
        return 0;
      }
      return runBenchCommand(rest);
    }
    case "version":
    case "--version":
      process.stdout.write(`zkts ${zookeeperCompatibleVersion}\n`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(
        usage +
          (await import("./storage-tools.js")).storageUsage +
          (await import("./ensemble-command.js")).ensembleUsage +
          (await import("../bench/bench-command.js")).benchUsage,
      );
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`zkts: unknown command ${command}\n${usage}`);
      return 2;
  }
}

// `zkts txnlog dump FILE | head`: a closed pipe ends the output, not with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`zkts: ${message}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  },
);
