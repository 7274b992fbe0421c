/**
 * An in-process zkts server for tests (like Curator's TestingServer): a free port
 * on 127.0.0.1, a temporary data directory, removed on close.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFromProperties } from "./config.js";
import { type StandaloneServer, startStandalone } from "./standalone.js";

export interface TestingServerOptions {
  /** zoo.cfg keys (and system properties such as jute.maxbuffer) to set. */
  properties?: Record<string, string>;
}

export interface TestingServer extends StandaloneServer {
  /** "127.0.0.1:port", for clients. */
  readonly connectString: string;
  readonly dataDir: string;
}

/** Starts a server on 127.0.0.1 with a fresh data directory. */
export async function startTestingServer(options: TestingServerOptions = {}): Promise<TestingServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "zkts-test-"));
  const properties = new Map<string, string>([
    ["tickTime", "2000"],
    ["dataDir", dataDir],
    ["clientPort", "0"],
    ["clientPortAddress", "127.0.0.1"],
    ["maxClientCnxns", "0"],
    ["4lw.commands.whitelist", "*"],
    ["extendedTypesEnabled", "true"],
    ...Object.entries(options.properties ?? {}),
  ]);
  const standalone = await startStandalone({ config: configFromProperties(properties) });
  return {
    ...standalone,
    connectString: `127.0.0.1:${standalone.port}`,
    dataDir,
    async close() {
      await standalone.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
