/**
 * The learner side of ZooKeeper 3.8's quorum protocol (Learner.registerWithLeader,
 * syncWithLeader, Follower.processPacket), over TCP to a leader's quorum port:
 * FOLLOWERINFO (OBSERVERINFO) → LEADERINFO → ACKEPOCH, then DIFF or SNAP (with the leader's snapshot)
 * and the proposals and commits that bring us up to date, NEWLEADER → ACK, UPTODATE;
 * then committed txns are applied through `applyTxn` as they come, and PINGs answered.
 *
 * With `storage` it is durable as a follower must be: the accepted epoch is saved before
 * ACKEPOCH; at NEWLEADER the synced snapshot, the synced proposals and the current epoch
 * are on disk before the ACK (ZOOKEEPER-3911); each later proposal is on disk before its
 * ACK. Without storage it acknowledges NEWLEADER only (the handshake needs it) and no
 * proposal. It serves no clients yet and is not wired into `zkts server`; TRUNC is refused.
 */
import net from "node:net";
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
import { OpCode } from "../jute/constants.js";
import type { ACL, StatPersisted } from "../jute/records.js";
import { readSnapshotBody } from "../storage/snapshot-format.js";
import { type LogEntry, unmarshallTxnEntry } from "../storage/txn-log-format.js";
import { DataTree } from "../tree/data-tree.js";
import {
  encodeLearnerInfo,
  epochOf,
  makeZxid,
  PacketType,
  type QuorumPacket,
  readQuorumPacket,
  snapSignature,
  writeQuorumPacket,
} from "./quorum-packet.js";

/** Where a durable learner keeps what it acknowledges. */
export interface LearnerStorage {
  /** Appends proposals; resolves once they are on disk. */
  append(entries: readonly LogEntry[]): Promise<void>;
  /** Writes a snapshot of the tree (and sessions) synced from the leader. */
  snapshot(tree: DataTree, sessions: ReadonlyMap<bigint, number>): Promise<void>;
  saveEpoch(name: "acceptedEpoch" | "currentEpoch", epoch: bigint): Promise<void>;
}

export interface LearnerOptions {
  myId: bigint;
  leaderHost: string;
  leaderQuorumPort: number;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** What we have: the tree (and its lastProcessedZxid) the sync starts from. */
  tree: DataTree;
  sessions?: ReadonlyMap<bigint, number>;
  /** A follower votes and acknowledges proposals; an observer only learns (INFORM). */
  role?: "follower" | "observer";
  /**
   * With storage, proposals are on disk before they are acknowledged (and before NEWLEADER
   * is), as a follower must; without, nothing but NEWLEADER is acknowledged.
   */
  storage?: LearnerStorage;
  extendedTypesEnabled?: boolean;
  /** The most bytes buffered from the leader while waiting for a whole packet (a snapshot included). */
  receiveBytesMax?: number;
  warn?(message: string): void;
}

type Phase = "leaderinfo" | "sync" | "syncing" | "broadcast";

export class LearnerError extends Error {
  override name = "LearnerError";
}

const receiveBytesMaxDefault = 512 * 1024 * 1024;

export class Learner {
  tree: DataTree;
  /** Live sessions and their timeouts, from the leader's snapshot and committed txns. */
  readonly sessions: Map<bigint, number>;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  private socket: net.Socket | null = null;
  private phase: Phase = "leaderinfo";
  private buffered: Buffer = Buffer.alloc(0);
  private newEpoch = 0n;
  private readonly proposals: LogEntry[] = [];
  private upToDate: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private closed = false;
  private snapZxid = 0n;
  private expectSnapshot = false;
  private snapshotPending = false;
  /** Proposals of the sync, logged (all together) at NEWLEADER. */
  private unlogged: LogEntry[] = [];
  private processing: Promise<void> = Promise.resolve();
  /** How the leader brought us up to date. */
  syncMode: "DIFF" | "SNAP" | null = null;
  /** Txns applied since UPTODATE, for tests and metrics. */
  committedSinceUpToDate = 0;

  constructor(private readonly options: LearnerOptions) {
    this.tree = options.tree;
    this.sessions = new Map(options.sessions ?? []);
    this.acceptedEpoch = options.acceptedEpoch;
    this.currentEpoch = options.currentEpoch;
  }

  /** Connects, registers and syncs; resolves once the leader says UPTODATE. */
  follow(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.upToDate = { resolve, reject };
      const socket = net.connect({ host: this.options.leaderHost, port: this.options.leaderQuorumPort });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on("error", (error) => this.fail(new LearnerError(`leader connection: ${error.message}`)));
      socket.on("close", () => this.fail(new LearnerError("leader closed the connection")));
      socket.on("connect", () => {
        this.send({
          type: this.options.role === "observer" ? PacketType.OBSERVERINFO : PacketType.FOLLOWERINFO,
          zxid: makeZxid(this.acceptedEpoch, 0n),
          data: encodeLearnerInfo(this.options.myId, 0n),
          authinfo: null,
        });
      });
      socket.on("data", (chunk: Buffer) => {
        this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
        if (this.buffered.length > (this.options.receiveBytesMax ?? receiveBytesMaxDefault)) {
          this.fail(
            new LearnerError(
              `more than ${this.buffered.length} bytes from the leader without a whole packet`,
            ),
          );
          return;
        }
        try {
          this.consume();
        } catch (error) {
          this.fail(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  private fail(error: Error): void {
    if (this.upToDate !== null) {
      const { reject } = this.upToDate;
      this.upToDate = null;
      reject(error);
    } else if (!this.closed) {
      this.options.warn?.(error.message);
    }
    this.socket?.destroy();
  }

  private send(packet: QuorumPacket): void {
    const writer = new JuteWriter(64 + (packet.data?.length ?? 0));
    writeQuorumPacket(writer, packet);
    this.socket?.write(Buffer.from(writer.toBuffer()));
  }

  /** Parses every whole packet buffered (a partial one waits for more bytes) and queues it. */
  private consume(): void {
    for (;;) {
      const reader = new JuteReader(this.buffered);
      try {
        if (this.expectSnapshot) {
          const tree = this.readSnapshot(reader);
          this.expectSnapshot = false;
          this.enqueue(() => this.snapshotReceived(tree));
        } else {
          const packet = readQuorumPacket(reader);
          // The leader's snapshot follows SNAP on the stream itself.
          if (packet.type === PacketType.SNAP && this.phase === "sync") this.expectSnapshot = true;
          this.enqueue(() => this.handle(packet));
        }
      } catch (error) {
        if (error instanceof JuteDecodeError) return;
        throw error;
      }
      this.buffered = this.buffered.subarray(reader.position);
      if (this.buffered.length === 0) return;
    }
  }

  /** Packets are handled one at a time, in order, each after the disk work of the one before. */
  private enqueue(step: () => void | Promise<void>): void {
    this.processing = this.processing
      .then(step)
      .catch((error: unknown) => this.fail(error instanceof Error ? error : new Error(String(error))));
  }

  /** The leader's snapshot after SNAP (parsed only once all of it and the signature are here). */
  private readSnapshot(reader: JuteReader): { tree: DataTree; sessions: [bigint, number][] } {
    const nodes: { path: string; data: Buffer | null; aclIndex: bigint; stat: StatPersisted }[] = [];
    let acls: [bigint, ACL[]][] = [];
    let sessions: [bigint, number][] = [];
    readSnapshotBody(
      reader,
      {
        sessions: (list) => {
          sessions = list;
        },
        acls: (list) => {
          acls = list;
        },
        node: (node) => nodes.push(node),
      },
      true,
    );
    const signature = reader.string();
    if (signature !== snapSignature)
      throw new LearnerError(`snapshot from the leader ends with "${signature}"`);
    const tree = new DataTree({ extendedTypesEnabled: this.options.extendedTypesEnabled ?? false });
    tree.beginLoad(acls);
    for (const node of nodes) tree.loadNode(node.path, node.data, node.aclIndex, node.stat);
    return { tree, sessions };
  }

  private snapshotReceived({ tree, sessions }: { tree: DataTree; sessions: [bigint, number][] }): void {
    tree.finishLoad(this.snapZxid);
    this.tree = tree;
    this.sessions.clear();
    for (const [id, timeout] of sessions) this.sessions.set(id, timeout);
    this.snapshotPending = true;
  }

  private async handle(packet: QuorumPacket): Promise<void> {
    switch (this.phase) {
      case "leaderinfo": {
        if (packet.type !== PacketType.LEADERINFO) {
          throw new LearnerError(`expected LEADERINFO, got packet type ${packet.type}`);
        }
        this.newEpoch = epochOf(packet.zxid);
        const epochBytes = Buffer.alloc(4);
        if (this.newEpoch > this.acceptedEpoch) {
          epochBytes.writeInt32BE(Number(this.currentEpoch));
          // The accepted epoch is on disk before the leader hears we accept it.
          await this.options.storage?.saveEpoch("acceptedEpoch", this.newEpoch);
          this.acceptedEpoch = this.newEpoch;
        } else if (this.newEpoch === this.acceptedEpoch) {
          epochBytes.writeInt32BE(-1);
        } else {
          throw new LearnerError(
            `leader's epoch ${this.newEpoch} is below our accepted epoch ${this.acceptedEpoch}`,
          );
        }
        this.send({
          type: PacketType.ACKEPOCH,
          zxid: this.tree.lastProcessedZxid,
          data: epochBytes,
          authinfo: null,
        });
        this.phase = "sync";
        return;
      }
      case "sync":
        if (packet.type === PacketType.DIFF) {
          this.syncMode = "DIFF";
          this.phase = "syncing";
        } else if (packet.type === PacketType.SNAP) {
          this.snapZxid = packet.zxid;
          this.syncMode = "SNAP";
          this.phase = "syncing";
        } else if (packet.type === PacketType.TRUNC) {
          throw new LearnerError(
            `leader asks to truncate to 0x${packet.zxid.toString(16)}: not supported yet`,
          );
        } else {
          throw new LearnerError(`expected DIFF, SNAP or TRUNC, got packet type ${packet.type}`);
        }
        return;
      default:
        await this.handleSyncOrBroadcast(packet);
        return;
    }
  }

  private async handleSyncOrBroadcast(packet: QuorumPacket): Promise<void> {
    const storage = this.options.storage;
    switch (packet.type) {
      case PacketType.PROPOSAL: {
        const entry = unmarshallTxnEntry(packet.data ?? Buffer.alloc(0));
        this.proposals.push(entry);
        if (this.phase !== "broadcast") {
          // Logged at NEWLEADER, as Learner.syncWithLeader does (ZOOKEEPER-3911).
          this.unlogged.push(entry);
        } else if (storage !== undefined && this.options.role !== "observer") {
          await storage.append([entry]);
          this.send({ type: PacketType.ACK, zxid: entry.header.zxid, data: null, authinfo: null });
        }
        return;
      }
      case PacketType.INFORM: {
        // What an observer hears: a committed txn, to log and apply (never acknowledged).
        const entry = unmarshallTxnEntry(packet.data ?? Buffer.alloc(0));
        if (this.phase !== "broadcast") this.unlogged.push(entry);
        else await storage?.append([entry]);
        this.applyCommitted(entry);
        return;
      }
      case PacketType.COMMIT: {
        const next = this.proposals[0];
        if (next === undefined || next.header.zxid !== packet.zxid) {
          throw new LearnerError(
            `commit of 0x${packet.zxid.toString(16)} but the next proposal is ${next === undefined ? "none" : `0x${next.header.zxid.toString(16)}`}`,
          );
        }
        this.proposals.shift();
        this.applyCommitted(next);
        return;
      }
      case PacketType.NEWLEADER:
        // Everything the leader synced is on disk before we say so.
        if (storage !== undefined) {
          if (this.snapshotPending) await storage.snapshot(this.tree, this.sessions);
          if (this.unlogged.length > 0) await storage.append(this.unlogged);
          await storage.saveEpoch("currentEpoch", this.newEpoch);
        }
        this.snapshotPending = false;
        this.unlogged = [];
        this.currentEpoch = this.newEpoch;
        this.send({ type: PacketType.ACK, zxid: packet.zxid, data: null, authinfo: null });
        return;
      case PacketType.UPTODATE:
        this.send({ type: PacketType.ACK, zxid: makeZxid(this.newEpoch, 0n), data: null, authinfo: null });
        this.phase = "broadcast";
        if (this.upToDate !== null) {
          const { resolve } = this.upToDate;
          this.upToDate = null;
          resolve();
        }
        return;
      case PacketType.PING:
        // Our sessions' activity would go here; this learner serves no clients yet.
        this.send({
          type: PacketType.PING,
          zxid: packet.zxid,
          data: Buffer.alloc(0),
          authinfo: packet.authinfo,
        });
        return;
      default:
        return;
    }
  }

  private applyCommitted(entry: LogEntry): void {
    if (entry.txn.type === OpCode.createSession)
      this.sessions.set(entry.header.clientId, entry.txn.txn.timeOut);
    else if (entry.header.type === OpCode.closeSession) this.sessions.delete(entry.header.clientId);
    this.tree.applyTxn(entry.header, entry.txn);
    if (this.phase === "broadcast") this.committedSinceUpToDate++;
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
}
