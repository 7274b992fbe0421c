/**
 * Reads and session-local requests (ZooKeeper's FinalRequestProcessor for requests
 * with no txn): answered from the tree as it is when the request reaches the head
 * of its session's queue. They never go through the log.
 */
import { JuteReader, JuteWriter } from "../jute/binary.js";
import { AddWatchMode, ErrorCode, OpCode, Perms, WatcherType } from "../jute/constants.js";
import { KeeperError } from "../jute/keeper-error.js";
import { type MultiResult, readMultiRequest, writeMultiResponse } from "../jute/multi.js";
import {
  type ACL,
  AddWatchRequest,
  CheckWatchesRequest,
  ErrorResponse,
  ExistsRequest,
  ExistsResponse,
  GetACLRequest,
  GetACLResponse,
  GetAllChildrenNumberRequest,
  GetAllChildrenNumberResponse,
  GetChildren2Request,
  GetChildren2Response,
  GetChildrenRequest,
  GetChildrenResponse,
  GetDataRequest,
  GetDataResponse,
  GetEphemeralsRequest,
  GetEphemeralsResponse,
  type Id,
  RemoveWatchesRequest,
  SetWatches,
  SetWatches2,
  Stat,
  SyncRequest,
  SyncResponse,
  WhoAmIResponse,
} from "../jute/records.js";
import { packedPartBytesMax } from "../net/outgoing-bytes.js";
import type { DataTree } from "../tree/data-tree.js";
import { applySetWatches, type WatchManager } from "../watches/watch-manager.js";
import { checkACL, clientInfos } from "./auth.js";

/** What a read needs to know about the asking connection. */
export interface ReadContext {
  tree: DataTree;
  watches: WatchManager;
  watcher: number;
  sessionId: bigint;
  authInfo: readonly Id[];
  skipACL: boolean;
  /** Where the reply body is written. */
  scratch: ReplyScratch;
}

/**
 * A reply body: null for header only, or the bytes, or parts sent one after another
 * (a large value goes out as the node's own buffer, not a copy).
 */
export type ReplyBody = Buffer | readonly Buffer[] | null;

/** The reply scratch's buffer: a multi of about 50 setData results fits. */
const replyScratchBytes = 4096;

/**
 * One writer for every reply body a server encodes: no writer, buffer and view per reply.
 * A body of up to `packedPartBytesMax` bytes is a view of the scratch, good until the next
 * body is started (a connection copies parts that small as it is handed them); a larger
 * body keeps the buffer it was written in, and the scratch takes a new one.
 */
export class ReplyScratch {
  private writer = new JuteWriter(replyScratchBytes);

  /** The writer, emptied, for the next body. */
  start(): JuteWriter {
    this.writer.reset();
    return this.writer;
  }

  /** The body written since `start`. */
  finish(): Buffer {
    const body = this.writer.toBuffer();
    if (body.length > packedPartBytesMax) this.writer = new JuteWriter(replyScratchBytes);
    return body;
  }

  /** Encodes one record as a whole body. */
  encode<T>(codec: { write(w: JuteWriter, v: T): void }, value: T): Buffer {
    codec.write(this.start(), value);
    return this.finish();
  }
}

/** A reply body (null for header only) and the error code for the reply header. */
export interface ReadReply {
  err: number;
  body: ReplyBody;
  /** Watch events fired immediately (setWatches), to send after the reply. */
  events?: { type: number; path: string }[];
}

function nodeFor(ctx: ReadContext, path: string, perm: number) {
  const node = ctx.tree.getNode(path);
  if (node === undefined) throw new KeeperError(ErrorCode.NONODE, path);
  checkACL(ctx.tree.getACL(node), perm, ctx.authInfo, ctx.skipACL);
  return node;
}

function getData(ctx: ReadContext, path: string, watch: boolean) {
  const node = nodeFor(ctx, path, Perms.READ);
  const stat = ctx.tree.statOf(node);
  if (watch) ctx.watches.addWatch(path, ctx.watcher, "data");
  return { data: node.data, stat };
}

function getChildren(ctx: ReadContext, path: string, watch: boolean) {
  const node = nodeFor(ctx, path, Perms.READ);
  const stat = ctx.tree.statOf(node);
  const children = [...node.children];
  if (watch) ctx.watches.addWatch(path, ctx.watcher, "child");
  return { children, stat };
}

function maskDigests(acl: ACL[]): ACL[] {
  return acl.map((entry) =>
    entry.id.scheme === "digest"
      ? { perms: entry.perms, id: { scheme: "digest", id: entry.id.id.replace(/:.*/s, ":x") } }
      : entry,
  );
}

function watcherType(type: number): number {
  if (type !== WatcherType.Children && type !== WatcherType.Data && type !== WatcherType.Any) {
    throw new Error(`invalid watcher type ${type}`); // ZooKeeper: IllegalArgumentException → MARSHALLINGERROR
  }
  return type;
}

function answer(ctx: ReadContext, type: number, reader: JuteReader): ReadReply {
  switch (type) {
    case OpCode.exists: {
      const { path, watch } = ExistsRequest.read(reader);
      if (path.includes("\0")) throw new KeeperError(ErrorCode.BADARGUMENTS, path);
      // ZooKeeper 3.8.0 (the version our differential oracle runs) answers exists without an
      // ACL check; 3.8.4 added one.
      const node = ctx.tree.getNode(path);
      if (watch) ctx.watches.addWatch(path, ctx.watcher, "data");
      if (node === undefined) throw new KeeperError(ErrorCode.NONODE, path);
      return { err: 0, body: ctx.scratch.encode(ExistsResponse, { stat: ctx.tree.statOf(node) }) };
    }
    case OpCode.getData: {
      const { path, watch } = GetDataRequest.read(reader);
      const reply = getData(ctx, path, watch);
      const data = reply.data;
      // A value larger than a connection packs (copies) into its outgoing bytes is sent from
      // the node's own buffer: a copy of 100 KiB per read, and its allocation, cost more than
      // another buffer in the writev.
      if (data !== null && data.length > packedPartBytesMax) {
        // GetDataResponse as three parts: the length, the node's data itself, the stat.
        const length = Buffer.allocUnsafe(4);
        length.writeInt32BE(data.length, 0);
        return { err: 0, body: [length, data, ctx.scratch.encode(Stat, reply.stat)] };
      }
      return { err: 0, body: ctx.scratch.encode(GetDataResponse, reply) };
    }
    case OpCode.getChildren: {
      const { path, watch } = GetChildrenRequest.read(reader);
      return {
        err: 0,
        body: ctx.scratch.encode(GetChildrenResponse, { children: getChildren(ctx, path, watch).children }),
      };
    }
    case OpCode.getChildren2: {
      const { path, watch } = GetChildren2Request.read(reader);
      return { err: 0, body: ctx.scratch.encode(GetChildren2Response, getChildren(ctx, path, watch)) };
    }
    case OpCode.getAllChildrenNumber: {
      const { path } = GetAllChildrenNumberRequest.read(reader);
      nodeFor(ctx, path, Perms.READ);
      return {
        err: 0,
        body: ctx.scratch.encode(GetAllChildrenNumberResponse, {
          totalNumber: ctx.tree.getAllChildrenNumber(path),
        }),
      };
    }
    case OpCode.getEphemerals: {
      const { prefixPath } = GetEphemeralsRequest.read(reader);
      const all = [...ctx.tree.getEphemerals(ctx.sessionId)];
      const trimmed = prefixPath.trim();
      const ephemerals =
        trimmed === "" || trimmed === "/" ? all : all.filter((path) => path.startsWith(prefixPath));
      return { err: 0, body: ctx.scratch.encode(GetEphemeralsResponse, { ephemerals }) };
    }
    case OpCode.getACL: {
      const { path } = GetACLRequest.read(reader);
      const node = nodeFor(ctx, path, Perms.READ | Perms.ADMIN);
      const acl = ctx.tree.getACL(node);
      const stat = ctx.tree.statOf(node);
      let visible = acl;
      try {
        checkACL(acl, Perms.ADMIN, ctx.authInfo, ctx.skipACL);
      } catch {
        visible = maskDigests(acl);
      }
      return { err: 0, body: ctx.scratch.encode(GetACLResponse, { acl: visible, stat }) };
    }
    case OpCode.sync: {
      const { path } = SyncRequest.read(reader);
      return { err: 0, body: ctx.scratch.encode(SyncResponse, { path }) };
    }
    case OpCode.addWatch: {
      const { path, mode } = AddWatchRequest.read(reader);
      if (mode !== AddWatchMode.PERSISTENT && mode !== AddWatchMode.PERSISTENT_RECURSIVE) {
        throw new Error(`invalid watch mode ${mode}`); // ZooKeeper: IllegalArgumentException → MARSHALLINGERROR
      }
      ctx.watches.addPersistentWatch(path, ctx.watcher, mode === AddWatchMode.PERSISTENT_RECURSIVE);
      return { err: 0, body: ctx.scratch.encode(ErrorResponse, { err: 0 }) };
    }
    case OpCode.checkWatches: {
      const { path, type: kind } = CheckWatchesRequest.read(reader);
      if (!ctx.watches.containsWatcher(path, ctx.watcher, watcherType(kind))) {
        throw new KeeperError(ErrorCode.NOWATCHER, path);
      }
      return { err: 0, body: null };
    }
    case OpCode.removeWatches: {
      const { path, type: kind } = RemoveWatchesRequest.read(reader);
      if (!ctx.watches.removeWatches(path, ctx.watcher, watcherType(kind))) {
        throw new KeeperError(ErrorCode.NOWATCHER, path);
      }
      return { err: 0, body: null };
    }
    case OpCode.setWatches:
    case OpCode.setWatches2: {
      const request =
        type === OpCode.setWatches2
          ? SetWatches2.read(reader)
          : { ...SetWatches.read(reader), persistentWatches: [], persistentRecursiveWatches: [] };
      const events = applySetWatches(ctx.watches, ctx.watcher, request.relativeZxid, request, (path) => {
        const node = ctx.tree.getNode(path);
        return node === undefined ? undefined : { mzxid: node.stat.mzxid, pzxid: node.stat.pzxid };
      });
      return { err: 0, body: null, events };
    }
    case OpCode.whoAmI:
      return { err: 0, body: ctx.scratch.encode(WhoAmIResponse, { clientInfo: clientInfos(ctx.authInfo) }) };
    case OpCode.multiRead: {
      const results: MultiResult[] = [];
      for (const op of readMultiRequest(reader)) {
        try {
          if (op.type === OpCode.getChildren) {
            results.push({ type: op.type, children: getChildren(ctx, op.request.path, false).children });
          } else if (op.type === OpCode.getData) {
            results.push({ type: op.type, ...getData(ctx, op.request.path, false) });
          } else {
            throw new Error(`invalid read op ${op.type}`);
          }
        } catch (error) {
          if (!(error instanceof KeeperError)) throw error;
          results.push({ type: OpCode.error, err: error.code });
        }
      }
      writeMultiResponse(ctx.scratch.start(), results);
      return { err: 0, body: ctx.scratch.finish() };
    }
    default:
      throw new Error(`not a read: ${type}`);
  }
}

/** Answers a read; a client's mistake becomes its error code, a broken body MARSHALLINGERROR. */
export function answerRead(ctx: ReadContext, type: number, body: Buffer): ReadReply {
  try {
    return answer(ctx, type, new JuteReader(body));
  } catch (error) {
    if (error instanceof KeeperError) return { err: error.code, body: null };
    return { err: ErrorCode.MARSHALLINGERROR, body: null };
  }
}

/** Opcodes answered by answerRead. */
export function isReadOp(type: number): boolean {
  switch (type) {
    case OpCode.exists:
    case OpCode.getData:
    case OpCode.getChildren:
    case OpCode.getChildren2:
    case OpCode.getAllChildrenNumber:
    case OpCode.getEphemerals:
    case OpCode.getACL:
    case OpCode.sync:
    case OpCode.addWatch:
    case OpCode.checkWatches:
    case OpCode.removeWatches:
    case OpCode.setWatches:
    case OpCode.setWatches2:
    case OpCode.whoAmI:
    case OpCode.multiRead:
      return true;
    default:
      return false;
  }
}
