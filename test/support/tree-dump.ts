/** Reads a whole tree through a client, for comparing two servers node by node. */

import type { ZooKeeperClient } from "../../src/client/index.js";
import { OpCode } from "../../src/jute/constants.js";
import type { ACL, Stat } from "../../src/jute/records.js";

export interface DumpedNode {
  path: string;
  data: string | null;
  stat: Stat;
  acl: ACL[];
}

/** Every node under "/" except the /zookeeper subtree, depth first, children sorted. */
export async function dumpTree(client: ZooKeeperClient): Promise<DumpedNode[]> {
  const nodes: DumpedNode[] = [];
  const visit = async (path: string): Promise<void> => {
    if (path === "/zookeeper") return;
    const { data, stat } = await client.getData(path);
    const { acl } = await client.getACL(path);
    nodes.push({ path, data: data === null ? null : data.toString("base64"), stat, acl });
    const { children } = await client.getChildren(path);
    for (const child of children.sort()) await visit(path === "/" ? `/${child}` : `${path}/${child}`);
  };
  await visit("/");
  return nodes;
}

const open = [{ perms: 31, id: { scheme: "world", id: "anyone" } }];

/**
 * A mixed workload: persistent, sequential, ephemeral, container and TTL nodes, multi,
 * setData, setACL, deletes; `holder`'s ephemerals stay (its session stays open).
 */
export async function mixedWorkload(
  client: ZooKeeperClient,
  holder: ZooKeeperClient,
  rounds: number,
): Promise<void> {
  await client.create("/app", "root");
  await client.create("/app/locks", null, { mode: 4 /* CONTAINER */ });
  for (let i = 0; i < rounds; i++) {
    await client.create(`/app/n${i}`, `value ${i}`);
    await client.create("/app/seq-", Buffer.from([i, 0, 255]), { mode: 2 /* PERSISTENT_SEQUENTIAL */ });
    await client.setData(`/app/n${i}`, `value ${i} v2`);
    await holder.create(`/app/locks/lock-`, `holder ${i}`, { mode: 3 /* EPHEMERAL_SEQUENTIAL */ });
    if (i % 3 === 0) await client.delete(`/app/n${i}`);
    if (i % 4 === 1)
      await client.create(`/app/ttl${i}`, "t", { mode: 5 /* PERSISTENT_WITH_TTL */, ttlMs: 3_600_000 });
    if (i % 5 === 2) {
      await client.multi([
        { type: OpCode.create, request: { path: `/app/m${i}`, data: Buffer.from("m"), acl: open, flags: 0 } },
        { type: OpCode.setData, request: { path: "/app", data: Buffer.from(`round ${i}`), version: -1 } },
        { type: OpCode.check, request: { path: "/app", version: -1 } },
      ]);
      await client
        .multi([
          { type: OpCode.create, request: { path: `/app/never${i}`, data: null, acl: open, flags: 0 } },
          { type: OpCode.delete, request: { path: "/app/missing", version: -1 } },
        ])
        .catch(() => undefined);
    }
    if (i % 7 === 4 && i % 3 !== 0) {
      await client.setACL(`/app/n${i}`, [
        { perms: 1, id: { scheme: "world", id: "anyone" } },
        { perms: 31, id: { scheme: "digest", id: "alice:bL5Hw5n9uH0QgbZ0y0ssU4uSeuw=" } },
      ]);
    }
  }
  await holder.create("/app/session-owned", "mine", { mode: 1 /* EPHEMERAL */ });
}
