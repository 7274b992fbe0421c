/**
 * The bytes of Apache ZooKeeper 3.8's transaction log files (FileTxnLog, Util):
 * a FileHeader {magic "ZKLG", version 2, dbid}, then per txn an Adler32 checksum
 * (long), the txn entry as a jute buffer (TxnHeader, txn record, optional
 * TxnDigest) and an end-of-record byte 'B'. Preallocated space is zeros, so a zero
 * length marks the end. Pure: bytes in, bytes out.
 */
import { JuteDecodeError, JuteReader, JuteWriter } from "../jute/binary.js";
import { OpCode } from "../jute/constants.js";
import type { TxnHeader as TxnHeaderRecord } from "../jute/records.js";
import { FileHeader, TxnDigest, type TxnDigest as TxnDigestRecord, TxnHeader } from "../jute/records.js";
import { readTxn, type Txn, writeTxn } from "../jute/txn.js";
import { adler32, adler32Range } from "./adler32.js";

/** "ZKLG" as a big-endian int. */
export const txnLogMagic = 0x5a4b4c47;
export const txnLogVersion = 2;
export const fileHeaderBytes = 16;
const endOfRecord = 0x42;
const endOfRecordByte = Buffer.from([endOfRecord]);

/** Bytes on disk that do not hold what they claim: a checksum or a structure is wrong. */
export class CorruptionError extends Error {
  override name = "CorruptionError";
  constructor(
    message: string,
    /** Byte offset of the bad record in the file. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** The 16-byte file header of a new log. */
export function encodeLogHeader(dbid = 0n): Buffer {
  const writer = new JuteWriter(fileHeaderBytes);
  FileHeader.write(writer, { magic: txnLogMagic, version: txnLogVersion, dbid });
  return Buffer.from(writer.toBuffer());
}

/** A txn as it sits in a log file. */
export interface LogEntry {
  header: TxnHeaderRecord;
  txn: Txn;
  digest: TxnDigestRecord | null;
  /** The entry marshalled, in parts, when that is done already (see LoggedTxn.bytes). */
  readonly bytes?: readonly Buffer[];
}

/** Bytes of a record around its entry: checksum (8), length (4) and end byte (1). */
const recordOverheadBytes = 13;

/**
 * A starting size for the writer: the payload (unless it is `detachBytesMin` or longer, and
 * so not copied in) plus room for paths and the fields.
 */
function sizeHint(txn: Txn, detachBytesMin: number): number {
  switch (txn.type) {
    case OpCode.setData:
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer: {
      const data = txn.txn.data?.length ?? 0;
      return 128 + txn.txn.path.length * 3 + (data < detachBytesMin ? data : 0);
    }
    case OpCode.multi: {
      let bytes = 128;
      for (const inner of txn.txns) bytes += 16 + sizeHint(inner, detachBytesMin);
      return bytes;
    }
    default:
      return 128;
  }
}

/**
 * Values at least this long are written to the log from where they are (the request's or the
 * proposal's bytes, as their own part of one pwritev) instead of being copied into the batch.
 */
export const logDetachBytesMin = 16 * 1024;

/**
 * Records as FileTxnLog.append writes them, back to back: per entry the Adler32 checksum of
 * the entry (a long), the entry length-prefixed, then 'B'. Each entry is written once, in
 * place; values of `detachBytesMin` bytes or more are not copied but returned as parts of
 * their own, in order with the rest.
 */
export function encodeLogRecordParts(
  entries: readonly LogEntry[],
  detachBytesMin = logDetachBytesMin,
): Buffer[] {
  let hint = 0;
  for (const entry of entries) {
    const known = entry.bytes;
    hint += recordOverheadBytes;
    if (known === undefined) hint += sizeHint(entry.txn, detachBytesMin);
    else for (const part of known) hint += part.length < detachBytesMin ? part.length : 0;
  }
  const writer = new JuteWriter(hint, detachBytesMin);
  const starts: number[] = [];
  for (const entry of entries) {
    const start = writer.byteLength;
    starts.push(start);
    writer.long(0n).int(0);
    const known = entry.bytes;
    if (known !== undefined) for (const part of known) writer.raw(part);
    else writeEntry(writer, entry);
    writer.patchInt(start + 8, writer.byteLength - start - 12);
    writer.raw(endOfRecordByte);
  }
  const parts = writer.toParts();
  // The checksums, each over its entry's bytes wherever they lie among the parts.
  let part = 0;
  let partStart = 0;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i]! + 12;
    const end = (i + 1 < starts.length ? starts[i + 1]! : writer.byteLength) - 1;
    let sum = 1;
    for (let at = start; at < end; ) {
      while (partStart + parts[part]!.length <= at) partStart += parts[part++]!.length;
      const bytes = parts[part]!;
      const to = Math.min(end, partStart + bytes.length);
      sum = adler32Range(bytes, at - partStart, to - partStart, sum);
      at = to;
    }
    writer.patchInt(starts[i]! + 4, sum);
  }
  return parts;
}

/** The records of `entries` in one buffer (encodeLogRecordParts, joined). */
export function encodeLogRecords(entries: readonly LogEntry[]): Buffer {
  const parts = encodeLogRecordParts(entries);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** One entry's record (encodeLogRecords of one). */
export function encodeLogRecord(entry: LogEntry): Buffer {
  return encodeLogRecords([entry]);
}

/** Util.marshallTxnEntry: TxnHeader, txn, then the digest when there is one. */
function writeEntry(writer: JuteWriter, entry: LogEntry): void {
  TxnHeader.write(writer, entry.header);
  writeTxn(writer, entry.txn);
  if (entry.digest !== null) TxnDigest.write(writer, entry.digest);
}

/** Util.marshallTxnEntry: the entry's bytes in one buffer. */
export function marshallTxnEntry(entry: LogEntry): Buffer {
  const known = entry.bytes;
  if (known !== undefined) return known.length === 1 ? known[0]! : Buffer.concat(known);
  const writer = new JuteWriter(sizeHint(entry.txn, Number.POSITIVE_INFINITY));
  writeEntry(writer, entry);
  return writer.toBuffer();
}

/**
 * The entry's bytes in parts (`entry.bytes` when it has them): values of `logDetachBytesMin`
 * or more are parts of their own, not copied.
 */
export function marshalledParts(entry: LogEntry): readonly Buffer[] {
  if (entry.bytes !== undefined) return entry.bytes;
  const writer = new JuteWriter(sizeHint(entry.txn, logDetachBytesMin), logDetachBytesMin);
  writeEntry(writer, entry);
  return writer.toParts();
}

/**
 * The entry with its marshalled bytes kept beside it (a leader's proposal: sent, then logged),
 * a large value as a part of its own rather than copied in.
 */
export function withMarshalledBytes<T extends LogEntry>(entry: T): T & { readonly bytes: readonly Buffer[] } {
  return {
    header: entry.header,
    txn: entry.txn,
    digest: entry.digest,
    bytes: marshalledParts(entry),
  } as T & {
    readonly bytes: readonly Buffer[];
  };
}

/**
 * Decodes a marshalled txn entry (the inverse of marshallTxnEntry), keeping `bytes` as its
 * bytes. `bytes` must never be written again (a proposal as it came off the socket): a large
 * value in the txn is a view of them, not a copy, and the entry keeps them alive anyway.
 */
export function unmarshallTxnEntry(bytes: Buffer): LogEntry {
  const { header, txn, digest } = decodeTxnEntry(JuteReader.sharingLargeValues(bytes));
  return { header, txn, digest, bytes: [bytes] };
}

/** Decodes a marshalled txn entry; the entry does not refer to the reader's bytes (a view of a log file, say) unless the reader shares them. */
function decodeTxnEntry(reader: JuteReader): LogEntry {
  const header = TxnHeader.read(reader);
  const txn = readTxn(header.type, reader);
  const digest = reader.remaining > 0 ? TxnDigest.read(reader) : null;
  return { header, txn, digest };
}

/** What a log file holds, and where its valid records end. */
export interface ParsedLog {
  dbid: bigint;
  entries: LogEntry[];
  /** Where each entry's record ends in the file (to truncate after one). */
  ends: number[];
  /** Offset just past the last whole, valid record: a torn tail starts here. */
  validEnd: number;
  /** True when bytes after validEnd are a partial record rather than zeros or nothing. */
  tornTail: boolean;
}

/** Corruption in a log, with the last good zxid before it. */
export class LogCorruptionError extends CorruptionError {
  override name = "LogCorruptionError";
  constructor(
    message: string,
    offset: number,
    /** The zxid of the last good record before the damage (null when there is none). */
    readonly lastGoodZxid: bigint | null,
  ) {
    super(message, offset);
  }
}

/**
 * Reads a whole log file. A record that was never completely written (it runs past
 * the end of the file, or its end-of-record byte is still a preallocated zero) is a
 * torn tail: everything from it on was never acknowledged, because a batch is only
 * acknowledged after the fdatasync that covers all of it. A record that is complete
 * but whose checksum, end byte or content is wrong is corruption, reported with its
 * offset: a flipped bit must stop start-up, not silently shorten the log.
 */
export function parseTxnLog(bytes: Buffer, recordBytesMax = 0xfffff + 1024): ParsedLog {
  if (bytes.length < fileHeaderBytes)
    throw new LogCorruptionError("log file shorter than its header", 0, null);
  const fileHeader = FileHeader.read(new JuteReader(bytes, 0, fileHeaderBytes));
  if (fileHeader.magic !== txnLogMagic)
    throw new LogCorruptionError(`bad magic 0x${(fileHeader.magic >>> 0).toString(16)}`, 0, null);
  if (fileHeader.version !== txnLogVersion)
    throw new LogCorruptionError(`unsupported log version ${fileHeader.version}`, 0, null);
  const entries: LogEntry[] = [];
  const ends: number[] = [];
  const lastGood = () => entries[entries.length - 1]?.header.zxid ?? null;
  const torn = (offset: number): ParsedLog => ({
    dbid: fileHeader.dbid,
    entries,
    ends,
    validEnd: offset,
    tornTail: !isZeros(bytes, offset),
  });
  let offset = fileHeaderBytes;
  for (;;) {
    if (offset + 12 > bytes.length) return torn(offset);
    const checksum = bytes.readBigInt64BE(offset);
    const length = bytes.readInt32BE(offset + 8);
    // Preallocated zeros: the end of what was written (anything non-zero later is torn).
    if (length === 0 && checksum === 0n) return torn(offset);
    if (length <= 0 || length > recordBytesMax)
      throw new LogCorruptionError(`record length ${length} out of range`, offset, lastGood());
    const end = offset + 12 + length + 1;
    if (end > bytes.length) return torn(offset);
    const body = bytes.subarray(offset + 12, offset + 12 + length);
    const endByte = bytes[end - 1];
    if (endByte === 0) return torn(offset);
    if (BigInt(adler32(body)) !== checksum || endByte !== endOfRecord)
      throw new LogCorruptionError("checksum or end-of-record mismatch", offset, lastGood());
    try {
      // Decoded from the file's bytes, not a copy of them: replayed entries need none.
      entries.push(decodeTxnEntry(new JuteReader(body)));
    } catch (error) {
      if (error instanceof JuteDecodeError)
        throw new LogCorruptionError(`undecodable txn: ${error.message}`, offset, lastGood());
      throw error;
    }
    ends.push(end);
    offset = end;
  }
}

const zeroBlock = Buffer.alloc(64 * 1024);

/** Whether every byte from `from` on is zero (compared a block at a time, natively). */
function isZeros(bytes: Buffer, from: number): boolean {
  for (let start = from; start < bytes.length; start += zeroBlock.length) {
    const end = Math.min(bytes.length, start + zeroBlock.length);
    if (bytes.compare(zeroBlock, 0, end - start, start, end) !== 0) return false;
  }
  return true;
}

/** "log.<zxid in hex>", the name of the log whose first txn is `zxid`. */
export function logFileName(zxid: bigint): string {
  return `log.${zxid.toString(16)}`;
}
