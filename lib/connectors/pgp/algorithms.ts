/** OpenPGP algorithm identifiers (RFC 9580 §9) and what node:crypto calls them. */
import { getCiphers } from 'node:crypto';
import { IdxError } from '../../core/errors.ts';

/** The error for an algorithm or feature this implementation does not handle, naming what was found. */
export function unsupported(what: string, found: string): IdxError {
  return new IdxError('IDX_PGP_UNSUPPORTED', `${what} is not supported: ${found}`, {
    expected: 'the OpenPGP subset described in docs/pgp.md',
    received: found,
  });
}

/** Public-key algorithm ids. */
export const PublicKeyAlgorithm = {
  RsaEncryptSign: 1,
  RsaEncrypt: 2,
  RsaSign: 3,
  Elgamal: 16,
  Dsa: 17,
  Ecdh: 18,
  Ecdsa: 19,
  EdDsaLegacy: 22,
  X25519: 25,
  X448: 26,
  Ed25519: 27,
  Ed448: 28,
} as const;

const PUBLIC_KEY_NAMES: Record<number, string> = {
  1: 'RSA',
  2: 'RSA (encrypt only)',
  3: 'RSA (sign only)',
  16: 'Elgamal',
  17: 'DSA',
  18: 'ECDH',
  19: 'ECDSA',
  22: 'EdDSA',
  25: 'X25519',
  26: 'X448',
  27: 'Ed25519',
  28: 'Ed448',
};

/** A readable name of a public-key algorithm id. */
export function publicKeyName(id: number): string {
  return `${PUBLIC_KEY_NAMES[id] ?? 'unknown'} (public-key algorithm ${id})`;
}

/** A symmetric cipher node:crypto runs in CFB mode. */
export interface Cipher {
  readonly id: number;
  readonly name: string;
  readonly keySize: number;
  readonly blockSize: number;
  /** The node:crypto name of the cipher in CFB mode. */
  readonly cfb: string;
}

/** Symmetric algorithm ids. */
export const SymmetricAlgorithm = { TripleDes: 2, Cast5: 3, Aes128: 7, Aes192: 8, Aes256: 9 } as const;

const CIPHERS: Record<number, Cipher> = {
  1: { id: 1, name: 'IDEA', keySize: 16, blockSize: 8, cfb: 'idea-cfb' },
  2: { id: 2, name: 'TripleDES', keySize: 24, blockSize: 8, cfb: 'des-ede3-cfb' },
  3: { id: 3, name: 'CAST5', keySize: 16, blockSize: 8, cfb: 'cast5-cfb' },
  4: { id: 4, name: 'Blowfish', keySize: 16, blockSize: 8, cfb: 'bf-cfb' },
  7: { id: 7, name: 'AES-128', keySize: 16, blockSize: 16, cfb: 'aes-128-cfb' },
  8: { id: 8, name: 'AES-192', keySize: 24, blockSize: 16, cfb: 'aes-192-cfb' },
  9: { id: 9, name: 'AES-256', keySize: 32, blockSize: 16, cfb: 'aes-256-cfb' },
  11: { id: 11, name: 'Camellia-128', keySize: 16, blockSize: 16, cfb: 'camellia-128-cfb' },
  12: { id: 12, name: 'Camellia-192', keySize: 24, blockSize: 16, cfb: 'camellia-192-cfb' },
  13: { id: 13, name: 'Camellia-256', keySize: 32, blockSize: 16, cfb: 'camellia-256-cfb' },
};

const CIPHER_NAMES: Record<number, string> = { 10: 'Twofish' };

/** The ciphers this Node.js offers; CAST5, Blowfish and IDEA only with OpenSSL's legacy provider. */
let available: ReadonlySet<string> | undefined;

/**
 * The cipher of an id, or IDX_PGP_UNSUPPORTED naming it. CAST5 (GnuPG 1.x's default), Blowfish and IDEA are in
 * OpenSSL's legacy provider, which Node.js loads with `--openssl-legacy-provider`; without it they are refused
 * with that hint.
 */
export function cipher(id: number, usedFor: string): Cipher {
  const found = CIPHERS[id];
  if (!found) {
    throw unsupported(
      `the symmetric cipher of ${usedFor}`,
      `${CIPHER_NAMES[id] ?? 'unknown'} (symmetric algorithm ${id})`,
    );
  }
  available ??= new Set(getCiphers());
  if (!available.has(found.cfb)) {
    throw unsupported(
      `the symmetric cipher of ${usedFor}`,
      `${found.name} (symmetric algorithm ${id}), which Node.js offers only with OpenSSL's legacy provider (NODE_OPTIONS=--openssl-legacy-provider)`,
    );
  }
  return found;
}

/** Hash algorithm ids with their node:crypto names. */
const HASHES: Record<number, string> = { 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };
const HASH_NAMES: Record<number, string> = { 1: 'MD5', 3: 'RIPEMD-160', 12: 'SHA3-256', 14: 'SHA3-512' };

/** Hash algorithm ids. */
export const HashAlgorithm = { Sha1: 2, Sha256: 8, Sha384: 9, Sha512: 10, Sha224: 11 } as const;

/** The node:crypto name of a hash id, or IDX_PGP_UNSUPPORTED naming it. */
export function hashName(id: number, usedFor: string): string {
  const found = HASHES[id];
  if (found) return found;
  throw unsupported(`the hash of ${usedFor}`, `${HASH_NAMES[id] ?? 'unknown'} (hash algorithm ${id})`);
}

/** Compression algorithm ids. */
export const CompressionAlgorithm = { Uncompressed: 0, Zip: 1, Zlib: 2, Bzip2: 3 } as const;
