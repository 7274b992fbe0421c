/** A zkts server in its own process, for tests that must kill it (SIGKILL) or watch it refuse to start. */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeFlags } from "../../src/cli/node-flags.js";
import { fourLetterWord, freePort } from "./apache-zookeeper.js";
import { exited } from "./processes.js";

const zktsBin = fileURLToPath(new URL("../../../bin/zkts", import.meta.url));

export interface ZktsProcess {
  port: number;
  pid: number;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends `signal` and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit status (null if a signal ended it) once the process ends by itself. */
  exit(): Promise<number | null>;
}

/** The outcome of starting a server: serving, or exited with its output. */
export type StartOutcome =
  | { serving: true; server: ZktsProcess }
  | { serving: false; code: number | null; output: string };

/**
 * Starts `zkts server` on a free port with `properties` as -D flags; resolves once it serves or
 * exits. With `fileSizeLimitBytes` it runs under that RLIMIT_FSIZE (util-linux prlimit execs the
 * server, so the PID is the server's): a write past it fails with EFBIG, as a full disk refuses one.
 */
export async function startZktsProcess(
  properties: Record<string, string>,
  timeoutMs = 30_000,
  options: { fileSizeLimitBytes?: number } = {},
): Promise<StartOutcome> {
  const port = await freePort();
  const flags = Object.entries({
    clientPort: String(port),
    clientPortAddress: "127.0.0.1",
    ...properties,
  }).map(([key, value]) => `-D${key}=${value}`);
  const command = [process.execPath, ...nodeFlags, zktsBin, "server", ...flags];
  if (options.fileSizeLimitBytes !== undefined)
    command.unshift("prlimit", `--fsize=${options.fileSizeLimitBytes}`);
  const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const server: ZktsProcess = {
    port,
    pid: child.pid ?? 0,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited(child);
    },
    async exit() {
      await exited(child);
      return child.exitCode;
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited(child);
      return { serving: false, code: child.exitCode, output };
    }
    const answer = await fourLetterWord("127.0.0.1", port, "srvr", 1_000).catch(() => "");
    if (answer.includes("Mode:")) return { serving: true, server };
    if (Date.now() > deadline) {
      await server.kill("SIGKILL");
      throw new Error(`zkts did not serve within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts a server that must serve. */
export async function startServing(properties: Record<string, string>): Promise<ZktsProcess> {
  const outcome = await startZktsProcess(properties);
  if (!outcome.serving) throw new Error(`zkts exited with ${outcome.code}:\n${outcome.output}`);
  return outcome.server;
}
