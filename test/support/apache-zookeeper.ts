/**
 * A real Apache ZooKeeper 3.8 standalone server (Debian's jars) for tests: fresh
 * data directory, a free port on 127.0.0.1, ready when `srvr` reports its mode.
 */

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited } from "./processes.js";

export const zookeeperJar = "/usr/share/java/zookeeper.jar";
export const zookeeperClasspath = `/etc/zookeeper/conf:${zookeeperJar}`;

/**
 * Fails with what to install when Debian's Apache ZooKeeper is missing (without it, java
 * exits at once and the caller would only see "exited with 1").
 */
export function requireApacheZooKeeper(): void {
  if (!existsSync(zookeeperJar)) {
    throw new Error(
      `Apache ZooKeeper 3.8 is not installed (no ${zookeeperJar}): apt-get install -y zookeeper zookeeper-bin (.ci/run does)`,
    );
  }
}

export interface ApacheZooKeeper {
  host: string;
  port: number;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

export interface ApacheZooKeeperOptions {
  tickTime?: number;
  extraConfig?: Record<string, string>;
  systemProperties?: Record<string, string>;
  startTimeoutMs?: number;
  /** Serve this data directory (kept on stop) instead of a fresh one. */
  dataDir?: string;
}

/**
 * The first port the kernel hands out for outgoing connections: ports below it are never
 * taken by a client socket between our check and the server's bind.
 */
function ephemeralPortsStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > 12_000 ? port : 32_768;
  } catch {
    return 32_768;
  }
}

const listenPortsFirst = 10_000;
const listenPortsEnd = ephemeralPortsStart();
/** Tries before giving up on finding a free port. */
const freePortTriesMax = 200;
/** Ports this process has handed out: never handed out twice. */
const portsHandedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1, chosen at random below the ephemeral
 * range (a kernel-chosen port can be taken by any outgoing connection before the server
 * binds it; one of these only by another test picking the same one at the same time).
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < freePortTriesMax; tries++) {
    const port = listenPortsFirst + Math.floor(Math.random() * (listenPortsEnd - listenPortsFirst));
    if (portsHandedOut.has(port)) continue;
    portsHandedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found in ${freePortTriesMax} tries`);
}

/** Sends a four-letter word and resolves with the whole answer. */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${word}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(word));
    socket.on("data", (chunk) => {
      answer += chunk.toString();
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/** Waits for a condition, polling, until a deadline. */
export async function waitFor(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Starts ZooKeeperServerMain with its own zoo.cfg and resolves once it serves. */
export async function startApacheZooKeeper(options: ApacheZooKeeperOptions = {}): Promise<ApacheZooKeeper> {
  requireApacheZooKeeper();
  const dir = mkdtempSync(join(tmpdir(), "apache-zk-"));
  const dataDir = options.dataDir ?? join(dir, "data");
  const port = await freePort();
  const config: Record<string, string> = {
    tickTime: String(options.tickTime ?? 2000),
    dataDir,
    clientPort: String(port),
    clientPortAddress: "127.0.0.1",
    maxClientCnxns: "0",
    "admin.enableServer": "false",
    "4lw.commands.whitelist": "*",
    extendedTypesEnabled: "true",
    ...options.extraConfig,
  };
  const cfg = join(dir, "zoo.cfg");
  writeFileSync(
    cfg,
    `${Object.entries(config)
      .map(([key, value]) => `${key}=${value}`)
      .join("\n")}\n`,
  );
  const properties = Object.entries({ "zookeeper.log.dir": dir, ...options.systemProperties }).map(
    ([key, value]) => `-D${key}=${value}`,
  );
  const log = openSync(join(dir, "server.log"), "a");
  const child = spawn(
    "java",
    [
      "-Xmx512m",
      ...properties,
      "-cp",
      zookeeperClasspath,
      "org.apache.zookeeper.server.ZooKeeperServerMain",
      cfg,
    ],
    {
      stdio: ["ignore", log, log],
    },
  );
  const pid = child.pid ?? 0;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited(child);
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null)
        throw new Error(`Apache ZooKeeper exited with ${child.exitCode}; see ${dir}/server.log`);
      // `ruok` answers before the server serves; `srvr` reports a Mode only once it does.
      return (await fourLetterWord("127.0.0.1", port, "srvr").catch(() => "")).includes("Mode:");
    }, options.startTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: "127.0.0.1", port, dataDir, pid, stop };
}
