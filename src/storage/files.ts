/**
 * Small file-system steps the storage needs to be crash-safe: fsync of a directory
 * (so a created or renamed file survives a power cut) and listing the data files of a
 * version-2 directory.
 */
import { open, readdir } from "node:fs/promises";

/** fsync on a directory: makes the names created or renamed in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The files named `<prefix>.<zxid hex>[...]` in `dir`, by zxid. */
export async function listZxidFiles(dir: string, prefix: string): Promise<{ name: string; zxid: bigint }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: { name: string; zxid: bigint }[] = [];
  for (const name of names) {
    const parts = name.split(".");
    if (parts.length < 2 || parts[0] !== prefix || !/^[0-9a-fA-F]+$/.test(parts[1]!)) continue;
    files.push({ name, zxid: BigInt(`0x${parts[1]}`) });
  }
  return files.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
}
