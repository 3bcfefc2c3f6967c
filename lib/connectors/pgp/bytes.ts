/** Pull-based reading of a byte stream, the base of the streaming packet parser. */
import { IdxError } from '../../core/errors.ts';

/**
 * Reads a byte stream a few bytes or one chunk at a time. Only the chunk being read is held, so memory stays
 * flat however long the stream is.
 */
export class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>;
  #chunk: Buffer = Buffer.alloc(0);
  #pos = 0;
  #ended = false;
  readonly #truncated: (what: string, expected: number, got: number) => Error;
  /** Bytes consumed so far (for messages that say where a problem is). */
  consumed = 0;

  /** `onTruncated` makes the error of a stream that ends inside a structure (by default a PGP one). */
  constructor(
    source: AsyncIterable<Uint8Array>,
    onTruncated: (what: string, expected: number, got: number) => Error = truncated,
  ) {
    this.#source = source[Symbol.asyncIterator]();
    this.#truncated = onTruncated;
  }

  /** Makes bytes available; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#ended) return false;
      const next = await this.#source.next();
      if (next.done) {
        this.#ended = true;
        return false;
      }
      this.#chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      this.#pos = 0;
    }
    return true;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /** The next byte, or undefined at the end of the stream. */
  async readByte(): Promise<number | undefined> {
    if (!(await this.#fill())) return undefined;
    this.consumed++;
    return this.#chunk[this.#pos++];
  }

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async readSome(max: number): Promise<Buffer | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#chunk.length - this.#pos);
    const out = this.#chunk.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    this.consumed += n;
    return out;
  }

  /** Exactly `n` bytes; `what` names them in the error raised when the stream ends first. */
  async readExact(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const part = await this.readSome(n - got);
      if (part === undefined) throw this.#truncated(what, n, got);
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, n);
  }

  /** Stops reading the source (lets a generator feeding it run its cleanup). */
  async close(): Promise<void> {
    await this.#source.return?.();
  }
}

/** The error for data that ends before a structure is complete. */
export function truncated(what: string, expected: number, got: number): IdxError {
  return new IdxError('IDX_PGP_FAILED', `the PGP data ends inside ${what}`, {
    expected: `${expected} bytes`,
    received: `${got} bytes`,
  });
}

/** Reads bytes of an in-memory buffer in order, raising a coded error when it is too short. */
export class BufferReader {
  /** The offset of the next byte. */
  pos = 0;

  constructor(
    readonly buf: Buffer,
    /** What the buffer holds, for messages. */
    readonly what: string,
  ) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The next byte. */
  byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw truncated(this.what, this.pos + 1, this.buf.length);
    this.pos++;
    return b;
  }

  /** The next `n` bytes (a view, not a copy). */
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw truncated(this.what, this.pos + n, this.buf.length);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A 2-byte big-endian number. */
  uint16(): number {
    return this.bytes(2).readUInt16BE(0);
  }

  /** A 4-byte big-endian number. */
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  /** An OpenPGP multiprecision integer (RFC 4880 §3.2): a bit count, then the big-endian bytes. */
  mpi(): Buffer {
    const bits = this.uint16();
    return this.bytes((bits + 7) >> 3);
  }

  /** Every byte not read yet. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

/** Encodes a big-endian unsigned integer as an OpenPGP MPI (leading zero bytes dropped). */
export function mpi(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  const bytes = value.subarray(start);
  const top = bytes[0] ?? 0;
  const bits = bytes.length === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(top));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, bytes]);
}

/** Left-pads a big-endian number to `size` bytes (MPIs drop leading zeros). */
export function leftPad(value: Buffer, size: number): Buffer {
  if (value.length >= size) return value;
  return Buffer.concat([Buffer.alloc(size - value.length), value]);
}

/** A 4-byte big-endian number. */
export function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A 2-byte big-endian number. */
export function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** The bytes left in a reader, as a stream of pieces. */
export async function* remainingBytes(reader: ByteReader, piece = 64 * 1024): AsyncGenerator<Buffer> {
  for (;;) {
    const part = await reader.readSome(piece);
    if (part === undefined) return;
    yield part;
  }
}
