import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { nodeFlags } from "./node-flags.js";

const bin = new URL("../../../bin/zkts", import.meta.url);

describe("node flags", () => {
  it("bin/zkts starts node with exactly nodeFlags", () => {
    const [shebang, launch] = readFileSync(bin, "utf8").split("\n");
    assert.equal(shebang, "#!/bin/sh");
    assert.equal(launch, `":" //; exec node ${nodeFlags.join(" ")} "$0" "$@"`);
  });

  it("bin/zkts runs as a shell script and as node's main module", () => {
    for (const [command, args] of [
      [bin.pathname, ["--help"]],
      [process.execPath, [bin.pathname, "--help"]],
    ] as const) {
      const usage = execFileSync(command, args).toString();
      assert.match(usage, /zkts server/, command);
    }
  });

  it("are V8 options this node accepts", () => {
    // A misspelt V8 flag makes node exit with "bad option".
    const limit = execFileSync(process.execPath, [
      ...nodeFlags,
      "-p",
      "require('node:v8').getHeapStatistics().total_available_size > 0",
    ]);
    assert.equal(limit.toString().trim(), "true");
    const help = execFileSync(process.execPath, ["--v8-options"]).toString();
    for (const flag of nodeFlags) assert.ok(help.includes(flag.slice(0, flag.indexOf("="))), flag);
  });
});
