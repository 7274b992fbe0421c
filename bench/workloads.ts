/**
 * What the side-by-side benchmarks share: the workloads run on both servers (or both
 * ensembles), running one through `zkts bench`, the summary of a workload's repeats and the
 * report files (JSON and an HTML page with charts) in bench/results.
 */
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { optionValue } from "../src/bench/bench-command.js";
import type { BenchReport } from "../src/bench/load-generator.js";
import { nodeFlags } from "../src/cli/node-flags.js";
import { cpuSeconds, zktsBin } from "./servers.js";

const run = promisify(execFile);

export interface Case {
  name: string;
  workload: string;
  sessions: number;
  inFlight: number;
  valueBytes: number;
  processes: number;
}

/**
 * Every workload of the comparison; `sessions` × `inFlight` for the rows that do not fix their own.
 * The "16 in flight" rows fix only the requests in flight per session.
 */
export function workloadCases(sessions: number, inFlight: number): Case[] {
  return [
    { name: "write 100 B", workload: "write", sessions, inFlight, valueBytes: 100, processes: 2 },
    { name: "write 1 KiB", workload: "write", sessions, inFlight, valueBytes: 1024, processes: 2 },
    { name: "write 100 KiB", workload: "write", sessions: 8, inFlight: 2, valueBytes: 102_400, processes: 2 },
    // Four times the load: what each server does when it, not the round trip, is the limit.
    {
      name: "write 100 B, 16 in flight",
      workload: "write",
      sessions,
      inFlight: 16,
      valueBytes: 100,
      processes: 2,
    },
    {
      name: "write 1 KiB, 16 in flight",
      workload: "write",
      sessions,
      inFlight: 16,
      valueBytes: 1024,
      processes: 2,
    },
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
}

/** The cases whose names contain one of `only` (all when it is empty); an unknown name is an error. */
export function selectCases(cases: Case[], only: string[]): Case[] {
  const chosen = cases.filter((c) => only.length === 0 || only.some((name) => c.name.includes(name)));
  if (chosen.length === 0) throw new Error(`--only ${only.join(",")} matches no workload`);
  return chosen;
}

/** The options bench:compare and bench:ensemble share, and the cases they select. */
export interface RunOptions {
  seconds: number;
  repeats: number;
  warmupSeconds: number;
  sessions: number;
  inFlight: number;
  /** --only: workload names (substrings); empty for all. */
  only: string[];
  cases: Case[];
}

/**
 * Reads --seconds --repeats --warmup --sessions --in-flight --only from `args`; `--quick`
 * means one repeat of `quick.seconds`, after a `quick.warmupSeconds` warm-up.
 */
export function runOptions(
  args: readonly string[],
  defaults: { sessions: number; quick: { seconds: number; warmupSeconds: number } },
): RunOptions {
  const option = (name: string, fallback: string) => optionValue(args, name, fallback);
  const quick = args.includes("--quick");
  const sessions = Number(option("sessions", String(defaults.sessions)));
  const inFlight = Number(option("in-flight", "4"));
  const only = option("only", "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  return {
    seconds: Number(option("seconds", String(quick ? defaults.quick.seconds : 5))),
    repeats: Number(option("repeats", quick ? "1" : "3")),
    warmupSeconds: Number(option("warmup", String(quick ? defaults.quick.warmupSeconds : 2))),
    sessions,
    inFlight,
    only,
    cases: selectCases(workloadCases(sessions, inFlight), only),
  };
}

/** One run of `c` through `zkts bench` against `servers` (host:port, sessions spread over them). */
export async function runCase(servers: string[], c: Case, seconds: number): Promise<BenchReport> {
  const { stdout } = await run(
    process.execPath,
    [
      ...nodeFlags,
      zktsBin,
      "bench",
      "--servers",
      servers.join(","),
      "--workload",
      c.workload,
      "--sessions",
      String(c.sessions),
      "--in-flight",
      String(c.inFlight),
      "--value-bytes",
      String(c.valueBytes),
      "--seconds",
      String(seconds),
      "--processes",
      String(c.processes),
      "--json",
    ],
    { maxBuffer: 1 << 20, timeout: (seconds + 120) * 1000 },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as BenchReport;
}

/** One run's report and the servers' CPU time (every process and thread, user + system) per request. */
export type Run = BenchReport & { serverCpuMicrosPerOp: number };

/** `runCase`, with the CPU the server processes `pids` spent on it. */
export async function measureCase(servers: string[], pids: number[], c: Case, seconds: number): Promise<Run> {
  const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const before = cpu();
  const report = await runCase(servers, c, seconds);
  const spent = cpu() - before;
  const requests = report.opsPerSecond * report.elapsedSeconds;
  return { ...report, serverCpuMicrosPerOp: (spent * 1e6) / Math.max(1, requests) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

export interface Summary {
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

export function summarise(runs: Run[]): Summary {
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

export interface Row {
  name: string;
  zookeeper: Summary;
  zkts: Summary;
  /** The median of each repeat's back-to-back zkts/ZooKeeper ratio. */
  pairedRatio: number;
}

/**
 * The rows of a comparison from each case's runs (`runs[kind][case][repeat]`). Each repeat
 * runs the two back to back: the ratio within a pair is spared the machine's drift between
 * repeats, and its median is steadier than the ratio of medians.
 */
export function compareRows(cases: Case[], runs: { zookeeper: Run[][]; zkts: Run[][] }): Row[] {
  return cases.map((c, i) => {
    const zookeeperRuns = runs.zookeeper[i] ?? [];
    const zktsRuns = runs.zkts[i] ?? [];
    return {
      name: c.name,
      zookeeper: summarise(zookeeperRuns),
      zkts: summarise(zktsRuns),
      pairedRatio: median(
        zktsRuns.map((run, r) => run.opsPerSecond / (zookeeperRuns[r]?.opsPerSecond ?? Number.NaN)),
      ),
    };
  });
}

/** The comparison as a Markdown table, as the README shows it. */
export function markdownTable(rows: Row[]): string {
  const cell = (s: Summary) =>
    `${s.opsPerSecond.toFixed(0)} (${s.spread[0].toFixed(0)}-${s.spread[1].toFixed(0)}) | ${s.p50Ms.toFixed(2)}/${s.p99Ms.toFixed(2)} | ${s.serverCpuMicrosPerOp.toFixed(1)}`;
  return [
    "| workload | ZooKeeper ops/s | p50/p99 ms | CPU µs/req | zkts ops/s | p50/p99 ms | CPU µs/req | zkts/ZooKeeper ops/s | paired | CPU per req |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${cell(row.zookeeper)} | ${cell(row.zkts)} | ${(row.zkts.opsPerSecond / row.zookeeper.opsPerSecond).toFixed(2)}x | ${row.pairedRatio.toFixed(2)}x | ${(row.zkts.serverCpuMicrosPerOp / row.zookeeper.serverCpuMicrosPerOp).toFixed(2)}x |`,
    ),
  ].join("\n");
}

/** An HTML page with the table and bar charts of throughput, p99 and CPU per request. */
export function htmlReport(title: string, rows: Row[], notes: string): string {
  const width = 760;
  const barHeight = 14;
  const rowHeight = 44;
  const scale = (value: number, max: number) => Math.max(1, (value / max) * (width - 260));
  const chart = (chartTitle: string, pick: (s: Summary) => number, unit: string) => {
    const bars = rows
      .map((row, i) => {
        const max = Math.max(pick(row.zookeeper), pick(row.zkts));
        const y = i * rowHeight + 30;
        return `<text x="0" y="${y + 12}" font-size="12">${row.name}</text>
<rect x="200" y="${y}" width="${scale(pick(row.zookeeper), max)}" height="${barHeight}" fill="#d9822b"/><text x="${205 + scale(pick(row.zookeeper), max)}" y="${y + 11}" font-size="11">${pick(row.zookeeper).toFixed(unit === "ops/s" ? 0 : 2)}</text>
<rect x="200" y="${y + barHeight + 2}" width="${scale(pick(row.zkts), max)}" height="${barHeight}" fill="#2b7bd9"/><text x="${205 + scale(pick(row.zkts), max)}" y="${y + barHeight + 13}" font-size="11">${pick(row.zkts).toFixed(unit === "ops/s" ? 0 : 2)}</text>`;
      })
      .join("\n");
    return `<h2>${chartTitle} (${unit})</h2><svg width="${width}" height="${rows.length * rowHeight + 40}" xmlns="http://www.w3.org/2000/svg" role="img"><title>${chartTitle} of Apache ZooKeeper and zkts per workload</title>
<rect x="200" y="4" width="12" height="12" fill="#d9822b"/><text x="216" y="14" font-size="12">Apache ZooKeeper 3.8</text>
<rect x="380" y="4" width="12" height="12" fill="#2b7bd9"/><text x="396" y="14" font-size="12">zkts</text>
${bars}</svg>`;
  };
  const tableRows = rows
    .map(
      (row) =>
        `<tr><td>${row.name}</td><td>${row.zookeeper.opsPerSecond.toFixed(0)}</td><td>${row.zookeeper.p99Ms.toFixed(2)}</td><td>${row.zookeeper.serverCpuMicrosPerOp.toFixed(1)}</td><td>${row.zkts.opsPerSecond.toFixed(0)}</td><td>${row.zkts.p99Ms.toFixed(2)}</td><td>${row.zkts.serverCpuMicrosPerOp.toFixed(1)}</td><td>${(row.zkts.opsPerSecond / row.zookeeper.opsPerSecond).toFixed(2)}×</td><td>${row.pairedRatio.toFixed(2)}×</td></tr>`,
    )
    .join("\n");
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
<body style="font-family: sans-serif; max-width: 800px; margin: 2em auto">
<h1>${title}</h1>
<table border="1" cellpadding="4" style="border-collapse: collapse"><tr><th>workload</th><th>ZooKeeper ops/s</th><th>p99 ms</th><th>CPU µs/req</th><th>zkts ops/s</th><th>p99 ms</th><th>CPU µs/req</th><th>ratio</th><th>paired ratio</th></tr>
${tableRows}</table>
<p>${notes}</p>
${chart("Throughput", (s) => s.opsPerSecond, "ops/s")}
${chart("p99 latency", (s) => s.p99Ms, "ms")}
${chart("Server CPU per request", (s) => s.serverCpuMicrosPerOp, "µs")}
</body>`;
}

/**
 * The path, without extension, of a report in bench/results: `<prefix>-<date>-<HHMM>`, so a
 * later run of the day does not replace an earlier one; `-some` when only some workloads ran.
 */
export function resultStem(prefix: string, date: string, partial: boolean): string {
  const resultsDir = fileURLToPath(new URL("../../bench/results", import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  const stamp = `${date.slice(0, 10)}-${date.slice(11, 13)}${date.slice(14, 16)}`;
  return join(resultsDir, `${prefix}-${stamp}${partial ? "-some" : ""}`);
}

/** Writes `<stem>.json` and, given, `<stem>.html`. */
export function writeReport(stem: string, json: unknown, html?: string): void {
  writeFileSync(`${stem}.json`, `${JSON.stringify(json, null, 2)}\n`);
  if (html !== undefined) writeFileSync(`${stem}.html`, html);
}
