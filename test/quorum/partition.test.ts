/**
 * Network partitions between the servers of a zkts ensemble, through fault-injecting
 * proxies on every server-to-server link (quorum and election ports). The isolated leader
 * loses its quorum and stops serving; the majority elects a new leader and keeps taking
 * writes; after healing, the old leader rejoins, and every acknowledged write is on every
 * server with the trees equal node by node.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fourLetterWord, waitFor } from "../support/apache-zookeeper.js";
import {
  healNetwork,
  isolate,
  layoutEnsemble,
  type Member,
  startEnsemble,
  stopEnsemble,
  waitForLeader,
  withEnsembleLogs,
} from "../support/ensemble.js";
import { connectNzk, type NzkClient, nzkClose, nzkCreate } from "../support/nzk.js";
import { startWriters, verifyAgreement } from "./ensemble-checks.js";

describe("partitions between ensemble servers", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "zkts-partition-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const how of ["blackhole", "partition"] as const) {
    it(`the leader cut off (${how}) stops serving, the majority goes on, and nothing acknowledged is lost after healing`, async () => {
      const ensemble = await layoutEnsemble(join(dir, how), ["zkts", "zkts", "zkts"], {}, [], true);
      const clients: NzkClient[] = [];
      await withEnsembleLogs(ensemble, async () => {
        try {
          await startEnsemble(ensemble);
          const leader = await waitForLeader(ensemble);
          const setup = await connectNzk(`127.0.0.1:${leader.clientPort}`);
          await nzkCreate(setup, "/w", null);
          await nzkClose(setup);
          const majority = ensemble.members.filter((member) => member !== leader) as Member[];
          for (const member of majority)
            clients.push(await connectNzk(`127.0.0.1:${member.clientPort}`, 20_000));
          const load = startWriters(
            clients,
            majority.map((member) => `m${member.id}`),
          );
          const { acknowledged } = load;
          await waitFor(async () => acknowledged.size >= 30, 30_000, 20);
          isolate(ensemble, leader, how);
          // The majority elects a leader of its own; the old one, alone, stops serving.
          const next = await waitForLeader(ensemble, 60_000, majority);
          assert.notEqual(next.id, leader.id);
          await waitFor(
            async () =>
              (await fourLetterWord("127.0.0.1", leader.clientPort, "srvr").catch(() => "")).includes(
                "not currently serving",
              ),
            60_000,
            50,
          );
          const during = acknowledged.size;
          await waitFor(async () => acknowledged.size >= during + 30, 60_000, 20);
          healNetwork(ensemble);
          await waitForLeader(ensemble);
          await waitFor(async () => acknowledged.size >= during + 60, 60_000, 20);
          await load.stop();
          await verifyAgreement(ensemble, acknowledged);
        } finally {
          await Promise.all(clients.map((client) => nzkClose(client).catch(() => {})));
          await stopEnsemble(ensemble);
        }
      });
    });
  }
});
