/**
 * Persistence benchmark, zkts beside Apache ZooKeeper 3.8 (Debian jars) in one run on
 * one machine, both with fsync on and their data in the same temporary directory:
 *   - the disk's raw fdatasync latency (the floor for one durable write at a time);
 *   - durable setData throughput and latency with 1, 8 and 64 closed-loop clients,
 *     fsyncs per second and txns per fsync;
 *   - restart time (process start to serving), the start-up snapshot's time (mntr's
 *     snapshottime) and RSS with N znodes: each server fills a data directory of its own,
 *     then starts from a fresh copy of it --restarts times, the servers alternating
 *     (median, with the spread).
 * Usage: npm run bench:persistence -- [--seconds 5] [--znodes 100000,1000000] [--restarts 3]
 * Writes bench/results/persistence-<date>-<HHMM>.json and prints a table.
 */

import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { optionValue } from "../src/bench/bench-command.js";
import { ZooKeeperClient } from "../src/client/index.js";
import { fourLetterWord } from "../test/support/apache-zookeeper.js";
import {
  cpuSeconds,
  fsyncCount,
  type Kind,
  percentile,
  type Running,
  rawFdatasync,
  rssBytes,
  startServer,
  stopServer,
} from "./servers.js";
import { resultStem, writeReport } from "./workloads.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => optionValue(args, name, fallback);
const seconds = Number(option("seconds", "5"));
const znodeCounts = option("znodes", "100000").split(",").map(Number);
const clientCounts = [1, 8, 64];
const restartSamples = Math.max(1, Number(option("restarts", "3")));
const root = mkdtempSync(join(tmpdir(), "zkts-bench-"));

interface WriteResult {
  clients: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  fsyncsPerSecond: number;
  txnsPerFsync: number;
  serverCpuSeconds: number;
}

async function durableWrites(server: Running, clients: number): Promise<WriteResult> {
  const connect = `127.0.0.1:${server.port}`;
  const sessions = await Promise.all(Array.from({ length: clients }, () => ZooKeeperClient.connect(connect)));
  const value = Buffer.alloc(100, 0x61);
  await Promise.all(
    sessions.map((client, i) => client.create(`/w${clients}-${i}`, value).catch(() => undefined)),
  );
  const latencies: number[] = [];
  const fsyncsBefore = await fsyncCount(server);
  const cpuBefore = cpuSeconds(server.child.pid!);
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    sessions.map(async (client, i) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await client.setData(`/w${clients}-${i}`, value);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const fsyncs = (await fsyncCount(server)) - fsyncsBefore;
  const cpu = cpuSeconds(server.child.pid!) - cpuBefore;
  await Promise.all(sessions.map((client) => client.close()));
  latencies.sort((a, b) => a - b);
  return {
    clients,
    opsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    fsyncsPerSecond: fsyncs / elapsed,
    txnsPerFsync: latencies.length / fsyncs,
    serverCpuSeconds: cpu,
  };
}

/** Fills a server with `count` znodes of 64 bytes under 1,000 parents, 2,000 creates in flight. */
async function fill(server: Running, count: number): Promise<void> {
  const client = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
  const parents = 1000;
  const data = Buffer.alloc(64, 0x62);
  for (let p = 0; p < parents; p++) await client.create(`/p${p}`, null);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await client.create(`/p${i % parents}/n${i}`, data);
    }
  };
  await Promise.all(Array.from({ length: 2000 }, worker));
  await client.close();
}

interface RestartResult {
  znodes: number;
  /** Median of the samples. */
  restartMs: number;
  samplesMs: number[];
  /** The start-up snapshot: median and samples (mntr's snapshottime). */
  snapshotMs: number;
  snapshotSamplesMs: number[];
  rssBytes: number;
  bytesPerZnode: number;
}

/** Fills a data directory with `znodes` znodes through `kind`, and stops it. */
async function filledDirectory(kind: Kind, dataDir: string, znodes: number): Promise<void> {
  const server = await startServer(kind, dataDir);
  await fill(server, znodes);
  await stopServer(server);
}

/** The start-up snapshot's time from mntr's snapshottime, once one is written (60 s at most). */
async function startupSnapshotMs(server: Running): Promise<number> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const mntr = await fourLetterWord("127.0.0.1", server.port, "mntr");
    const count = Number(/zk_cnt_snapshottime\s+(\d+)/.exec(mntr)?.[1] ?? 0);
    if (count >= 1) return Number(/zk_max_snapshottime\s+(\d+)/.exec(mntr)?.[1] ?? Number.NaN);
    if (performance.now() > deadline) return Number.NaN;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * One start from a fresh copy of `pristine`: time to serving, and the snapshot each server
 * writes at start-up (ZooKeeper before it serves, zkts in the background); RSS when asked.
 */
async function restartSample(
  kind: Kind,
  pristine: string,
  work: string,
  measureRss: boolean,
): Promise<{ ms: number; snapshotMs: number; rssBytes: number }> {
  rmSync(work, { recursive: true, force: true });
  cpSync(pristine, work, { recursive: true });
  const server = await startServer(kind, work);
  const snapshotMs = await startupSnapshotMs(server);
  let rss = 0;
  if (measureRss) {
    // Let the memory settle after the snapshot before reading RSS.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    rss = rssBytes(server.child.pid!);
  }
  await stopServer(server);
  rmSync(work, { recursive: true, force: true });
  return { ms: server.servingMs, snapshotMs, rssBytes: rss };
}

/** Both servers' restarts with `znodes`, alternating which goes first. */
async function restarts(znodes: number): Promise<Record<Kind, RestartResult>> {
  const kinds = ["zookeeper", "zkts"] as const;
  const pristine = (kind: Kind) => join(root, `${kind}-restart-${znodes}`);
  for (const kind of kinds) await filledDirectory(kind, pristine(kind), znodes);
  const samples: Record<Kind, { ms: number; snapshotMs: number; rssBytes: number }[]> = {
    zookeeper: [],
    zkts: [],
  };
  for (let r = 0; r < restartSamples; r++) {
    for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      samples[kind].push(await restartSample(kind, pristine(kind), `${pristine(kind)}-run`, r === 0));
    }
  }
  const result = (kind: Kind): RestartResult => {
    const ms = samples[kind].map((sample) => sample.ms);
    const snapshotMs = samples[kind].map((sample) => sample.snapshotMs);
    // A snapshot time not reported within the wait is NaN: left out, not sorted in.
    const median = (values: number[]) => {
      const known = values.filter(Number.isFinite).sort((a, b) => a - b);
      return known.length === 0 ? Number.NaN : percentile(known, 50);
    };
    const rss = samples[kind][0]!.rssBytes;
    return {
      znodes,
      restartMs: median(ms),
      samplesMs: ms,
      snapshotMs: median(snapshotMs),
      snapshotSamplesMs: snapshotMs,
      rssBytes: rss,
      bytesPerZnode: rss / znodes,
    };
  };
  return { zookeeper: result("zookeeper"), zkts: result("zkts") };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    seconds,
    machine: readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1],
  };
  const fdatasync = await rawFdatasync(root);
  results.fdatasync = fdatasync;
  console.log(
    `raw fdatasync: p50 ${fdatasync.p50Ms.toFixed(2)} ms, p99 ${fdatasync.p99Ms.toFixed(2)} ms, ${fdatasync.perSecond.toFixed(0)}/s`,
  );
  const writes: Record<Kind, WriteResult[]> = { zookeeper: [], zkts: [] };
  // Alternate the servers for each client count, so drift in the machine hits both.
  for (const clients of args.includes("--skip-writes") ? [] : clientCounts) {
    for (const kind of ["zookeeper", "zkts"] as const) {
      const server = await startServer(kind, join(root, `${kind}-writes-${clients}`));
      writes[kind].push(await durableWrites(server, clients));
      await stopServer(server);
    }
  }
  results.writes = writes;
  console.log("\ndurable setData (100 B), closed loop");
  console.log(
    "clients | ZooKeeper ops/s p50/p99 ms fsyncs/s txns/fsync | zkts ops/s p50/p99 ms fsyncs/s txns/fsync | ratio",
  );
  for (let i = 0; i < writes.zkts.length; i++) {
    const z = writes.zookeeper[i]!;
    const t = writes.zkts[i]!;
    const row = (r: WriteResult) =>
      `${r.opsPerSecond.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(2)}/${r.p99Ms.toFixed(2)} ${r.fsyncsPerSecond.toFixed(0)} ${r.txnsPerFsync.toFixed(1)}`;
    console.log(
      `${String(clientCounts[i]).padStart(7)} | ${row(z)} | ${row(t)} | ${(t.opsPerSecond / z.opsPerSecond).toFixed(2)}x`,
    );
  }
  const restartResults: Record<Kind, RestartResult[]> = { zookeeper: [], zkts: [] };
  for (const znodes of znodeCounts) {
    const both = await restarts(znodes);
    restartResults.zookeeper.push(both.zookeeper);
    restartResults.zkts.push(both.zkts);
  }
  results.restarts = restartResults;
  console.log(
    `\nrestart with N znodes (64 B each): start to serving and the start-up snapshot, median of ${restartSamples} (all samples), RSS`,
  );
  for (let i = 0; i < znodeCounts.length; i++) {
    const row = (r: RestartResult) =>
      `${r.restartMs.toFixed(0)} ms (${r.samplesMs.map((ms) => ms.toFixed(0)).join(", ")}), snapshot ${r.snapshotMs.toFixed(0)} ms (${r.snapshotSamplesMs.map((ms) => ms.toFixed(0)).join(", ")}), ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB (${r.bytesPerZnode.toFixed(0)} B/znode)`;
    console.log(
      `${String(znodeCounts[i]).padStart(8)} | ZooKeeper ${row(restartResults.zookeeper[i]!)} | zkts ${row(restartResults.zkts[i]!)}`,
    );
  }
  const stem = resultStem("persistence", new Date().toISOString(), false);
  writeReport(stem, results);
  console.log(`\nwrote ${stem}.json`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(root, { recursive: true, force: true }));
