/**
 * ZooKeeper 3.8's quorum protocol records (zookeeper.jute QuorumPacket and LearnerInfo,
 * the packet types of Leader.java). On a learner connection packets are jute records
 * back to back, without a length prefix; a SNAP packet is followed by the snapshot body
 * and the string "BenWasHere". Pure.
 */
import { type JuteReader, JuteWriter } from "../jute/binary.js";
import { type Id, Id as IdRecord } from "../jute/records.js";

export const PacketType = {
  REQUEST: 1,
  PROPOSAL: 2,
  ACK: 3,
  COMMIT: 4,
  PING: 5,
  REVALIDATE: 6,
  SYNC: 7,
  INFORM: 8,
  COMMITANDACTIVATE: 9,
  NEWLEADER: 10,
  FOLLOWERINFO: 11,
  UPTODATE: 12,
  DIFF: 13,
  TRUNC: 14,
  SNAP: 15,
  OBSERVERINFO: 16,
  LEADERINFO: 17,
  ACKEPOCH: 18,
  INFORMANDACTIVATE: 19,
} as const;

/** The protocol version a learner announces in LearnerInfo (ZAB 1.0). */
export const learnerProtocolVersion = 0x10000;
/** What follows a snapshot sent with SNAP. */
export const snapSignature = "BenWasHere";

export interface QuorumPacket {
  type: number;
  zxid: bigint;
  data: Buffer | null;
  authinfo: Id[] | null;
}

/** A packet to send: its data may be in parts (a leader's proposal, whose large value is not copied in). */
export interface OutgoingQuorumPacket extends Omit<QuorumPacket, "data"> {
  data: Buffer | readonly Buffer[] | null;
}

/** The bytes of a packet's data, in one buffer or in parts. */
export function dataBytes(data: Buffer | readonly Buffer[] | null): number {
  if (data === null) return 0;
  if (Buffer.isBuffer(data)) return data.length;
  let bytes = 0;
  for (const part of data as readonly Buffer[]) bytes += part.length;
  return bytes;
}

export function writeQuorumPacket(writer: JuteWriter, packet: OutgoingQuorumPacket): void {
  writer.int(packet.type).long(packet.zxid);
  const data = packet.data;
  if (data === null || Buffer.isBuffer(data)) writer.buffer_(data as Buffer | null);
  else {
    writer.int(dataBytes(data));
    for (const part of data as readonly Buffer[]) writer.raw(part);
  }
  if (packet.authinfo === null) writer.int(-1);
  else {
    writer.int(packet.authinfo.length);
    for (const id of packet.authinfo) IdRecord.write(writer, id);
  }
}

export function encodeQuorumPacket(packet: OutgoingQuorumPacket): Buffer {
  const writer = new JuteWriter(32 + dataBytes(packet.data));
  writeQuorumPacket(writer, packet);
  return Buffer.from(writer.toBuffer());
}

/** Reads one packet; throws JuteDecodeError when `reader` holds only part of it. */
export function readQuorumPacket(reader: JuteReader): QuorumPacket {
  const type = reader.int();
  const zxid = reader.long();
  const data = reader.buffer_();
  const count = reader.int();
  let authinfo: Id[] | null = null;
  if (count >= 0) {
    authinfo = [];
    for (let i = 0; i < count; i++) authinfo.push(IdRecord.read(reader));
  }
  return { type, zxid, data, authinfo };
}

/** LearnerInfo, the body of FOLLOWERINFO and OBSERVERINFO. */
export function encodeLearnerInfo(serverId: bigint, configVersion: bigint): Buffer {
  const writer = new JuteWriter(20);
  writer.long(serverId).int(learnerProtocolVersion).long(configVersion);
  return Buffer.from(writer.toBuffer());
}

/** ZxidUtils.makeZxid. */
export function makeZxid(epoch: bigint, counter: bigint): bigint {
  return (epoch << 32n) | (counter & 0xffff_ffffn);
}

export function epochOf(zxid: bigint): bigint {
  return zxid >> 32n;
}
