/** Apache ZooKeeper's own shells, Java zkCli.sh and C cli_mt, against a zkts server. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestingServer, type TestingServer } from "../../src/server/testing-server.js";
import { CliMt, runZkCli } from "../support/apache-shells.js";
import { connectNzk, nzkClose, nzkGetData } from "../support/nzk.js";

describe("Apache ZooKeeper's shells against zkts", () => {
  let server: TestingServer;
  before(async () => {
    server = await startTestingServer();
  });
  after(async () => {
    await server.close();
  });

  it("zkCli.sh creates, reads, lists, stats, sets ACLs and deletes", async () => {
    const output = await runZkCli(server.connectString, [
      "create /zkcli hello",
      "create /zkcli/child c1",
      "create -s /zkcli/seq- s",
      "create -e /zkcli/eph e",
      "get /zkcli",
      "ls /zkcli",
      "stat /zkcli",
      "set /zkcli world",
      "get -s /zkcli",
      "addauth digest alice:secret",
      "create /zkcli/private p auth:alice:secret:cdrwa",
      "getAcl /zkcli/private",
      "delete /zkcli/child",
      "ls /zkcli",
    ]);
    assert.match(output, /Created \/zkcli\n/);
    assert.match(output, /Created \/zkcli\/seq-0000000001/);
    assert.match(output, /\nhello\n/);
    assert.match(output, /\[child, eph, seq-0000000001\]/);
    assert.match(output, /numChildren = 3/);
    assert.match(output, /\nworld\n/);
    assert.match(output, /dataVersion = 1/);
    assert.match(output, /'digest,'alice:[A-Za-z0-9+/=]+\n: cdrwa/);
    assert.match(output, /\[eph, private, seq-0000000001\]|\[private, seq-0000000001\]/);
    assert.doesNotMatch(output, /Exception|KeeperErrorCode/);
    const client = await connectNzk(server.connectString);
    assert.deepEqual((await nzkGetData(client, "/zkcli")).data, Buffer.from("world"));
    await nzkClose(client);
  });

  it("zkCli.sh reports ZooKeeper's errors", async () => {
    const output = await runZkCli(server.connectString, [
      "get /missing",
      "create /dup x",
      "create /dup x",
      "delete /",
    ]);
    assert.match(output, /Node does not exist: \/missing/);
    assert.match(output, /Node already exists: \/dup/);
  });

  it("cli_mt creates, sets, gets and lists", async () => {
    const cli = await CliMt.start(server.connectString);
    try {
      assert.match(await cli.command("create /climt"), /rc = 0/);
      assert.match(await cli.command("set /climt fromC"), /rc = 0/);
      assert.match(await cli.command("create /climt/kid"), /rc = 0/);
      // The listing itself ("/climt: rc = 0" then the children), not the earlier create's echo of "kid".
      const listing = await cli.command("ls /climt", /\/climt: rc = 0\s+kid/);
      assert.match(listing, /kid/);
      assert.match(await cli.command("create /climt"), /rc = -110/);
      assert.match(await cli.command("delete /nothing-here"), /rc = -101/);
    } finally {
      await cli.quit();
    }
    const client = await connectNzk(server.connectString);
    assert.deepEqual((await nzkGetData(client, "/climt")).data, Buffer.from("fromC"));
    await nzkClose(client);
  });
});
