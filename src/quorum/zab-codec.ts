/**
 * ZAB core messages ↔ ZooKeeper 3.8 QuorumPackets, as Leader, LearnerHandler, Learner and
 * Follower write them. Pure. The snapshot after SNAP and the session data in PINGs and
 * REQUESTs are carried beside the packet; the connection layer streams and parses them.
 */
import { JuteReader, JuteWriter } from "../jute/binary.js";
import type { Id } from "../jute/records.js";
import { type LogEntry, marshalledParts, unmarshallTxnEntry } from "../storage/txn-log-format.js";
import type { DataTree } from "../tree/data-tree.js";
import { epochOf, makeZxid, type ZabMessage } from "../zab/zab-types.js";
import {
  encodeLearnerInfo,
  learnerProtocolVersion,
  type OutgoingQuorumPacket,
  PacketType,
  type QuorumPacket,
} from "./quorum-packet.js";

/** The state a leader's SNAP carries: its tree and live sessions. */
export interface SyncedSnapshot {
  tree: DataTree;
  sessions: Map<bigint, number>;
}

export type QuorumMessage = ZabMessage<LogEntry, SyncedSnapshot>;

export class QuorumCodecError extends Error {
  override name = "QuorumCodecError";
}

/** A client write a learner forwards (Learner.request): session, cxid, type, then the request bytes. */
export interface RequestPacket {
  sessionId: bigint;
  cxid: number;
  type: number;
  body: Buffer;
  authInfo: Id[];
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

/** The packet for a core message; `myId` fills LearnerInfo. SNAP's snapshot bytes follow separately. */
export function encodeZabMessage(message: QuorumMessage, myId: bigint): OutgoingQuorumPacket {
  const packet = (
    type: number,
    zxid: bigint,
    data: Buffer | readonly Buffer[] | null = null,
  ): OutgoingQuorumPacket => ({
    type,
    zxid,
    data,
    authinfo: null,
  });
  switch (message.type) {
    case "followerinfo":
      return packet(
        message.observer ? PacketType.OBSERVERINFO : PacketType.FOLLOWERINFO,
        makeZxid(message.acceptedEpoch, 0n),
        encodeLearnerInfo(myId, 0n),
      );
    case "leaderinfo":
      return packet(PacketType.LEADERINFO, makeZxid(message.epoch, 0n), int32(learnerProtocolVersion));
    case "ackepoch":
      return packet(PacketType.ACKEPOCH, message.lastZxid, int32(Number(message.currentEpoch)));
    case "diff":
      return packet(PacketType.DIFF, message.zxid);
    case "trunc":
      return packet(PacketType.TRUNC, message.zxid);
    case "snap":
      return packet(PacketType.SNAP, message.zxid);
    case "proposal":
      return packet(PacketType.PROPOSAL, message.proposal.zxid, marshalledParts(message.proposal.txn));
    case "inform":
      return packet(PacketType.INFORM, message.proposal.zxid, marshalledParts(message.proposal.txn));
    case "commit":
      return packet(PacketType.COMMIT, message.zxid);
    // No quorum config in NEWLEADER: a Java learner then keeps its own (no reconfig).
    case "newleader":
      return packet(PacketType.NEWLEADER, message.zxid);
    case "ack":
      return packet(PacketType.ACK, message.zxid);
    case "uptodate":
      return packet(PacketType.UPTODATE, message.zxid);
    case "ping":
      return packet(PacketType.PING, message.zxid);
    case "sync":
      return packet(PacketType.SYNC, 0n);
  }
}

/**
 * The core message a packet carries, or null for packets the driver handles itself
 * (REQUEST, REVALIDATE) or ignores. `learnerSide` says which end we are (SYNC and PING
 * mean different things each way); a SNAP's snapshot is attached by the caller.
 */
export function decodeZabMessage(packet: QuorumPacket): QuorumMessage | null {
  switch (packet.type) {
    case PacketType.FOLLOWERINFO:
    case PacketType.OBSERVERINFO:
      return {
        type: "followerinfo",
        acceptedEpoch: epochOf(packet.zxid),
        observer: packet.type === PacketType.OBSERVERINFO,
      };
    case PacketType.LEADERINFO:
      return { type: "leaderinfo", epoch: epochOf(packet.zxid) };
    case PacketType.ACKEPOCH: {
      const data = packet.data;
      if (data === null || data.length < 4) throw new QuorumCodecError("ACKEPOCH without an epoch");
      return { type: "ackepoch", currentEpoch: BigInt(data.readInt32BE(0)), lastZxid: packet.zxid };
    }
    case PacketType.DIFF:
      return { type: "diff", zxid: packet.zxid };
    case PacketType.TRUNC:
      return { type: "trunc", zxid: packet.zxid };
    case PacketType.SNAP:
      return { type: "snap", zxid: packet.zxid };
    case PacketType.PROPOSAL:
    case PacketType.INFORM: {
      if (packet.data === null) throw new QuorumCodecError(`packet ${packet.type} without a txn`);
      // The entry keeps the packet's data (a view of the bytes read from the socket, or a copy
      // of a small one) as its bytes, to log them; a large value in it stays a view too.
      const txn = unmarshallTxnEntry(packet.data);
      const proposal = { zxid: txn.header.zxid, txn };
      return packet.type === PacketType.PROPOSAL
        ? { type: "proposal", proposal }
        : { type: "inform", proposal };
    }
    case PacketType.COMMIT:
      return { type: "commit", zxid: packet.zxid };
    case PacketType.NEWLEADER:
      return { type: "newleader", zxid: packet.zxid };
    case PacketType.ACK:
      return { type: "ack", zxid: packet.zxid };
    case PacketType.UPTODATE:
      return { type: "uptodate", zxid: packet.zxid };
    case PacketType.PING:
      return { type: "ping", zxid: packet.zxid };
    case PacketType.SYNC:
      return { type: "sync", token: 0 };
    case PacketType.COMMITANDACTIVATE:
    case PacketType.INFORMANDACTIVATE:
      throw new QuorumCodecError("the leader sent a reconfiguration, which zkts does not support");
    default:
      return null;
  }
}

/** Learner.request's packet. */
export function encodeRequest(request: RequestPacket): QuorumPacket {
  const writer = new JuteWriter(16 + request.body.length);
  writer.long(request.sessionId).int(request.cxid).int(request.type);
  const head = Buffer.from(writer.toBuffer());
  return {
    type: PacketType.REQUEST,
    zxid: -1n,
    data: Buffer.concat([head, request.body]),
    authinfo: request.authInfo,
  };
}

export function decodeRequest(packet: QuorumPacket): RequestPacket {
  const data = packet.data;
  if (data === null || data.length < 16) throw new QuorumCodecError("REQUEST shorter than its header");
  return {
    sessionId: data.readBigInt64BE(0),
    cxid: data.readInt32BE(8),
    type: data.readInt32BE(12),
    body: data.subarray(16),
    authInfo: packet.authinfo ?? [],
  };
}

/** A learner's PING payload (LearnerSessionTracker's touch table): session id, timeout, repeated. */
export function encodeSessionTouches(touched: ReadonlyMap<bigint, number>): Buffer {
  const writer = new JuteWriter(12 * touched.size + 4);
  for (const [sessionId, timeoutMs] of touched) writer.long(sessionId).int(timeoutMs);
  return Buffer.from(writer.toBuffer());
}

export function decodeSessionTouches(data: Buffer | null): Map<bigint, number> {
  const touched = new Map<bigint, number>();
  if (data === null) return touched;
  const reader = new JuteReader(data);
  while (reader.remaining >= 12) touched.set(reader.long(), reader.int());
  return touched;
}

/** REVALIDATE from a learner: the session and its timeout. */
export function decodeRevalidate(data: Buffer | null): { sessionId: bigint; timeoutMs: number } {
  if (data === null || data.length < 12) throw new QuorumCodecError("REVALIDATE shorter than 12 bytes");
  return { sessionId: data.readBigInt64BE(0), timeoutMs: data.readInt32BE(8) };
}

/** The leader's REVALIDATE answer: the session and whether it is still valid. */
export function encodeRevalidateAnswer(sessionId: bigint, valid: boolean): QuorumPacket {
  const data = Buffer.alloc(9);
  data.writeBigInt64BE(sessionId, 0);
  data[8] = valid ? 1 : 0;
  return { type: PacketType.REVALIDATE, zxid: -1n, data, authinfo: null };
}

export type { LogEntry };
