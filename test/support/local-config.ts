/** Server configs and seeded randomness shared by tests that start in-process servers. */
import { configFromProperties, type ServerConfig } from "../../src/server/config.js";

/** A standalone config on 127.0.0.1, a free port, data in `dataDir`, with `extra` zoo.cfg keys on top. */
export function localServerConfig(dataDir: string, extra: Record<string, string> = {}): ServerConfig {
  return configFromProperties(
    new Map([
      ["dataDir", dataDir],
      ["clientPort", "0"],
      ["clientPortAddress", "127.0.0.1"],
      ...Object.entries(extra),
    ]),
  );
}

export { seededRandom } from "../../src/sim/seeded-random.js";
