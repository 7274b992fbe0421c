/** `zkts ensemble start`: the try-it-locally ensemble comes up, serves, and stops on Ctrl-C. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ZooKeeperClient } from "../../src/client/index.js";
import { freePort, waitFor } from "../support/apache-zookeeper.js";
import { exited } from "../support/processes.js";

const zktsBin = fileURLToPath(new URL("../../../bin/zkts", import.meta.url));

test("zkts ensemble start runs three servers that elect a leader and replicate; SIGINT stops them all", async () => {
  const dir = mkdtempSync(join(tmpdir(), "zkts-try-"));
  // Ports base+1..base+3 for clients, base+102.. for quorum and election.
  const base = ((await freePort()) % 40_000) + 20_000;
  const child = spawn(
    process.execPath,
    [zktsBin, "ensemble", "start", "--dir", dir, "--base-port", String(base), "--tick-time", "500"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    await waitFor(
      async () =>
        /serving clients as leading/.test(output) &&
        (output.match(/serving clients as following/g) ?? []).length >= 2,
      30_000,
      50,
    );
    const connectString = /connect with: zkts shell -server (\S+)/.exec(output)?.[1];
    assert.equal(connectString, `127.0.0.1:${base + 1},127.0.0.1:${base + 2},127.0.0.1:${base + 3}`);
    const writer = await ZooKeeperClient.connect(`127.0.0.1:${base + 1}`);
    const reader = await ZooKeeperClient.connect(`127.0.0.1:${base + 3}`);
    await writer.create("/tried", "hello");
    await reader.sync("/");
    assert.equal((await reader.getData("/tried")).data?.toString(), "hello");
    await writer.close();
    await reader.close();
  } finally {
    child.kill("SIGINT");
    await exited(child);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal((output.match(/\[server \d\] exited/g) ?? []).length, 3);
});
