/** Signature packets (RFC 4880 §5.2, v4): reading them, the hashed trailer, and the one-pass signature header. */
import { unsupported } from './algorithms.ts';
import { BufferReader, uint16, uint32 } from './bytes.ts';

/** Signature types this implementation looks at. */
export const SignatureType = {
  Binary: 0x00,
  Text: 0x01,
  SubkeyBinding: 0x18,
  DirectKey: 0x1f,
  KeyRevocation: 0x20,
  SubkeyRevocation: 0x28,
} as const;

/** Subpacket types this implementation reads or writes. */
export const SubpacketType = {
  CreationTime: 2,
  KeyExpirationTime: 9,
  Issuer: 16,
  KeyFlags: 27,
  IssuerFingerprint: 33,
} as const;

/** One signature subpacket. */
export interface Subpacket {
  readonly type: number;
  readonly critical: boolean;
  readonly data: Buffer;
}

/** A v4 signature. */
export interface Signature {
  readonly type: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
  /** The signed part from the version byte through the hashed subpackets, hashed after the data. */
  readonly hashedPart: Buffer;
  readonly hashed: readonly Subpacket[];
  readonly unhashed: readonly Subpacket[];
  /** The first two bytes of the signed digest. */
  readonly digestStart: Buffer;
  /** The signature's MPIs. */
  readonly mpis: readonly Buffer[];
}

function readSubpackets(data: Buffer): Subpacket[] {
  const reader = new BufferReader(data, 'a signature subpacket');
  const out: Subpacket[] = [];
  while (reader.remaining > 0) {
    const first = reader.byte();
    let length: number;
    if (first < 192) length = first;
    else if (first < 255) length = ((first - 192) << 8) + reader.byte() + 192;
    else length = reader.uint32();
    if (length === 0) continue;
    const body = reader.bytes(length);
    const typeByte = body[0] as number;
    out.push({ type: typeByte & 0x7f, critical: (typeByte & 0x80) !== 0, data: Buffer.from(body.subarray(1)) });
  }
  return out;
}

/** Reads a signature packet body; a version other than 4 is IDX_PGP_UNSUPPORTED. */
export function parseSignature(body: Buffer): Signature {
  const reader = new BufferReader(body, 'a signature packet');
  const version = reader.byte();
  if (version !== 4) throw unsupported('the signature', `a version ${version} signature packet`);
  const type = reader.byte();
  const publicKeyAlgorithm = reader.byte();
  const hashAlgorithm = reader.byte();
  const hashedLength = reader.uint16();
  const hashedArea = reader.bytes(hashedLength);
  const hashedPart = Buffer.from(body.subarray(0, 6 + hashedLength));
  const unhashedArea = reader.bytes(reader.uint16());
  const digestStart = Buffer.from(reader.bytes(2));
  const mpis: Buffer[] = [];
  while (reader.remaining > 0) mpis.push(Buffer.from(reader.mpi()));
  return {
    type,
    publicKeyAlgorithm,
    hashAlgorithm,
    hashedPart,
    hashed: readSubpackets(hashedArea),
    unhashed: readSubpackets(unhashedArea),
    digestStart,
    mpis,
  };
}

/** The first subpacket of a type, hashed ones first. */
export function subpacket(signature: Signature, type: number, hashedOnly = false): Buffer | undefined {
  const found = signature.hashed.find((s) => s.type === type);
  if (found || hashedOnly) return found?.data;
  return signature.unhashed.find((s) => s.type === type)?.data;
}

/** The key id of the signing key: the issuer subpacket, or the end of the issuer fingerprint. */
export function issuerKeyId(signature: Signature): Buffer | undefined {
  const id = subpacket(signature, SubpacketType.Issuer);
  if (id?.length === 8) return id;
  const fingerprint = subpacket(signature, SubpacketType.IssuerFingerprint);
  if (fingerprint && fingerprint[0] === 4 && fingerprint.length === 21) return fingerprint.subarray(13);
  return undefined;
}

/** The trailer hashed after the signed data: the hashed part, then 0x04 0xFF and its length (RFC 4880 §5.2.4). */
export function signatureTrailer(hashedPart: Buffer): Buffer {
  return Buffer.concat([hashedPart, Buffer.from([0x04, 0xff]), uint32(hashedPart.length)]);
}

/** Encodes subpackets (each shorter than 192 bytes, as the ones written here are). */
export function encodeSubpackets(subpackets: readonly { type: number; data: Buffer }[]): Buffer {
  return Buffer.concat(subpackets.map((s) => Buffer.concat([Buffer.from([s.data.length + 1, s.type]), s.data])));
}

/** The hashed part of a new v4 signature. */
export function hashedPart(
  type: number,
  publicKeyAlgorithm: number,
  hashAlgorithm: number,
  subpackets: readonly { type: number; data: Buffer }[],
): Buffer {
  const area = encodeSubpackets(subpackets);
  return Buffer.concat([Buffer.from([4, type, publicKeyAlgorithm, hashAlgorithm]), uint16(area.length), area]);
}

/** A one-pass signature packet body (RFC 4880 §5.4), announcing the signature that follows the data. */
export function onePassSignature(
  type: number,
  hashAlgorithm: number,
  publicKeyAlgorithm: number,
  keyId: Buffer,
): Buffer {
  return Buffer.concat([Buffer.from([3, type, hashAlgorithm, publicKeyAlgorithm]), keyId, Buffer.from([1])]);
}
