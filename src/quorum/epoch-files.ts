/**
 * QuorumPeer's `acceptedEpoch` and `currentEpoch` files in dataDir: the epoch as a
 * decimal number, written to a temporary file, fsynced and renamed over the old one
 * (AtomicFileWritingIdiom), the directory fsynced after.
 */
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { syncDirectory } from "../storage/files.js";

export type EpochName = "acceptedEpoch" | "currentEpoch";

/** The epoch in `name`, or null when the file does not exist yet. */
export async function readEpoch(dataDir: string, name: EpochName): Promise<bigint | null> {
  let text: string;
  try {
    text = (await readFile(join(dataDir, name), "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  if (!/^\d+$/.test(text)) throw new Error(`${join(dataDir, name)} holds "${text}", not an epoch`);
  return BigInt(text);
}

export async function writeEpoch(dataDir: string, name: EpochName, epoch: bigint): Promise<void> {
  const temporary = join(dataDir, `${name}.tmp`);
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(`${epoch}`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, join(dataDir, name));
  await syncDirectory(dataDir);
}
