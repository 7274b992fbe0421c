import assert from "node:assert/strict";
import { test } from "node:test";
import { ClusterSimulator, type SimulationOptions } from "./cluster-simulator.js";
import { checkRun } from "./sim-checkers.js";

/**
 * Seeded simulation of whole ensembles under faults. ZKTS_SIM_SEEDS sets how many seeds
 * (1,000 in CI; `npm run soak:sim` runs 100,000); ZKTS_SIM_SEED replays one seed with its trace.
 */
const seedCount = Number(process.env.ZKTS_SIM_SEEDS ?? 1000);
const onlySeed = process.env.ZKTS_SIM_SEED === undefined ? null : Number(process.env.ZKTS_SIM_SEED);

/** Ensemble shapes the seeds rotate through. */
const shapes: { name: string; options: Omit<SimulationOptions, "seed"> }[] = [
  { name: "3 voters", options: { voters: 3 } },
  { name: "5 voters + 1 observer", options: { voters: 5, observers: 1 } },
  { name: "3 voters, a fault every 200 ms", options: { voters: 3, faultGapMs: 200 } },
  {
    name: "3 voters + 1 observer, small in-memory log",
    options: { voters: 3, observers: 1, commitLogCount: 2 },
  },
];

function runSeed(seed: number): {
  sim: ClusterSimulator;
  settled: boolean;
  violations: string[];
  shape: string;
} {
  const shape = shapes[seed % shapes.length] ?? shapes[0];
  if (shape === undefined) throw new Error("no shapes");
  const sim = new ClusterSimulator({ seed, faultPhaseMs: 10_000, ...shape.options });
  let settled = false;
  try {
    settled = sim.run();
  } catch (error) {
    // A failed assertion inside the run (a disk told something impossible): report the seed.
    return { sim, settled, violations: [`threw ${(error as Error).stack ?? error}`], shape: shape.name };
  }
  const violations = checkRun(sim);
  if (!settled) violations.push(`did not settle within the settle phase (at ${sim.nowMs} ms)`);
  return { sim, settled, violations, shape: shape.name };
}

test(`ZAB under faults: ${onlySeed === null ? `${seedCount} seeds` : `seed ${onlySeed}`} keep agreement, durability and linearizability`, () => {
  const seeds = onlySeed === null ? Array.from({ length: seedCount }, (_, index) => index + 1) : [onlySeed];
  let acknowledged = 0;
  let operations = 0;
  for (const seed of seeds) {
    const { sim, violations, shape } = runSeed(seed);
    acknowledged += sim.acknowledged.size;
    operations += sim.operations.length;
    if (onlySeed !== null) console.log(sim.trace.join("\n"));
    assert.deepEqual(
      violations,
      [],
      `seed ${seed} (${shape}) failed; replay with ZKTS_SIM_SEED=${seed} node --test dist/src/sim/cluster-simulator.test.js`,
    );
  }
  // The runs did work: writes were acknowledged through the faults.
  assert.ok(
    acknowledged > seeds.length * 10,
    `only ${acknowledged} writes acknowledged over ${seeds.length} seeds`,
  );
  assert.ok(operations > acknowledged);
});

test("a seed replays exactly", () => {
  const first = runSeed(42);
  const second = runSeed(42);
  assert.deepEqual(second.sim.trace, first.sim.trace);
  assert.deepEqual(second.sim.applies, first.sim.applies);
  assert.ok(first.sim.trace.some((line) => line.includes("crash") || line.includes("partition")));
});

test("the checkers catch a lost acknowledged write, a read of a value never written and a forked zxid", () => {
  const { sim } = runSeed(7);
  assert.deepEqual(checkRun(sim), []);
  // Pretend a write was acknowledged that no server has.
  sim.acknowledged.add(999_999);
  sim.proposed.set(999_999, { id: 999_999, key: "k1", value: "lost" });
  assert.ok(checkRun(sim).some((line) => line.includes("acknowledged write 999999 lost")));
  // A completed read that saw a value nobody wrote cannot be linearized.
  const read = sim.operations.find(
    (operation) => operation.kind === "read" && operation.returnMs !== Number.POSITIVE_INFINITY,
  );
  assert.ok(read !== undefined);
  const seen = read.value;
  read.value = "never-written";
  assert.ok(checkRun(sim).some((line) => line.startsWith("not linearizable")));
  read.value = seen;
  const first = sim.applies[0];
  assert.ok(first !== undefined);
  sim.applies.push({ server: 99n, zxid: first.zxid, writeId: first.writeId + 1, atMs: 0 });
  assert.ok(checkRun(sim).some((line) => line.includes(`zxid 0x${first.zxid.toString(16)}`)));
});
