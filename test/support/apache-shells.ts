/**
 * Drives Apache ZooKeeper's own shells through their command input: the Java
 * `zkCli.sh` (Debian `zookeeper`) and the C `cli_mt` (Debian `zookeeper-bin`).
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { runProcess } from "./processes.js";

export const zkCliPath = "/usr/share/zookeeper/bin/zkCli.sh";
export const cliMtPath = "/usr/lib/zookeeper/bin/cli_mt";

/** Runs zkCli.sh with `commands` on standard input; resolves with everything it printed. */
export async function runZkCli(
  connectString: string,
  commands: string[],
  timeoutMs = 60_000,
): Promise<string> {
  const { stdout, stderr } = await runProcess(
    zkCliPath,
    ["-server", connectString],
    `${[...commands, "quit"].join("\n")}\n`,
    timeoutMs,
  );
  return stdout + stderr;
}

/** An interactive cli_mt session: each command waits for its `rc = N` line. */
export class CliMt {
  private output = "";
  private waiters: { pattern: RegExp; from: number; resolve: (text: string) => void }[] = [];
  private readonly child: ChildProcessWithoutNullStreams;

  private constructor(connectString: string) {
    this.child = spawn(cliMtPath, [connectString], { stdio: ["pipe", "pipe", "pipe"] });
    const onData = (chunk: Buffer) => {
      this.output += chunk.toString();
      this.check();
    };
    this.child.stdout.on("data", onData);
    this.child.stderr.on("data", onData);
  }

  /** Starts cli_mt and waits until its session is connected. */
  static async start(connectString: string, timeoutMs = 20_000): Promise<CliMt> {
    const cli = new CliMt(connectString);
    await cli.waitFor(/CONNECTED_STATE/, 0, timeoutMs);
    return cli;
  }

  private check(): void {
    for (const waiter of [...this.waiters]) {
      const text = this.output.slice(waiter.from);
      if (waiter.pattern.test(text)) {
        this.waiters = this.waiters.filter((other) => other !== waiter);
        waiter.resolve(text);
      }
    }
  }

  /** Resolves with the output since `from` once it matches `pattern`. */
  waitFor(pattern: RegExp, from: number, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`cli_mt: no ${pattern} within ${timeoutMs} ms; output:\n${this.output.slice(from)}`),
        );
      }, timeoutMs);
      this.waiters.push({
        pattern,
        from,
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
      });
      this.check();
    });
  }

  /** Sends one command; resolves with its output up to and including the line that matches `until`. */
  async command(line: string, until: RegExp = /rc = -?\d+/, timeoutMs = 10_000): Promise<string> {
    const from = this.output.length;
    this.child.stdin.write(`${line}\n`);
    return this.waitFor(until, from, timeoutMs);
  }

  /** Quits and waits for the process to exit. */
  async quit(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.on("close", () => resolve()));
    this.child.stdin.end("quit\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
