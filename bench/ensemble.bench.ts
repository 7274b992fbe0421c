/**
 * 3-server ensembles side by side: zkts and Apache ZooKeeper 3.8, on this machine, in one
 * run (`npm run bench:ensemble`, `--quick` for one repeat).
 *   - failover: the leader is killed with SIGKILL while a client writes through a follower;
 *     the time from the kill to the first write acknowledged after it, at tickTime 2000
 *     and at tickTime 200;
 *   - throughput: `zkts bench` write and read workloads spread over all three servers, after
 *     unmeasured 3 s write runs on each ensemble until two in a row agree within 10% (a JVM
 *     takes several), then one read run.
 * All servers share the machine's cores and disk with each other and with the load
 * generator, so the absolute figures are low; the ratio is what this measures.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { BenchReport } from "../src/bench/load-generator.js";
import { nodeFlags } from "../src/cli/node-flags.js";
import { ZooKeeperClient } from "../src/client/index.js";
import {
  type Ensemble,
  layoutEnsemble,
  type MemberKind,
  startEnsemble,
  stopEnsemble,
  stopMember,
  waitForLeader,
} from "../test/support/ensemble.js";
import { zktsBin } from "./servers.js";

const run = promisify(execFile);
const quick = process.argv.includes("--quick");
const repeats = quick ? 1 : 3;
const seconds = quick ? 3 : 5;
/** Warm-up runs: writes of warmupSeconds until two in a row agree within warmupSettledRatio, at most warmupRunsMax. */
const warmupSeconds = 3;
const warmupSettledRatio = 0.1;
const warmupRunsMax = 8;
const kinds: { name: string; kind: MemberKind }[] = [
  { name: "ZooKeeper", kind: "apache" },
  { name: "zkts", kind: "zkts" },
];

/** Every port an ensemble's members were given (a follower need not be listening on all). */
function portsOf(ensemble: Ensemble): number[] {
  return ensemble.members.flatMap((member) => [member.clientPort, member.quorumPort, member.electionPort]);
}

/** Layouts tried for ports that no running ensemble was given. */
const layoutAttemptsMax = 20;

/**
 * Starts three servers of `kind` and waits for their leader; on failure stops what it started.
 * `avoid`: ports of an ensemble still running, which a follower may not be listening on yet.
 */
async function startThree(
  root: string,
  kind: MemberKind,
  tickTime: number,
  avoid: ReadonlySet<number> = new Set(),
): Promise<Ensemble> {
  let ensemble: Ensemble | null = null;
  for (let attempt = 0; attempt < layoutAttemptsMax && ensemble === null; attempt++) {
    const laidOut = await layoutEnsemble(mkdtempSync(join(root, `${kind}-`)), [kind, kind, kind], {
      tickTime: String(tickTime),
    });
    if (!portsOf(laidOut).some((port) => avoid.has(port))) ensemble = laidOut;
  }
  if (ensemble === null)
    throw new Error(`no ports free of the running ensemble's in ${layoutAttemptsMax} layouts`);
  try {
    await startEnsemble(ensemble);
    await waitForLeader(ensemble, 120_000);
  } catch (error) {
    await stopEnsemble(ensemble).catch(() => {});
    throw error;
  }
  return ensemble;
}

/** Kill -9 of the leader to the first write acknowledged after it, through a surviving follower. */
async function failoverMs(root: string, kind: MemberKind, tickTime: number): Promise<number> {
  const ensemble = await startThree(root, kind, tickTime);
  try {
    const leader = await waitForLeader(ensemble);
    const survivors = ensemble.members.filter((member) => member !== leader);
    const client = await ZooKeeperClient.connect(
      survivors.map((member) => `127.0.0.1:${member.clientPort}`).join(","),
    );
    try {
      await client.create("/failover", "0");
      let killedAt = Number.POSITIVE_INFINITY;
      let firstAfter = Number.NaN;
      const writer = (async () => {
        for (let n = 0; n < 1_000_000 && Number.isNaN(firstAfter); n++) {
          // Only a write sent after the kill shows the new leader at work.
          const sentAt = performance.now();
          try {
            await client.setData("/failover", String(n));
            if (sentAt > killedAt) firstAfter = performance.now();
          } catch {
            // Connection loss or no quorum yet: try again.
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 500));
      killedAt = performance.now();
      await stopMember(leader, "SIGKILL");
      await writer;
      return firstAfter - killedAt;
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await stopEnsemble(ensemble);
  }
}

async function throughput(ensemble: Ensemble, workload: string, runSeconds = seconds): Promise<BenchReport> {
  const servers = ensemble.members.map((member) => `127.0.0.1:${member.clientPort}`).join(",");
  const { stdout } = await run(
    process.execPath,
    [
      ...nodeFlags,
      zktsBin,
      "bench",
      "--servers",
      servers,
      "--workload",
      workload,
      "--sessions",
      "48",
      "--in-flight",
      "4",
      "--value-bytes",
      "100",
      "--seconds",
      String(runSeconds),
      "--processes",
      "2",
      "--json",
    ],
    { maxBuffer: 1 << 20, timeout: (runSeconds + 120) * 1000 },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as BenchReport;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "zkts-ensemble-bench-"));
  const results: Record<string, Record<string, number[]>> = {};
  const warmups: Record<string, number[]> = {};
  const record = (row: string, name: string, value: number) => {
    results[row] ??= {};
    (results[row][name] ??= []).push(value);
    process.stderr.write(`${row} ${name}: ${value.toFixed(1)}\n`);
  };
  try {
    for (const tickTime of [2000, 200]) {
      for (let r = 0; r < repeats; r++) {
        for (const { name, kind } of r % 2 === 0 ? kinds : [...kinds].reverse()) {
          record(`failover ms, tickTime ${tickTime}`, name, await failoverMs(root, kind, tickTime));
        }
      }
    }
    // Both ensembles stay up and take turns, the order reversed every other repeat, so that
    // a slow patch of this machine falls on both. The second is given none of the first's ports.
    const running: { name: string; ensemble: Ensemble }[] = [];
    try {
      for (const { name, kind } of kinds) {
        const taken = new Set(running.flatMap(({ ensemble }) => portsOf(ensemble)));
        running.push({ name, ensemble: await startThree(root, kind, 2000, taken) });
      }
      // Each is warmed up, not counted, so that no repeat carries a JIT's warm-up: writes until
      // two runs in a row agree within warmupSettledRatio (a JVM ensemble takes several), then reads once.
      for (const { name, ensemble } of running) {
        const rates: number[] = [];
        for (let run = 0; run < warmupRunsMax; run++) {
          rates.push((await throughput(ensemble, "write", warmupSeconds)).opsPerSecond);
          const [previous, last] = rates.slice(-2);
          if (
            previous !== undefined &&
            last !== undefined &&
            Math.abs(last - previous) <= previous * warmupSettledRatio
          )
            break;
        }
        console.log(`${name} warm-up writes ops/s: ${rates.map((rate) => rate.toFixed(0)).join(", ")}`);
        warmups[name] = rates;
        await throughput(ensemble, "read", warmupSeconds);
      }
      for (let r = 0; r < repeats; r++) {
        for (const { name, ensemble } of r % 2 === 0 ? running : [...running].reverse()) {
          for (const workload of ["write", "read"]) {
            const report = await throughput(ensemble, workload);
            record(`${workload} ops/s (48 sessions x 4, 100 B)`, name, report.opsPerSecond);
            record(`${workload} p99 ms`, name, report.latencyMs.p99);
          }
        }
      }
    } finally {
      // Each is stopped even if stopping another fails.
      await Promise.allSettled(running.map(({ ensemble }) => stopEnsemble(ensemble)));
    }
    console.log(`3-server ensembles on one machine; ${repeats} repeat(s), medians`);
    console.log("| measure | ZooKeeper | zkts | zkts vs ZooKeeper |");
    console.log("|---|---|---|---|");
    const rows = Object.entries(results).map(([measure, byName]) => {
      const zookeeper = median(byName.ZooKeeper ?? []);
      const zkts = median(byName.zkts ?? []);
      // Time and latency: lower is better, so the ratio is ZooKeeper's over zkts's.
      const lowerIsBetter = measure.includes(" ms");
      const ratio = lowerIsBetter ? zookeeper / zkts : zkts / zookeeper;
      console.log(`| ${measure} | ${zookeeper.toFixed(1)} | ${zkts.toFixed(1)} | ${ratio.toFixed(2)}x |`);
      return { measure, zookeeper, zkts, ratio, runs: byName };
    });
    const resultsDir = fileURLToPath(new URL("../../bench/results", import.meta.url));
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `ensemble-${new Date().toISOString().slice(0, 10)}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), repeats, seconds, warmups, rows }, null, 2)}\n`,
    );
    console.log(`wrote ${file}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
