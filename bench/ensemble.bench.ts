/**
 * 3-server ensembles side by side: zkts and Apache ZooKeeper 3.8, on this machine, in one
 * run (`npm run bench:ensemble`, `--quick` for one short repeat).
 *   - failover: the leader is killed with SIGKILL while a client writes through a follower;
 *     the time from the kill to the first write acknowledged after it, at tickTime 2000
 *     and at tickTime 200;
 *   - every workload of the standalone comparison (the ensemble not being measured paused with
 *     SIGSTOP, as bench:compare pauses the other server), `zkts bench` spreading its sessions over
 *     the three servers, after unmeasured 3 s write runs on each ensemble (at least five, then
 *     until two in a row agree within 10%: a JVM takes several) and one short run of each workload; the same
 *     table as bench:compare, with the CPU of all three servers per request.
 * All servers share the machine's cores and disk with each other and with the load
 * generator, so the absolute figures are low; the ratio is what this measures. Writes
 * bench/results/ensemble-<date>-<HHMM>.json and .html.
 *
 *   npm run bench:ensemble -- [--seconds 5] [--repeats 3] [--warmup 2] [--sessions 48] [--in-flight 4]
 *                             [--only "write 1,multi"] [--no-failover] [--quick]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import {
  type Case,
  compareRows,
  htmlReport,
  markdownTable,
  measureCase,
  median,
  type Run,
  resultStem,
  runCase,
  runOptions,
  writeReport,
} from "./workloads.js";

const args = process.argv.slice(2);
const { seconds, repeats, warmupSeconds, sessions, inFlight, only, cases } = runOptions(args, {
  sessions: 48,
  quick: { seconds: 3, warmupSeconds: 1 },
});
const failover = !args.includes("--no-failover");
/**
 * Warm-up runs: writes of settleSeconds, at least settleRunsMin of them (a JVM ensemble
 * went 3.4k, 5.5k, 5.3k writes/s and later 20k: two runs can agree long before its JIT is
 * done), until two in a row agree within settledRatio, at most settleRunsMax.
 */
const settleSeconds = 3;
const settleRunsMin = 5;
const settledRatio = 0.1;
const settleRunsMax = 10;
/** Each Apache server's heap: as the standalone comparison's, so that no run is short of heap. */
const javaMaxHeap = "4g";
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
    await startEnsemble(ensemble, { javaMaxHeap });
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

function addresses(ensemble: Ensemble): string[] {
  return ensemble.members.map((member) => `127.0.0.1:${member.clientPort}`);
}

function pids(ensemble: Ensemble): number[] {
  return ensemble.members.flatMap((member) => (member.child?.pid === undefined ? [] : [member.child.pid]));
}

/** Sends `name` to every running member of `ensemble` (SIGSTOP pauses it, SIGCONT resumes it). */
function signal(ensemble: Ensemble, name: NodeJS.Signals): void {
  for (const member of ensemble.members) member.child?.kill(name);
}

const settleCase: Case = {
  name: "warm-up writes",
  workload: "write",
  sessions,
  inFlight,
  valueBytes: 100,
  processes: 2,
};

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "zkts-ensemble-bench-"));
  const failoverMsByRow: Record<string, Record<string, number[]>> = {};
  const warmups: Record<string, number[]> = {};
  try {
    if (failover) {
      for (const tickTime of [2000, 200]) {
        const row = `failover, tickTime ${tickTime} (ms)`;
        failoverMsByRow[row] = { ZooKeeper: [], zkts: [] };
        for (let r = 0; r < repeats; r++) {
          for (const { name, kind } of r % 2 === 0 ? kinds : [...kinds].reverse()) {
            const ms = await failoverMs(root, kind, tickTime);
            failoverMsByRow[row][name]!.push(ms);
            process.stderr.write(`${row} ${name}: ${ms.toFixed(0)}\n`);
          }
        }
      }
    }
    // Both ensembles stay up and take turns, the order alternating, so that a slow patch of
    // this machine falls on both. The second is given none of the first's ports.
    /** Elections seen between measured runs (a paused ensemble that lost its leader would show here). */
    const leaderChanges = { zookeeper: 0, zkts: 0 };
    const runs: Record<"zookeeper" | "zkts", Run[][]> = {
      zookeeper: cases.map(() => []),
      zkts: cases.map(() => []),
    };
    const running: { name: string; key: "zookeeper" | "zkts"; ensemble: Ensemble }[] = [];
    try {
      for (const { name, kind } of kinds) {
        const taken = new Set(running.flatMap(({ ensemble }) => portsOf(ensemble)));
        running.push({
          name,
          key: kind === "apache" ? "zookeeper" : "zkts",
          ensemble: await startThree(root, kind, 2000, taken),
        });
      }
      // Each is warmed up, not counted, so that no repeat carries a JIT's warm-up: settleRunsMin writes
      // runs, then more until two in a row agree within settledRatio, then each workload once.
      for (const { name, ensemble } of running) {
        const rates: number[] = [];
        for (let run = 0; run < settleRunsMax; run++) {
          rates.push((await runCase(addresses(ensemble), settleCase, settleSeconds)).opsPerSecond);
          const [previous, last] = rates.slice(-2);
          if (
            rates.length >= settleRunsMin &&
            previous !== undefined &&
            last !== undefined &&
            Math.abs(last - previous) <= previous * settledRatio
          )
            break;
        }
        console.log(`${name} warm-up writes ops/s: ${rates.map((rate) => rate.toFixed(0)).join(", ")}`);
        warmups[name] = rates;
        for (const c of cases) await runCase(addresses(ensemble), c, warmupSeconds);
      }
      const leaders = new Map<"zookeeper" | "zkts", bigint>();
      for (const { key, ensemble } of running) leaders.set(key, (await waitForLeader(ensemble, 60_000)).id);
      for (let r = 0; r < repeats; r++) {
        for (const [i, c] of cases.entries()) {
          for (const { name, key, ensemble } of (r + i) % 2 === 0 ? running : [...running].reverse()) {
            // Serving, with the leader it had (a change would mean an election, counted below).
            const leader = await waitForLeader(ensemble, 60_000);
            if (leader.id !== leaders.get(key)) {
              leaderChanges[key]++;
              leaders.set(key, leader.id);
            }
            // The other ensemble is paused while this one is measured, as bench:compare pauses the
            // other server: an idle JVM's background work (garbage collection, compilation after
            // a heavy run) took CPU from single-client runs, which wait on every wake-up. One run
            // is shorter than syncLimit × tickTime (10 s), so no member of the paused one gives up
            // its leader.
            const others = running.filter((other) => other.ensemble !== ensemble);
            for (const other of others) signal(other.ensemble, "SIGSTOP");
            try {
              const measured = await measureCase(addresses(ensemble), pids(ensemble), c, seconds);
              runs[key][i]!.push(measured);
              process.stderr.write(`${c.name} ${name}: ${measured.opsPerSecond.toFixed(0)} ops/s\n`);
            } finally {
              for (const other of others) signal(other.ensemble, "SIGCONT");
            }
          }
        }
      }
    } finally {
      // Each is stopped even if stopping another fails (and resumed first, in case it was paused).
      for (const { ensemble } of running) signal(ensemble, "SIGCONT");
      await Promise.allSettled(running.map(({ ensemble }) => stopEnsemble(ensemble)));
    }
    const date = new Date().toISOString();
    const failoverRows = Object.entries(failoverMsByRow).map(([measure, byName]) => {
      const zookeeper = median(byName.ZooKeeper ?? []);
      const zkts = median(byName.zkts ?? []);
      // Lower is better: the ratio is ZooKeeper's time over zkts's.
      return { measure, zookeeper, zkts, ratio: zookeeper / zkts, runs: byName };
    });
    const rows = compareRows(cases, runs);
    console.log(
      `3-server ensembles on one machine; ${seconds} s per run, ${repeats} repeat(s), medians; leader changes between runs: ZooKeeper ${leaderChanges.zookeeper}, zkts ${leaderChanges.zkts}`,
    );
    if (failoverRows.length > 0) {
      console.log("| measure | ZooKeeper | zkts | zkts vs ZooKeeper |");
      console.log("|---|---|---|---|");
      for (const row of failoverRows)
        console.log(
          `| ${row.measure} | ${row.zookeeper.toFixed(0)} | ${row.zkts.toFixed(0)} | ${row.ratio.toFixed(2)}x |`,
        );
    }
    console.log(markdownTable(rows));
    const notes = [
      `Three servers of each kind and the load generator on one machine, the ensemble not measured paused; ${seconds} s per run, ${repeats} repeat(s); CPU per request is all three servers' CPU; leader changes between runs: ZooKeeper ${leaderChanges.zookeeper}, zkts ${leaderChanges.zkts}.`,
      ...failoverRows.map(
        (row) =>
          `${row.measure}: ZooKeeper ${row.zookeeper.toFixed(0)}, zkts ${row.zkts.toFixed(0)} (${row.ratio.toFixed(2)}x).`,
      ),
    ].join(" ");
    const stem = resultStem("ensemble", date, only.length > 0);
    writeReport(
      stem,
      {
        date,
        repeats,
        seconds,
        warmupSeconds,
        sessions,
        inFlight,
        warmups,
        leaderChanges,
        failover: failoverRows,
        rows,
      },
      htmlReport(`zkts vs Apache ZooKeeper 3.8, 3-server ensembles, ${date}`, rows, notes),
    );
    console.log(`wrote ${stem}.json and ${stem}.html`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
