/** The `zkts` command as a user runs it: `zkts server` from a zoo.cfg, `zkts shell` on standard input. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { fourLetterWord, freePort, waitFor } from "../support/apache-zookeeper.js";
import { runProcess } from "../support/processes.js";

const zkts = fileURLToPath(new URL("../../../bin/zkts", import.meta.url));

function run(args: string[], input: string) {
  return runProcess(zkts, args, input, 30_000);
}

describe("the zkts command", () => {
  let dir: string;
  let port: number;
  let server: ReturnType<typeof spawn>;
  let serverLog = "";
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "zkts-cli-"));
    port = await freePort();
    writeFileSync(
      join(dir, "zoo.cfg"),
      [
        `tickTime=2000`,
        `dataDir=${join(dir, "data")}`,
        `clientPort=${port}`,
        "clientPortAddress=127.0.0.1",
        "4lw.commands.whitelist=srvr,ruok,mntr",
        "noSuchKey=1",
        "",
      ].join("\n"),
    );
    server = spawn(zkts, ["server", join(dir, "zoo.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
    server.stdout?.on("data", (chunk: Buffer) => {
      serverLog += chunk.toString();
    });
    await waitFor(
      async () => (await fourLetterWord("127.0.0.1", port, "ruok").catch(() => "")) === "imok",
      20_000,
    );
  });
  after(async () => {
    const exited = new Promise((resolve) => server.once("close", resolve));
    server.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves from zoo.cfg, warns about unknown keys and honours the 4lw whitelist", async () => {
    assert.match(serverLog, /unknown key noSuchKey/);
    const srvr = await fourLetterWord("127.0.0.1", port, "srvr");
    assert.match(srvr, /Zookeeper version: 3\.8\.\d+-zkts/);
    assert.match(srvr, /Mode: standalone/);
    assert.match(await fourLetterWord("127.0.0.1", port, "mntr"), /zk_znode_count\t4/);
    assert.equal(
      await fourLetterWord("127.0.0.1", port, "dump"),
      "dump is not executed because it is not in the whitelist.\n",
    );
  });

  it("runs zkCli commands from standard input", async () => {
    const { stdout, stderr, code } = await run(
      ["shell", "-server", `127.0.0.1:${port}`],
      [
        "create /shell hello",
        "create -s /shell/n- x",
        "ls /shell",
        "get /shell",
        "set /shell bye",
        "get -s /shell",
        "get /nope",
        "deleteall /shell",
        "ls /",
        "quit",
        "",
      ].join("\n"),
    );
    assert.equal(code, 0);
    assert.match(stdout, /Created \/shell\n/);
    assert.match(stdout, /Created \/shell\/n-0000000000/);
    assert.match(stdout, /\[n-0000000000\]/);
    assert.match(stdout, /hello\n/);
    assert.match(stdout, /bye\ncZxid = 0x[0-9a-f]+\n/);
    assert.match(stdout, /dataVersion = 1/);
    assert.match(stdout, /\[zookeeper\]/);
    assert.match(stderr, /Node does not exist: \/nope/);
  });

  it("runs one command given on the command line", async () => {
    const { stdout, code } = await run(["shell", "-server", `127.0.0.1:${port}`, "ls", "/"], "");
    assert.equal(code, 0);
    assert.match(stdout, /\[zookeeper\]/);
  });
});

describe("the zkts command without a server to reach", () => {
  // A port that accepts connections and never answers: the handshake cannot complete.
  let silent: Server;
  let port: number;
  before(async () => {
    silent = createServer((socket) => socket.resume());
    port = await new Promise<number>((resolve) =>
      silent.listen(0, "127.0.0.1", () => resolve((silent.address() as AddressInfo).port)),
    );
  });
  after(async () => {
    await new Promise((resolve) => silent.close(resolve));
  });

  it("shell fails with status 1 and says why once its -timeout has passed", async () => {
    const { stderr, code } = await run(
      ["shell", "-server", `127.0.0.1:${port}`, "-timeout", "300", "ls", "/"],
      "",
    );
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`could not connect to 127\\.0\\.0\\.1:${port}: CONNECTIONLOSS`));
  });

  it("prints usage for server --help and bench --help instead of acting on them", async () => {
    const server = await run(["server", "--help"], "");
    assert.equal(server.code, 0);
    assert.match(server.stdout, /zkts server \[zoo\.cfg\]/);
    const bench = await run(["bench", "--help"], "");
    assert.equal(bench.code, 0);
    assert.match(bench.stdout, /zkts bench --servers/);
  });

  it("server refuses a zoo.cfg that does not exist", async () => {
    const { stderr, code } = await run(["server", "/no/such/zoo.cfg"], "");
    assert.equal(code, 2);
    assert.match(stderr, /no such file \/no\/such\/zoo\.cfg/);
  });
});
