/**
 * `npm run bench:compare`: Apache ZooKeeper 3.8 and zkts, standalone, same settings and
 * the same disk, every workload of `zkts bench` run on both, alternating, repeated; the
 * server not being measured is paused (SIGSTOP), so its background work is not counted
 * against the other.
 * Prints one table (ops/s, p50/p99 latency, the server's CPU time per request, zkts/ZooKeeper
 * ratio of the medians and the median of each repeat's back-to-back ratio; medians of the
 * repeats with their spread), RSS and CPU seconds per server, and writes
 * bench/results/compare-<date>-<HHMM>.json and .html (charts to open in a browser).
 *
 * Before the measured repeats each server runs every workload once, unmeasured (--warmup
 * seconds, 2 by default): a JVM's JIT, and V8's, are then warm when the first repeat starts.
 *
 *   npm run bench:compare -- [--seconds 5] [--repeats 3] [--warmup 2] [--sessions 32] [--in-flight 4] [--quick]
 *                            [--only "write,read 1"]   (workloads whose names contain one of these)
 *                            [--zkts key=value,...]    (settings for the zkts server only)
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { optionValue } from "../src/bench/bench-command.js";
import {
  cpuSeconds,
  type Kind,
  type Running,
  rawFdatasync,
  rssBytes,
  startServer,
  stopServer,
} from "./servers.js";
import {
  compareRows,
  htmlReport,
  markdownTable,
  measureCase,
  type Run,
  resultStem,
  runCase,
  runOptions,
  writeReport,
} from "./workloads.js";

const args = process.argv.slice(2);
const { seconds, repeats, warmupSeconds, only, cases } = runOptions(args, {
  sessions: 32,
  quick: { seconds: 2, warmupSeconds: 0 },
});
/** --zkts zkts.logWritesInFlight=1,flushDelay=1: settings given to the zkts server only. */
const zktsSettings = Object.fromEntries(
  optionValue(args, "zkts", "")
    .split(",")
    .filter((pair) => pair.includes("="))
    .map((pair) => [pair.slice(0, pair.indexOf("=")).trim(), pair.slice(pair.indexOf("=") + 1).trim()]),
);

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "zkts-compare-"));
  const started: Running[] = [];
  let failed = true;
  try {
    const fdatasync = await rawFdatasync(root);
    const zookeeper = await startServer("zookeeper", join(root, "zookeeper"));
    started.push(zookeeper);
    const zkts = await startServer("zkts", join(root, "zkts"), zktsSettings);
    started.push(zkts);
    const servers: Record<Kind, Running> = { zookeeper, zkts };
    const runs: Record<Kind, Run[][]> = { zookeeper: cases.map(() => []), zkts: cases.map(() => []) };
    /** Runs `kind` alone: the other server is paused (SIGSTOP) while this one is measured. */
    const alone = (kind: Kind) => {
      const other: Kind = kind === "zkts" ? "zookeeper" : "zkts";
      servers[other].child.kill("SIGSTOP");
      servers[kind].child.kill("SIGCONT");
    };
    const address = (kind: Kind) => [`127.0.0.1:${servers[kind].port}`];
    if (warmupSeconds > 0) {
      for (const c of cases) {
        for (const kind of ["zookeeper", "zkts"] as const) {
          alone(kind);
          await runCase(address(kind), c, warmupSeconds);
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
          const measured = await measureCase(address(kind), [servers[kind].child.pid!], c, seconds);
          runs[kind][i]!.push(measured);
          process.stderr.write(`${c.name} ${kind}: ${measured.opsPerSecond.toFixed(0)} ops/s\n`);
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
    const rows = compareRows(cases, runs);
    const date = new Date().toISOString();
    console.log(
      `raw fdatasync p50 ${fdatasync.p50Ms.toFixed(3)} ms; ${seconds} s per run, ${repeats} repeats after a ${warmupSeconds} s warm-up, medians (min-max)`,
    );
    console.log(markdownTable(rows));
    const usageLine = `RSS after the runs: ZooKeeper ${(usage.zookeeper.rssBytes / 2 ** 20).toFixed(0)} MiB, zkts ${(usage.zkts.rssBytes / 2 ** 20).toFixed(0)} MiB; CPU seconds: ZooKeeper ${usage.zookeeper.cpuSeconds.toFixed(1)}, zkts ${usage.zkts.cpuSeconds.toFixed(1)}`;
    console.log(usageLine);
    // A run of some workloads, or with other settings, is marked as such.
    const stem = resultStem("compare", date, only.length > 0 || Object.keys(zktsSettings).length > 0);
    const results = { date, seconds, repeats, warmupSeconds, zktsSettings, fdatasync, rows, servers: usage };
    writeReport(
      stem,
      results,
      htmlReport(`zkts vs Apache ZooKeeper 3.8, standalone, ${date}`, rows, `${usageLine}.`),
    );
    console.log(`wrote ${stem}.json and ${stem}.html`);
    failed = false;
  } finally {
    // Paused or not, what this run started stops with it; after a failure the servers' logs stay.
    await Promise.all(started.map((server) => stopServer(server).catch(() => {})));
    if (failed) process.stderr.write(`the servers' data and logs are kept in ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
