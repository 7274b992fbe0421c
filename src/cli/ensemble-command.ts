/**
 * `zkts ensemble start`: an N-server ensemble on 127.0.0.1 in the foreground, for trying
 * zkts out. Each server gets a zoo.cfg and a data directory (with its myid) under one
 * folder, runs as its own `zkts server` process, and its log lines are printed with its
 * id. Ctrl-C stops them all (by PID); a second run on the same folder resumes the data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { optionValue } from "../bench/bench-command.js";
import { nodeFlags } from "./node-flags.js";

export const ensembleUsage = `
  zkts ensemble start [--servers N] [--observers M] [--dir DIR] [--base-port PORT] [--tick-time MS]
      Runs an ensemble of N voting servers (default 3) and M observers on 127.0.0.1 in
      the foreground. Configs and data go under DIR (default ./ensemble); server i serves
      clients on PORT+i (default 2180+i), quorum and election ports above PORT+100.
`;

/** Servers an ensemble started this way may have (ports are laid out from this). */
export const ensembleServersMax = 9;

export interface EnsembleLayout {
  dir: string;
  servers: { id: number; config: string; clientPort: number; observer: boolean }[];
  connectString: string;
}

/** Writes (or rewrites) the configs; data directories and myid files are kept if present. */
export function layoutLocalEnsemble(options: {
  dir: string;
  voters: number;
  observers: number;
  basePort: number;
  tickTimeMs: number;
}): EnsembleLayout {
  const total = options.voters + options.observers;
  if (options.voters < 1 || total > ensembleServersMax) {
    throw new Error(`an ensemble here has 1 to ${ensembleServersMax} servers (asked for ${total})`);
  }
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const serverLines: string[] = [];
  for (let id = 1; id <= total; id++) {
    const role = id > options.voters ? ":observer" : "";
    serverLines.push(
      `server.${id}=127.0.0.1:${options.basePort + 100 + id * 2}:${options.basePort + 101 + id * 2}${role}`,
    );
  }
  const servers = [];
  for (let id = 1; id <= total; id++) {
    const dataDir = join(dir, `server${id}`);
    mkdirSync(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, "myid"))) writeFileSync(join(dataDir, "myid"), `${id}\n`);
    const clientPort = options.basePort + id;
    const observer = id > options.voters;
    const lines = [
      `tickTime=${options.tickTimeMs}`,
      "initLimit=10",
      "syncLimit=5",
      `dataDir=${dataDir}`,
      `clientPort=${clientPort}`,
      "clientPortAddress=127.0.0.1",
      "4lw.commands.whitelist=*",
      ...(observer ? ["peerType=observer"] : []),
      ...serverLines,
    ];
    const config = join(dir, `server${id}.cfg`);
    writeFileSync(config, `${lines.join("\n")}\n`);
    servers.push({ id, config, clientPort, observer });
  }
  return {
    dir,
    servers,
    connectString: servers.map((server) => `127.0.0.1:${server.clientPort}`).join(","),
  };
}

export async function runEnsembleCommand(args: string[]): Promise<number> {
  if (args[0] !== "start") {
    process.stderr.write(ensembleUsage);
    return 2;
  }
  const number = (name: string, fallback: number): number => {
    const value = Number(optionValue(args, name, String(fallback)));
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} needs a whole number`);
    return value;
  };
  const layout = layoutLocalEnsemble({
    dir: optionValue(args, "dir", "ensemble"),
    voters: number("servers", 3),
    observers: number("observers", 0),
    basePort: number("base-port", 2180),
    tickTimeMs: number("tick-time", 2000),
  });
  const bin = fileURLToPath(new URL("../../../bin/zkts", import.meta.url));
  const children = new Map<number, ChildProcess>();
  for (const server of layout.servers) {
    const child = spawn(process.execPath, [...nodeFlags, bin, "server", server.config], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.set(server.id, child);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) =>
        process.stdout.write(`[server ${server.id}] ${line}\n`),
      );
    }
  }
  process.stdout.write(
    `zkts ensemble: ${layout.servers.length} servers under ${layout.dir}\n` +
      `  connect with: zkts shell -server ${layout.connectString}\n` +
      `  (or any ZooKeeper client with that connect string); Ctrl-C stops them all\n`,
  );
  const exits = [...children].map(
    ([id, child]) =>
      new Promise<void>((resolveExit) =>
        child.on("exit", (code, signal) => {
          process.stdout.write(`[server ${id}] exited (${signal ?? code})\n`);
          resolveExit();
        }),
      ),
  );
  const stop = () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await Promise.all(exits);
  return 0;
}
