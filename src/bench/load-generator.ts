/**
 * The load generator behind `zkts bench`: sessions spread over the servers given,
 * each keeping a number of requests in flight, latencies in an HDR histogram
 * (microseconds). Runs in worker processes so that the generator is not the
 * bottleneck; the parent merges their histograms.
 */
import hdr from "hdr-histogram-js";
import { ZooKeeperClient } from "../client/index.js";
import { CreateMode, OpCode } from "../jute/constants.js";

export const workloadNames = [
  "write",
  "read",
  "mixed",
  "create-delete",
  "multi",
  "watch-fanout",
  "session-storm",
] as const;
export type WorkloadName = (typeof workloadNames)[number];

export interface WorkloadOptions {
  servers: string[];
  workload: WorkloadName;
  /** Sessions this worker opens (for watch-fanout: watchers). */
  sessions: number;
  /** Requests in flight per session. */
  inFlight: number;
  valueBytes: number;
  durationMs: number;
  /** Index of this worker's first session, so that workers use distinct nodes. */
  firstSession: number;
}

export interface WorkerResult {
  ops: number;
  errors: number;
  elapsedMs: number;
  /** The latency histogram, compressed (hdr-histogram-js's base64 form). */
  histogram: string;
  cpuUserMs: number;
  cpuSystemMs: number;
}

/** The longest latency a histogram records: one minute, in microseconds. */
const latencyMaxMicros = 60_000_000;
/** The node every workload works under. */
export const benchRoot = "/zkts-bench";

export function newHistogram(): hdr.Histogram {
  return hdr.build({ highestTrackableValue: latencyMaxMicros, numberOfSignificantValueDigits: 3 });
}

function sessionNode(index: number): string {
  return `${benchRoot}/s${index}`;
}

/** Creates the nodes a run needs (once, before the workers start). */
/** How long the bench tries to reach the servers before it gives up. */
export const benchConnectTimeoutMs = 10_000;

export async function prepareNodes(servers: string[], sessions: number, valueBytes: number): Promise<void> {
  const client = await ZooKeeperClient.connect(servers.join(","), {
    connectTimeoutMs: benchConnectTimeoutMs,
  }).catch((error: unknown) => {
    throw new Error(
      `cannot reach ${servers.join(",")}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const value = Buffer.alloc(valueBytes, 0x61);
  await client.create(benchRoot, null).catch(() => undefined);
  await client.create(`${benchRoot}/tmp`, null).catch(() => undefined);
  await client.create(`${benchRoot}/fanout`, null).catch(() => undefined);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < sessions; i++) {
    pending.push(client.create(sessionNode(i), value).catch(() => client.setData(sessionNode(i), value)));
  }
  await Promise.all(pending);
  await client.close();
}

/**
 * Runs one workload for options.durationMs and reports what it measured. `ready` is
 * called once the sessions are open; measuring starts when it resolves.
 */
export async function runWorkload(
  options: WorkloadOptions,
  ready: () => Promise<void>,
): Promise<WorkerResult> {
  const histogram = newHistogram();
  const value = Buffer.alloc(options.valueBytes, 0x62);
  const hostsFor = (i: number) => {
    const count = options.servers.length;
    // Spread sessions over the servers: each one starts its host list at a different server.
    return [...options.servers.slice(i % count), ...options.servers.slice(0, i % count)].join(",");
  };
  let ops = 0;
  let errors = 0;
  const record = (startedAt: number) => {
    histogram.recordValue(Math.max(1, Math.round((performance.now() - startedAt) * 1000)));
    ops++;
  };
  const clients: ZooKeeperClient[] = [];
  if (options.workload !== "session-storm") {
    for (let i = 0; i < options.sessions; i++) {
      clients.push(await ZooKeeperClient.connect(hostsFor(options.firstSession + i)));
    }
  }
  await ready();
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const deadline = startedAt + options.durationMs;
  const loop = async (work: () => Promise<unknown>) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await work();
        record(t0);
      } catch {
        errors++;
      }
    }
  };
  const lanes: Promise<void>[] = [];
  switch (options.workload) {
    case "write":
    case "read":
    case "mixed":
    case "multi":
    case "create-delete":
      clients.forEach((client, i) => {
        const index = options.firstSession + i;
        const path = sessionNode(index);
        for (let lane = 0; lane < options.inFlight; lane++) {
          let n = 0;
          const work = (): Promise<unknown> => {
            n++;
            switch (options.workload) {
              case "write":
                return client.setData(path, value);
              case "read":
                return client.getData(path);
              case "mixed":
                return n % 10 === 0 ? client.setData(path, value) : client.getData(path);
              case "multi":
                return client.multi(
                  Array.from({ length: 10 }, () => ({
                    type: OpCode.setData,
                    request: { path, data: value, version: -1 },
                  })),
                );
              default: {
                const tmp = `${benchRoot}/tmp/s${index}-${lane}`;
                return n % 2 === 1
                  ? client.create(tmp, value, { mode: CreateMode.PERSISTENT })
                  : client.delete(tmp);
              }
            }
          };
          lanes.push(loop(work));
        }
      });
      break;
    case "watch-fanout": {
      // The first worker's first session writes; every session watches. Latency: write sent
      // until the last watcher of this worker is notified.
      const path = `${benchRoot}/fanout`;
      const writer = options.firstSession === 0 ? clients[0] : undefined;
      lanes.push(
        (async () => {
          while (performance.now() < deadline) {
            const notifications: Promise<void>[] = [];
            const watchesSet = clients.map((client) => {
              let notify: () => void = () => {};
              notifications.push(
                new Promise<void>((resolve) => {
                  notify = resolve;
                }),
              );
              return client.getData(path, () => notify());
            });
            // Every watch is set once its getData has answered; then one write fires them all.
            await Promise.all(watchesSet);
            const t0 = performance.now();
            if (writer !== undefined) await writer.setData(path, value);
            const notified = await Promise.race([
              Promise.all(notifications).then(() => true),
              new Promise<boolean>((resolve) =>
                setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()) + 50),
              ),
            ]);
            if (notified) record(t0);
            else break;
          }
        })(),
      );
      break;
    }
    case "session-storm":
      for (let i = 0; i < options.sessions; i++) {
        lanes.push(
          loop(async () => {
            const client = await ZooKeeperClient.connect(hostsFor(options.firstSession + i));
            await client.close();
          }),
        );
      }
      break;
  }
  await Promise.all(lanes);
  const elapsedMs = performance.now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  return {
    ops,
    errors,
    elapsedMs,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
  };
}

/** The merged figures of a run. */
export interface BenchReport {
  workload: WorkloadName;
  sessions: number;
  inFlight: number;
  valueBytes: number;
  processes: number;
  opsPerSecond: number;
  errors: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number; mean: number };
  /** CPU the generator used, in seconds (to see whether it was the bottleneck). */
  generatorCpuSeconds: number;
  elapsedSeconds: number;
}

export function mergeResults(
  options: Omit<WorkloadOptions, "firstSession" | "servers" | "durationMs">,
  processes: number,
  results: WorkerResult[],
): BenchReport {
  const merged = newHistogram();
  for (const result of results) merged.add(hdr.decodeFromCompressedBase64(result.histogram));
  const elapsedSeconds = Math.max(...results.map((result) => result.elapsedMs)) / 1000;
  const ops = results.reduce((sum, result) => sum + result.ops, 0);
  const ms = (micros: number) => micros / 1000;
  return {
    workload: options.workload,
    sessions: options.sessions,
    inFlight: options.inFlight,
    valueBytes: options.valueBytes,
    processes,
    opsPerSecond: ops / elapsedSeconds,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    latencyMs: {
      p50: ms(merged.getValueAtPercentile(50)),
      p99: ms(merged.getValueAtPercentile(99)),
      p999: ms(merged.getValueAtPercentile(99.9)),
      max: ms(merged.maxValue),
      mean: ms(merged.mean),
    },
    generatorCpuSeconds:
      results.reduce((sum, result) => sum + result.cpuUserMs + result.cpuSystemMs, 0) / 1000,
    elapsedSeconds,
  };
}
