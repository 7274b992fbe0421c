/**
 * `zkts bench`: runs one workload against the servers given, from several worker
 * processes, and prints the merged figures (a table line, or JSON with --json).
 *
 *   zkts bench --servers 127.0.0.1:2181 --workload write --sessions 64 --in-flight 4 \
 *              --value-bytes 100 --seconds 10 --processes 2 [--json]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  type BenchReport,
  mergeResults,
  prepareNodes,
  runWorkload,
  type WorkerResult,
  type WorkloadName,
  type WorkloadOptions,
  workloadNames,
} from "./load-generator.js";

export interface BenchOptions {
  servers: string[];
  workload: WorkloadName;
  sessions: number;
  inFlight: number;
  valueBytes: number;
  seconds: number;
  processes: number;
}

export const benchUsage = `  zkts bench --servers HOST:PORT[,...] [--workload ${workloadNames.join("|")}]
             [--sessions 64] [--in-flight 4] [--value-bytes 100] [--seconds 10] [--processes 2] [--json]
`;

/** Limits on what one bench run may ask for. */
const sessionsMax = 10_000;
const inFlightMax = 1_000;
const valueBytesMax = 1024 * 1024;
const processesMax = 64;

/** The word after `--name` in `args`, else `fallback`. */
export function optionValue(args: readonly string[], name: string, fallback: string): string {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : (args[index + 1] ?? fallback);
}

export function parseBenchArgs(args: string[]): { options: BenchOptions; json: boolean } {
  const value = (name: string, fallback: string) => optionValue(args, name, fallback);
  const number = (name: string, fallback: number, max: number) => {
    const parsed = Number(value(name, String(fallback)));
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > max) {
      throw new Error(`--${name} must be an integer from 1 to ${max}`);
    }
    return parsed;
  };
  const workload = value("workload", "write") as WorkloadName;
  if (!workloadNames.includes(workload)) throw new Error(`unknown workload ${workload}`);
  const servers = value("servers", "127.0.0.1:2181").split(",");
  return {
    options: {
      servers,
      workload,
      sessions: number("sessions", 64, sessionsMax),
      inFlight: number("in-flight", 4, inFlightMax),
      valueBytes: number("value-bytes", 100, valueBytesMax),
      seconds: number("seconds", 10, 3600),
      // Watch fan-out measures notification of every watcher from one write: one process.
      processes: workload === "watch-fanout" ? 1 : number("processes", 2, processesMax),
    },
    json: args.includes("--json"),
  };
}

/** Runs the bench in worker processes and merges their results. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  await prepareNodes(options.servers, options.sessions, options.valueBytes);
  const self = fileURLToPath(import.meta.url);
  const perProcess = Math.ceil(options.sessions / options.processes);
  const workers = Array.from({ length: options.processes }, (_, p) => {
    const sessions = Math.max(0, Math.min(perProcess, options.sessions - p * perProcess));
    const child = fork(self, ["--bench-worker"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const workerOptions: WorkloadOptions = {
      servers: options.servers,
      workload: options.workload,
      sessions,
      inFlight: options.inFlight,
      valueBytes: options.valueBytes,
      durationMs: options.seconds * 1000,
      firstSession: p * perProcess,
    };
    const ready = new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`bench worker exited with ${code}`)));
    });
    const result = ready.then(
      () =>
        new Promise<WorkerResult>((resolve, reject) => {
          child.once("message", (message) => resolve(message as WorkerResult));
          child.once("exit", (code) => reject(new Error(`bench worker exited with ${code}`)));
        }),
    );
    child.send({ kind: "prepare", options: workerOptions });
    return { child, ready, result };
  });
  // Every worker has its sessions open before any starts: they measure the same window.
  await Promise.all(workers.map((worker) => worker.ready));
  for (const worker of workers) worker.child.send({ kind: "start" });
  const results = await Promise.all(workers.map((worker) => worker.result));
  for (const worker of workers) worker.child.disconnect();
  return mergeResults(options, options.processes, results);
}

export function formatReport(report: BenchReport): string {
  const l = report.latencyMs;
  return `${report.workload} sessions=${report.sessions}x${report.inFlight} value=${report.valueBytes}B processes=${report.processes}: ${report.opsPerSecond.toFixed(0)} ops/s, latency ms p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} max ${l.max.toFixed(2)}, errors ${report.errors}, generator CPU ${report.generatorCpuSeconds.toFixed(1)} s in ${report.elapsedSeconds.toFixed(1)} s`;
}

export async function runBenchCommand(args: string[]): Promise<number> {
  const { options, json } = parseBenchArgs(args);
  const report = await runBench(options);
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
  return 0;
}

// A worker: prepare (open sessions), say ready, wait for start, run, send the result.
if (process.argv.includes("--bench-worker") && process.send !== undefined) {
  let startNow: () => void = () => {};
  const start = new Promise<void>((resolve) => {
    startNow = resolve;
  });
  const ready = () => {
    process.send?.({ kind: "ready" });
    return start;
  };
  process.on("message", (message: { kind: string; options?: WorkloadOptions }) => {
    if (message.kind === "start") startNow();
    if (message.kind === "prepare" && message.options !== undefined) {
      runWorkload(message.options, ready).then(
        (result) => process.send?.(result),
        (error: unknown) => {
          process.stderr.write(`bench worker: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
    }
  });
  process.on("disconnect", () => process.exit(0));
}
