/**
 * What one socket is sent during a turn of the event loop, handed to it in one write.
 * Small messages are packed back to back into one buffer: copying a few hundred bytes
 * costs less than a stream chunk each (an object, a callback and a writev entry), and a
 * turn's replies to one connection then leave in one send. A large part (a 100 KiB
 * value) is not copied: it goes as it is, in its place between the packed runs.
 *
 * Packing bump-allocates from a buffer kept for the turn: bytes handed to the socket are
 * never written again, the next messages go after them, and a new buffer is taken when
 * the room left is too small. The buffer is let go at the end of the turn, so an idle
 * connection holds none.
 */
import type { Socket } from "node:net";

/** Parts up to this size are copied into the packed run; larger ones are sent as they are. */
export const packedPartBytesMax = 4096;
/** The size of a packing buffer (larger when one message needs more); small ones come from Node's pool. */
export const packBufferBytes = 2048;
/** Queued bytes at which they are sent at once instead of at the end of the tick. */
export const outgoingFlushBytes = 256 * 1024;

/**
 * Writes a turn's parts to a socket (several in one writev); false when the socket's
 * buffer is over its high-water mark, as `socket.write` reports.
 */
export function writeParts(socket: Socket, parts: readonly Buffer[]): boolean {
  if (socket.destroyed) return true;
  if (parts.length === 1) return socket.write(parts[0]!);
  let flowing = true;
  socket.cork();
  for (const part of parts) flowing = socket.write(part);
  socket.uncork();
  return flowing;
}

export class OutgoingBytes {
  private buffer: Buffer | null = null;
  private view: DataView | null = null;
  /** Start of the packed bytes not yet queued. */
  private start = 0;
  /** End of the packed bytes. */
  private end = 0;
  /** Runs and large parts queued, in order, for the next send. */
  private parts: Buffer[] = [];
  private queuedBytes = 0;
  private scheduled = false;

  constructor(
    /** Hands a turn's bytes to the socket: one buffer, or several in order. */
    private readonly sendParts: (parts: readonly Buffer[]) => void,
  ) {}

  /** Bytes waiting to be sent. */
  get pendingBytes(): number {
    return this.queuedBytes + this.end - this.start;
  }

  /**
   * Claims `bytes` packed bytes and returns where they start in `targetView`; the caller
   * fills them before anything else is added.
   */
  claim(bytes: number): number {
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > outgoingFlushBytes) this.send(false);
    if (this.buffer === null || this.end + bytes > this.buffer.length) this.newBuffer(bytes);
    const at = this.end;
    this.end += bytes;
    this.scheduleSend();
    return at;
  }

  /** A DataView over the buffer the last claim is in (64-bit writes are slow through Buffer's BigInt methods). */
  get targetView(): DataView {
    return this.view!;
  }

  /** The buffer the last claim is in (to copy bytes into it). */
  get targetBuffer(): Buffer {
    return this.buffer!;
  }

  /** Adds a part: copied into the packed run when small, else queued as it is. */
  add(part: Buffer): void {
    if (part.length === 0) return;
    if (part.length <= packedPartBytesMax) {
      const at = this.claim(part.length);
      part.copy(this.buffer!, at);
      return;
    }
    this.closeRun();
    this.parts.push(part);
    this.queuedBytes += part.length;
    if (this.pendingBytes >= outgoingFlushBytes) this.send(false);
    else this.scheduleSend();
  }

  /** Sends what is waiting now rather than at the end of the tick, and lets the buffer go. */
  flush(): void {
    this.send(true);
  }

  /** Bytes of packing buffer held (none between turns). */
  get retainedBytes(): number {
    return this.buffer?.length ?? 0;
  }

  /** Hands the queued parts over; `release` also lets the packing buffer go (the turn is over). */
  private send(release: boolean): void {
    this.closeRun();
    if (release) {
      this.buffer = null;
      this.view = null;
      this.start = 0;
      this.end = 0;
    }
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    this.queuedBytes = 0;
    this.sendParts(parts);
  }

  private closeRun(): void {
    if (this.end === this.start) return;
    this.parts.push(this.buffer!.subarray(this.start, this.end));
    this.queuedBytes += this.end - this.start;
    this.start = this.end;
  }

  private newBuffer(bytes: number): void {
    this.closeRun();
    const buffer = Buffer.allocUnsafe(Math.max(packBufferBytes, bytes));
    this.buffer = buffer;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.start = 0;
    this.end = 0;
  }

  private scheduleSend(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => {
      this.scheduled = false;
      this.flush();
    });
  }
}
