/**
 * Starting and measuring the two servers the benchmarks compare: Apache ZooKeeper 3.8
 * (Debian's jars) and zkts, each in its own process with the same settings (fsync on,
 * tickTime 2000, default snapCount, no connection limit), data in the directory given.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlags } from "../src/cli/node-flags.js";
import {
  fourLetterWord,
  freePort,
  requireApacheZooKeeper,
  zookeeperClasspath,
} from "../test/support/apache-zookeeper.js";

export const zktsBin = fileURLToPath(new URL("../../bin/zkts", import.meta.url));

export type Kind = "zookeeper" | "zkts";

export interface Running {
  kind: Kind;
  port: number;
  child: ChildProcess;
  startedMs: number;
  servingMs: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `extra`: settings added to (or replacing) the common ones, for this kind of server only. */
export async function startServer(
  kind: Kind,
  dataDir: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<Running> {
  if (kind === "zookeeper") requireApacheZooKeeper();
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const settings: Record<string, string> = {
    tickTime: "2000",
    dataDir,
    clientPort: String(port),
    clientPortAddress: "127.0.0.1",
    maxClientCnxns: "0",
    "4lw.commands.whitelist": "*",
    "admin.enableServer": "false",
    ...extra,
  };
  const logPath = join(dataDir, "..", `${kind}-${port}.log`);
  const log = openSync(logPath, "a");
  const startedMs = performance.now();
  let child: ChildProcess;
  if (kind === "zookeeper") {
    const cfg = join(dataDir, "..", `${kind}-${port}.cfg`);
    writeFileSync(
      cfg,
      `${Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n")}\n`,
    );
    child = spawn(
      "java",
      ["-Xmx4g", "-cp", zookeeperClasspath, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg],
      {
        stdio: ["ignore", log, log],
      },
    );
  } else {
    const flags = Object.entries(settings).map(([k, v]) => `-D${k}=${v}`);
    child = spawn(process.execPath, [...nodeFlags, zktsBin, "server", ...flags], {
      stdio: ["ignore", log, log],
    });
  }
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${kind} exited with ${child.exitCode}; its log: ${logPath}`);
    }
    const answer = await fourLetterWord("127.0.0.1", port, "srvr", 1_000).catch(() => "");
    if (answer.includes("Mode:")) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { kind, port, child, startedMs, servingMs: performance.now() - startedMs };
}

export async function stopServer(server: Running): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  // A server paused by the compare bench (SIGSTOP) must run to hear SIGTERM.
  server.child.kill("SIGCONT");
  server.child.kill("SIGTERM");
  await exited;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib * 1024;
}

export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Both servers' fsync counters, from mntr (ZooKeeper: fsynctime summary; zkts: zk_fsync_count). */
export async function fsyncCount(server: Running): Promise<number> {
  const mntr = await fourLetterWord("127.0.0.1", server.port, "mntr");
  const match = /zk_cnt_fsynctime\s+(\d+)/.exec(mntr) ?? /zk_fsync_count\s+(\d+)/.exec(mntr);
  return Number(match?.[1] ?? Number.NaN);
}

export async function rawFdatasync(
  dir: string,
  count = 300,
): Promise<{ p50Ms: number; p99Ms: number; perSecond: number }> {
  const handle = await open(join(dir, "fdatasync.probe"), "w");
  const record = Buffer.alloc(128, 7);
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await handle.write(record, 0, record.length, i * record.length);
    await handle.datasync();
    samples.push(performance.now() - t0);
  }
  const elapsed = performance.now() - started;
  await handle.close();
  samples.sort((a, b) => a - b);
  return {
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    perSecond: (count / elapsed) * 1000,
  };
}
