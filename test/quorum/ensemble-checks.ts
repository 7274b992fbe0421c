/** What the ensemble tests check after their faults: writers that record acknowledgements, and agreement. */
import assert from "node:assert/strict";
import { ZooKeeperClient } from "../../src/client/index.js";
import { type Ensemble, mntr } from "../support/ensemble.js";
import { type NzkClient, nzkCreate } from "../support/nzk.js";
import { dumpTree } from "../support/tree-dump.js";

/** Creates `/w/<tag>-<n>` through `client` until `stop()`; records what was acknowledged. */
export async function writeUntil(
  client: NzkClient,
  tag: string,
  acknowledged: Set<string>,
  stop: () => boolean,
): Promise<void> {
  for (let n = 0; !stop() && n < 10_000; n++) {
    const path = `/w/${tag}-${n}`;
    try {
      await nzkCreate(client, path, Buffer.from(tag));
      acknowledged.add(path);
    } catch {
      // Connection loss while the ensemble re-elects: the outcome is unknown, so it is not
      // counted; the client reconnects by itself. Pace the retry.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * One writer per client (tag `tags[n]`), running until `stop()` resolves; `acknowledged`
 * fills as they go.
 */
export function startWriters(
  clients: NzkClient[],
  tags: string[],
): { acknowledged: Set<string>; stop(): Promise<void> } {
  const acknowledged = new Set<string>();
  let stopping = false;
  const writers = clients.map((client, n) =>
    writeUntil(client, tags[n] ?? `c${n}`, acknowledged, () => stopping),
  );
  return {
    acknowledged,
    async stop() {
      stopping = true;
      await Promise.all(writers);
    },
  };
}

export async function verifyAgreement(ensemble: Ensemble, acknowledged: Set<string>): Promise<void> {
  const dumps: string[] = [];
  for (const member of ensemble.members) {
    const client = await ZooKeeperClient.connect(`127.0.0.1:${member.clientPort}`);
    try {
      await client.sync("/");
      const { children } = await client.getChildren("/w");
      const present = new Set(children.map((child) => `/w/${child}`));
      const missing = [...acknowledged].filter((path) => !present.has(path));
      assert.deepEqual(missing, [], `server ${member.id} (${member.kind}) lacks acknowledged writes`);
      dumps.push(
        JSON.stringify(await dumpTree(client), (_, value) =>
          typeof value === "bigint" ? value.toString() : value,
        ),
      );
    } finally {
      await client.close();
    }
    const metrics = await mntr(member);
    assert.equal(
      metrics.get("zk_digest_mismatches_count") ?? "0",
      "0",
      `server ${member.id} saw a digest mismatch`,
    );
  }
  for (const [index, dump] of dumps.entries()) {
    assert.equal(dump, dumps[0], `server ${index + 1} differs from server 1 node by node`);
  }
}
