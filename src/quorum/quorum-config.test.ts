import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, configFromProperties } from "../server/config.js";
import { MajorityQuorum, parseServerLine, parseServers, QuorumConfigError } from "./quorum-config.js";

describe("ensemble configuration", () => {
  it("reads server.N lines as ZooKeeper does", () => {
    assert.deepEqual(parseServerLine(3n, "zk3.example:2888:3888:observer;127.0.0.1:2181"), {
      id: 3n,
      host: "zk3.example",
      quorumPort: 2888,
      electionPort: 3888,
      type: "observer",
      clientHost: "127.0.0.1",
      clientPort: 2181,
    });
    assert.equal(parseServerLine(1n, "h:1:2;2181").clientPort, 2181);
    assert.equal(parseServerLine(1n, "h:1:2").type, "participant");
    assert.throws(() => parseServerLine(1n, "h:1"), QuorumConfigError);
    assert.throws(() => parseServerLine(1n, "h:1:99999"), /99999 is not a port/);
    assert.throws(() => parseServerLine(1n, "h:1:2:voter"), /unknown learner type/);
    assert.throws(
      () =>
        parseServers(
          new Map([
            ["server.1", "h:1:2"],
            ["server.2", "h:1:3"],
          ]),
        ),
      /server.2 and server.1 both use h:1/,
    );
  });

  it("counts a strict majority of participants, observers aside", () => {
    const quorum = new MajorityQuorum(
      parseServers(
        new Map([
          ["server.1", "h:11:21"],
          ["server.2", "h:12:22"],
          ["server.3", "h:13:23"],
          ["server.4", "h:14:24:observer"],
        ]),
      ),
    );
    assert.equal(quorum.containsQuorum([1n, 2n]), true);
    assert.equal(quorum.containsQuorum([1n, 4n]), false);
    assert.equal(quorum.isVoter(4n), false);
    assert.match(
      quorum.toString(),
      /^server\.1=h:11:21:participant\n.*server\.4=h:14:24:observer\nversion=0$/s,
    );
  });

  it("reads two or more server.N lines as an ensemble, one as standalone", () => {
    const config = configFromProperties(
      new Map([
        ["server.1", "h:1:2"],
        ["server.2", "h:3:4"],
        ["server.3", "h:5:6:observer"],
        ["initLimit", "7"],
        ["syncLimit", "3"],
      ]),
    );
    assert.equal(config.ensemble?.servers.size, 3);
    assert.equal(config.ensemble?.servers.get(3n)?.type, "observer");
    assert.equal(config.ensemble?.initLimit, 7);
    assert.equal(config.ensemble?.syncLimit, 3);
    assert.equal(configFromProperties(new Map([["server.1", "h:1:2"]])).ensemble, null);
    assert.throws(
      () =>
        configFromProperties(
          new Map([
            ["server.1", "h:1:2"],
            ["server.2", "h:1:9"],
          ]),
        ),
      (error: unknown) => error instanceof ConfigError && /both use h:1/.test(error.message),
    );
  });
});
