import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventType, WatcherType } from "../jute/constants.js";
import { applySetWatches, WatchManager } from "./watch-manager.js";

describe("WatchManager", () => {
  it("fires one-shot data and child watches once", () => {
    const watches = new WatchManager();
    watches.addWatch("/a", 1, "data");
    watches.addWatch("/a", 2, "child");
    assert.deepEqual(watches.trigger("/a", EventType.NodeDataChanged), [
      { watcher: 1, path: "/a", type: EventType.NodeDataChanged },
    ]);
    assert.deepEqual(watches.trigger("/a", EventType.NodeDataChanged), []);
    assert.deepEqual(watches.trigger("/a", EventType.NodeChildrenChanged), [
      { watcher: 2, path: "/a", type: EventType.NodeChildrenChanged },
    ]);
    assert.deepEqual(watches.counts(), { watches: 0, paths: 0, watchers: 0 });
  });

  it("tells a watcher of a deletion once even with data and child watches", () => {
    const watches = new WatchManager();
    watches.addWatch("/a", 1, "data");
    watches.addWatch("/a", 1, "child");
    watches.addWatch("/a", 2, "child");
    const deliveries = watches.trigger("/a", EventType.NodeDeleted);
    assert.deepEqual(deliveries.map((delivery) => delivery.watcher).sort(), [1, 2]);
    assert.deepEqual(watches.trigger("/a", EventType.NodeDeleted), []);
  });

  it("keeps persistent watches and gives recursive ones every event below but child changes", () => {
    const watches = new WatchManager();
    watches.addPersistentWatch("/p", 1, false);
    watches.addPersistentWatch("/r", 2, true);
    for (let i = 0; i < 2; i++) {
      assert.equal(watches.trigger("/p", EventType.NodeDataChanged).length, 1);
      assert.equal(watches.trigger("/p", EventType.NodeChildrenChanged).length, 1);
    }
    assert.equal(watches.trigger("/p/child", EventType.NodeCreated).length, 0);
    assert.deepEqual(watches.trigger("/r/x/y", EventType.NodeCreated), [
      { watcher: 2, path: "/r/x/y", type: EventType.NodeCreated },
    ]);
    assert.deepEqual(watches.trigger("/r/x", EventType.NodeChildrenChanged), []);
    assert.equal(watches.trigger("/r/x/y", EventType.NodeDeleted).length, 1);
  });

  it("keeps the child side of a recursive watch when only its data side is removed", () => {
    const watches = new WatchManager();
    watches.addPersistentWatch("/r", 1, true);
    assert.equal(watches.removeWatches("/r", 1, WatcherType.Data), true);
    assert.deepEqual(watches.trigger("/r/x", EventType.NodeDataChanged), []);
    assert.equal(watches.trigger("/r/x", EventType.NodeDeleted).length, 1);
  });

  it("answers checkWatches and removeWatches as ZooKeeper does", () => {
    const watches = new WatchManager();
    watches.addWatch("/a", 1, "data");
    assert.equal(watches.containsWatcher("/a", 1, WatcherType.Data), true);
    assert.equal(watches.containsWatcher("/a", 1, WatcherType.Children), false);
    assert.equal(watches.removeWatches("/a", 1, WatcherType.Children), false);
    assert.equal(watches.removeWatches("/a", 1, WatcherType.Any), true);
    assert.equal(watches.containsWatcher("/a", 1, WatcherType.Any), false);
    assert.throws(() => watches.containsWatcher("no-slash", 1, WatcherType.Data));
  });

  it("forgets every watch of a closed connection", () => {
    const watches = new WatchManager();
    watches.addWatch("/a", 1, "data");
    watches.addPersistentWatch("/b", 1, true);
    watches.removeWatcher(1);
    assert.deepEqual(watches.counts(), { watches: 0, paths: 0, watchers: 0 });
    assert.deepEqual(watches.trigger("/b/c", EventType.NodeCreated), []);
  });

  it("replays what a reconnecting client missed and re-registers the rest", () => {
    const watches = new WatchManager();
    const nodes = new Map([
      ["/same", { mzxid: 5n, pzxid: 5n }],
      ["/changed", { mzxid: 9n, pzxid: 5n }],
      ["/kids", { mzxid: 5n, pzxid: 9n }],
    ]);
    const events = applySetWatches(
      watches,
      1,
      7n,
      {
        dataWatches: ["/same", "/changed", "/gone"],
        existWatches: ["/same", "/absent"],
        childWatches: ["/kids"],
        persistentWatches: [],
        persistentRecursiveWatches: ["/tree"],
      },
      (path) => nodes.get(path),
    );
    assert.deepEqual(events, [
      { type: EventType.NodeDataChanged, path: "/changed" },
      { type: EventType.NodeDeleted, path: "/gone" },
      { type: EventType.NodeCreated, path: "/same" },
      { type: EventType.NodeChildrenChanged, path: "/kids" },
    ]);
    assert.equal(watches.trigger("/same", EventType.NodeDataChanged).length, 1);
    assert.equal(watches.trigger("/absent", EventType.NodeCreated).length, 1);
    assert.equal(watches.trigger("/tree/leaf", EventType.NodeCreated).length, 1);
  });
});
