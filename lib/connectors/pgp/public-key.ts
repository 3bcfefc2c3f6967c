/**
 * The public-key operations of OpenPGP on node:crypto: session keys encrypted to RSA (PKCS#1 v1.5) and to
 * Curve25519 ECDH (RFC 6637 with X25519 and AES key wrap), and signatures with RSA and Ed25519.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { IdxError } from '../../core/errors.ts';
import { cipher, hashName, PublicKeyAlgorithm, publicKeyName, unsupported } from './algorithms.ts';
import { BufferReader, leftPad, mpi } from './bytes.ts';
import type { KeyMaterial, PgpKey } from './keys.ts';

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

function toBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

function fromBigInt(n: bigint): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

type Rsa = Extract<KeyMaterial, { kind: 'rsa' }>;
type Cv25519 = Extract<KeyMaterial, { kind: 'cv25519' }>;

function rsaPublic(m: Rsa): KeyObject {
  return createPublicKey({ key: { kty: 'RSA', n: b64url(m.n), e: b64url(m.e) }, format: 'jwk' });
}

function rsaPrivate(m: Rsa): KeyObject {
  const s = m.secret;
  if (!s) throw new IdxError('IDX_PGP_KEY', 'the RSA key has no secret part');
  const [d, p, q] = [toBigInt(s.d), toBigInt(s.p), toBigInt(s.q)];
  const jwk = {
    kty: 'RSA',
    n: b64url(m.n),
    e: b64url(m.e),
    d: b64url(s.d),
    p: b64url(s.p),
    q: b64url(s.q),
    dp: b64url(fromBigInt(d % (p - 1n))),
    dq: b64url(fromBigInt(d % (q - 1n))),
    qi: b64url(fromBigInt(modInverse(q, p))),
  };
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

function x25519Public(u: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(u) }, format: 'jwk' });
}

/** The session key as public-key algorithms encrypt it: algorithm id, key, two-byte checksum. */
function sessionKeyBlock(algorithm: number, key: Buffer): Buffer {
  const sum = key.reduce((s, b) => (s + b) & 0xffff, 0);
  return Buffer.concat([Buffer.from([algorithm]), key, Buffer.from([sum >> 8, sum & 0xff])]);
}

/** A decrypted session key. */
export interface SessionKey {
  readonly algorithm: number;
  readonly key: Buffer;
}

function failedSessionKey(): IdxError {
  return new IdxError('IDX_PGP_FAILED', 'the session key does not decrypt with the private key', {
    expected: 'a message encrypted to this private key',
  });
}

function parseSessionKeyBlock(block: Buffer): SessionKey {
  if (block.length < 4) throw failedSessionKey();
  const algorithm = block[0] as number;
  const key = block.subarray(1, block.length - 2);
  const sum = key.reduce((s, b) => (s + b) & 0xffff, 0);
  if (block.readUInt16BE(block.length - 2) !== sum) throw failedSessionKey();
  const c = cipher(algorithm, 'the encrypted data');
  if (key.length !== c.keySize) throw failedSessionKey();
  return { algorithm, key: Buffer.from(key) };
}

const ANONYMOUS_SENDER = Buffer.from('Anonymous Sender    ', 'latin1');

/** The key-encryption key of RFC 6637 §7 (a one-round KDF over the shared secret and the recipient's key). */
function ecdhKek(shared: Buffer, m: Cv25519, fingerprint: Buffer): { kek: Buffer; wrap: string } {
  const wrapCipher = cipher(m.kdfCipher, 'the ECDH key wrap');
  if (!wrapCipher.name.startsWith('AES')) throw unsupported('the ECDH key wrap', wrapCipher.name);
  const param = Buffer.concat([
    m.oid,
    Buffer.from([PublicKeyAlgorithm.Ecdh, 3, 1, m.kdfHash, m.kdfCipher]),
    ANONYMOUS_SENDER,
    fingerprint,
  ]);
  const digest = createHash(hashName(m.kdfHash, 'the ECDH KDF'))
    .update(Buffer.from([0, 0, 0, 1]))
    .update(shared)
    .update(param)
    .digest();
  return { kek: digest.subarray(0, wrapCipher.keySize), wrap: `id-aes${wrapCipher.keySize * 8}-wrap` };
}

const WRAP_IV = Buffer.alloc(8, 0xa6);

/** The body of a v3 public-key encrypted session key packet (RFC 4880 §5.1) for one recipient key. */
export function encryptSessionKey(recipient: PgpKey, session: SessionKey): Buffer {
  const block = sessionKeyBlock(session.algorithm, session.key);
  const head = Buffer.concat([Buffer.from([3]), recipient.keyId, Buffer.from([recipient.algorithm])]);
  const m = recipient.material;
  if (m.kind === 'rsa') {
    const c = publicEncrypt({ key: rsaPublic(m), padding: constants.RSA_PKCS1_PADDING }, block);
    return Buffer.concat([head, mpi(c)]);
  }
  if (m.kind === 'cv25519') {
    const ephemeral = generateKeyPairSync('x25519');
    const ephemeralU = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519Public(m.point.subarray(1)) });
    const { kek, wrap } = ecdhKek(shared, m, recipient.fingerprint);
    // PKCS#5 padding to a multiple of 8 bytes, as the key wrap needs (RFC 6637 §8).
    const pad = 8 - (block.length % 8);
    const padded = Buffer.concat([block, Buffer.alloc(pad, pad)]);
    const wrapper = createCipheriv(wrap, kek, WRAP_IV);
    const wrapped = Buffer.concat([wrapper.update(padded), wrapper.final()]);
    const point = Buffer.concat([Buffer.from([0x40]), ephemeralU]);
    return Buffer.concat([head, mpi(point), Buffer.from([wrapped.length]), wrapped]);
  }
  throw unsupported('encrypting a session key', publicKeyName(recipient.algorithm));
}

/** Decrypts the session key of a PKESK body (after its version, key id and algorithm) with a secret key. */
export function decryptSessionKey(key: PgpKey, fields: Buffer): SessionKey {
  const m = key.material;
  if (key.stub) {
    throw new IdxError(
      'IDX_PGP_KEY',
      `the secret part of key ${key.keyId.toString('hex').toUpperCase()} is not in the private key`,
      {
        expected: 'a private key exported with its secret subkeys (gpg --export-secret-keys)',
        received: 'a GnuPG stub without secret material',
      },
    );
  }
  const reader = new BufferReader(fields, 'a public-key encrypted session key packet');
  try {
    if (m.kind === 'rsa' && m.secret) {
      const size = m.n.length;
      const c = leftPad(Buffer.from(reader.mpi()), size);
      // Node refuses PKCS#1 v1.5 decryption (the Marvin attack); the padding is removed here instead, and any
      // failure gives one and the same error.
      const em = privateDecrypt({ key: rsaPrivate(m), padding: constants.RSA_NO_PADDING }, c);
      const zero = em.indexOf(0, 2);
      if (em[0] !== 0 || em[1] !== 2 || zero < 10) throw failedSessionKey();
      return parseSessionKeyBlock(em.subarray(zero + 1));
    }
    if (m.kind === 'cv25519' && m.secret) {
      const point = reader.mpi();
      const wrapped = reader.bytes(reader.byte());
      if (point.length !== 33 || point[0] !== 0x40) throw failedSessionKey();
      const privateKey = createPrivateKey({
        key: { kty: 'OKP', crv: 'X25519', d: b64url(m.secret), x: b64url(m.point.subarray(1)) },
        format: 'jwk',
      });
      const shared = diffieHellman({ privateKey, publicKey: x25519Public(Buffer.from(point.subarray(1))) });
      const { kek, wrap } = ecdhKek(shared, m, key.fingerprint);
      const unwrapper = createDecipheriv(wrap, kek, WRAP_IV);
      const padded = Buffer.concat([unwrapper.update(wrapped), unwrapper.final()]);
      const pad = padded[padded.length - 1] ?? 0;
      if (pad < 1 || pad > 8 || pad > padded.length) throw failedSessionKey();
      return parseSessionKeyBlock(padded.subarray(0, padded.length - pad));
    }
  } catch (error) {
    if (error instanceof IdxError && error.code !== 'IDX_PGP_FAILED') throw error;
    throw failedSessionKey();
  }
  throw unsupported(
    'decrypting a session key',
    key.material.kind === 'unsupported' ? key.material.name : publicKeyName(key.algorithm),
  );
}

/** ASN.1 DigestInfo prefixes of EMSA-PKCS1-v1_5 (RFC 8017 §9.2), by OpenPGP hash id. */
const DIGEST_INFO: Record<number, string> = {
  2: '3021300906052b0e03021a05000414',
  8: '3031300d060960864801650304020105000420',
  9: '3041300d060960864801650304020205000430',
  10: '3051300d060960864801650304020305000440',
  11: '302d300d06096086480165030402040500041c',
};

/** Signs a digest; returns the signature's MPIs. */
export function signDigest(key: PgpKey, hashAlgorithm: number, digest: Buffer): Buffer {
  const m = key.material;
  if (m.kind === 'rsa') {
    const info = Buffer.concat([Buffer.from(DIGEST_INFO[hashAlgorithm] ?? '', 'hex'), digest]);
    return mpi(privateEncrypt({ key: rsaPrivate(m), padding: constants.RSA_PKCS1_PADDING }, info));
  }
  if (m.kind === 'ed25519' && m.secret) {
    const privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64url(m.secret), x: b64url(m.point.subarray(1)) },
      format: 'jwk',
    });
    // OpenPGP's EdDSA signs the digest itself as the message.
    const signature = sign(null, digest, privateKey);
    return Buffer.concat([mpi(signature.subarray(0, 32)), mpi(signature.subarray(32))]);
  }
  throw unsupported('signing', key.material.kind === 'unsupported' ? key.material.name : publicKeyName(key.algorithm));
}

/** True when the signature MPIs are a valid signature of the digest by the key. */
export function verifyDigest(key: PgpKey, hashAlgorithm: number, digest: Buffer, mpis: readonly Buffer[]): boolean {
  const m = key.material;
  if (m.kind === 'rsa') {
    const prefix = DIGEST_INFO[hashAlgorithm];
    const s = mpis[0];
    if (!prefix || !s) return false;
    try {
      const info = publicDecrypt({ key: rsaPublic(m), padding: constants.RSA_PKCS1_PADDING }, leftPad(s, m.n.length));
      const expected = Buffer.concat([Buffer.from(prefix, 'hex'), digest]);
      return info.length === expected.length && timingSafeEqual(info, expected);
    } catch {
      return false;
    }
  }
  if (m.kind === 'ed25519') {
    const [r, s] = mpis;
    if (!r || !s || r.length > 32 || s.length > 32) return false;
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: b64url(m.point.subarray(1)) },
      format: 'jwk',
    });
    return verify(null, digest, publicKey, Buffer.concat([leftPad(r, 32), leftPad(s, 32)]));
  }
  throw unsupported(
    'checking a signature',
    key.material.kind === 'unsupported' ? key.material.name : publicKeyName(key.algorithm),
  );
}
