/**
 * The quorum port's TCP connections (QuorumPeer's learner connections): jute
 * QuorumPackets back to back, and after a SNAP the leader's snapshot body followed by
 * "BenWasHere". A learner connects to its leader; a leader listens and learns who is
 * calling from the LearnerInfo in the first packet. Byte limits on everything buffered.
 */
import net from "node:net";
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
import { takeJoined } from "../jute/framer.js";
import type { ACL, StatPersisted } from "../jute/records.js";
import {
  dataBytes,
  type OutgoingQuorumPacket,
  PacketType,
  type QuorumPacket,
  readQuorumPacket,
  snapSignature,
  writeQuorumPacket,
} from "../quorum/quorum-packet.js";
import type { SyncedSnapshot } from "../quorum/zab-codec.js";
import { readSnapshotBody } from "../storage/snapshot-format.js";
import { DataTree } from "../tree/data-tree.js";
import { OutgoingBytes, packedPartBytesMax, writeParts } from "./outgoing-bytes.js";

/** A QuorumPacket's type, zxid and data length: what says how long the packet is. */
const quorumPacketHeaderBytes = 16;
/**
 * Bytes joined beyond a packet's data when it spans reads, for the authinfo its header does
 * not count (a forwarded request's auth ids: tens of bytes). Longer authinfo is found by a
 * second parse of everything buffered.
 */
const authinfoBytesAllowance = 1024;

/** Bytes buffered from a peer without a whole packet (a snapshot included) before the connection is dropped. */
export const quorumReceiveBytesMaxDefault = 1024 * 1024 * 1024;
/** Bytes queued to a peer that is not reading before the connection is dropped. */
export const quorumSendBytesMaxDefault = 1024 * 1024 * 1024;

export interface QuorumConnectionHandlers {
  /** A packet; after SNAP (learner side) with the parsed snapshot. */
  packet(packet: QuorumPacket, snapshot: SyncedSnapshot | null): void;
  /** The connection is gone (once). */
  closed(reason: string): void;
}

/**
 * The fewest bytes the packet at `offset` of `bytes` can take, from its header: type, zxid and
 * data length, the data, and authinfo's count (authinfo's entries, when any, are not counted:
 * the parse finds them missing). A data length that cannot be right (negative, or beyond what a
 * connection buffers) counts as nothing, so that the parse, not this, reports it.
 */
function packetBytesMin(bytes: Buffer, offset: number): number {
  if (bytes.length - offset < quorumPacketHeaderBytes) return quorumPacketHeaderBytes;
  const dataBytes = bytes.readInt32BE(offset + 12);
  if (dataBytes < -1 || dataBytes > quorumReceiveBytesMaxDefault) return quorumPacketHeaderBytes;
  return quorumPacketHeaderBytes + Math.max(dataBytes, 0) + 4;
}

export class QuorumConnection {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private expectSnapshot = false;
  /** Bytes buffered at the last attempt to parse the snapshot: retried only once they double. */
  private snapshotAttemptBytes = 0;
  private closedReason: string | null = null;
  /** What this turn sends the peer, handed to the socket in one write at its end. */
  private readonly outgoing = new OutgoingBytes((parts) => writeParts(this.socket, parts));
  handlers: QuorumConnectionHandlers | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly options: {
      learnerSide: boolean;
      extendedTypesEnabled: boolean;
      receiveBytesMax?: number;
    },
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", (error) => this.close(`quorum connection: ${error.message}`));
    socket.on("close", () => this.close("peer closed the connection"));
  }

  get open(): boolean {
    return this.closedReason === null;
  }

  /**
   * Queues a packet (and bytes that follow it) for the end of this turn of the event loop:
   * a turn's packets to one peer are packed back to back and leave in one write (a leader
   * sends each learner its proposals and commits, often many per turn).
   */
  send(packet: OutgoingQuorumPacket, trailer: readonly Buffer[] = []): void {
    if (!this.open) return;
    const data = packet.data;
    if (packet.authinfo !== null || (data !== null && !Buffer.isBuffer(data))) {
      // A forwarded request, or data in parts (a leader's proposal): a large part is queued
      // as it is rather than copied.
      const bytes = dataBytes(data);
      const writer = new JuteWriter(64 + (bytes <= packedPartBytesMax ? bytes : 0), packedPartBytesMax + 1);
      writeQuorumPacket(writer, packet);
      for (const part of writer.toParts()) this.outgoing.add(part);
    } else {
      // QuorumPacket: type, zxid, data (length-prefixed, -1 for none), authinfo (-1: none).
      const whole = data as Buffer | null;
      const wholeBytes = whole === null ? 0 : whole.length;
      const inline = wholeBytes <= packedPartBytesMax;
      const at = this.outgoing.claim(16 + (inline ? wholeBytes + 4 : 0));
      const view = this.outgoing.targetView;
      view.setInt32(at, packet.type);
      view.setBigInt64(at + 4, packet.zxid);
      view.setInt32(at + 12, whole === null ? -1 : wholeBytes);
      if (inline) {
        if (wholeBytes > 0) whole!.copy(this.outgoing.targetBuffer, at + 16);
        view.setInt32(at + 16 + wholeBytes, -1);
      } else {
        this.outgoing.add(whole!);
        // The trailer may start a new packing buffer: its view, not the header's.
        const at = this.outgoing.claim(4);
        this.outgoing.targetView.setInt32(at, -1);
      }
    }
    for (const chunk of trailer) this.outgoing.add(chunk);
    if (this.outgoing.pendingBytes + this.socket.writableLength > quorumSendBytesMaxDefault) {
      this.close(`more than ${quorumSendBytesMaxDefault} bytes queued to a peer that does not read`);
    }
  }

  /** Sends the SNAP packet, the snapshot body and the signature. */
  sendSnapshot(packet: OutgoingQuorumPacket, body: readonly Buffer[]): void {
    const signature = new JuteWriter(16);
    signature.string(snapSignature);
    this.send(packet, [...body, signature.toBuffer()]);
  }

  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.socket.destroy();
    this.handlers?.closed(reason);
  }

  private received(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    const max = this.options.receiveBytesMax ?? quorumReceiveBytesMaxDefault;
    if (this.bufferedBytes > max) {
      this.close(`more than ${max} bytes from a peer without a whole packet`);
      return;
    }
    try {
      this.consume();
    } catch (error) {
      this.close(`bad packet from peer: ${(error as Error).message}`);
    }
  }

  private consume(): void {
    while (this.bufferedBytes > 0 && this.open) {
      if (this.expectSnapshot) {
        if (!this.consumeSnapshot()) return;
        continue;
      }
      // A packet that has not all arrived (a 100 KiB proposal comes in several reads) is not
      // joined and parsed on every read: that copied its bytes once per read and threw a
      // decode error each time.
      const first = this.firstPacketBytesMin();
      if (this.bufferedBytes < first) return;
      // The first packet in one buffer: the first chunk when it holds it, else its own bytes
      // joined, with room for authinfo (what follows stays where it is, not copied now and
      // again with the next packet).
      if (this.chunks[0]!.length < first) {
        this.joinFront(Math.min(this.bufferedBytes, first + authinfoBytesAllowance));
      }
      let consumed = this.consumePackets(this.chunks[0]!);
      if (consumed === 0) {
        // Longer than its header said (it carries authinfo): everything joined, parsed again.
        if (this.chunks.length === 1) return;
        this.joinFront(this.bufferedBytes);
        consumed = this.consumePackets(this.chunks[0]!);
        if (consumed === 0) return;
      }
      this.advance(consumed);
    }
  }

  /**
   * Hands on every whole packet at the start of `bytes` (up to a SNAP, whose snapshot follows);
   * returns how many bytes they took.
   */
  private consumePackets(bytes: Buffer): number {
    // One reader for every whole packet (often a turn's proposals and commits). Socket bytes
    // are never written again: a large value (a 100 KiB proposal's txn) is handed on as a view
    // of them, not copied (JuteReader.sharingLargeValues).
    const reader = JuteReader.sharingLargeValues(bytes);
    let consumed = 0;
    while (consumed < bytes.length && this.open) {
      // A packet cut off by the end of what has arrived is left for later without a failed
      // parse (an exception each time, after a turn's whole packets).
      if (bytes.length - consumed < packetBytesMin(bytes, consumed)) break;
      let packet: QuorumPacket;
      try {
        packet = readQuorumPacket(reader);
      } catch (error) {
        if (!(error instanceof JuteDecodeError)) throw error;
        break;
      }
      consumed = reader.position;
      if (packet.type === PacketType.SNAP && this.options.learnerSide) {
        // The snapshot follows on the stream: the packet is handed on with it.
        this.expectSnapshot = true;
        this.pendingSnap = packet;
        this.snapshotAttemptBytes = 0;
        break;
      }
      this.handlers?.packet(packet, null);
    }
    return consumed;
  }

  /** Parses the snapshot that follows SNAP once all of it is here; false while it is not. */
  private consumeSnapshot(): boolean {
    if (this.bufferedBytes < this.snapshotAttemptBytes * 2) return false;
    if (this.chunks.length > 1) this.joinFront(this.bufferedBytes);
    const bytes = this.chunks[0]!;
    const reader = JuteReader.sharingLargeValues(bytes);
    let snapshot: SyncedSnapshot;
    try {
      this.snapshotAttemptBytes = bytes.length;
      snapshot = this.readSnapshot(reader);
    } catch (error) {
      if (error instanceof JuteDecodeError) return false;
      throw error;
    }
    this.expectSnapshot = false;
    this.snapshotAttemptBytes = 0;
    const packet = this.pendingSnap as QuorumPacket;
    this.pendingSnap = null;
    this.advance(reader.position);
    this.handlers?.packet(packet, snapshot);
    return true;
  }

  private pendingSnap: QuorumPacket | null = null;

  /**
   * The fewest bytes the first buffered packet can take, from its header (see packetBytesMin).
   * A header split over reads is joined into the first chunk.
   */
  private firstPacketBytesMin(): number {
    if (this.bufferedBytes < quorumPacketHeaderBytes) return quorumPacketHeaderBytes;
    if (this.chunks[0]!.length < quorumPacketHeaderBytes) this.joinFront(quorumPacketHeaderBytes);
    return packetBytesMin(this.chunks[0]!, 0);
  }

  /** Makes the first `bytes` buffered bytes one chunk, copying those only. */
  private joinFront(bytes: number): void {
    this.chunks.unshift(takeJoined(this.chunks, bytes));
  }

  /** Drops the first `consumed` bytes of the first chunk. */
  private advance(consumed: number): void {
    const first = this.chunks[0]!;
    if (consumed === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(consumed);
    this.bufferedBytes -= consumed;
  }

  /** The leader's snapshot body and signature; throws JuteDecodeError until all of it is here. */
  private readSnapshot(reader: JuteReader): SyncedSnapshot {
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
    if (signature !== snapSignature) throw new Error(`snapshot from the leader ends with "${signature}"`);
    const tree = new DataTree({ extendedTypesEnabled: this.options.extendedTypesEnabled });
    tree.beginLoad(acls);
    for (const node of nodes) tree.loadNode(node.path, node.data, node.aclIndex, node.stat);
    return { tree, sessions: new Map(sessions) };
  }
}

/** Connects to a leader's quorum port. */
export function connectToLeader(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to the leader at ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
