/**
 * The learner side of ZooKeeper 3.8's quorum protocol (Learner.registerWithLeader,
 * syncWithLeader, Follower.processPacket), over TCP to a leader's quorum port:
 * FOLLOWERINFO → LEADERINFO → ACKEPOCH, then DIFF or SNAP (with the leader's snapshot)
 * and the proposals and commits that bring us up to date, NEWLEADER → ACK, UPTODATE;
 * then committed txns are applied through `applyTxn` as they come, and PINGs answered.
 *
 * This is the wire half of a follower and is not yet durable: it keeps the tree in
 * memory, so it acknowledges NEWLEADER (which the handshake requires) but never a
 * proposal, and it is not wired into `zkts server`. TRUNC is refused.
 */
import net from "node:net";
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
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

export interface LearnerOptions {
  myId: bigint;
  leaderHost: string;
  leaderQuorumPort: number;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** What we have: the tree (and its lastProcessedZxid) the sync starts from. */
  tree: DataTree;
  extendedTypesEnabled?: boolean;
  /** The most bytes buffered from the leader while waiting for a whole packet (a snapshot included). */
  receiveBytesMax?: number;
  warn?(message: string): void;
}

type Phase = "leaderinfo" | "sync" | "snapshot" | "syncing" | "broadcast";

export class LearnerError extends Error {
  override name = "LearnerError";
}

const receiveBytesMaxDefault = 512 * 1024 * 1024;

export class Learner {
  tree: DataTree;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  private socket: net.Socket | null = null;
  private phase: Phase = "leaderinfo";
  private buffered: Buffer = Buffer.alloc(0);
  private newEpoch = 0n;
  private readonly proposals: LogEntry[] = [];
  private upToDate: { resolve: () => void; reject: (error: Error) => void } | null = null;
  private closed = false;
  /** How the leader brought us up to date. */
  syncMode: "DIFF" | "SNAP" | null = null;
  /** Txns applied since UPTODATE, for tests and metrics. */
  committedSinceUpToDate = 0;

  constructor(private readonly options: LearnerOptions) {
    this.tree = options.tree;
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
          type: PacketType.FOLLOWERINFO,
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

  /** Parses every whole packet buffered; a partial one waits for more bytes. */
  private consume(): void {
    for (;;) {
      const reader = new JuteReader(this.buffered);
      try {
        if (this.phase === "snapshot") this.readSnapshot(reader);
        else this.handle(readQuorumPacket(reader));
      } catch (error) {
        if (error instanceof JuteDecodeError) return;
        throw error;
      }
      this.buffered = this.buffered.subarray(reader.position);
      if (this.buffered.length === 0) return;
    }
  }

  /** The leader's snapshot after SNAP: loaded only once all of it (and the signature) is here. */
  private readSnapshot(reader: JuteReader): void {
    const nodes: { path: string; data: Buffer | null; aclIndex: bigint; stat: StatPersisted }[] = [];
    let acls: [bigint, ACL[]][] = [];
    readSnapshotBody(
      reader,
      {
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
    tree.finishLoad(this.snapZxid);
    this.tree = tree;
    this.phase = "syncing";
  }

  private snapZxid = 0n;

  private handle(packet: QuorumPacket): void {
    switch (this.phase) {
      case "leaderinfo": {
        if (packet.type !== PacketType.LEADERINFO) {
          throw new LearnerError(`expected LEADERINFO, got packet type ${packet.type}`);
        }
        this.newEpoch = epochOf(packet.zxid);
        const epochBytes = Buffer.alloc(4);
        if (this.newEpoch > this.acceptedEpoch) {
          epochBytes.writeInt32BE(Number(this.currentEpoch));
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
          this.phase = "snapshot";
        } else if (packet.type === PacketType.TRUNC) {
          throw new LearnerError(
            `leader asks to truncate to 0x${packet.zxid.toString(16)}: not supported yet`,
          );
        } else {
          throw new LearnerError(`expected DIFF, SNAP or TRUNC, got packet type ${packet.type}`);
        }
        return;
      case "syncing":
      case "broadcast":
        this.handleSyncOrBroadcast(packet);
        return;
      case "snapshot":
        return;
    }
  }

  private handleSyncOrBroadcast(packet: QuorumPacket): void {
    switch (packet.type) {
      case PacketType.PROPOSAL:
        this.proposals.push(unmarshallTxnEntry(packet.data ?? Buffer.alloc(0)));
        return;
      case PacketType.COMMIT: {
        const next = this.proposals[0];
        if (next === undefined || next.header.zxid !== packet.zxid) {
          throw new LearnerError(
            `commit of 0x${packet.zxid.toString(16)} but the next proposal is ${next === undefined ? "none" : `0x${next.header.zxid.toString(16)}`}`,
          );
        }
        this.proposals.shift();
        this.tree.applyTxn(next.header, next.txn);
        if (this.phase === "broadcast") this.committedSinceUpToDate++;
        return;
      }
      case PacketType.NEWLEADER:
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

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
}
