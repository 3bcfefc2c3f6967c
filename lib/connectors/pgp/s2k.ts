/** String-to-key specifiers (RFC 4880 §3.7): how a passphrase becomes the key protecting secret key material. */
import { createHash } from 'node:crypto';
import { hashName, unsupported } from './algorithms.ts';
import type { BufferReader } from './bytes.ts';

/** A parsed S2K specifier. */
export type S2k =
  | {
      readonly type: 'simple' | 'salted' | 'iterated';
      readonly hash: number;
      readonly salt: Buffer;
      readonly count: number;
    }
  /** A GnuPG stub: the secret part is not in the key (exported with --export-secret-subkeys, or on a card). */
  | { readonly type: 'gnu-dummy' };

/** Reads an S2K specifier. */
export function readS2k(reader: BufferReader): S2k {
  const type = reader.byte();
  switch (type) {
    case 0:
      return { type: 'simple', hash: reader.byte(), salt: Buffer.alloc(0), count: 0 };
    case 1:
      return { type: 'salted', hash: reader.byte(), salt: Buffer.from(reader.bytes(8)), count: 0 };
    case 3: {
      const hash = reader.byte();
      const salt = Buffer.from(reader.bytes(8));
      const c = reader.byte();
      return { type: 'iterated', hash, salt, count: (16 + (c & 15)) << ((c >> 4) + 6) };
    }
    case 101: {
      reader.byte();
      const gnu = reader.bytes(3).toString('latin1');
      const mode = reader.byte();
      if (gnu === 'GNU' && (mode === 1 || mode === 2)) return { type: 'gnu-dummy' };
      throw unsupported('the secret key protection', `GnuPG S2K extension ${gnu} mode ${mode}`);
    }
    case 4:
      throw unsupported('the secret key protection', 'Argon2 S2K (type 4)');
    default:
      throw unsupported('the secret key protection', `S2K type ${type}`);
  }
}

/** Derives a key of `size` bytes from a passphrase. */
export function deriveKey(s2k: S2k, passphrase: string, size: number): Buffer {
  if (s2k.type === 'gnu-dummy') throw unsupported('the secret key protection', 'a GnuPG stub without secret material');
  const algorithm = hashName(s2k.hash, 'the secret key protection');
  const data = Buffer.concat([s2k.salt, Buffer.from(passphrase, 'utf8')]);
  // Iterated S2K hashes the salted passphrase over and over up to `count` bytes (at least once).
  const total = s2k.type === 'iterated' ? Math.max(s2k.count, data.length) : data.length;
  // Hashed in runs of whole copies, so every run starts at the start of the salted passphrase.
  const copies = data.length === 0 ? 1 : Math.max(1, Math.floor((64 * 1024) / data.length));
  const repeated = data.length === 0 ? data : Buffer.alloc(copies * data.length, data);
  const parts: Buffer[] = [];
  let got = 0;
  for (let round = 0; got < size; round++) {
    // Longer keys than one digest: each further hash is preloaded with one more zero byte.
    const hash = createHash(algorithm).update(Buffer.alloc(round));
    let left = total;
    while (left > 0 && repeated.length > 0) {
      const n = Math.min(left, repeated.length);
      hash.update(repeated.subarray(0, n));
      left -= n;
    }
    const digest = hash.digest();
    parts.push(digest);
    got += digest.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}
