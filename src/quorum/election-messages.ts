/**
 * The bytes of ZooKeeper 3.8's leader election (QuorumCnxManager, FastLeaderElection):
 * a connection starts with an initial message (protocol version -65536, the sender's
 * id, and its election address as a length-prefixed "host:port"); after it every
 * message is an int length and that many bytes; a notification is state, proposed
 * leader, zxid, election epoch, peer epoch, format version 2 and the sender's config.
 * Pure.
 */

/** QuorumCnxManager.PROTOCOL_VERSION_V1 (V2, -65535, adds multiple addresses). */
export const protocolVersionV1 = -65536n;
export const protocolVersionV2 = -65535n;
/** QuorumCnxManager.PACKETMAXSIZE: a larger election message closes the connection. */
export const electionMessageBytesMax = 512 * 1024;
/** The longest initial-message address we accept (QuorumCnxManager's maxBuffer). */
export const initialAddressBytesMax = 2048;
/** Notification.CURRENTVERSION. */
export const notificationVersion = 2;

export enum PeerState {
  LOOKING = 0,
  FOLLOWING = 1,
  LEADING = 2,
  OBSERVING = 3,
}

export interface Notification {
  state: PeerState;
  leader: bigint;
  zxid: bigint;
  electionEpoch: bigint;
  peerEpoch: bigint;
  version: number;
  /** The sender's config (QuorumVerifier.toString()); empty for format version 1. */
  config: string;
}

export class ElectionProtocolError extends Error {
  override name = "ElectionProtocolError";
}

/** The initial message an initiating server sends (protocol v1). */
export function encodeInitialMessage(sid: bigint, electionAddress: string): Buffer {
  const address = Buffer.from(electionAddress, "utf8");
  const out = Buffer.alloc(8 + 8 + 4 + address.length);
  out.writeBigInt64BE(protocolVersionV1, 0);
  out.writeBigInt64BE(sid, 8);
  out.writeInt32BE(address.length, 16);
  address.copy(out, 20);
  return out;
}

/** What an initial message said; null until `bytes` holds all of it. */
export function decodeInitialMessage(
  bytes: Buffer,
): { sid: bigint; addresses: string[]; consumed: number } | null {
  if (bytes.length < 8) return null;
  const first = bytes.readBigInt64BE(0);
  // A non-negative first long is the sid itself (servers before ZOOKEEPER-1633).
  if (first >= 0n) return { sid: first, addresses: [], consumed: 8 };
  if (first !== protocolVersionV1 && first !== protocolVersionV2) {
    throw new ElectionProtocolError(`unknown election protocol version ${first}`);
  }
  if (bytes.length < 20) return null;
  const sid = bytes.readBigInt64BE(8);
  const length = bytes.readInt32BE(16);
  if (length < 0 || length > initialAddressBytesMax) {
    throw new ElectionProtocolError(`initial message address of ${length} bytes`);
  }
  if (bytes.length < 20 + length) return null;
  const addresses = bytes
    .subarray(20, 20 + length)
    .toString("utf8")
    .split("|")
    .filter((address) => address !== "");
  return { sid, addresses, consumed: 20 + length };
}

/** FastLeaderElection.buildMsg, with the int length prefix the SendWorker writes. */
export function encodeNotification(notification: Notification): Buffer {
  const config = Buffer.from(notification.config, "utf8");
  const body = 44 + config.length;
  const out = Buffer.alloc(4 + body);
  out.writeInt32BE(body, 0);
  out.writeInt32BE(notification.state, 4);
  out.writeBigInt64BE(notification.leader, 8);
  out.writeBigInt64BE(notification.zxid, 16);
  out.writeBigInt64BE(notification.electionEpoch, 24);
  out.writeBigInt64BE(notification.peerEpoch, 32);
  out.writeInt32BE(notification.version, 40);
  out.writeInt32BE(config.length, 44);
  config.copy(out, 48);
  return out;
}

/**
 * WorkerReceiver's parsing of one message body (without its length). Messages of the
 * old formats (28 bytes: no peer epoch; 40: no version) are read as ZooKeeper reads them.
 */
export function decodeNotification(body: Buffer): Notification {
  if (body.length < 28) throw new ElectionProtocolError(`notification of ${body.length} bytes`);
  const state = body.readInt32BE(0);
  if (state < PeerState.LOOKING || state > PeerState.OBSERVING) {
    throw new ElectionProtocolError(`unknown peer state ${state}`);
  }
  const leader = body.readBigInt64BE(4);
  const zxid = body.readBigInt64BE(12);
  const electionEpoch = body.readBigInt64BE(20);
  let peerEpoch: bigint;
  let version = 0;
  let config = "";
  if (body.length >= 36) {
    peerEpoch = body.readBigInt64BE(28);
    if (body.length >= 40) version = body.readInt32BE(36);
  } else {
    // ZxidUtils.getEpochFromZxid: before ZOOKEEPER-1732 the epoch came from the zxid.
    peerEpoch = zxid >> 32n;
  }
  if (version > 1) {
    if (body.length < 44) throw new ElectionProtocolError("notification without its config length");
    const length = body.readInt32BE(40);
    if (length < 0 || 44 + length > body.length) {
      throw new ElectionProtocolError(`notification config of ${length} bytes in ${body.length}`);
    }
    config = body.subarray(44, 44 + length).toString("utf8");
  }
  return { state, leader, zxid, electionEpoch, peerEpoch, version, config };
}
