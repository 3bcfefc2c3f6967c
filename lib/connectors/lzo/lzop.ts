/**
 * The lzop file format (the `.lzo` files of the `lzop` tool, which Hadoop's LZO codec and the tools built on it
 * read), streamed block by block, and the Hadoop `.lzo.index` of a file's blocks. Written from the published
 * layout of the format (docs/lzo.md): a header (magic, versions, method, flags, mode, time, name, header
 * checksum), then blocks of at most 256 KiB of data, each with its uncompressed and compressed sizes and the
 * checksums its flags ask for, stored as they are when compression does not make them smaller, then four zero
 * bytes. Memory holds one block at a time.
 */
import { crc32 } from 'node:zlib';
import { IdxError } from '../../core/errors.ts';
import { ByteReader } from '../pgp/bytes.ts';
import { LzoDataError, lzo1xCompress, lzo1xDecompress, lzo1xTable } from './lzo1x.ts';

/** The nine bytes every lzop file starts with. */
export const LZOP_MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The largest block `lzop` itself reads (larger ones it refuses), and the size our files use. */
export const LZOP_BLOCK_SIZE = 256 * 1024;
/** The largest block read: Hadoop's LZO reader's limit (`lzop` stops at 256 KiB). */
export const LZOP_MAX_READ_BLOCK = 64 * 1024 * 1024;

/** Header flags (`F_*` of the format). */
export const LzopFlag = {
  adler32Data: 0x1,
  adler32Compressed: 0x2,
  extraField: 0x40,
  crc32Data: 0x100,
  crc32Compressed: 0x200,
  multipart: 0x400,
  filter: 0x800,
  crc32Header: 0x1000,
  osUnix: 0x03000000,
} as const;

/** Compression methods of the header that are LZO1X (1: LZO1X-1, 2: LZO1X-1(15), 3: LZO1X-999). */
const LZO1X_METHODS = new Set([1, 2, 3]);
/** What we write: the lzop 1.03 layout, LZO 2.10, LZO1X-1 (method 1, level 5 as lzop and Hadoop write it). */
const WRITE_VERSION = 0x1030;
const WRITE_LIB_VERSION = 0x20a0;
const WRITE_NEEDED = 0x0940;
/** Block checksums we write: Adler-32 of the data and, for compressed blocks, of the compressed bytes. */
const WRITE_FLAGS = LzopFlag.osUnix | LzopFlag.adler32Data | LzopFlag.adler32Compressed;

/** Adler-32 (RFC 1950), the checksum lzop uses by default. */
export function adler32(data: Uint8Array, start = 1): number {
  let a = start & 0xffff;
  let b = start >>> 16;
  const n = data.length;
  let i = 0;
  while (i < n) {
    // 5552 bytes is the most that can be summed before the sums must be reduced (zlib's NMAX).
    const end = Math.min(i + 5552, n);
    for (; i < end; i++) {
      a += data[i] as number;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** The header of a file we write, for `name` (its last path segment, at most 255 bytes) and `mtime`. */
export function lzopHeader(name: string, mtime: Date): Buffer {
  const base = Buffer.from(name.slice(name.lastIndexOf('/') + 1), 'utf8');
  const stored = base.length <= 255 ? base : Buffer.alloc(0);
  const fixed = Buffer.alloc(24);
  fixed.writeUInt16BE(WRITE_VERSION, 0);
  fixed.writeUInt16BE(WRITE_LIB_VERSION, 2);
  fixed.writeUInt16BE(WRITE_NEEDED, 4);
  fixed.writeUInt8(1, 6);
  fixed.writeUInt8(5, 7);
  fixed.writeUInt32BE(WRITE_FLAGS >>> 0, 8);
  fixed.writeUInt32BE(0o100644, 12);
  fixed.writeUInt32BE(Math.max(0, Math.floor(mtime.getTime() / 1000)) >>> 0, 16);
  fixed.writeUInt32BE(0, 20);
  const checked = Buffer.concat([fixed, Buffer.from([stored.length]), stored]);
  return Buffer.concat([LZOP_MAGIC, checked, u32(adler32(checked))]);
}

/** What {@link lzopCompress} writes besides the data. */
export interface LzopWriteOptions {
  /** The original file's name, recorded in the header (what `lzop -d` restores). */
  readonly name: string;
  /** The modification time recorded in the header. */
  readonly mtime: Date;
  /** Bytes of data per block. @default {@link LZOP_BLOCK_SIZE} */
  readonly blockSize?: number;
  /** Called with the file offset of each block as it is written (the Hadoop index entry). */
  readonly onBlock?: (offset: number) => void;
}

/**
 * Compresses a byte stream into an lzop file: header, LZO1X blocks (stored when that is smaller) with Adler-32
 * checksums, and the end marker. Yields one piece per block.
 */
export async function* lzopCompress(
  source: AsyncIterable<Uint8Array>,
  options: LzopWriteOptions,
): AsyncGenerator<Buffer> {
  const size = options.blockSize ?? LZOP_BLOCK_SIZE;
  const table = lzo1xTable();
  const header = lzopHeader(options.name, options.mtime);
  let offset = header.length;
  yield header;
  const block = Buffer.allocUnsafe(size);
  let filled = 0;
  const flush = (): Buffer => {
    const data = block.subarray(0, filled);
    const packed = lzo1xCompress(data, table);
    const compressed = packed.length < data.length;
    const head = Buffer.allocUnsafe(compressed ? 16 : 12);
    head.writeUInt32BE(data.length, 0);
    head.writeUInt32BE(compressed ? packed.length : data.length, 4);
    head.writeUInt32BE(adler32(data), 8);
    if (compressed) head.writeUInt32BE(adler32(packed), 12);
    options.onBlock?.(offset);
    // The stored bytes are copied: `block` is reused for the next block while this one is still being written.
    const piece = Buffer.concat([head, compressed ? packed : data]);
    offset += piece.length;
    filled = 0;
    return piece;
  };
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(size - filled, chunk.length - at);
      block.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === size) yield flush();
    }
  }
  if (filled > 0) yield flush();
  yield Buffer.alloc(4);
}

/** A coded error about an lzop file, `at` the byte offset where the problem is. */
function lzoError(
  code: 'IDX_LZO_CORRUPT' | 'IDX_LZO_CHECKSUM' | 'IDX_LZO_UNSUPPORTED',
  message: string,
  expected: string,
  received: string,
): IdxError {
  return new IdxError(code, message, { expected, received });
}

/** The header of an lzop file, as read. */
export interface LzopHeader {
  readonly version: number;
  readonly method: number;
  readonly level: number;
  readonly flags: number;
  readonly name: string;
  readonly mtime: number;
  /** Bytes from the magic to the end of the header checksum (and extra field). */
  readonly size: number;
}

/** One block as read: where its size fields are in the file, and its two sizes. */
export interface LzopBlock {
  readonly offset: number;
  readonly size: number;
  readonly compressedSize: number;
}

/** What {@link lzopDecompress} reports as it reads. */
export interface LzopReadOptions {
  /** Largest uncompressed block accepted. @default {@link LZOP_MAX_READ_BLOCK} */
  readonly maxBlockSize?: number;
  readonly onHeader?: (header: LzopHeader) => void;
  readonly onBlock?: (block: LzopBlock) => void;
}

async function readHeader(reader: ByteReader, start: number): Promise<LzopHeader> {
  const magic = await reader.readExact(LZOP_MAGIC.length, 'the lzop magic');
  if (!magic.equals(LZOP_MAGIC)) {
    throw lzoError(
      'IDX_LZO_CORRUPT',
      start === 0
        ? 'not an lzop file: it does not start with the lzop magic'
        : `the bytes after the end of the lzop data at byte ${start} are not another lzop file`,
      'the lzop magic 89 4c 5a 4f 00 0d 0a 1a 0a',
      magic.toString('hex').replace(/(..)(?!$)/g, '$1 '),
    );
  }
  const parts: Buffer[] = [];
  const take = async (n: number) => {
    const b = await reader.readExact(n, 'the lzop header');
    parts.push(b);
    return b;
  };
  const fixed = await take(6);
  const version = fixed.readUInt16BE(0);
  const needed = fixed.readUInt16BE(4);
  // The level byte and the high half of the time came with lzop 0.94.
  const modern = version >= 0x0940;
  const m = await take(modern ? 2 : 1);
  const method = m[0] as number;
  const level = modern ? (m[1] as number) : 0;
  const flags = (await take(4)).readUInt32BE(0);
  if (needed > 0x1040 || !LZO1X_METHODS.has(method)) {
    throw lzoError(
      'IDX_LZO_UNSUPPORTED',
      `the lzop file needs lzop ${needed.toString(16)} and method ${method}`,
      'an LZO1X file (methods 1 to 3, as lzop -1 to -9 write) readable by lzop 1.04',
      `method ${method}, version needed 0x${needed.toString(16)}`,
    );
  }
  if (flags & (LzopFlag.filter | LzopFlag.multipart)) {
    throw lzoError(
      'IDX_LZO_UNSUPPORTED',
      'the lzop file uses a filter or is one part of a multi-volume archive',
      'a file without filter or multipart flag (lzop writes neither by default)',
      `flags 0x${flags.toString(16)}`,
    );
  }
  await take(4); // mode
  const mtime = (await take(4)).readUInt32BE(0);
  if (modern) await take(4); // high half of the time
  const nameLength = (await take(1))[0] as number;
  const name = (await take(nameLength)).toString('utf8');
  const stored = (await reader.readExact(4, 'the lzop header checksum')).readUInt32BE(0);
  const checked = Buffer.concat(parts);
  const computed = flags & LzopFlag.crc32Header ? crc32(checked) >>> 0 : adler32(checked);
  if (computed !== stored) {
    throw lzoError(
      'IDX_LZO_CHECKSUM',
      'the lzop header is corrupt (checksum error)',
      `header checksum ${computed.toString(16).padStart(8, '0')}`,
      stored.toString(16).padStart(8, '0'),
    );
  }
  let size = LZOP_MAGIC.length + checked.length + 4;
  if (flags & LzopFlag.extraField) {
    const length = (await reader.readExact(4, 'the lzop extra field')).readUInt32BE(0);
    if (length > 64 * 1024) {
      throw lzoError('IDX_LZO_CORRUPT', 'the lzop extra field is too large', 'at most 65536 bytes', `${length} bytes`);
    }
    await reader.readExact(length + 4, 'the lzop extra field');
    size += 8 + length;
  }
  return { version, method, level, flags, name, mtime, size };
}

function checkSum(kind: string, expected: number, data: Uint8Array, crc: boolean, at: number): void {
  const actual = crc ? crc32(data) >>> 0 : adler32(data);
  if (actual !== expected) {
    throw lzoError(
      'IDX_LZO_CHECKSUM',
      `the ${crc ? 'CRC-32' : 'Adler-32'} of the ${kind} of the block at byte ${at} does not match`,
      expected.toString(16).padStart(8, '0'),
      actual.toString(16).padStart(8, '0'),
    );
  }
}

/**
 * Decompresses an lzop file, yielding each block's data; the checksums its flags carry are verified, each block
 * before its data is handed on. Files written one after the other (`cat a.lzo b.lzo`) are read in turn, as
 * `lzop -d` does; anything else after the end marker, a truncated file or a corrupt block is a coded error.
 */
export async function* lzopDecompress(
  source: AsyncIterable<Uint8Array>,
  options: LzopReadOptions = {},
): AsyncGenerator<Buffer> {
  const maxBlock = options.maxBlockSize ?? LZOP_MAX_READ_BLOCK;
  const reader = new ByteReader(source, (what, expected, got) =>
    lzoError(
      'IDX_LZO_CORRUPT',
      `the lzop file is truncated: it ends inside ${what}`,
      `${expected} bytes`,
      `${got} bytes`,
    ),
  );
  try {
    do {
      const start = reader.consumed;
      const header = await readHeader(reader, start);
      options.onHeader?.(header);
      const dataChecks = (header.flags & LzopFlag.adler32Data ? 1 : 0) + (header.flags & LzopFlag.crc32Data ? 1 : 0);
      const packedChecks =
        (header.flags & LzopFlag.adler32Compressed ? 1 : 0) + (header.flags & LzopFlag.crc32Compressed ? 1 : 0);
      for (;;) {
        const offset = reader.consumed;
        const size = (await reader.readExact(4, 'a block size')).readUInt32BE(0);
        if (size === 0) break;
        const compressedSize = (await reader.readExact(4, 'a block size')).readUInt32BE(0);
        if (size > maxBlock) {
          throw lzoError(
            'IDX_LZO_CORRUPT',
            `the block at byte ${offset} holds ${size} bytes, more than the ${maxBlock} an LZO reader accepts`,
            `at most ${maxBlock} bytes a block`,
            `${size} bytes`,
          );
        }
        if (compressedSize > size) {
          throw lzoError(
            'IDX_LZO_CORRUPT',
            `the block at byte ${offset} is larger compressed than uncompressed`,
            `at most ${size} compressed bytes`,
            `${compressedSize}`,
          );
        }
        const compressed = compressedSize < size;
        const sums = await reader.readExact(4 * (dataChecks + (compressed ? packedChecks : 0)), 'a block checksum');
        const data = await reader.readExact(compressedSize, 'a block');
        options.onBlock?.({ offset, size, compressedSize });
        let k = 0;
        const next = () => sums.readUInt32BE(4 * k++);
        const adlerD = header.flags & LzopFlag.adler32Data ? next() : undefined;
        const crcD = header.flags & LzopFlag.crc32Data ? next() : undefined;
        if (compressed) {
          if (header.flags & LzopFlag.adler32Compressed) checkSum('compressed data', next(), data, false, offset);
          if (header.flags & LzopFlag.crc32Compressed) checkSum('compressed data', next(), data, true, offset);
        }
        let plain: Buffer;
        try {
          plain = compressed ? lzo1xDecompress(data, size) : Buffer.from(data);
        } catch (error) {
          if (!(error instanceof LzoDataError)) throw error;
          throw lzoError(
            'IDX_LZO_CORRUPT',
            `the block at byte ${offset} is corrupt: ${error.reason}`,
            `LZO1X data of ${size} bytes`,
            'data that does not decompress',
          );
        }
        if (adlerD !== undefined) checkSum('data', adlerD, plain, false, offset);
        if (crcD !== undefined) checkSum('data', crcD, plain, true, offset);
        yield plain;
      }
    } while (!(await reader.atEnd()));
  } finally {
    await reader.close();
  }
}

/** The Hadoop `.lzo.index` of block offsets: one big-endian 64-bit integer per block, nothing else. */
export function lzoIndex(offsets: readonly number[]): Buffer {
  const out = Buffer.alloc(8 * offsets.length);
  offsets.forEach((o, i) => {
    out.writeBigInt64BE(BigInt(o), 8 * i);
  });
  return out;
}
