/**
 * `npm run bench:compare`: Apache ZooKeeper 3.8 and zkts, standalone, same settings and
 * the same disk, every workload of `zkts bench` run on both, alternating, repeated; the
 * server not being measured is paused (SIGSTOP), so its background work is not counted
 * against the other.
 * Prints one table (ops/s, p50/p99 latency, the server's CPU time per request, zkts/ZooKeeper
 * ratio of the medians and the median of each repeat's back-to-back ratio; medians of the
 * repeats with their spread), RSS and CPU seconds per server, and writes
 * bench/results/compare-<date>.json and .html (charts to open in a browser).
 *
 * Before the measured repeats each server runs every workload once, unmeasured (--warmup
 * seconds, 2 by default): a JVM's JIT, and V8's, are then warm when the first repeat starts.
 *
 *   npm run bench:compare -- [--seconds 5] [--repeats 3] [--warmup 2] [--sessions 32] [--in-flight 4] [--quick]
 *                            [--only "write,read 1"]   (workloads whose names contain one of these)
 *                            [--zkts key=value,...]    (settings for the zkts server only)
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { optionValue } from "../src/bench/bench-command.js";
import type { BenchReport } from "../src/bench/load-generator.js";
import { nodeFlags } from "../src/cli/node-flags.js";
import {
  cpuSeconds,
  type Kind,
  type Running,
  rawFdatasync,
  rssBytes,
  startServer,
  stopServer,
  zktsBin,
} from "./servers.js";

const run = promisify(execFile);
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => optionValue(args, name, fallback);
const quick = args.includes("--quick");
const seconds = Number(option("seconds", quick ? "2" : "5"));
const repeats = Number(option("repeats", quick ? "1" : "3"));
const warmupSeconds = Number(option("warmup", quick ? "0" : "2"));
const sessions = Number(option("sessions", "32"));
const inFlight = Number(option("in-flight", "4"));

interface Case {
  name: string;
  workload: string;
  sessions: number;
  inFlight: number;
  valueBytes: number;
  processes: number;
}

const allCases: Case[] = [
  { name: "write 100 B", workload: "write", sessions, inFlight, valueBytes: 100, processes: 2 },
  { name: "write 1 KiB", workload: "write", sessions, inFlight, valueBytes: 1024, processes: 2 },
  { name: "write 100 KiB", workload: "write", sessions: 8, inFlight: 2, valueBytes: 102_400, processes: 2 },
  { name: "write, 1 client", workload: "write", sessions: 1, inFlight: 1, valueBytes: 100, processes: 1 },
  { name: "read 100 B", workload: "read", sessions, inFlight, valueBytes: 100, processes: 2 },
  { name: "read 1 KiB", workload: "read", sessions, inFlight, valueBytes: 1024, processes: 2 },
  { name: "read 100 KiB", workload: "read", sessions: 8, inFlight: 2, valueBytes: 102_400, processes: 2 },
  { name: "mixed 90/10", workload: "mixed", sessions, inFlight, valueBytes: 100, processes: 2 },
  { name: "create + delete", workload: "create-delete", sessions, inFlight, valueBytes: 100, processes: 2 },
  { name: "multi of 10", workload: "multi", sessions, inFlight: 2, valueBytes: 100, processes: 2 },
  {
    name: "watch fan-out (200)",
    workload: "watch-fanout",
    sessions: 200,
    inFlight: 1,
    valueBytes: 100,
    processes: 1,
  },
  {
    name: "session storm",
    workload: "session-storm",
    sessions: 16,
    inFlight: 1,
    valueBytes: 100,
    processes: 2,
  },
];

const only = option("only", "")
  .split(",")
  .map((name) => name.trim())
  .filter((name) => name !== "");
/** --zkts zkts.logWritesInFlight=1,flushDelay=1: settings given to the zkts server only. */
const zktsSettings = Object.fromEntries(
  option("zkts", "")
    .split(",")
    .filter((pair) => pair.includes("="))
    .map((pair) => [pair.slice(0, pair.indexOf("=")).trim(), pair.slice(pair.indexOf("=") + 1).trim()]),
);
const cases = allCases.filter((c) => only.length === 0 || only.some((name) => c.name.includes(name)));
if (cases.length === 0) throw new Error(`--only ${only.join(",")} matches no workload`);

async function bench(server: Running, c: Case, runSeconds = seconds): Promise<BenchReport> {
  const { stdout } = await run(
    process.execPath,
    [
      ...nodeFlags,
      zktsBin,
      "bench",
      "--servers",
      `127.0.0.1:${server.port}`,
      "--workload",
      c.workload,
      "--sessions",
      String(c.sessions),
      "--in-flight",
      String(c.inFlight),
      "--value-bytes",
      String(c.valueBytes),
      "--seconds",
      String(runSeconds),
      "--processes",
      String(c.processes),
      "--json",
    ],
    { maxBuffer: 1 << 20, timeout: (runSeconds + 120) * 1000 },
  );
  return JSON.parse(stdout.trim().split("\n").pop()!) as BenchReport;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One run's report and the server's CPU time (all its threads, user + system) per request. */
type Run = BenchReport & { serverCpuMicrosPerOp: number };

interface Summary {
  opsPerSecond: number;
  spread: [number, number];
  p50Ms: number;
  p99Ms: number;
  /**
   * Steadier than ops/s on a shared machine: how much CPU the server spent per request,
   * whatever else the machine was doing.
   */
  serverCpuMicrosPerOp: number;
  runs: Run[];
}

function summarise(runs: Run[]): Summary {
  const ops = runs.map((r) => r.opsPerSecond);
  return {
    opsPerSecond: median(ops),
    spread: [Math.min(...ops), Math.max(...ops)],
    p50Ms: median(runs.map((r) => r.latencyMs.p50)),
    p99Ms: median(runs.map((r) => r.latencyMs.p99)),
    serverCpuMicrosPerOp: median(runs.map((r) => r.serverCpuMicrosPerOp)),
    runs,
  };
}

function html(results: {
  date: string;
  rows: { name: string; zookeeper: Summary; zkts: Summary; pairedRatio: number }[];
  servers: Record<Kind, { rssBytes: number; cpuSeconds: number }>;
}): string {
  const width = 760;
  const barHeight = 14;
  const rowHeight = 44;
  const scale = (value: number, max: number) => Math.max(1, (value / max) * (width - 260));
  const chart = (title: string, pick: (s: Summary) => number, unit: string) => {
    const bars = results.rows
      .map((row, i) => {
        const max = Math.max(pick(row.zookeeper), pick(row.zkts));
        const y = i * rowHeight + 30;
        return `<text x="0" y="${y + 12}" font-size="12">${row.name}</text>
<rect x="200" y="${y}" width="${scale(pick(row.zookeeper), max)}" height="${barHeight}" fill="#d9822b"/><text x="${205 + scale(pick(row.zookeeper), max)}" y="${y + 11}" font-size="11">${pick(row.zookeeper).toFixed(unit === "ops/s" ? 0 : 2)}</text>
<rect x="200" y="${y + barHeight + 2}" width="${scale(pick(row.zkts), max)}" height="${barHeight}" fill="#2b7bd9"/><text x="${205 + scale(pick(row.zkts), max)}" y="${y + barHeight + 13}" font-size="11">${pick(row.zkts).toFixed(unit === "ops/s" ? 0 : 2)}</text>`;
      })
      .join("\n");
    return `<h2>${title} (${unit})</h2><svg width="${width}" height="${results.rows.length * rowHeight + 40}" xmlns="http://www.w3.org/2000/svg" role="img"><title>${title} of Apache ZooKeeper and zkts per workload</title>
<rect x="200" y="4" width="12" height="12" fill="#d9822b"/><text x="216" y="14" font-size="12">Apache ZooKeeper 3.8</text>
<rect x="380" y="4" width="12" height="12" fill="#2b7bd9"/><text x="396" y="14" font-size="12">zkts</text>
${bars}</svg>`;
  };
  const rows = results.rows
    .map(
      (row) =>
        `<tr><td>${row.name}</td><td>${row.zookeeper.opsPerSecond.toFixed(0)}</td><td>${row.zookeeper.p99Ms.toFixed(2)}</td><td>${row.zookeeper.serverCpuMicrosPerOp.toFixed(1)}</td><td>${row.zkts.opsPerSecond.toFixed(0)}</td><td>${row.zkts.p99Ms.toFixed(2)}</td><td>${row.zkts.serverCpuMicrosPerOp.toFixed(1)}</td><td>${(row.zkts.opsPerSecond / row.zookeeper.opsPerSecond).toFixed(2)}×</td><td>${row.pairedRatio.toFixed(2)}×</td></tr>`,
    )
    .join("\n");
  return `<!doctype html><meta charset="utf-8"><title>zkts vs Apache ZooKeeper ${results.date}</title>
<body style="font-family: sans-serif; max-width: 800px; margin: 2em auto">
<h1>zkts vs Apache ZooKeeper 3.8, ${results.date}</h1>
<table border="1" cellpadding="4" style="border-collapse: collapse"><tr><th>workload</th><th>ZooKeeper ops/s</th><th>p99 ms</th><th>CPU µs/req</th><th>zkts ops/s</th><th>p99 ms</th><th>CPU µs/req</th><th>ratio</th><th>paired ratio</th></tr>
${rows}</table>
<p>RSS after the runs: ZooKeeper ${(results.servers.zookeeper.rssBytes / 2 ** 20).toFixed(0)} MiB, zkts ${(results.servers.zkts.rssBytes / 2 ** 20).toFixed(0)} MiB.
CPU seconds: ZooKeeper ${results.servers.zookeeper.cpuSeconds.toFixed(1)}, zkts ${results.servers.zkts.cpuSeconds.toFixed(1)}.</p>
${chart("Throughput", (s) => s.opsPerSecond, "ops/s")}
${chart("p99 latency", (s) => s.p99Ms, "ms")}
${chart("Server CPU per request", (s) => s.serverCpuMicrosPerOp, "µs")}
</body>`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "zkts-compare-"));
  try {
    const fdatasync = await rawFdatasync(root);
    const servers: Record<Kind, Running> = {
      zookeeper: await startServer("zookeeper", join(root, "zookeeper")),
      zkts: await startServer("zkts", join(root, "zkts"), zktsSettings),
    };
    const runs: Record<Kind, Run[][]> = { zookeeper: cases.map(() => []), zkts: cases.map(() => []) };
    /** Runs `kind` alone: the other server is paused (SIGSTOP) while this one is measured. */
    const alone = (kind: Kind) => {
      const other: Kind = kind === "zkts" ? "zookeeper" : "zkts";
      servers[other].child.kill("SIGSTOP");
      servers[kind].child.kill("SIGCONT");
    };
    if (warmupSeconds > 0) {
      for (const c of cases) {
        for (const kind of ["zookeeper", "zkts"] as const) {
          alone(kind);
          await bench(servers[kind], c, warmupSeconds);
        }
      }
      process.stderr.write(`warm-up done (${warmupSeconds} s per workload and server, not counted)\n`);
    }
    for (let r = 0; r < repeats; r++) {
      for (const [i, c] of cases.entries()) {
        // Alternate which server goes first, so drift in the machine hits both alike.
        const order: Kind[] = (r + i) % 2 === 0 ? ["zookeeper", "zkts"] : ["zkts", "zookeeper"];
        for (const kind of order) {
          // The other server's background work (a JVM's garbage collection, a snapshot being
          // written) must not land on these numbers.
          alone(kind);
          const cpuBefore = cpuSeconds(servers[kind].child.pid!);
          const report = await bench(servers[kind], c);
          const cpu = cpuSeconds(servers[kind].child.pid!) - cpuBefore;
          const requests = report.opsPerSecond * report.elapsedSeconds;
          runs[kind][i]!.push({ ...report, serverCpuMicrosPerOp: (cpu * 1e6) / Math.max(1, requests) });
          process.stderr.write(`${c.name} ${kind}: ${report.opsPerSecond.toFixed(0)} ops/s\n`);
        }
      }
    }
    for (const server of Object.values(servers)) server.child.kill("SIGCONT");
    const usage = {
      zookeeper: {
        rssBytes: rssBytes(servers.zookeeper.child.pid!),
        cpuSeconds: cpuSeconds(servers.zookeeper.child.pid!),
      },
      zkts: { rssBytes: rssBytes(servers.zkts.child.pid!), cpuSeconds: cpuSeconds(servers.zkts.child.pid!) },
    };
    await stopServer(servers.zookeeper);
    await stopServer(servers.zkts);
    const rows = cases.map((c, i) => ({
      name: c.name,
      zookeeper: summarise(runs.zookeeper[i]!),
      zkts: summarise(runs.zkts[i]!),
      // Each repeat runs the two servers back to back: the ratio within a pair is spared the
      // machine's drift between repeats, and its median is steadier than the ratio of medians.
      pairedRatio: median(
        runs.zkts[i]!.map((run, r) => run.opsPerSecond / runs.zookeeper[i]![r]!.opsPerSecond),
      ),
    }));
    const date = new Date().toISOString();
    console.log(
      `raw fdatasync p50 ${fdatasync.p50Ms.toFixed(3)} ms; ${seconds} s per run, ${repeats} repeats after a ${warmupSeconds} s warm-up, medians (min-max)`,
    );
    console.log(
      "| workload | ZooKeeper ops/s | p50/p99 ms | CPU µs/req | zkts ops/s | p50/p99 ms | CPU µs/req | zkts/ZooKeeper ops/s | paired | CPU per req |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|---|");
    for (const row of rows) {
      const cell = (s: Summary) =>
        `${s.opsPerSecond.toFixed(0)} (${s.spread[0].toFixed(0)}-${s.spread[1].toFixed(0)}) | ${s.p50Ms.toFixed(2)}/${s.p99Ms.toFixed(2)} | ${s.serverCpuMicrosPerOp.toFixed(1)}`;
      console.log(
        `| ${row.name} | ${cell(row.zookeeper)} | ${cell(row.zkts)} | ${(row.zkts.opsPerSecond / row.zookeeper.opsPerSecond).toFixed(2)}x | ${row.pairedRatio.toFixed(2)}x | ${(row.zkts.serverCpuMicrosPerOp / row.zookeeper.serverCpuMicrosPerOp).toFixed(2)}x |`,
      );
    }
    console.log(
      `RSS after the runs: ZooKeeper ${(usage.zookeeper.rssBytes / 2 ** 20).toFixed(0)} MiB, zkts ${(usage.zkts.rssBytes / 2 ** 20).toFixed(0)} MiB; CPU seconds: ZooKeeper ${usage.zookeeper.cpuSeconds.toFixed(1)}, zkts ${usage.zkts.cpuSeconds.toFixed(1)}`,
    );
    const resultsDir = fileURLToPath(new URL("../../bench/results", import.meta.url));
    mkdirSync(resultsDir, { recursive: true });
    // A run of some workloads, or with other settings, does not replace the day's full report.
    const partial = only.length > 0 || Object.keys(zktsSettings).length > 0;
    const stem = join(resultsDir, `compare-${date.slice(0, 10)}${partial ? "-some" : ""}`);
    const results = { date, seconds, repeats, warmupSeconds, zktsSettings, fdatasync, rows, servers: usage };
    writeFileSync(`${stem}.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${stem}.html`, html(results));
    console.log(`wrote ${stem}.json and ${stem}.html`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
