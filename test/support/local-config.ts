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

/** mulberry32: a small seeded generator, so a failing seed replays the same run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
