/**
 * `zkts snapshot|txnlog|datadir|purge`: tools for data files in ZooKeeper 3.8's
 * formats, written by zkts or by Apache ZooKeeper. Each prints to standard output,
 * reports progress on large files to standard error, and exits 0 when the file is
 * sound, 1 when it is damaged or differs, 2 on bad usage.
 */
import { readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline/promises";
import { OpCode } from "../jute/constants.js";
import type { ACL, StatPersisted } from "../jute/records.js";
import type { Txn } from "../jute/txn.js";
import { DataDirectory, readSnapshotBytes, StartupError, truncateFile } from "../storage/data-directory.js";
import { listZxidFiles } from "../storage/files.js";
import { readSnapshot, type SnapshotNode } from "../storage/snapshot-format.js";
import {
  CorruptionError,
  LogCorruptionError,
  type LogEntry,
  parseTxnLog,
} from "../storage/txn-log-format.js";

export const storageUsage = `  zkts snapshot dump|json|summary FILE      print a snapshot (nodes, as JSON, or children and bytes per subtree)
  zkts snapshot compare FILE_A FILE_B       compare two snapshots node by node
  zkts txnlog dump FILE                     print a txn log, one txn a line
  zkts txnlog repair FILE [--yes]           truncate a damaged log at its first bad record
  zkts datadir verify DATADIR [DATALOGDIR]  check snapshots, logs, zxid continuity and digests
  zkts purge DATADIR [DATALOGDIR] [-n N]    keep the N newest snapshots (default 3) and the logs they need
`;

class UsageError extends Error {}

const progressEveryNodes = 100_000;
const opNames = new Map<number, string>(Object.entries(OpCode).map(([name, code]) => [code, name]));

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

function printable(data: Buffer | null): string {
  if (data === null) return "null";
  const text = data.toString("utf8");
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `base64:${data.toString("base64")}`;
}

function aclText(acl: readonly ACL[]): string {
  return `[${acl.map((entry) => `${entry.id.scheme}:${entry.id.id}:${entry.perms}`).join(",")}]`;
}

/** One txn in a line: what it did, as TxnLogToolkit prints it, more readably. */
export function describeTxn(txn: Txn): string {
  switch (txn.type) {
    case OpCode.create:
    case OpCode.create2:
      return `${txn.txn.path} data=${printable(txn.txn.data)} acl=${aclText(txn.txn.acl)} ephemeral=${txn.txn.ephemeral} parentCVersion=${txn.txn.parentCVersion}`;
    case OpCode.createContainer:
      return `${txn.txn.path} data=${printable(txn.txn.data)} acl=${aclText(txn.txn.acl)} parentCVersion=${txn.txn.parentCVersion}`;
    case OpCode.createTTL:
      return `${txn.txn.path} data=${printable(txn.txn.data)} acl=${aclText(txn.txn.acl)} parentCVersion=${txn.txn.parentCVersion} ttl=${txn.txn.ttl}`;
    case OpCode.delete:
    case OpCode.deleteContainer:
      return txn.txn.path;
    case OpCode.setData:
      return `${txn.txn.path} data=${printable(txn.txn.data)} version=${txn.txn.version}`;
    case OpCode.setACL:
      return `${txn.txn.path} acl=${aclText(txn.txn.acl)} version=${txn.txn.version}`;
    case OpCode.check:
      return `${txn.txn.path} version=${txn.txn.version}`;
    case OpCode.createSession:
      return `timeout=${txn.txn.timeOut}`;
    case OpCode.closeSession:
      return `ephemerals=[${(txn.txn?.paths2Delete ?? []).join(",")}]`;
    case OpCode.error:
      return `err=${txn.txn.err}`;
    case OpCode.multi:
      return `[${txn.txns.map((inner) => `${opNames.get(inner.type) ?? inner.type} ${describeTxn(inner)}`).join("; ")}]`;
    default:
      return "";
  }
}

function entryLine(entry: LogEntry): string {
  const { header } = entry;
  const time = new Date(Number(header.time)).toISOString();
  const digest = entry.digest === null ? "" : ` digest=${entry.digest.treeDigest}`;
  return `${time} session ${hex(header.clientId)} cxid ${hex(BigInt(header.cxid))} zxid ${hex(header.zxid)} ${opNames.get(header.type) ?? header.type} ${describeTxn(entry.txn)}${digest}`;
}

async function txnlogDump(file: string, out: NodeJS.WritableStream): Promise<number> {
  const bytes = await readFile(file);
  try {
    const parsed = parseTxnLog(bytes);
    out.write(`txn log ${file}: format version 2, dbid ${parsed.dbid}\n`);
    for (const entry of parsed.entries) out.write(`${entryLine(entry)}\n`);
    out.write(
      `${parsed.entries.length} txns${parsed.tornTail ? `, then a torn record at offset ${parsed.validEnd} (never acknowledged)` : ""}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof LogCorruptionError)) throw error;
    out.write(`corrupt at offset ${error.offset}: ${error.message}\n`);
    return 1;
  }
}

/** TxnLogToolkit -r: cut the log at its first bad record, after asking. */
async function txnlogRepair(file: string, yes: boolean, out: NodeJS.WritableStream): Promise<number> {
  const bytes = await readFile(file);
  let offset: number;
  let lastGood: bigint | null;
  try {
    const parsed = parseTxnLog(bytes);
    if (!parsed.tornTail) {
      out.write(`${file}: no damage found (${parsed.entries.length} txns)\n`);
      return 0;
    }
    offset = parsed.validEnd;
    lastGood = parsed.entries[parsed.entries.length - 1]?.header.zxid ?? null;
  } catch (error) {
    if (!(error instanceof LogCorruptionError)) throw error;
    offset = error.offset;
    lastGood = error.lastGoodZxid;
  }
  out.write(
    `${file}: first bad record at offset ${offset}${lastGood === null ? "" : `, after zxid ${hex(lastGood)}`}; ` +
      `truncating discards ${bytes.length - offset} bytes from there on.\n`,
  );
  if (!yes) {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await prompt.question("Truncate? [y/N] ");
    prompt.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      out.write("left unchanged\n");
      return 1;
    }
  }
  await truncateFile(file, offset);
  out.write(`truncated ${file} at offset ${offset}\n`);
  return 0;
}

interface LoadedSnapshot {
  nodes: Map<string, SnapshotNode>;
  acls: Map<bigint, ACL[]>;
  sessions: [bigint, number][];
}

async function loadSnapshotFile(file: string): Promise<LoadedSnapshot> {
  const bytes = await readSnapshotBytes(file);
  const nodes = new Map<string, SnapshotNode>();
  const acls = new Map<bigint, ACL[]>();
  let sessions: [bigint, number][] = [];
  readSnapshot(bytes, {
    sessions: (list) => {
      sessions = list;
    },
    acls: (list) => {
      for (const [index, acl] of list) acls.set(index, acl);
    },
    node: (node) => {
      nodes.set(node.path === "" ? "/" : node.path, node);
      if (nodes.size % progressEveryNodes === 0) process.stderr.write(`... ${nodes.size} nodes read\r`);
    },
  });
  if (nodes.size >= progressEveryNodes) process.stderr.write("\n");
  return { nodes, acls, sessions };
}

function statText(stat: StatPersisted): string {
  return `czxid=${hex(stat.czxid)} mzxid=${hex(stat.mzxid)} pzxid=${hex(stat.pzxid)} ctime=${stat.ctime} mtime=${stat.mtime} version=${stat.version} cversion=${stat.cversion} aversion=${stat.aversion} ephemeralOwner=${hex(stat.ephemeralOwner)}`;
}

async function snapshotDump(file: string, mode: "dump" | "json" | "summary", out: NodeJS.WritableStream) {
  const bytes = await readSnapshotBytes(file);
  const acls = new Map<bigint, ACL[]>();
  const aclOf = (index: bigint) =>
    index === -1n ? [{ perms: 31, id: { scheme: "world", id: "anyone" } }] : (acls.get(index) ?? []);
  const subtrees = new Map<string, { nodes: number; bytes: number }>();
  let first = true;
  let count = 0;
  if (mode === "json") out.write('{"nodes":[\n');
  const summary = readSnapshot(bytes, {
    sessions: (sessions) => {
      if (mode === "dump") {
        out.write(`sessions (${sessions.length}):\n`);
        for (const [id, timeout] of sessions) out.write(`  ${hex(id)} timeout ${timeout}\n`);
      }
    },
    acls: (list) => {
      for (const [index, acl] of list) acls.set(index, acl);
    },
    node: (node) => {
      count++;
      if (count % progressEveryNodes === 0) process.stderr.write(`... ${count} nodes\r`);
      const path = node.path === "" ? "/" : node.path;
      if (mode === "dump") {
        out.write(
          `${path}\n  ${statText(node.stat)}\n  acl=${aclText(aclOf(node.aclIndex))} data=${printable(node.data)}\n`,
        );
      } else if (mode === "json") {
        const record = {
          path,
          data: node.data?.toString("base64") ?? null,
          acl: aclOf(node.aclIndex),
          stat: Object.fromEntries(
            Object.entries(node.stat).map(([key, value]) => [
              key,
              typeof value === "bigint" ? value.toString() : value,
            ]),
          ),
        };
        out.write(`${first ? "" : ",\n"}${JSON.stringify(record)}`);
        first = false;
      } else {
        // Children and bytes per top-level subtree (the first path component).
        const top = path === "/" ? "/" : `/${path.split("/")[1]}`;
        const entry = subtrees.get(top) ?? { nodes: 0, bytes: 0 };
        entry.nodes++;
        entry.bytes += node.data?.length ?? 0;
        subtrees.set(top, entry);
      }
    },
  });
  if (count >= progressEveryNodes) process.stderr.write("\n");
  const digest = summary.digest === null ? "none" : `${summary.digest.digest} at ${hex(summary.digest.zxid)}`;
  if (mode === "json") {
    out.write(
      `\n],"sessions":${JSON.stringify(summary.sessions.map(([id, timeout]) => ({ id: hex(id), timeout })))},"digest":${JSON.stringify(digest)}}\n`,
    );
  } else if (mode === "summary") {
    out.write(`subtree\tnodes\tdata bytes\n`);
    for (const [path, entry] of [...subtrees].sort(([a], [b]) => a.localeCompare(b))) {
      out.write(`${path}\t${entry.nodes}\t${entry.bytes}\n`);
    }
    out.write(
      `total\t${summary.nodeCount}\t${[...subtrees.values()].reduce((sum, e) => sum + e.bytes, 0)}\n`,
    );
    out.write(`sessions ${summary.sessions.length}, ACL lists ${summary.acls.length}, digest ${digest}\n`);
  } else if (mode === "dump") {
    out.write(`${summary.nodeCount} nodes, ${summary.sessions.length} sessions, digest ${digest}\n`);
  }
  return 0;
}

async function snapshotCompare(a: string, b: string, out: NodeJS.WritableStream): Promise<number> {
  const [left, right] = await Promise.all([loadSnapshotFile(a), loadSnapshotFile(b)]);
  const aclText2 = (snap: LoadedSnapshot, index: bigint) =>
    index === -1n ? "world:anyone:31" : aclText(snap.acls.get(index) ?? []);
  let differences = 0;
  const report = (line: string) => {
    differences++;
    if (differences <= 100) out.write(`${line}\n`);
  };
  for (const [path, node] of left.nodes) {
    const other = right.nodes.get(path);
    if (other === undefined) {
      report(`only in A: ${path}`);
      continue;
    }
    if (!(node.data ?? Buffer.alloc(0)).equals(other.data ?? Buffer.alloc(0)))
      report(`data differs: ${path}`);
    if (statText(node.stat) !== statText(other.stat))
      report(`stat differs: ${path}\n  A ${statText(node.stat)}\n  B ${statText(other.stat)}`);
    if (aclText2(left, node.aclIndex) !== aclText2(right, other.aclIndex)) report(`ACL differs: ${path}`);
  }
  for (const path of right.nodes.keys()) if (!left.nodes.has(path)) report(`only in B: ${path}`);
  const sessionsA = new Map(left.sessions);
  const sessionsB = new Map(right.sessions);
  for (const [id, timeout] of sessionsA)
    if (sessionsB.get(id) !== timeout) report(`session ${hex(id)} differs or is only in A`);
  for (const id of sessionsB.keys()) if (!sessionsA.has(id)) report(`session ${hex(id)} only in B`);
  out.write(
    differences === 0
      ? `same: ${left.nodes.size} nodes, ${left.sessions.length} sessions\n`
      : `${differences} differences\n`,
  );
  return differences === 0 ? 0 : 1;
}

/** Checks a data directory without changing it: every snapshot, every log, continuity, digests. */
async function datadirVerify(
  dataDir: string,
  dataLogDir: string,
  out: NodeJS.WritableStream,
): Promise<number> {
  const warnings: string[] = [];
  const directory = await DataDirectory.inspect(dataDir, dataLogDir, (message) => warnings.push(message));
  let problems = 0;
  for (const snapshot of await listZxidFiles(directory.snapDir, "snapshot")) {
    try {
      const loaded = await loadSnapshotFile(`${directory.snapDir}/${snapshot.name}`);
      out.write(`ok   ${snapshot.name}: ${loaded.nodes.size} nodes, ${loaded.sessions.length} sessions\n`);
    } catch (error) {
      if (!(error instanceof CorruptionError || error instanceof StartupError)) throw error;
      problems++;
      out.write(
        `BAD  ${snapshot.name}: ${error.message} (offset ${(error as CorruptionError).offset ?? 0})\n`,
      );
    }
  }
  for (const log of await listZxidFiles(directory.logDir, "log")) {
    const path = `${directory.logDir}/${log.name}`;
    const { size } = await stat(path);
    if (size > 64 * 1024 * 1024) process.stderr.write(`... reading ${log.name} (${size} bytes)\n`);
    try {
      const parsed = parseTxnLog(await readFile(path));
      const first = parsed.entries[0]?.header.zxid;
      const last = parsed.entries[parsed.entries.length - 1]?.header.zxid;
      out.write(
        `ok   ${log.name}: ${parsed.entries.length} txns${first === undefined ? "" : ` ${hex(first)}..${hex(last!)}`}${parsed.tornTail ? `, torn tail at ${parsed.validEnd}` : ""}\n`,
      );
    } catch (error) {
      if (!(error instanceof LogCorruptionError)) throw error;
      problems++;
      out.write(`BAD  ${log.name}: ${error.message} at offset ${error.offset}\n`);
    }
  }
  try {
    const restored = await directory.restore({ extendedTypesEnabled: true }, true);
    out.write(
      `restore: ${restored.snapshotFile ?? "no snapshot"} + ${restored.txnsReplayed} txns -> zxid ${hex(restored.tree.lastProcessedZxid)}, ` +
        `${restored.tree.nodeCount} nodes, digest ${restored.tree.treeDigest}, ${restored.digestMismatches} digest mismatches\n`,
    );
    if (restored.digestMismatches > 0) problems++;
  } catch (error) {
    if (!(error instanceof StartupError || error instanceof CorruptionError)) throw error;
    problems++;
    out.write(`restore fails: ${error.message}\n`);
  }
  for (const warning of warnings) out.write(`note: ${warning}\n`);
  out.write(problems === 0 ? "data directory is sound\n" : `${problems} problems\n`);
  return problems === 0 ? 0 : 1;
}

async function purge(args: string[], out: NodeJS.WritableStream): Promise<number> {
  let retain = 3;
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-n") retain = Number(args[++i]);
    else dirs.push(args[i]!);
  }
  if (dirs.length === 0 || !Number.isInteger(retain) || retain < 3) {
    throw new UsageError("zkts purge DATADIR [DATALOGDIR] [-n N], N at least 3");
  }
  const directory = await DataDirectory.inspect(dirs[0]!, dirs[1] ?? dirs[0]!, () => {});
  const deleted = await directory.purge(retain);
  out.write(deleted.length === 0 ? "nothing to purge\n" : `deleted ${deleted.join(", ")}\n`);
  return 0;
}

/** Runs one storage tool; returns the exit status. */
export async function runStorageTool(command: string, args: string[]): Promise<number> {
  const out = process.stdout;
  try {
    const [sub, ...rest] = args;
    const need = (count: number) => {
      if (rest.length < count) throw new UsageError(storageUsage);
    };
    if (command === "snapshot" && (sub === "dump" || sub === "json" || sub === "summary")) {
      need(1);
      return await snapshotDump(rest[0]!, sub, out);
    }
    if (command === "snapshot" && sub === "compare") {
      need(2);
      return await snapshotCompare(rest[0]!, rest[1]!, out);
    }
    if (command === "txnlog" && sub === "dump") {
      need(1);
      return await txnlogDump(rest[0]!, out);
    }
    if (command === "txnlog" && sub === "repair") {
      need(1);
      return await txnlogRepair(rest.find((arg) => arg !== "--yes")!, rest.includes("--yes"), out);
    }
    if (command === "datadir" && sub === "verify") {
      need(1);
      return await datadirVerify(rest[0]!, rest[1] ?? rest[0]!, out);
    }
    if (command === "purge") return await purge(args, out);
    throw new UsageError(storageUsage);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`usage:\n${error.message}`);
      return 2;
    }
    if (error instanceof CorruptionError) {
      process.stderr.write(`zkts: damaged file: ${error.message} at offset ${error.offset}\n`);
      return 1;
    }
    throw error;
  }
}
