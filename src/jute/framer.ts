/**
 * Splits a byte stream into length-prefixed frames (a 4-byte big-endian length, then
 * that many bytes), as ZooKeeper's client port and quorum port carry them. A length
 * above the limit or below zero is rejected from its 4 header bytes, before any
 * buffering for it.
 */

/** A frame header that no honest peer sends; the connection must be closed. */
export class FrameError extends Error {
  override name = "FrameError";
}

export class Framer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** @param frameBytesMax the largest frame body accepted (jute.maxbuffer). */
  constructor(private readonly frameBytesMax: number) {}

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Adds received bytes; returns every frame body they complete, in order. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const frames: Buffer[] = [];
    while (this.pendingBytes >= 4) {
      const length = this.peekLength();
      if (length < 0 || length > this.frameBytesMax) {
        throw new FrameError(`frame length ${length} outside 0..${this.frameBytesMax}`);
      }
      if (this.pendingBytes < 4 + length) break;
      const joined = this.take(4 + length);
      frames.push(joined.subarray(4));
    }
    return frames;
  }

  /** The first 4 buffered bytes as a big-endian int (caller ensures 4 are buffered). */
  peekLength(): number {
    const first = this.pending[0]!;
    if (first.length >= 4) return first.readInt32BE(0);
    const header = Buffer.concat(this.pending, Math.min(this.pendingBytes, 4) + 0).subarray(0, 4);
    return header.readInt32BE(0);
  }

  /**
   * Removes the first `bytes` buffered bytes. A frame that spans chunks is copied once,
   * its own bytes only: what follows it in the last chunk stays a view of that chunk
   * (copying it along would copy a large frame that arrives behind it twice).
   */
  private take(bytes: number): Buffer {
    const first = this.pending[0]!;
    this.pendingBytes -= bytes;
    if (first.length === bytes) {
      this.pending.shift();
      return first;
    }
    if (first.length > bytes) {
      this.pending[0] = first.subarray(bytes);
      return first.subarray(0, bytes);
    }
    return takeJoined(this.pending, bytes);
  }
}

/**
 * Copies the first `bytes` bytes of `chunks` (which must hold that many) into one buffer and
 * removes them from `chunks`: chunks used whole are dropped, one used in part keeps its rest as
 * a view. Only those bytes are copied.
 */
export function takeJoined(chunks: Buffer[], bytes: number): Buffer {
  const joined = Buffer.allocUnsafe(bytes);
  let filled = 0;
  let used = 0;
  while (filled < bytes) {
    const chunk = chunks[used]!;
    const wanted = bytes - filled;
    if (chunk.length > wanted) {
      chunk.copy(joined, filled, 0, wanted);
      chunks[used] = chunk.subarray(wanted);
      filled = bytes;
    } else {
      chunk.copy(joined, filled);
      filled += chunk.length;
      used++;
    }
  }
  chunks.splice(0, used);
  return joined;
}

/** Prefixes a body with its 4-byte length. */
export function frame(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}
