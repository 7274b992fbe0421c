/**
 * Server-side watches with ZooKeeper 3.8's semantics (server/watch/WatchManager,
 * WatcherModeManager, PathParentIterator and how DataTree uses them): two tables,
 * one for data/exist watches and one for child watches; one-shot, persistent and
 * persistent-recursive modes, one mode per (watcher, path), the last set winning.
 * Pure: a watcher is an opaque number (the server's connection id).
 */
import { EventType, WatcherType } from "../jute/constants.js";

export type WatcherId = number;
export type WatchKind = "data" | "child";
type Mode = "standard" | "persistent" | "recursive";

/** Watches one table may hold per watcher, so a client cannot grow the server without bound. */
export const watchesPerWatcherMax = 1_000_000;

/**
 * PathParentIterator: `path`, then (when `all`) each parent up to "/". Like
 * ZooKeeper's, it fails on a non-empty path with no "/" (the request then gets
 * MARSHALLINGERROR) and yields nothing for "".
 */
function* pathAndParents(path: string, all: boolean): Generator<string> {
  let current = path;
  let level = 0;
  const levelMax = all ? Number.POSITIVE_INFINITY : 1;
  while (current !== "" && level < levelMax) {
    const local = current;
    level++;
    if (current === "/") current = "";
    else {
      const slash = current.lastIndexOf("/");
      if (slash === -1) throw new Error(`path ${current} has no parent`);
      current = current.slice(0, slash) || "/";
    }
    yield local;
  }
}

const noWatchers: ReadonlySet<WatcherId> = new Set();
const noDeliveries: readonly Delivery[] = Object.freeze([]);

/** One of ZooKeeper's two WatchManager instances. */
class WatchTable {
  private readonly byPath = new Map<string, Set<WatcherId>>();
  private readonly byWatcher = new Map<WatcherId, Set<string>>();
  private readonly modes = new Map<string, Mode>();
  private recursiveCount = 0;

  private key(watcher: WatcherId, path: string): string {
    return `${watcher}\u0000${path}`;
  }

  modeOf(watcher: WatcherId, path: string): Mode {
    return this.modes.get(this.key(watcher, path)) ?? "standard";
  }

  private setMode(watcher: WatcherId, path: string, mode: Mode): void {
    const key = this.key(watcher, path);
    const previous = this.modes.get(key) ?? "standard";
    if (previous === "recursive") this.recursiveCount--;
    if (mode === "recursive") this.recursiveCount++;
    if (mode === "standard") this.modes.delete(key);
    else this.modes.set(key, mode);
  }

  add(path: string, watcher: WatcherId, mode: Mode): void {
    let paths = this.byWatcher.get(watcher);
    if (paths === undefined) this.byWatcher.set(watcher, (paths = new Set()));
    if (!paths.has(path) && paths.size >= watchesPerWatcherMax) return;
    let watchers = this.byPath.get(path);
    if (watchers === undefined) this.byPath.set(path, (watchers = new Set()));
    watchers.add(watcher);
    paths.add(path);
    this.setMode(watcher, path, mode);
  }

  isEmpty(): boolean {
    return this.byPath.size === 0;
  }

  /** WatchManager.triggerWatch: who is told, one-shot watches removed. */
  trigger(path: string, type: EventType): ReadonlySet<WatcherId> {
    // Most changes have no watcher: nothing on the path, and no recursive watch above it.
    if (this.recursiveCount === 0 && !this.byPath.has(path)) return noWatchers;
    const told = new Set<WatcherId>();
    let atParent = false;
    for (const localPath of pathAndParents(path, this.recursiveCount > 0)) {
      const watchers = this.byPath.get(localPath);
      if (watchers !== undefined) {
        for (const watcher of [...watchers]) {
          const mode = this.modeOf(watcher, localPath);
          if (mode === "recursive") {
            if (type !== EventType.NodeChildrenChanged) told.add(watcher);
          } else if (!atParent) {
            told.add(watcher);
            if (mode === "standard") {
              watchers.delete(watcher);
              this.forgetPath(watcher, localPath);
            }
          }
        }
        if (watchers.size === 0) this.byPath.delete(localPath);
      }
      atParent = true;
    }
    return told;
  }

  private forgetPath(watcher: WatcherId, path: string): void {
    const paths = this.byWatcher.get(watcher);
    if (paths === undefined) return;
    paths.delete(path);
    if (paths.size === 0) this.byWatcher.delete(watcher);
  }

  /** WatchManager.removeWatcher(path, watcher). */
  remove(path: string, watcher: WatcherId): boolean {
    const paths = this.byWatcher.get(watcher);
    if (paths === undefined || !paths.has(path)) return false;
    this.forgetPath(watcher, path);
    const watchers = this.byPath.get(path);
    if (watchers === undefined || !watchers.delete(watcher)) return false;
    if (watchers.size === 0) this.byPath.delete(path);
    this.setMode(watcher, path, "standard");
    return true;
  }

  /** WatchManager.containsWatcher, quirks included: any watcher on the exact path counts. */
  contains(path: string, watcher: WatcherId): boolean {
    const mode = this.modeOf(watcher, path);
    let atParent = false;
    for (const localPath of pathAndParents(path, this.recursiveCount > 0)) {
      if (!atParent && this.byPath.has(localPath)) return true;
      if (mode === "recursive") return true;
      atParent = true;
    }
    return false;
  }

  removeWatcher(watcher: WatcherId): void {
    const paths = this.byWatcher.get(watcher);
    if (paths === undefined) return;
    this.byWatcher.delete(watcher);
    for (const path of paths) {
      const watchers = this.byPath.get(path);
      if (watchers !== undefined) {
        watchers.delete(watcher);
        if (watchers.size === 0) this.byPath.delete(path);
      }
      this.setMode(watcher, path, "standard");
    }
  }

  get watchCount(): number {
    let count = 0;
    for (const watchers of this.byPath.values()) count += watchers.size;
    return count;
  }

  paths(): Map<string, Set<WatcherId>> {
    return this.byPath;
  }

  watchers(): Map<WatcherId, Set<string>> {
    return this.byWatcher;
  }
}

/** A watch event to deliver to one watcher. */
export interface Delivery {
  watcher: WatcherId;
  path: string;
  type: EventType;
}

export class WatchManager {
  private readonly dataWatches = new WatchTable();
  private readonly childWatches = new WatchTable();

  /** A one-shot watch: getData and exists set "data", getChildren sets "child". */
  addWatch(path: string, watcher: WatcherId, kind: WatchKind): void {
    (kind === "data" ? this.dataWatches : this.childWatches).add(path, watcher, "standard");
  }

  /**
   * The addWatch opcode (DataTree.addWatch): the watch goes into both tables, so a
   * recursive watch whose data side was removed still hears NodeDeleted below it.
   */
  addPersistentWatch(path: string, watcher: WatcherId, recursive: boolean): void {
    const mode = recursive ? "recursive" : "persistent";
    this.dataWatches.add(path, watcher, mode);
    this.childWatches.add(path, watcher, mode);
  }

  /**
   * The deliveries one tree event causes, in ZooKeeper's order. NodeDeleted goes to
   * data watchers, then to child watchers not already told (DataTree.deleteNode).
   */
  trigger(path: string, type: EventType): readonly Delivery[] {
    if (this.dataWatches.isEmpty() && this.childWatches.isEmpty()) return noDeliveries;
    const deliveries: Delivery[] = [];
    switch (type) {
      case EventType.NodeCreated:
      case EventType.NodeDataChanged:
        for (const watcher of this.dataWatches.trigger(path, type)) deliveries.push({ watcher, path, type });
        break;
      case EventType.NodeChildrenChanged:
        for (const watcher of this.childWatches.trigger(path, type)) deliveries.push({ watcher, path, type });
        break;
      case EventType.NodeDeleted: {
        const told = this.dataWatches.trigger(path, type);
        for (const watcher of told) deliveries.push({ watcher, path, type });
        for (const watcher of this.childWatches.trigger(path, type)) {
          if (!told.has(watcher)) deliveries.push({ watcher, path, type });
        }
        break;
      }
      default:
        break;
    }
    return deliveries;
  }

  /** The connection is gone: all its watches go. */
  removeWatcher(watcher: WatcherId): void {
    this.dataWatches.removeWatcher(watcher);
    this.childWatches.removeWatcher(watcher);
  }

  /** The removeWatches opcode (DataTree.removeWatch): true when something was removed. */
  removeWatches(path: string, watcher: WatcherId, type: number): boolean {
    if (type === WatcherType.Children) return this.childWatches.remove(path, watcher);
    if (type === WatcherType.Data) return this.dataWatches.remove(path, watcher);
    const child = this.childWatches.remove(path, watcher);
    const data = this.dataWatches.remove(path, watcher);
    return child || data;
  }

  /** The checkWatches opcode (DataTree.containsWatcher). */
  containsWatcher(path: string, watcher: WatcherId, type: number): boolean {
    if (type === WatcherType.Children) return this.childWatches.contains(path, watcher);
    if (type === WatcherType.Data) return this.dataWatches.contains(path, watcher);
    return this.childWatches.contains(path, watcher) || this.dataWatches.contains(path, watcher);
  }

  counts(): { watches: number; paths: number; watchers: number } {
    const paths = new Set([...this.dataWatches.paths().keys(), ...this.childWatches.paths().keys()]);
    const watchers = new Set([...this.dataWatches.watchers().keys(), ...this.childWatches.watchers().keys()]);
    return {
      watches: this.dataWatches.watchCount + this.childWatches.watchCount,
      paths: paths.size,
      watchers: watchers.size,
    };
  }

  /** Paths watched by each watcher (wchc). */
  byWatcher(): Map<WatcherId, string[]> {
    const result = new Map<WatcherId, string[]>();
    for (const table of [this.dataWatches, this.childWatches]) {
      for (const [watcher, paths] of table.watchers()) {
        const list = result.get(watcher) ?? [];
        for (const path of paths) if (!list.includes(path)) list.push(path);
        result.set(watcher, list);
      }
    }
    return result;
  }

  /** Watchers of each path (wchp). */
  byPath(): Map<string, WatcherId[]> {
    const result = new Map<string, WatcherId[]>();
    for (const table of [this.dataWatches, this.childWatches]) {
      for (const [path, watchers] of table.paths()) {
        const list = result.get(path) ?? [];
        for (const watcher of watchers) if (!list.includes(watcher)) list.push(watcher);
        result.set(path, list);
      }
    }
    return result;
  }
}

/** The watch lists a reconnecting client sends (SetWatches / SetWatches2). */
export interface WatchLists {
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
  persistentWatches: string[];
  persistentRecursiveWatches: string[];
}

/**
 * DataTree.setWatches: re-registers a reconnecting client's watches; events it
 * missed since `relativeZxid` are returned to be sent at once instead.
 */
export function applySetWatches(
  manager: WatchManager,
  watcher: WatcherId,
  relativeZxid: bigint,
  lists: WatchLists,
  lookup: (path: string) => { mzxid: bigint; pzxid: bigint } | undefined,
): { type: EventType; path: string }[] {
  const events: { type: EventType; path: string }[] = [];
  for (const path of lists.dataWatches) {
    const node = lookup(path);
    if (node === undefined) events.push({ type: EventType.NodeDeleted, path });
    else if (node.mzxid > relativeZxid) events.push({ type: EventType.NodeDataChanged, path });
    else manager.addWatch(path, watcher, "data");
  }
  for (const path of lists.existWatches) {
    if (lookup(path) !== undefined) events.push({ type: EventType.NodeCreated, path });
    else manager.addWatch(path, watcher, "data");
  }
  for (const path of lists.childWatches) {
    const node = lookup(path);
    if (node === undefined) events.push({ type: EventType.NodeDeleted, path });
    else if (node.pzxid > relativeZxid) events.push({ type: EventType.NodeChildrenChanged, path });
    else manager.addWatch(path, watcher, "child");
  }
  for (const path of lists.persistentWatches) manager.addPersistentWatch(path, watcher, false);
  for (const path of lists.persistentRecursiveWatches) manager.addPersistentWatch(path, watcher, true);
  return events;
}
