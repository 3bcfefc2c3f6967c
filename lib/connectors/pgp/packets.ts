/**
 * OpenPGP packet framing (RFC 4880 §4.2, RFC 9580 §4.2): old and new headers, and the partial body lengths that
 * let a message of unknown size be written and read as a stream.
 */
import { IdxError } from '../../core/errors.ts';
import { BufferReader, type ByteReader, truncated } from './bytes.ts';

/** Packet tags this implementation reads or writes. */
export const Tag = {
  PublicKeyEncryptedSessionKey: 1,
  Signature: 2,
  SymmetricKeyEncryptedSessionKey: 3,
  OnePassSignature: 4,
  SecretKey: 5,
  PublicKey: 6,
  SecretSubkey: 7,
  CompressedData: 8,
  SymmetricallyEncryptedData: 9,
  Marker: 10,
  LiteralData: 11,
  Trust: 12,
  UserId: 13,
  PublicSubkey: 14,
  UserAttribute: 17,
  SymEncryptedIntegrityProtectedData: 18,
  ModificationDetectionCode: 19,
  AeadEncryptedData: 20,
  Padding: 21,
} as const;

/** The start of a packet: its tag and how its body length is given. */
export interface PacketHeader {
  readonly tag: number;
  /**
   * The body length; `partial` with the first part's length for a new-format partial body, `indeterminate` for
   * an old-format packet that runs to the end of the data.
   */
  readonly length: { kind: 'fixed'; bytes: number } | { kind: 'partial'; bytes: number } | { kind: 'indeterminate' };
}

function packetError(message: string): IdxError {
  return new IdxError('IDX_PGP_FAILED', `the OpenPGP data is malformed: ${message}`, {
    expected: 'OpenPGP packets (RFC 4880 / RFC 9580)',
  });
}

/** A new-format length (RFC 9580 §4.2.1): fixed, or a partial length when `partialAllowed`. */
async function readNewLength(reader: ByteReader, partialAllowed: boolean): Promise<PacketHeader['length']> {
  const first = await reader.readByte();
  if (first === undefined) throw truncated('a packet length', 1, 0);
  if (first < 192) return { kind: 'fixed', bytes: first };
  if (first < 224) {
    const second = await reader.readByte();
    if (second === undefined) throw truncated('a packet length', 2, 1);
    return { kind: 'fixed', bytes: ((first - 192) << 8) + second + 192 };
  }
  if (first === 255) return { kind: 'fixed', bytes: (await reader.readExact(4, 'a packet length')).readUInt32BE(0) };
  if (!partialAllowed) throw packetError('a partial body length where only a fixed length is allowed');
  return { kind: 'partial', bytes: 1 << (first & 0x1f) };
}

/** Reads a packet header, or returns undefined at the end of the data. */
export async function readPacketHeader(reader: ByteReader): Promise<PacketHeader | undefined> {
  const first = await reader.readByte();
  if (first === undefined) return undefined;
  if ((first & 0x80) === 0) {
    throw packetError(
      `byte 0x${first.toString(16).padStart(2, '0')} at offset ${reader.consumed - 1} is no packet header`,
    );
  }
  if (first & 0x40) {
    const tag = first & 0x3f;
    return { tag, length: await readNewLength(reader, true) };
  }
  const tag = (first >> 2) & 0x0f;
  const type = first & 0x03;
  if (type === 3) return { tag, length: { kind: 'indeterminate' } };
  const size = 1 << type;
  const bytes = await reader.readExact(size, 'a packet length');
  return { tag, length: { kind: 'fixed', bytes: bytes.readUIntBE(0, size) } };
}

/** Largest piece yielded at once while streaming a packet body. */
const PIECE = 64 * 1024;

/** Streams a packet's body, following partial body lengths, without holding more than one piece. */
export async function* packetBody(reader: ByteReader, header: PacketHeader): AsyncGenerator<Buffer> {
  if (header.length.kind === 'indeterminate') {
    for (;;) {
      const piece = await reader.readSome(PIECE);
      if (piece === undefined) return;
      yield piece;
    }
  }
  let length: { kind: 'fixed' | 'partial'; bytes: number } = header.length;
  for (;;) {
    let left = length.bytes;
    while (left > 0) {
      const piece = await reader.readSome(Math.min(left, PIECE));
      if (piece === undefined)
        throw truncated(`the body of a packet (tag ${header.tag})`, length.bytes, length.bytes - left);
      left -= piece.length;
      yield piece;
    }
    if (length.kind === 'fixed') return;
    const next = await readNewLength(reader, true);
    if (next.kind === 'indeterminate') return;
    length = next;
  }
}

/** Reads a whole packet body into memory, refusing one longer than `max` bytes (key material, signatures). */
export async function readPacketBody(
  reader: ByteReader,
  header: PacketHeader,
  max: number,
  what: string,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of packetBody(reader, header)) {
    size += piece.length;
    if (size > max) {
      throw new IdxError('IDX_PGP_FAILED', `${what} is larger than expected`, {
        expected: `at most ${max} bytes`,
        received: `more than ${max} bytes`,
      });
    }
    parts.push(Buffer.from(piece));
  }
  return Buffer.concat(parts);
}

/** Skips a packet body. */
export async function skipPacketBody(reader: ByteReader, header: PacketHeader): Promise<void> {
  for await (const _ of packetBody(reader, header)) {
    // Discarded.
  }
}

/** A packet in memory, as key blocks hold them. */
export interface Packet {
  readonly tag: number;
  readonly body: Buffer;
}

/** Splits an in-memory packet sequence (a key block) into packets. */
export function parsePackets(data: Buffer, what: string): Packet[] {
  const reader = new BufferReader(data, what);
  const packets: Packet[] = [];
  while (reader.remaining > 0) {
    const first = reader.byte();
    if ((first & 0x80) === 0) throw packetError(`${what}: byte ${reader.pos - 1} is no packet header`);
    let tag: number;
    let body: Buffer;
    if (first & 0x40) {
      tag = first & 0x3f;
      const parts: Buffer[] = [];
      for (;;) {
        const b = reader.byte();
        if (b < 192) parts.push(reader.bytes(b));
        else if (b < 224) parts.push(reader.bytes(((b - 192) << 8) + reader.byte() + 192));
        else if (b === 255) parts.push(reader.bytes(reader.uint32()));
        else {
          parts.push(reader.bytes(1 << (b & 0x1f)));
          continue;
        }
        break;
      }
      body = Buffer.concat(parts);
    } else {
      tag = (first >> 2) & 0x0f;
      const type = first & 0x03;
      body = type === 3 ? reader.rest() : reader.bytes(reader.bytes(1 << type).readUIntBE(0, 1 << type));
    }
    packets.push({ tag, body });
  }
  return packets;
}

/** A new-format header with a fixed length. */
export function packetHeader(tag: number, length: number): Buffer {
  const head = 0xc0 | tag;
  if (length < 192) return Buffer.from([head, length]);
  if (length < 8384) {
    const n = length - 192;
    return Buffer.from([head, (n >> 8) + 192, n & 0xff]);
  }
  const out = Buffer.alloc(6);
  out[0] = head;
  out[1] = 255;
  out.writeUInt32BE(length, 2);
  return out;
}

/** A whole packet with a fixed length. */
export function packet(tag: number, body: Buffer): Buffer {
  return Buffer.concat([packetHeader(tag, body.length), body]);
}

/** The size of each part written with a partial body length: 2^16 bytes (the first part must be ≥ 512). */
const PART_POWER = 16;
const PART = 1 << PART_POWER;

/**
 * Writes a packet whose body is a stream: full parts of 64 KiB with partial body lengths, then the rest with a
 * fixed length, so neither the sender nor the receiver needs the whole body in memory or its size up front.
 */
export async function* streamedPacket(tag: number, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield Buffer.from([0xc0 | tag]);
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    pending.push(chunk);
    size += chunk.length;
    if (size < PART) continue;
    let data = Buffer.concat(pending, size);
    while (data.length >= PART) {
      yield Buffer.from([0xe0 | PART_POWER]);
      yield data.subarray(0, PART);
      data = data.subarray(PART);
    }
    pending = [data];
    size = data.length;
  }
  const rest = Buffer.concat(pending, size);
  yield packetHeader(tag, rest.length).subarray(1);
  yield rest;
}
