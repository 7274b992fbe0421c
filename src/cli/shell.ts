/**
 * `zkts shell`: ZooKeeper's zkCli commands on the project's client. Interactive
 * with history and tab completion on a terminal; reads commands line by line from
 * standard input otherwise; or runs the one command given after the options.
 */
import { createInterface, type Interface } from "node:readline";
import {
  type ACL,
  AddWatchMode,
  CreateMode,
  ErrorCode,
  EventType,
  KeeperError,
  type Stat,
  type WatchedEvent,
  WatcherType,
  ZooKeeperClient,
} from "../client/index.js";
import { errorName } from "../jute/constants.js";

const eventNames = new Map<number, string>(Object.entries(EventType).map(([name, value]) => [value, name]));
const permLetters: [string, number][] = [
  ["c", 4],
  ["d", 8],
  ["r", 1],
  ["w", 2],
  ["a", 16],
];

const commandHelp: Record<string, string> = {
  addWatch:
    "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
  addauth: "addauth scheme auth",
  close: "close",
  connect: "connect host:port",
  create: "create [-s] [-e] [-c] [-t ttl] path [data] [acl]",
  delete: "delete [-v version] path",
  deleteall: "deleteall path",
  get: "get [-s] [-w] path",
  getAcl: "getAcl [-s] path",
  getAllChildrenNumber: "getAllChildrenNumber path",
  getEphemerals: "getEphemerals path",
  help: "help",
  ls: "ls [-s] [-w] [-R] path",
  printwatches: "printwatches on|off",
  quit: "quit",
  removewatches: "removewatches path [-c|-d|-a] [-l]",
  set: "set [-s] [-v version] path data",
  setAcl: "setAcl [-s] [-v version] [-R] path acl",
  stat: "stat [-w] path",
  sync: "sync path",
  whoami: "whoami",
};

/** A usage problem with a command line, shown to the user as is. */
class UsageError extends Error {}

function hex(value: bigint): string {
  return `0x${BigInt.asUintN(64, value).toString(16)}`;
}

export function formatStat(stat: Stat): string {
  const date = (ms: bigint) => new Date(Number(ms)).toString().replace(/ \(.*\)$/, "");
  return [
    `cZxid = ${hex(stat.czxid)}`,
    `ctime = ${date(stat.ctime)}`,
    `mZxid = ${hex(stat.mzxid)}`,
    `mtime = ${date(stat.mtime)}`,
    `pZxid = ${hex(stat.pzxid)}`,
    `cversion = ${stat.cversion}`,
    `dataVersion = ${stat.version}`,
    `aclVersion = ${stat.aversion}`,
    `ephemeralOwner = ${hex(stat.ephemeralOwner)}`,
    `dataLength = ${stat.dataLength}`,
    `numChildren = ${stat.numChildren}`,
  ].join("\n");
}

function permString(perms: number): string {
  return permLetters.map(([letter, bit]) => ((perms & bit) !== 0 ? letter : "")).join("");
}

/** zkCli's ACL syntax: scheme:id:perms[,scheme:id:perms...]. */
export function parseACL(text: string): ACL[] {
  return text.split(",").map((entry) => {
    const first = entry.indexOf(":");
    const last = entry.lastIndexOf(":");
    if (first === -1 || last === first)
      throw new UsageError(`${entry} does not have the form scheme:id:perm`);
    let perms = 0;
    for (const letter of entry.slice(last + 1)) {
      const bit = permLetters.find(([name]) => name === letter)?.[1];
      if (bit === undefined) throw new UsageError(`Unknown perm type: ${letter}`);
      perms |= bit;
    }
    return { perms, id: { scheme: entry.slice(0, first), id: entry.slice(first + 1, last) } };
  });
}

/** Splits a command line into words, honouring single and double quotes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let match = pattern.exec(line); match !== null; match = pattern.exec(line)) {
    words.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  return words;
}

function parseOptions(
  words: string[],
  flags: string,
  withValue = "",
): { options: Map<string, string>; args: string[] } {
  const options = new Map<string, string>();
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (/^-[A-Za-z]$/.test(word) && (flags.includes(word[1]!) || withValue.includes(word[1]!))) {
      if (withValue.includes(word[1]!)) {
        const value = words[++i];
        if (value === undefined) throw new UsageError(`option ${word} needs a value`);
        options.set(word[1]!, value);
      } else {
        options.set(word[1]!, "");
      }
    } else {
      args.push(word);
    }
  }
  return { options, args };
}

/** How zkCli words each failure. */
function describeError(error: unknown, path: string | undefined): string {
  if (!(error instanceof KeeperError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case ErrorCode.NONODE:
      return `Node does not exist: ${path}`;
    case ErrorCode.NODEEXISTS:
      return `Node already exists: ${path}`;
    case ErrorCode.NOTEMPTY:
      return `Node not empty: ${path}`;
    case ErrorCode.BADVERSION:
      return `version No is not valid : ${path}`;
    case ErrorCode.NOAUTH:
      return `Insufficient permission : ${path}`;
    case ErrorCode.NOCHILDRENFOREPHEMERALS:
      return `Ephemerals cannot have children: ${path}`;
    case ErrorCode.BADARGUMENTS:
      return `Path must start with / character or is otherwise invalid: ${path}`;
    default:
      return `KeeperErrorCode = ${errorName(error.code)}${path === undefined ? "" : ` for ${path}`}`;
  }
}

export interface ShellIo {
  out(text: string): void;
  err(text: string): void;
}

/** One shell session: a connection and the commands that use it. */
export class Shell {
  private client: ZooKeeperClient | null = null;
  private printWatches = true;
  commandCount = 0;

  constructor(
    private connectString: string,
    private readonly io: ShellIo,
    /** zkCli's -timeout: the session timeout asked for, and how long connecting may take. */
    private readonly timeoutMs = 30_000,
  ) {}

  get connected(): boolean {
    return this.client !== null && this.client.state === "connected";
  }

  get prompt(): string {
    const state = this.client === null ? "CLOSED" : this.client.state.toUpperCase();
    return `[zk: ${this.connectString}(${state}) ${this.commandCount}] `;
  }

  async connect(connectString = this.connectString): Promise<void> {
    await this.client?.close();
    this.connectString = connectString;
    this.client = await ZooKeeperClient.connect(connectString, {
      sessionTimeoutMs: this.timeoutMs,
      connectTimeoutMs: this.timeoutMs,
    });
    this.client.on("state", (state: string) => {
      const keeperState = {
        connecting: "Disconnected",
        closed: "Closed",
        expired: "Expired",
        authFailed: "AuthFailed",
      }[state];
      if (this.printWatches && keeperState !== undefined) {
        this.io.out(`\nWATCHER::\n\nWatchedEvent state:${keeperState} type:None path:null\n`);
      }
    });
  }

  private watcher = (event: WatchedEvent): void => {
    if (!this.printWatches) return;
    const type = eventNames.get(event.type) ?? String(event.type);
    this.io.out(`\nWATCHER::\n\nWatchedEvent state:SyncConnected type:${type} path:${event.path}\n`);
  };

  private requireClient(): ZooKeeperClient {
    if (this.client === null) throw new UsageError("Not connected");
    return this.client;
  }

  /** Runs one command line; returns false when the shell should end. */
  async run(line: string): Promise<boolean> {
    const words = splitWords(line.trim());
    const [command, ...rest] = words;
    if (command === undefined || command.startsWith("#")) return true;
    this.commandCount++;
    let path: string | undefined;
    try {
      path = await this.execute(command, rest);
      if (path === "quit") return false;
    } catch (error) {
      if (error instanceof UsageError) this.io.err(`${error.message}\n`);
      else
        this.io.err(
          `${describeError(
            error,
            rest.find((word) => word.startsWith("/")),
          )}\n`,
        );
    }
    return true;
  }

  private async execute(command: string, words: string[]): Promise<string | undefined> {
    const out = (text: string) => this.io.out(`${text}\n`);
    switch (command) {
      case "quit":
        await this.client?.close();
        this.client = null;
        return "quit";
      case "close":
        await this.client?.close();
        this.client = null;
        return undefined;
      case "connect":
        await this.connect(words[0] ?? this.connectString);
        return undefined;
      case "help":
        out(
          `ZooKeeper -server host:port cmd args\n${Object.values(commandHelp)
            .map((usage) => `\t${usage}`)
            .join("\n")}`,
        );
        return undefined;
      case "printwatches":
        this.printWatches = words[0] !== "off";
        return undefined;
    }
    const client = this.requireClient();
    switch (command) {
      case "ls": {
        const { options, args } = parseOptions(words, "swR");
        const path = this.pathArg(args, command);
        if (options.has("R")) {
          for (const node of await this.walk(path)) out(node);
          return undefined;
        }
        const { children, stat } = await client.getChildren(
          path,
          options.has("w") ? this.watcher : undefined,
        );
        out(`[${[...children].sort().join(", ")}]`);
        if (options.has("s")) out(formatStat(stat));
        return undefined;
      }
      case "get": {
        const { options, args } = parseOptions(words, "sw");
        const path = this.pathArg(args, command);
        const { data, stat } = await client.getData(path, options.has("w") ? this.watcher : undefined);
        out(data === null ? "null" : data.toString("utf8"));
        if (options.has("s")) out(formatStat(stat));
        return undefined;
      }
      case "stat": {
        const { options, args } = parseOptions(words, "w");
        const path = this.pathArg(args, command);
        const stat = await client.exists(path, options.has("w") ? this.watcher : undefined);
        if (stat === null) throw new KeeperError(ErrorCode.NONODE, path);
        out(formatStat(stat));
        return undefined;
      }
      case "set": {
        const { options, args } = parseOptions(words, "s", "v");
        const path = this.pathArg(args, command);
        const stat = await client.setData(path, args[1] ?? "", Number(options.get("v") ?? -1));
        if (options.has("s")) out(formatStat(stat));
        return undefined;
      }
      case "create": {
        const { options, args } = parseOptions(words, "sec", "t");
        const path = this.pathArg(args, command);
        let mode: number = CreateMode.PERSISTENT;
        const sequential = options.has("s");
        if (options.has("c")) mode = CreateMode.CONTAINER;
        else if (options.has("t"))
          mode = sequential ? CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL : CreateMode.PERSISTENT_WITH_TTL;
        else if (options.has("e")) mode = sequential ? CreateMode.EPHEMERAL_SEQUENTIAL : CreateMode.EPHEMERAL;
        else if (sequential) mode = CreateMode.PERSISTENT_SEQUENTIAL;
        const acl = args[2] === undefined ? undefined : parseACL(args[2]);
        const created = await client.create(path, args[1] ?? null, {
          mode,
          ...(acl === undefined ? {} : { acl }),
          ...(options.has("t") ? { ttlMs: Number(options.get("t")) } : {}),
        });
        out(`Created ${created.path}`);
        return undefined;
      }
      case "delete": {
        const { options, args } = parseOptions(words, "", "v");
        await client.delete(this.pathArg(args, command), Number(options.get("v") ?? -1));
        return undefined;
      }
      case "deleteall":
      case "rmr": {
        const path = this.pathArg(words, command);
        const nodes = await this.walk(path);
        for (const node of nodes.reverse()) {
          await client.delete(node).catch((error: unknown) => {
            if (!(error instanceof KeeperError && error.code === ErrorCode.NONODE)) throw error;
          });
        }
        return undefined;
      }
      case "getAcl": {
        const { options, args } = parseOptions(words, "s");
        const { acl, stat } = await client.getACL(this.pathArg(args, command));
        for (const entry of acl) out(`'${entry.id.scheme},'${entry.id.id}\n: ${permString(entry.perms)}`);
        if (options.has("s")) out(formatStat(stat));
        return undefined;
      }
      case "setAcl": {
        const { options, args } = parseOptions(words, "sR", "v");
        const path = this.pathArg(args, command);
        if (args[1] === undefined) throw new UsageError(commandHelp.setAcl!);
        const acl = parseACL(args[1]);
        const targets = options.has("R") ? await this.walk(path) : [path];
        for (const target of targets) {
          const stat = await client.setACL(target, acl, Number(options.get("v") ?? -1));
          if (options.has("s")) out(formatStat(stat));
        }
        return undefined;
      }
      case "addauth": {
        if (words[0] === undefined) throw new UsageError(commandHelp.addauth!);
        await client.addAuth(words[0], words[1] ?? "");
        return undefined;
      }
      case "sync":
        await client.sync(this.pathArg(words, command));
        out(`Sync is OK`);
        return undefined;
      case "addWatch": {
        const { options, args } = parseOptions(words, "", "m");
        const modeName = options.get("m") ?? "PERSISTENT_RECURSIVE";
        const mode = modeName === "PERSISTENT" ? AddWatchMode.PERSISTENT : AddWatchMode.PERSISTENT_RECURSIVE;
        await client.addWatch(this.pathArg(args, command), mode, this.watcher);
        return undefined;
      }
      case "removewatches": {
        const { options, args } = parseOptions(words, "cdal");
        const type = options.has("c")
          ? WatcherType.Children
          : options.has("d")
            ? WatcherType.Data
            : WatcherType.Any;
        await client.removeWatches(this.pathArg(args, command), type);
        return undefined;
      }
      case "getEphemerals":
        out(`[${(await client.getEphemerals(words[0] ?? "/")).sort().join(", ")}]`);
        return undefined;
      case "getAllChildrenNumber":
        out(String(await client.getAllChildrenNumber(this.pathArg(words, command))));
        return undefined;
      case "whoami": {
        out("Auth scheme: User");
        for (const info of await client.whoAmI()) out(`${info.authScheme}: ${info.user}`);
        return undefined;
      }
      default:
        throw new UsageError(`Command not found: Command not found ${command}`);
    }
  }

  private pathArg(args: string[], command: string): string {
    const path = args[0];
    if (path === undefined) throw new UsageError(commandHelp[command] ?? command);
    return path;
  }

  /** The subtree under `path`, parents first (ZKUtil.listSubTreeBFS). */
  private async walk(path: string): Promise<string[]> {
    const client = this.requireClient();
    const nodes = [path];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const { children } = await client.getChildren(node);
      for (const child of [...children].sort()) nodes.push(node === "/" ? `/${child}` : `${node}/${child}`);
    }
    return nodes;
  }

  /** Tab completion: command names first, then znode paths. */
  async complete(line: string): Promise<[string[], string]> {
    const words = line.split(/\s+/);
    const last = words[words.length - 1] ?? "";
    if (words.length <= 1) return [Object.keys(commandHelp).filter((name) => name.startsWith(last)), last];
    if (!last.startsWith("/") || this.client === null) return [[], last];
    const slash = last.lastIndexOf("/");
    const parent = slash === 0 ? "/" : last.slice(0, slash);
    try {
      const { children } = await this.client.getChildren(parent);
      const prefix = parent === "/" ? "/" : `${parent}/`;
      return [
        children
          .map((child) => prefix + child)
          .filter((candidate) => candidate.startsWith(last))
          .sort(),
        last,
      ];
    } catch {
      return [[], last];
    }
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = null;
  }
}

/** Entry point for `zkts shell [-server host:port] [command args...]`. */
export async function runShell(args: string[]): Promise<number> {
  let connectString = "localhost:2181";
  let timeoutMs = 30_000;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-server") connectString = args[++i] ?? connectString;
    else if (args[i] === "-timeout") {
      timeoutMs = Number(args[++i]);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
        process.stderr.write("-timeout must be a positive number of milliseconds\n");
        return 2;
      }
    } else rest.push(args[i]!);
  }
  const io: ShellIo = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
  const shell = new Shell(connectString, io, timeoutMs);
  io.out(`Connecting to ${connectString}\n`);
  try {
    await shell.connect();
  } catch (error) {
    io.err(
      `could not connect to ${connectString}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  if (rest.length > 0) {
    await shell.run(rest.join(" "));
    await shell.close();
    return 0;
  }
  const interactive = process.stdin.isTTY === true;
  const readline: Interface = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    historySize: 1000,
    completer: (line: string, callback: (error: Error | null, result: [string[], string]) => void) => {
      shell.complete(line).then(
        (result) => callback(null, result),
        () => callback(null, [[], line]),
      );
    },
  });
  if (interactive) io.out("Welcome to zkts!\n");
  const ask = () => {
    if (interactive) {
      readline.setPrompt(shell.prompt);
      readline.prompt();
    }
  };
  ask();
  for await (const line of readline) {
    if (!(await shell.run(line))) break;
    ask();
  }
  readline.close();
  await shell.close();
  return 0;
}
