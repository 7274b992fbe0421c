/**
 * Crash safety: clients write continuously and record every acknowledged write; the
 * server process is killed with SIGKILL at a random moment (often while a snapshot is
 * being written or the log grows: snapCount and preAllocSize are small, and 2 MiB of bulk
 * data makes each snapshot take a while) and restarted.
 * After each restart every acknowledged write is there with its value or a later one,
 * nothing appears that was never requested, and sequential counters never go back.
 * ZKTS_CRASH_CYCLES sets the number of cycles (`npm run soak:crash` runs 1,000);
 * ZKTS_CRASH_SEED replays a run.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CreateMode, ZooKeeperClient } from "../../src/client/index.js";
import { seededRandom } from "../support/local-config.js";
import { startServing } from "../support/zkts-process.js";

const cycles = Number(process.env.ZKTS_CRASH_CYCLES ?? 30);
const seed = Number(process.env.ZKTS_CRASH_SEED ?? Date.now() % 1_000_000);
const writers = 4;
const keysPerWriter = 8;
const inFlightPerWriter = 16;

interface KeyState {
  requested: number;
  acknowledged: number;
}

describe(`crash safety: ${cycles} SIGKILL cycles (seed ${seed})`, () => {
  it("keeps every acknowledged write and invents none", async () => {
    const next = seededRandom(seed);
    const dir = mkdtempSync(join(tmpdir(), "zkts-crash-"));
    const properties = {
      dataDir: join(dir, "data"),
      snapCount: "200",
      preAllocSize: "64",
      tickTime: "2000",
    };
    const keys = new Map<string, KeyState>();
    let highestSequence = -1;
    let acknowledgedWrites = 0;
    try {
      let server = await startServing(properties);
      const setup = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
      await setup.create("/crash", null);
      await setup.create("/crash/seq", null);
      // Bulk: 2,000 nodes of 1 KiB make each snapshot a couple of MiB, so kills land while one
      // is being written.
      await setup.create("/bulk", null);
      const bulk = Buffer.alloc(1024, 0x5a);
      await Promise.all(Array.from({ length: 2000 }, (_, i) => setup.create(`/bulk/b${i}`, bulk)));
      for (let w = 0; w < writers; w++) {
        for (let k = 0; k < keysPerWriter; k++) {
          await setup.create(`/crash/w${w}k${k}`, "0");
          keys.set(`/crash/w${w}k${k}`, { requested: 0, acknowledged: 0 });
        }
      }
      await setup.close();
      for (let cycle = 0; cycle < cycles; cycle++) {
        const clients = await Promise.all(
          Array.from({ length: writers }, () => ZooKeeperClient.connect(`127.0.0.1:${server.port}`)),
        );
        let stop = false;
        const loops = clients.map(async (client, w) => {
          const inFlight = new Set<Promise<void>>();
          for (let n = 0; !stop; n++) {
            let write: Promise<void>;
            if (n % 10 === 9) {
              write = client.create("/crash/seq/s-", null, { mode: CreateMode.PERSISTENT_SEQUENTIAL }).then(
                (created) => {
                  const sequence = Number(created.path.slice(-10));
                  if (sequence > highestSequence) highestSequence = sequence;
                },
                () => undefined,
              );
            } else {
              const path = `/crash/w${w}k${n % keysPerWriter}`;
              const state = keys.get(path)!;
              const value = ++state.requested;
              write = client.setData(path, String(value)).then(
                () => {
                  acknowledgedWrites++;
                  if (value > state.acknowledged) state.acknowledged = value;
                },
                () => undefined,
              );
            }
            inFlight.add(write);
            void write.finally(() => inFlight.delete(write));
            if (inFlight.size >= inFlightPerWriter) await Promise.race(inFlight);
          }
          await Promise.allSettled(inFlight);
        });
        // Kill at a random moment 20-320 ms into the writes.
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(next() * 300)));
        await server.kill("SIGKILL");
        stop = true;
        for (const client of clients) client.abandon();
        await Promise.all(loops);

        server = await startServing(properties);
        const checker = await ZooKeeperClient.connect(`127.0.0.1:${server.port}`);
        for (const [path, state] of keys) {
          const { data } = await checker.getData(path);
          const value = Number(data?.toString());
          assert.ok(
            value >= state.acknowledged,
            `cycle ${cycle} (seed ${seed}): ${path} is ${value}, but ${state.acknowledged} was acknowledged`,
          );
          assert.ok(
            value <= state.requested,
            `cycle ${cycle} (seed ${seed}): ${path} is ${value}, only up to ${state.requested} was requested`,
          );
          // What the server holds now is the floor for the next cycle.
          state.acknowledged = value;
          state.requested = value;
        }
        assert.equal((await checker.getChildren("/bulk")).children.length, 2000);
        // A new sequential node is numbered after every one acknowledged before the crash.
        const { path: created } = await checker.create("/crash/seq/s-", null, {
          mode: CreateMode.PERSISTENT_SEQUENTIAL,
        });
        assert.ok(
          Number(created.slice(-10)) > highestSequence,
          `cycle ${cycle} (seed ${seed}): sequence went back to ${created} after ${highestSequence}`,
        );
        highestSequence = Number(created.slice(-10));
        await checker.close();
      }
      await server.kill("SIGTERM");
      // The kills landed among real traffic (snapshots every ~100-200 txns, 64 KiB log blocks).
      assert.ok(acknowledgedWrites > cycles * 20, `only ${acknowledgedWrites} writes were acknowledged`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
