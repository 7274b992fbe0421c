/**
 * The ensemble as zoo.cfg describes it (QuorumPeerConfig, QuorumServer, QuorumMaj):
 * `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]`
 * lines, the `myid` file in dataDir, and the majority rule over participants. Pure,
 * except `readMyId`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type LearnerType = "participant" | "observer";

export interface QuorumServer {
  id: bigint;
  host: string;
  quorumPort: number;
  electionPort: number;
  type: LearnerType;
  /** The client address from the `;[host:]port` part, when given. */
  clientHost: string | null;
  clientPort: number | null;
}

export class QuorumConfigError extends Error {
  override name = "QuorumConfigError";
}

function port(text: string, line: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new QuorumConfigError(`${line}: ${text} is not a port`);
  }
  return value;
}

/** QuorumServer's parser for the value of one `server.N` line. */
export function parseServerLine(id: bigint, value: string): QuorumServer {
  const line = `server.${id}=${value}`;
  const [serverPart = "", clientPart] = value.split(";");
  const parts = serverPart.trim().split(":");
  if (parts.length < 3 || parts.length > 4) {
    throw new QuorumConfigError(`${line}: expected host:quorumPort:electionPort[:participant|:observer]`);
  }
  const type = (parts[3] ?? "participant").toLowerCase();
  if (type !== "participant" && type !== "observer") {
    throw new QuorumConfigError(`${line}: unknown learner type ${parts[3]}`);
  }
  let clientHost: string | null = null;
  let clientPort: number | null = null;
  if (clientPart !== undefined && clientPart.trim() !== "") {
    const client = clientPart.trim().split(":");
    if (client.length === 1) clientPort = port(client[0]!, line);
    else {
      clientHost = client[0]!;
      clientPort = port(client[1]!, line);
    }
  }
  return {
    id,
    host: parts[0]!,
    quorumPort: port(parts[1]!, line),
    electionPort: port(parts[2]!, line),
    type,
    clientHost,
    clientPort,
  };
}

/** Every `server.N` entry of a zoo.cfg, by id. */
export function parseServers(properties: ReadonlyMap<string, string>): Map<bigint, QuorumServer> {
  const servers = new Map<bigint, QuorumServer>();
  for (const [key, value] of properties) {
    const match = /^server\.(\d+)$/.exec(key);
    if (match === null) continue;
    const id = BigInt(match[1]!);
    servers.set(id, parseServerLine(id, value));
  }
  const used = new Map<string, bigint>();
  for (const server of servers.values()) {
    for (const address of [`${server.host}:${server.quorumPort}`, `${server.host}:${server.electionPort}`]) {
      const other = used.get(address);
      if (other !== undefined) {
        throw new QuorumConfigError(`server.${server.id} and server.${other} both use ${address}`);
      }
      used.set(address, server.id);
    }
  }
  return servers;
}

/** The `myid` file: the server's id as a decimal number. */
export function readMyId(dataDir: string): bigint {
  const path = join(dataDir, "myid");
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch {
    throw new QuorumConfigError(`${path} is missing: each server of an ensemble needs its id there`);
  }
  if (!/^\d+$/.test(text)) throw new QuorumConfigError(`${path} holds "${text}", not a server id`);
  return BigInt(text);
}

/** QuorumMaj: a strict majority of the participants. */
export class MajorityQuorum {
  readonly voters: ReadonlySet<bigint>;

  constructor(
    readonly servers: ReadonlyMap<bigint, QuorumServer>,
    /** The config version (0 for a static zoo.cfg). */
    readonly version = 0n,
  ) {
    this.voters = new Set([...servers.values()].filter((s) => s.type === "participant").map((s) => s.id));
  }

  isVoter(id: bigint): boolean {
    return this.voters.has(id);
  }

  /** containsQuorum: more than half of the voters. */
  containsQuorum(ids: Iterable<bigint>): boolean {
    let count = 0;
    for (const id of ids) if (this.voters.has(id)) count++;
    return count > this.voters.size / 2;
  }

  /** QuorumMaj.toString, which notifications carry as the sender's config. */
  toString(): string {
    const lines = [...this.servers.values()].map((s) => {
      const client = s.clientPort === null ? "" : `;${s.clientHost ?? "0.0.0.0"}:${s.clientPort}`;
      return `server.${s.id}=${s.host}:${s.quorumPort}:${s.electionPort}:${s.type}${client}`;
    });
    return `${lines.join("\n")}${lines.length > 0 ? "\n" : ""}version=${this.version.toString(16)}`;
  }
}
