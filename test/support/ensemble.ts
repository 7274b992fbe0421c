/**
 * Ensembles of real processes on 127.0.0.1 for tests: each member is `zkts server` or
 * Apache ZooKeeper 3.8's QuorumPeerMain (Debian's jars), with one zoo.cfg shape, its own
 * dataDir and myid. Members are started, killed (by PID) and restarted individually.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlags } from "../../src/cli/node-flags.js";
import {
  fourLetterWord,
  freePort,
  requireApacheZooKeeper,
  waitFor,
  zookeeperClasspath,
} from "./apache-zookeeper.js";
import { FaultProxy } from "./fault-proxy.js";
import { exited } from "./processes.js";

const zktsBin = fileURLToPath(new URL("../../../bin/zkts", import.meta.url));

export type MemberKind = "zkts" | "apache";

export interface Member {
  id: bigint;
  kind: MemberKind;
  clientPort: number;
  /** The port it listens on for learners while it leads (not the proxy's). */
  quorumPort: number;
  electionPort: number;
  dataDir: string;
  config: string;
  child: ChildProcess | null;
}

export interface Ensemble {
  members: Member[];
  dir: string;
  /** With `proxied`: the proxy each member dials to reach another, by "from>to". */
  proxies: Map<string, FaultProxy[]>;
}

/** Writes the configs of an ensemble with one member per entry of `kinds` (ids 1, 2, ...). */
export async function layoutEnsemble(
  dir: string,
  kinds: MemberKind[],
  extra: Record<string, string> = {},
  /** Members (by id) that observe instead of voting. */
  observers: readonly bigint[] = [],
  /** Put a fault-injecting proxy on every server-to-server link (quorum and election). */
  proxied = false,
): Promise<Ensemble> {
  // Three ports per member, all different (a port just freed can be handed out again).
  const taken = new Set<number>();
  const distinctPort = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const ports: number[] = [];
  const quorumPorts: number[] = [];
  const electionPorts: number[] = [];
  for (let index = 0; index < kinds.length; index++) {
    quorumPorts.push(await distinctPort());
    electionPorts.push(await distinctPort());
    ports.push(await distinctPort());
  }
  const proxies = new Map<string, FaultProxy[]>();
  /** The server.N lines as member `self` sees them: others behind proxies when proxied. */
  const serverLines = async (self: number): Promise<string[]> => {
    const lines: string[] = [];
    for (let index = 0; index < kinds.length; index++) {
      let quorumPort = quorumPorts[index] ?? 0;
      let electionPort = electionPorts[index] ?? 0;
      if (proxied && index !== self) {
        const quorum = await FaultProxy.start({ targetPort: quorumPort });
        const election = await FaultProxy.start({ targetPort: electionPort });
        proxies.set(`${self + 1}>${index + 1}`, [quorum, election]);
        quorumPort = quorum.port;
        electionPort = election.port;
      }
      const role = observers.includes(BigInt(index + 1)) ? ":observer" : "";
      lines.push(`server.${index + 1}=127.0.0.1:${quorumPort}:${electionPort}${role}`);
    }
    return lines;
  };
  const servers: string[][] = [];
  for (let index = 0; index < kinds.length; index++) servers.push(await serverLines(index));
  const members = kinds.map((kind, index): Member => {
    const id = BigInt(index + 1);
    const dataDir = join(dir, `server${id}`);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "myid"), `${id}\n`);
    const lines = [
      "tickTime=500",
      "initLimit=10",
      "syncLimit=5",
      `dataDir=${dataDir}`,
      `clientPort=${ports[index]}`,
      "clientPortAddress=127.0.0.1",
      "4lw.commands.whitelist=*",
      "admin.enableServer=false",
      "maxClientCnxns=0",
      ...Object.entries(extra).map(([key, value]) => `${key}=${value}`),
      ...(observers.includes(id) ? ["peerType=observer"] : []),
      ...(servers[index] ?? []),
    ];
    const config = join(dir, `server${id}.cfg`);
    writeFileSync(config, `${lines.join("\n")}\n`);
    return {
      id,
      kind,
      clientPort: ports[index] ?? 0,
      quorumPort: quorumPorts[index] ?? 0,
      electionPort: electionPorts[index] ?? 0,
      dataDir,
      config,
      child: null,
    };
  });
  return { members, dir, proxies };
}

/** Cuts `member` off from the other servers: its links hold and lose every byte (blackhole) or are cut (partition). */
export function isolate(
  ensemble: Ensemble,
  member: Member,
  how: "blackhole" | "partition" = "blackhole",
): void {
  for (const [link, proxies] of ensemble.proxies) {
    const [from, to] = link.split(">");
    if (from !== String(member.id) && to !== String(member.id)) continue;
    for (const proxy of proxies) {
      if (how === "blackhole") proxy.blackhole();
      else proxy.partition();
    }
  }
}

export function healNetwork(ensemble: Ensemble): void {
  for (const proxies of ensemble.proxies.values()) for (const proxy of proxies) proxy.heal();
}

export interface StartOptions {
  /** A zkts member's file size limit (prlimit --fsize): its log writes fail beyond it. */
  fileSizeLimitBytes?: number;
  /** An Apache member's -Xmx (256m by default: tests keep small ensembles). */
  javaMaxHeap?: string;
}

/**
 * Starts a member's process (it serves once a quorum has elected a leader). With
 * `fileSizeLimitBytes` a zkts member runs under that RLIMIT_FSIZE (util-linux prlimit, which
 * execs the server, so the PID is the server's): a write past it fails with EFBIG, as a
 * full disk refuses one.
 */
export function startMember(member: Member, options: StartOptions = {}): void {
  const log = openSync(join(member.dataDir, "..", `server${member.id}.log`), "a");
  const limit = options.fileSizeLimitBytes;
  if (member.kind !== "zkts") requireApacheZooKeeper();
  member.child =
    member.kind === "zkts"
      ? limit === undefined
        ? spawn(process.execPath, [...nodeFlags, zktsBin, "server", member.config], {
            stdio: ["ignore", log, log],
          })
        : spawn(
            "prlimit",
            [`--fsize=${limit}`, process.execPath, ...nodeFlags, zktsBin, "server", member.config],
            {
              stdio: ["ignore", log, log],
            },
          )
      : spawn(
          "java",
          [
            `-Xmx${options.javaMaxHeap ?? "256m"}`,
            "-cp",
            zookeeperClasspath,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            member.config,
          ],
          { stdio: ["ignore", log, log] },
        );
}

/**
 * Starts every member, highest id first (an Apache one once its election port listens):
 * with fresh data every quorum that forms then includes the highest id and elects it, as
 * when all start together. Started the other way, two Apache servers waited for in turn
 * could elect the higher of themselves before the last member was up.
 */
export async function startEnsemble(ensemble: Ensemble, options: StartOptions = {}): Promise<void> {
  const ordered = [...ensemble.members].sort((a, b) => (a.id > b.id ? -1 : a.id < b.id ? 1 : 0));
  for (const member of ordered) {
    startMember(member, options);
    if (member.kind === "apache") {
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const socket = net.connect(member.electionPort, "127.0.0.1");
            socket.once("connect", () => {
              socket.destroy();
              resolve(true);
            });
            socket.once("error", () => resolve(false));
          }),
        60_000,
        100,
      );
    }
  }
}

/** Stops a member by its PID with `signal` (SIGKILL: no goodbye) and waits for it to exit. */
export async function stopMember(member: Member, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const child = member.child;
  member.child = null;
  if (child === null) return;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill(signal);
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited(child);
    clearTimeout(killer);
  }
}

/** What `srvr` says the member is: leader, follower, observer, or "" while not serving. */
export async function memberMode(member: Member): Promise<string> {
  const answer = await fourLetterWord("127.0.0.1", member.clientPort, "srvr", 1_000).catch(() => "");
  return /Mode: (\w+)/.exec(answer)?.[1] ?? "";
}

/**
 * Waits until every running member (or every one of `among`) serves with exactly one
 * leader among them; returns the leader.
 */
export async function waitForLeader(
  ensemble: Ensemble,
  timeoutMs = 60_000,
  among?: Member[],
): Promise<Member> {
  let leader: Member | null = null;
  await waitFor(
    async () => {
      const running = (among ?? ensemble.members).filter((member) => member.child !== null);
      const modes = await Promise.all(running.map(memberMode));
      if (modes.some((mode) => mode === "")) return false;
      const leaders = running.filter((_, index) => modes[index] === "leader");
      leader = leaders.length === 1 ? (leaders[0] ?? null) : null;
      return leader !== null;
    },
    timeoutMs,
    100,
  );
  if (leader === null) throw new Error("no leader");
  return leader;
}

/** mntr of a member, as key → value. */
export async function mntr(member: Member): Promise<Map<string, string>> {
  const answer = await fourLetterWord("127.0.0.1", member.clientPort, "mntr", 2_000);
  return new Map(
    answer
      .split("\n")
      .map((line) => line.split("\t"))
      .filter((parts): parts is [string, string] => parts.length === 2)
      .map(([key, value]) => [key, value.trim()]),
  );
}

export async function stopEnsemble(ensemble: Ensemble): Promise<void> {
  await Promise.all(ensemble.members.map((member) => stopMember(member)));
  await Promise.all([...ensemble.proxies.values()].flat().map((proxy) => proxy.close()));
}

/** The last lines each member logged, for a failure message. */
export function ensembleLogTails(ensemble: Ensemble, lines = 25): string {
  return ensemble.members
    .map((member) => {
      const path = join(ensemble.dir, `server${member.id}.log`);
      const tail = existsSync(path)
        ? readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
        : "(no log)";
      return `--- server ${member.id} (${member.kind})\n${tail}`;
    })
    .join("\n");
}

/** Runs `body`; if it fails, the error carries the members' log tails. */
export async function withEnsembleLogs<T>(ensemble: Ensemble, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n${ensembleLogTails(ensemble)}`;
    throw error;
  }
}
