/**
 * Typed codecs for jute records: each record of zookeeper.jute is declared once as
 * an ordered list of fields, and the same declaration encodes and decodes it.
 */
import { JuteDecodeError, JuteReader, JuteWriter } from "./binary.js";

/** Reads and writes one jute type. */
export interface Codec<T> {
  readonly name: string;
  /** For records: the fields in wire order (used by generic tools and tests). */
  readonly fields?: ReadonlyArray<readonly [string, Codec<unknown>]>;
  /** For vectors: the item codec. */
  readonly item?: Codec<unknown>;
  write(writer: JuteWriter, value: T): void;
  read(reader: JuteReader): T;
}

export const int: Codec<number> = {
  name: "int",
  write: (w, v) => void w.int(v),
  read: (r) => r.int(),
};

export const long: Codec<bigint> = {
  name: "long",
  write: (w, v) => void w.long(v),
  read: (r) => r.long(),
};

export const bool: Codec<boolean> = {
  name: "boolean",
  write: (w, v) => void w.bool(v),
  read: (r) => r.bool(),
};

/** A jute `buffer`; null is kept distinct from empty, as ZooKeeper does. */
export const buffer: Codec<Buffer | null> = {
  name: "buffer",
  write: (w, v) => void w.buffer_(v),
  read: (r) => r.buffer_(),
};

/** A jute `ustring`; a null string on the wire reads as "" (ZooKeeper rejects both as paths). */
export const ustring: Codec<string> = {
  name: "ustring",
  write: (w, v) => void w.string(v),
  read: (r) => r.string() ?? "",
};

/** A jute `vector<T>`; a null vector on the wire reads as []. */
export function vector<T>(item: Codec<T>): Codec<T[]> {
  return {
    name: `vector<${item.name}>`,
    item: item as Codec<unknown>,
    write(w, values) {
      w.int(values.length);
      for (const value of values) item.write(w, value);
    },
    read(r) {
      const count = r.int();
      if (count === -1) return [];
      if (count < 0) throw new JuteDecodeError(`negative vector count ${count}`);
      // Every item takes at least one byte: a count larger than what remains is a lie.
      if (count > r.remaining)
        throw new JuteDecodeError(`vector count ${count} exceeds ${r.remaining} bytes`);
      const values: T[] = new Array(count);
      for (let i = 0; i < count; i++) values[i] = item.read(r);
      return values;
    },
  };
}

type FieldCodecs = Record<string, Codec<unknown>>;
/** The TypeScript shape of a record declared with `record(...)`. */
export type RecordOf<F extends FieldCodecs> = { [K in keyof F]: F[K] extends Codec<infer T> ? T : never };

/** How a generated record codec writes and reads a field of each primitive type. */
const inlined = new Map<Codec<unknown>, { write: string; read: string }>([
  [int as Codec<unknown>, { write: "w.int(#)", read: "r.int()" }],
  [long as Codec<unknown>, { write: "w.long(#)", read: "r.long()" }],
  [bool as Codec<unknown>, { write: "w.bool(#)", read: "r.bool()" }],
  [buffer as Codec<unknown>, { write: "w.buffer_(#)", read: "r.buffer_()" }],
  [ustring as Codec<unknown>, { write: "w.string(#)", read: '(r.string() ?? "")' }],
]);

/**
 * Declares a jute record; field order is the object's key order, which is the wire order.
 * Its write and read are generated for its fields (as protobufjs generates its codecs):
 * a loop over the fields with a computed key made every field access megamorphic, and
 * records are on every request's path. Field names come from the declarations in this
 * package and are checked to be plain identifiers.
 */
export function record<F extends FieldCodecs>(name: string, fields: F): Codec<RecordOf<F>> {
  const entries = Object.entries(fields);
  const codecs = entries.map(([, codec]) => codec);
  const writes: string[] = [];
  const reads: string[] = [];
  entries.forEach(([field, codec], i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) throw new Error(`record ${name}: field name ${field}`);
    const primitive = inlined.get(codec);
    writes.push(
      primitive !== undefined
        ? `${primitive.write.replace("#", `v.${field}`)};`
        : `c[${i}].write(w, v.${field});`,
    );
    reads.push(`${field}: ${primitive !== undefined ? primitive.read : `c[${i}].read(r)`}`);
  });
  // Object literal properties are evaluated in source order: the wire order.
  const compile = new Function(
    "c",
    `return [function write(w, v) { ${writes.join(" ")} }, function read(r) { return { ${reads.join(", ")} }; }];`,
  ) as (c: Codec<unknown>[]) => [Codec<RecordOf<F>>["write"], Codec<RecordOf<F>>["read"]];
  const [write, read] = compile(codecs);
  return { name, fields: entries, write, read };
}

/** Encodes one value to a fresh buffer. */
export function encode<T>(codec: Codec<T>, value: T): Buffer {
  const writer = new JuteWriter();
  codec.write(writer, value);
  return Buffer.from(writer.toBuffer());
}

/**
 * Encodes one value into a buffer of about `bytes` bytes (grown if short) and returns the
 * bytes written as a view: for a caller that knows the size, one buffer and no copies.
 */
export function encodeSized<T>(codec: Codec<T>, value: T, bytes: number): Buffer {
  const writer = new JuteWriter(bytes);
  codec.write(writer, value);
  return writer.toBuffer();
}

/** Decodes exactly one value; trailing bytes are allowed only when `allowTrailing`. */
export function decode<T>(codec: Codec<T>, bytes: Buffer, allowTrailing = false): T {
  const reader = new JuteReader(bytes);
  const value = codec.read(reader);
  if (!allowTrailing && reader.remaining !== 0) {
    throw new JuteDecodeError(`${reader.remaining} trailing bytes after ${codec.name}`);
  }
  return value;
}
