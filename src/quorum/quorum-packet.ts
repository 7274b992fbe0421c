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

export function writeQuorumPacket(writer: JuteWriter, packet: QuorumPacket): void {
  writer.int(packet.type).long(packet.zxid).buffer_(packet.data);
  if (packet.authinfo === null) writer.int(-1);
  else {
    writer.int(packet.authinfo.length);
    for (const id of packet.authinfo) IdRecord.write(writer, id);
  }
}

export function encodeQuorumPacket(packet: QuorumPacket): Buffer {
  const writer = new JuteWriter(32 + (packet.data?.length ?? 0));
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
