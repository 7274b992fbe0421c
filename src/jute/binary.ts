/**
 * Jute binary encoding, as Apache ZooKeeper's BinaryOutputArchive/BinaryInputArchive:
 * big-endian int (4 bytes) and long (8 bytes), boolean as one byte, buffers and
 * strings as an int length then the bytes (-1 for null), vectors as an int count
 * (-1 for null) then the items. Pure: no sockets, no files.
 */

/** Raised when bytes do not decode as the record they claim to be. */
export class JuteDecodeError extends Error {
  override name = "JuteDecodeError";
}

/** Strings up to this many chars are tried as ASCII, byte by byte (JuteWriter.string). */
const asciiCopyCharsMax = 64;

/** A buffer the writer took without copying it: it goes in front of own byte `at`. */
interface DetachedPart {
  readonly at: number;
  readonly bytes: Buffer;
  /** Where it ends in the bytes written (own and detached). */
  readonly end: number;
}

/**
 * Appends jute values to a growing buffer. A writer made with `detachBytesMin` does not copy
 * a buffer field or raw bytes that long: it keeps them beside its own bytes and hands
 * everything out as parts (`toParts`), for a gathering write.
 */
export class JuteWriter {
  private buffer: Buffer;
  /** A view on `buffer` for 64-bit writes (V8's DataView is far faster than Buffer's BigInt writes). */
  private view: DataView;
  /** Bytes in `buffer`. */
  private length = 0;
  private detached: DetachedPart[] | null = null;
  private detachedBytes = 0;

  constructor(
    initialBytes = 256,
    private readonly detachBytesMin = Number.POSITIVE_INFINITY,
  ) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  int(value: number): this {
    this.reserve(4);
    this.buffer.writeInt32BE(value | 0, this.length);
    this.length += 4;
    return this;
  }

  long(value: bigint): this {
    this.reserve(8);
    this.view.setBigInt64(this.length, value);
    this.length += 8;
    return this;
  }

  bool(value: boolean): this {
    this.reserve(1);
    this.buffer[this.length++] = value ? 1 : 0;
    return this;
  }

  /** A length-prefixed byte buffer; null is written as length -1. */
  buffer_(value: Buffer | null): this {
    if (value === null) return this.int(-1);
    this.int(value.length);
    if (value.length >= this.detachBytesMin) return this.detach(value);
    this.reserve(value.length);
    value.copy(this.buffer, this.length);
    this.length += value.length;
    return this;
  }

  /** A length-prefixed UTF-8 string. */
  string(value: string | null): this {
    if (value === null) return this.int(-1);
    if (value.length <= asciiCopyCharsMax && this.ascii(value)) return this;
    const bytes = Buffer.byteLength(value, "utf8");
    this.int(bytes);
    this.reserve(bytes);
    this.buffer.write(value, this.length, bytes, "utf8");
    this.length += bytes;
    return this;
  }

  /**
   * Writes a short string as length and bytes if every char is ASCII (a path, usually):
   * a loop here is about four times faster than Buffer's two native calls. Returns false,
   * having written nothing that counts, at the first char that is not.
   */
  private ascii(value: string): boolean {
    const chars = value.length;
    this.reserve(4 + chars);
    const buffer = this.buffer;
    const start = this.length + 4;
    for (let i = 0; i < chars; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) return false;
      buffer[start + i] = code;
    }
    this.view.setInt32(this.length, chars);
    this.length = start + chars;
    return true;
  }

  /** Raw bytes with no length prefix. */
  raw(value: Buffer): this {
    if (value.length >= this.detachBytesMin) return this.detach(value);
    this.reserve(value.length);
    value.copy(this.buffer, this.length);
    this.length += value.length;
    return this;
  }

  /** Takes `value` as the next bytes without copying it (it must not change until written out). */
  private detach(value: Buffer): this {
    this.detachedBytes += value.length;
    this.detached ??= [];
    this.detached.push({ at: this.length, bytes: value, end: this.length + this.detachedBytes });
    return this;
  }

  /** Overwrites an int already written at `offset` (used for frame lengths). */
  patchInt(offset: number, value: number): void {
    this.buffer.writeInt32BE(value | 0, this.ownOffset(offset));
  }

  /** Where byte `offset` of everything written lies in the writer's own buffer. */
  private ownOffset(offset: number): number {
    const detached = this.detached;
    if (detached === null) return offset;
    for (let i = detached.length - 1; i >= 0; i--) {
      const part = detached[i]!;
      if (part.end <= offset) return offset - (part.end - part.at);
      if (part.end - part.bytes.length < offset + 4) {
        throw new RangeError(`bytes at ${offset} are a detached buffer's, not the writer's`);
      }
    }
    return offset;
  }

  /** Bytes written so far, detached ones included. */
  get byteLength(): number {
    return this.length + this.detachedBytes;
  }

  /** Starts over at the beginning, keeping the buffer (for a writer reused per message). */
  reset(): void {
    this.length = 0;
    this.detached = null;
    this.detachedBytes = 0;
  }

  /** The bytes written so far: a view of the writer's buffer, or a copy when some were detached. */
  toBuffer(): Buffer {
    if (this.detached !== null) return Buffer.concat(this.toParts(), this.byteLength);
    return this.buffer.subarray(0, this.length);
  }

  /** The bytes written so far, in order: views of the writer's buffer and the detached buffers. */
  toParts(): Buffer[] {
    const detached = this.detached;
    if (detached === null) return [this.buffer.subarray(0, this.length)];
    const parts: Buffer[] = [];
    let from = 0;
    for (const part of detached) {
      if (part.at > from) parts.push(this.buffer.subarray(from, part.at));
      parts.push(part.bytes);
      from = part.at;
    }
    if (this.length > from) parts.push(this.buffer.subarray(from, this.length));
    return parts;
  }
}

/**
 * A `buffer` field at least this long, and at least three quarters of the memory it sits
 * in, is returned as a view by a reader told its bytes are never written again (see
 * `JuteReader.sharingLargeValues`); others are copied, so that a value never keeps much
 * more than itself alive (a small value, a whole socket read).
 */
export const sharedValueBytesMin = 16 * 1024;

/** Reads jute values from a buffer, checking every length against what remains. */
export class JuteReader {
  private offset: number;
  private view: DataView | null = null;
  private shareLargeValues = false;

  constructor(
    private readonly buffer: Buffer,
    offset = 0,
    private readonly end = buffer.length,
  ) {
    this.offset = offset;
  }

  /**
   * A reader whose large `buffer` fields are views of `buffer`, not copies: for bytes that
   * nothing writes to again (a frame read from a socket), where a copy of a 100 KiB value
   * costs more than the rest of the request.
   */
  static sharingLargeValues(buffer: Buffer): JuteReader {
    const reader = new JuteReader(buffer);
    reader.shareLargeValues = true;
    return reader;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  private need(bytes: number): void {
    if (bytes < 0 || this.offset + bytes > this.end) {
      throw new JuteDecodeError(
        `need ${bytes} bytes at offset ${this.offset}, have ${this.end - this.offset}`,
      );
    }
  }

  int(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  long(): bigint {
    this.need(8);
    this.view ??= new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    const value = this.view.getBigInt64(this.offset);
    this.offset += 8;
    return value;
  }

  bool(): boolean {
    this.need(1);
    return this.buffer[this.offset++] !== 0;
  }

  buffer_(): Buffer | null {
    const length = this.int();
    if (length === -1) return null;
    if (length < -1) throw new JuteDecodeError(`negative buffer length ${length}`);
    this.need(length);
    const view = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    const shared =
      this.shareLargeValues && length >= sharedValueBytesMin && length * 4 >= view.buffer.byteLength * 3;
    return shared ? view : Buffer.from(view);
  }

  string(): string | null {
    const length = this.int();
    if (length === -1) return null;
    if (length < -1) throw new JuteDecodeError(`negative string length ${length}`);
    this.need(length);
    const value = this.buffer.toString("utf8", this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** The bytes that remain, without consuming them. */
  rest(): Buffer {
    return this.buffer.subarray(this.offset, this.end);
  }

  skip(bytes: number): void {
    this.need(bytes);
    this.offset += bytes;
  }
}
