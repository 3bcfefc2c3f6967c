/**
 * Transferable keys (RFC 4880 §11.1/11.2): public and secret keys with their subkeys, the key flags and expiry
 * their self-signatures give, and unlocking secret material protected by a passphrase (S2K + CFB).
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { IdxError } from '../../core/errors.ts';
import { type Cipher, cipher, PublicKeyAlgorithm, publicKeyName, unsupported } from './algorithms.ts';
import { dearmorBlocks } from './armor.ts';
import { BufferReader, leftPad, uint16 } from './bytes.ts';
import { parsePackets, Tag } from './packets.ts';
import { deriveKey, readS2k, type S2k } from './s2k.ts';
import { issuerKeyId, parseSignature, SignatureType, SubpacketType, subpacket } from './signature.ts';

/** OIDs of the curves this implementation uses. */
const CURVES: Record<string, string> = {
  '2b060104019755010501': 'Curve25519',
  '2b06010401da470f01': 'Ed25519',
  '2a8648ce3d030107': 'NIST P-256',
  '2b81040022': 'NIST P-384',
  '2b81040023': 'NIST P-521',
  '2b2403030208010107': 'brainpoolP256r1',
  '2b240303020801010b': 'brainpoolP384r1',
  '2b240303020801010d': 'brainpoolP512r1',
};

/** The public (and, once unlocked, secret) numbers of a key. */
export type KeyMaterial =
  | { readonly kind: 'rsa'; readonly n: Buffer; readonly e: Buffer; secret?: { d: Buffer; p: Buffer; q: Buffer } }
  | {
      readonly kind: 'cv25519';
      /** The curve OID with its length byte, as the ECDH KDF hashes it. */
      readonly oid: Buffer;
      /** 0x40 followed by the 32-byte little-endian u-coordinate. */
      readonly point: Buffer;
      readonly kdfHash: number;
      readonly kdfCipher: number;
      /** The 32-byte X25519 scalar, little-endian. */
      secret?: Buffer;
    }
  | { readonly kind: 'ed25519'; readonly point: Buffer; secret?: Buffer }
  /** An algorithm or curve this implementation does not use; `name` says which. */
  | { readonly kind: 'unsupported'; readonly name: string };

/** Secret material still encrypted with a passphrase. */
interface Protection {
  readonly usage: number;
  readonly cipher: Cipher;
  readonly s2k: S2k;
  readonly iv: Buffer;
  readonly encrypted: Buffer;
}

/** One primary key or subkey. */
export interface PgpKey {
  readonly algorithm: number;
  readonly created: number;
  readonly fingerprint: Buffer;
  readonly keyId: Buffer;
  readonly material: KeyMaterial;
  readonly primary: boolean;
  /** Key flags from the self-signature (RFC 4880 §5.2.3.21), when it has them. */
  flags?: number;
  /** Unix seconds after which the key is expired, from the self-signature. */
  expires?: number;
  revoked: boolean;
  /** Whether the packet was a secret key, and its protection while locked. */
  readonly secretPacket: boolean;
  protection?: Protection;
  /** True for a GnuPG stub: a secret-key packet without the secret part. */
  readonly stub: boolean;
}

/** A primary key with its subkeys and user ids. */
export interface Certificate {
  readonly primary: PgpKey;
  readonly subkeys: PgpKey[];
  readonly userIds: string[];
}

/** The error for key data that cannot be read. */
function keyError(message: string): IdxError {
  return new IdxError('IDX_PGP_KEY', message, { expected: 'an OpenPGP v4 key (RFC 4880)' });
}

function curveOf(reader: BufferReader): { oid: Buffer; name: string } {
  const length = reader.byte();
  if (length === 0 || length === 0xff) throw keyError('a key has a reserved curve OID length');
  const oid = reader.bytes(length);
  const hex = oid.toString('hex');
  return { oid: Buffer.concat([Buffer.from([length]), oid]), name: CURVES[hex] ?? `curve OID ${hex}` };
}

/** Reads the public part of a key packet; returns the material and where the public part ends. */
function readPublicPart(body: Buffer): { algorithm: number; created: number; material: KeyMaterial; end: number } {
  const reader = new BufferReader(body, 'a key packet');
  const version = reader.byte();
  if (version !== 4) throw unsupported('the key', `a version ${version} key packet (only v4 keys are read)`);
  const created = reader.uint32();
  const algorithm = reader.byte();
  let material: KeyMaterial;
  switch (algorithm) {
    case PublicKeyAlgorithm.RsaEncryptSign:
    case PublicKeyAlgorithm.RsaEncrypt:
    case PublicKeyAlgorithm.RsaSign:
      material = { kind: 'rsa', n: Buffer.from(reader.mpi()), e: Buffer.from(reader.mpi()) };
      break;
    case PublicKeyAlgorithm.Ecdh: {
      const curve = curveOf(reader);
      const point = Buffer.from(reader.mpi());
      const kdf = reader.bytes(reader.byte());
      if (curve.name !== 'Curve25519') {
        material = { kind: 'unsupported', name: `ECDH on ${curve.name}` };
      } else if (point.length !== 33 || point[0] !== 0x40 || kdf.length !== 3 || kdf[0] !== 1) {
        throw keyError('a Curve25519 ECDH key has a malformed point or KDF');
      } else {
        material = { kind: 'cv25519', oid: curve.oid, point, kdfHash: kdf[1] as number, kdfCipher: kdf[2] as number };
      }
      break;
    }
    case PublicKeyAlgorithm.EdDsaLegacy: {
      const curve = curveOf(reader);
      const point = Buffer.from(reader.mpi());
      if (curve.name !== 'Ed25519') material = { kind: 'unsupported', name: `EdDSA on ${curve.name}` };
      else if (point.length !== 33 || point[0] !== 0x40) throw keyError('an Ed25519 key has a malformed point');
      else material = { kind: 'ed25519', point };
      break;
    }
    case PublicKeyAlgorithm.Ecdsa: {
      const curve = curveOf(reader);
      reader.mpi();
      material = { kind: 'unsupported', name: `ECDSA on ${curve.name}` };
      break;
    }
    case PublicKeyAlgorithm.Dsa:
    case PublicKeyAlgorithm.Elgamal:
      for (let i = algorithm === PublicKeyAlgorithm.Dsa ? 4 : 3; i > 0; i--) reader.mpi();
      material = { kind: 'unsupported', name: publicKeyName(algorithm) };
      break;
    default:
      // The length of an unknown algorithm's numbers is unknown: only a public key (whole body) can be kept.
      reader.rest();
      material = { kind: 'unsupported', name: publicKeyName(algorithm) };
  }
  return { algorithm, created, material, end: reader.pos };
}

function readKeyPacket(tag: number, body: Buffer): PgpKey {
  const { algorithm, created, material, end } = readPublicPart(body);
  const publicBody = body.subarray(0, end);
  const fingerprint = createHash('sha1')
    .update(Buffer.from([0x99]))
    .update(uint16(publicBody.length))
    .update(publicBody)
    .digest();
  const secretPacket = tag === Tag.SecretKey || tag === Tag.SecretSubkey;
  const key: PgpKey = {
    algorithm,
    created,
    fingerprint,
    keyId: fingerprint.subarray(12),
    material,
    primary: tag === Tag.SecretKey || tag === Tag.PublicKey,
    revoked: false,
    secretPacket,
    stub: false,
  };
  if (!secretPacket || material.kind === 'unsupported') return key;
  const reader = new BufferReader(body.subarray(end), 'a secret key packet');
  const usage = reader.byte();
  if (usage === 0) {
    readSecretNumbers(material, reader.rest(), 2, 'sum');
    return key;
  }
  if (usage === 253) throw unsupported('the secret key protection', 'AEAD-protected secret keys (S2K usage 253)');
  if (usage !== 254 && usage !== 255) {
    throw unsupported('the secret key protection', `legacy S2K usage ${usage} (a cipher id without S2K specifier)`);
  }
  const protectedBy = cipher(reader.byte(), 'the secret key protection');
  const s2k = readS2k(reader);
  if (s2k.type === 'gnu-dummy') return { ...key, stub: true };
  const iv = Buffer.from(reader.bytes(protectedBy.blockSize));
  return { ...key, protection: { usage, cipher: protectedBy, s2k, iv, encrypted: Buffer.from(reader.rest()) } };
}

/** Reads the secret numbers of cleartext material and checks their checksum (sum or SHA-1). */
function readSecretNumbers(material: KeyMaterial, clear: Buffer, checkSize: number, check: 'sum' | 'sha1'): void {
  const numbers = clear.subarray(0, clear.length - checkSize);
  const expected = clear.subarray(clear.length - checkSize);
  const actual =
    check === 'sha1'
      ? createHash('sha1').update(numbers).digest()
      : uint16(numbers.reduce((s, b) => (s + b) & 0xffff, 0));
  if (clear.length < checkSize || !actual.equals(expected)) {
    throw new IdxError('IDX_PGP_KEY', 'the secret key does not unlock: the passphrase is wrong or the key is damaged', {
      expected: 'the passphrase the key was protected with',
    });
  }
  const reader = new BufferReader(numbers, 'the secret key numbers');
  switch (material.kind) {
    case 'rsa': {
      const d = Buffer.from(reader.mpi());
      const p = Buffer.from(reader.mpi());
      const q = Buffer.from(reader.mpi());
      reader.mpi();
      material.secret = { d, p, q };
      break;
    }
    case 'cv25519':
      // Stored as a big-endian MPI of the scalar; X25519 takes it little-endian.
      material.secret = Buffer.from(leftPad(Buffer.from(reader.mpi()), 32)).reverse();
      break;
    case 'ed25519':
      material.secret = Buffer.from(leftPad(Buffer.from(reader.mpi()), 32));
      break;
    default:
      break;
  }
}

/** Unlocks a protected key with its passphrase; a wrong passphrase is IDX_PGP_KEY. */
function unlockKey(key: PgpKey, passphrase: string): void {
  const protection = key.protection;
  if (!protection) return;
  const secretKey = deriveKey(protection.s2k, passphrase, protection.cipher.keySize);
  const decipher = createDecipheriv(protection.cipher.cfb, secretKey, protection.iv);
  const clear = Buffer.concat([decipher.update(protection.encrypted), decipher.final()]);
  if (protection.usage === 254) readSecretNumbers(key.material, clear, 20, 'sha1');
  else readSecretNumbers(key.material, clear, 2, 'sum');
  key.protection = undefined;
}

/** Applies a self-signature's flags, expiry or revocation to the key it is about. */
function applySelfSignature(cert: Certificate, target: PgpKey, body: Buffer): void {
  let signature: ReturnType<typeof parseSignature>;
  try {
    signature = parseSignature(body);
  } catch {
    // Old (v3) or unknown signatures carry nothing this implementation uses.
    return;
  }
  const issuer = issuerKeyId(signature);
  if (issuer && !issuer.equals(cert.primary.keyId)) return;
  if (signature.type === SignatureType.KeyRevocation || signature.type === SignatureType.SubkeyRevocation) {
    target.revoked = true;
    return;
  }
  const flags = subpacket(signature, SubpacketType.KeyFlags, true);
  if (flags && flags.length > 0) target.flags = flags[0];
  const expiry = subpacket(signature, SubpacketType.KeyExpirationTime, true);
  if (expiry?.length === 4) {
    const seconds = expiry.readUInt32BE(0);
    target.expires = seconds === 0 ? undefined : target.created + seconds;
  }
}

/** Most bytes of key text a param may hold. */
const MAX_KEY_TEXT = 1024 * 1024;

/**
 * Reads every certificate of armored key text (several blocks, or several keys in one block). `kind` says which
 * blocks are expected; any other block is an IDX_PGP_KEY error.
 */
export function readCertificates(text: string, kind: 'public' | 'private'): Certificate[] {
  if (text.length > MAX_KEY_TEXT) throw keyError(`the key text is larger than ${MAX_KEY_TEXT} characters`);
  const expectedType = kind === 'public' ? 'PUBLIC KEY BLOCK' : 'PRIVATE KEY BLOCK';
  const blocks = dearmorBlocks(text);
  if (blocks.length === 0) throw keyError(`no -----BEGIN PGP ${expectedType}----- block was found`);
  const certificates: Certificate[] = [];
  for (const block of blocks) {
    if (block.type !== expectedType) throw keyError(`a ${block.type} was given where a ${expectedType} was expected`);
    let current: Certificate | undefined;
    let target: PgpKey | undefined;
    for (const p of parsePackets(block.data, `the ${block.type}`)) {
      if (p.tag === Tag.PublicKey || p.tag === Tag.SecretKey) {
        if ((p.tag === Tag.SecretKey) !== (kind === 'private')) {
          throw keyError(
            `a ${p.tag === Tag.SecretKey ? 'secret' : 'public'} key packet was found in the ${block.type}`,
          );
        }
        current = { primary: readKeyPacket(p.tag, p.body), subkeys: [], userIds: [] };
        target = current.primary;
        certificates.push(current);
      } else if (!current) {
        throw keyError(`the ${block.type} does not start with a key packet (found packet tag ${p.tag})`);
      } else if (p.tag === Tag.PublicSubkey || p.tag === Tag.SecretSubkey) {
        target = readKeyPacket(p.tag, p.body);
        current.subkeys.push(target);
      } else if (p.tag === Tag.UserId) {
        current.userIds.push(p.body.toString('utf8'));
        target = current.primary;
      } else if (p.tag === Tag.UserAttribute) {
        target = current.primary;
      } else if (p.tag === Tag.Signature && target) {
        applySelfSignature(current, target, p.body);
      }
    }
  }
  if (certificates.length === 0) throw keyError(`the ${expectedType} holds no key`);
  return certificates;
}

/** Every key of a certificate, primary first. */
export function allKeys(cert: Certificate): PgpKey[] {
  return [cert.primary, ...cert.subkeys];
}

/** True when some secret material of the certificate is protected by a passphrase. */
export function isLocked(cert: Certificate): boolean {
  return allKeys(cert).some((k) => k.protection !== undefined);
}

/** Unlocks every protected key of a certificate with the passphrase. */
export function unlock(cert: Certificate, passphrase: string): void {
  for (const key of allKeys(cert)) {
    try {
      unlockKey(key, passphrase);
    } catch (error) {
      if (error instanceof IdxError) throw error;
      // A wrong passphrase can also make the cipher or the number parser fail: report it the same way.
      throw new IdxError(
        'IDX_PGP_KEY',
        'the secret key does not unlock: the passphrase is wrong or the key is damaged',
      );
    }
  }
}

function usable(key: PgpKey, now: number): boolean {
  return !key.revoked && (key.expires === undefined || key.expires > now);
}

function label(cert: Certificate): string {
  return `key ${cert.primary.fingerprint.toString('hex').toUpperCase()}${cert.userIds[0] ? ` (${cert.userIds[0]})` : ''}`;
}

/**
 * The key a message for this certificate is encrypted to: the newest valid subkey flagged for encryption, or
 * the primary key when it is. A key of an algorithm this implementation does not encrypt to is
 * IDX_PGP_UNSUPPORTED, naming the algorithm.
 */
export function encryptionKey(cert: Certificate, now = Date.now() / 1000): PgpKey {
  if (!usable(cert.primary, now)) throw keyError(`${label(cert)} is expired or revoked`);
  // Without key flags (keys older than RFC 4880's flags) any key of an encryption algorithm may encrypt.
  const flagged = (k: PgpKey) => k.flags === undefined || (k.flags & 0x0c) !== 0;
  const encrypts = (k: PgpKey) =>
    k.algorithm === PublicKeyAlgorithm.RsaEncryptSign ||
    k.algorithm === PublicKeyAlgorithm.RsaEncrypt ||
    k.algorithm === PublicKeyAlgorithm.Ecdh ||
    k.algorithm === PublicKeyAlgorithm.Elgamal ||
    k.algorithm === PublicKeyAlgorithm.X25519 ||
    k.algorithm === PublicKeyAlgorithm.X448;
  // Subkeys first, newest first, as GnuPG chooses; the primary key only when no subkey encrypts.
  const subkeys = cert.subkeys.filter((k) => usable(k, now) && flagged(k) && encrypts(k));
  subkeys.sort((a, b) => b.created - a.created);
  const candidates = [...subkeys, ...(flagged(cert.primary) && encrypts(cert.primary) ? [cert.primary] : [])];
  const supported = candidates.find((k) => k.material.kind === 'rsa' || k.material.kind === 'cv25519');
  if (supported) return supported;
  const first = candidates[0];
  if (first?.material.kind === 'unsupported') {
    throw unsupported(`encrypting to ${label(cert)}`, `its encryption key is ${first.material.name}`);
  }
  throw keyError(`${label(cert)} has no valid key for encryption (all are expired, revoked or for signing only)`);
}

/** The key this certificate signs with: the newest valid signing subkey, or the primary key. */
export function signingKey(cert: Certificate, now = Date.now() / 1000): PgpKey {
  if (!usable(cert.primary, now)) throw keyError(`${label(cert)} is expired or revoked`);
  const flagged = (k: PgpKey) => (k.flags === undefined ? k.primary : (k.flags & 0x02) !== 0);
  const candidates = [...cert.subkeys, cert.primary].filter((k) => usable(k, now) && flagged(k) && !k.stub);
  candidates.sort((a, b) => b.created - a.created);
  const supported = candidates.find(
    (k) =>
      (k.material.kind === 'rsa' && k.algorithm !== PublicKeyAlgorithm.RsaEncrypt) || k.material.kind === 'ed25519',
  );
  if (supported) return supported;
  const first = candidates[0];
  if (first?.material.kind === 'unsupported') {
    throw unsupported(`signing with ${label(cert)}`, `its signing key is ${first.material.name}`);
  }
  throw keyError(`${label(cert)} has no valid key for signing`);
}
