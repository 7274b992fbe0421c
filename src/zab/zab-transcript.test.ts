import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { InteractionEnv } from "../sim/interaction-env.js";

/**
 * Transcript tests for the ZAB core: each file in testdata/zab is a script of commands,
 * each followed by `----` and the output it must print. ZKTS_REWRITE=1 rewrites the
 * expected output from what the code prints now (then read the diff before committing).
 */
const directory = fileURLToPath(new URL("../../../testdata/zab/", import.meta.url));
const rewrite = process.env.ZKTS_REWRITE === "1";

interface Block {
  comments: string[];
  command: string;
  expected: string;
}

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  let comments: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      comments.push(line);
      continue;
    }
    if (lines[index + 1] !== "----") throw new Error(`line ${index + 1}: "${line}" is not followed by ----`);
    const output: string[] = [];
    index += 2;
    while (index < lines.length && (lines[index] ?? "") !== "") output.push(lines[index++] ?? "");
    blocks.push({ comments, command: line, expected: output.join("\n") });
    comments = [];
  }
  return blocks;
}

function render(blocks: Block[]): string {
  return `${blocks.map((block) => [...block.comments, block.command, "----", block.expected].join("\n")).join("\n\n")}\n`;
}

for (const file of readdirSync(directory)
  .filter((name) => name.endsWith(".txt"))
  .sort()) {
  test(`transcript ${file}`, () => {
    const blocks = parse(readFileSync(directory + file, "utf8"));
    assert.ok(blocks.length > 0, `${file} has no commands`);
    const env = new InteractionEnv();
    const actual = blocks.map((block) => ({ ...block, expected: env.run(block.command) }));
    if (rewrite) {
      writeFileSync(directory + file, render(actual));
      return;
    }
    for (const [index, block] of blocks.entries()) {
      assert.equal(actual[index]?.expected, block.expected, `${file}: output of "${block.command}" differs`);
    }
  });
}
