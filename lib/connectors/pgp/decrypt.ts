/**
 * Reading an OpenPGP message as a stream: binary or armored, the session key from a PKESK for one of our keys,
 * SEIPD v1 decrypted on the fly with the MDC checked at the end, compressed data (ZIP, ZLIB) inflated on the fly,
 * and the literal data yielded while the file is read. A failed integrity or signature check throws at the end,
 * after the data was yielded: the caller must stage what it writes and deliver it only when the stream ends.
 */
import { createDecipheriv, createHash, type Hash, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflate, createInflateRaw } from 'node:zlib';
import { IdxError } from '../../core/errors.ts';
import { CompressionAlgorithm, cipher, hashName, unsupported } from './algorithms.ts';
import { dearmor } from './armor.ts';
import { BufferReader, ByteReader, remainingBytes } from './bytes.ts';
import type { PgpKey } from './keys.ts';
import { packetBody, readPacketBody, readPacketHeader, skipPacketBody, Tag } from './packets.ts';
import { decryptSessionKey, type SessionKey, verifyDigest } from './public-key.ts';
import { issuerKeyId, parseSignature, type Signature, SignatureType, signatureTrailer } from './signature.ts';

/** What to decrypt with, and what to check. */
export interface DecryptOptions {
  /** Unlocked secret keys (primary and subkeys) that may hold the session key. */
  readonly keys: readonly PgpKey[];
  /**
   * Public keys of the sender: when given, the data must carry a valid signature by one of them. Without them,
   * signatures in the message are not checked (they are counted in {@link DecryptReport}).
   */
  readonly verifiers?: readonly PgpKey[];
}

/** What a decryption found, filled in as the message is read. */
export interface DecryptReport {
  /** The file name recorded in the literal data packet. */
  fileName?: string;
  /** Signature packets in the message. */
  signatures: number;
  /** Signatures checked valid against the verifiers. */
  verified: number;
  /** The compression algorithm of the message, if it was compressed. */
  compression?: 'zip' | 'zlib';
}

function failed(message: string, expected?: string): IdxError {
  return new IdxError('IDX_PGP_FAILED', message, expected === undefined ? {} : { expected });
}

function integrityError(): IdxError {
  return new IdxError(
    'IDX_PGP_FAILED',
    'the integrity check (modification detection code) of the encrypted data fails: the file was changed, cut or damaged',
    {
      expected: 'a matching SHA-1 modification detection code at the end of the encrypted data',
      details: { check: 'mdc' },
    },
  );
}

/** Most public-key encrypted session key packets read before the encrypted data. */
const MAX_RECIPIENTS = 1000;
/** Largest session key, one-pass signature and signature packets accepted. */
const MAX_SMALL_PACKET = 64 * 1024;

/** Yields the source, its armor removed when it starts with text rather than a packet header. */
async function* binary(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  do first = await iterator.next();
  while (!first.done && first.value.byteLength === 0);
  if (first.done) throw failed('the file is empty', 'an OpenPGP message');
  const head = first.value;
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => {
      let sentFirst = false;
      return {
        next: async () => {
          if (!sentFirst) {
            sentFirst = true;
            return { done: false, value: head };
          }
          return iterator.next();
        },
        return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
      };
    },
  };
  // A packet header has its top bit set; armor starts with text (perhaps after a UTF-8 byte order mark).
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  if (((head[0] as number) & 0x80) !== 0 && !bom) {
    for await (const chunk of rest) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  } else {
    yield* dearmor(rest, 'MESSAGE');
  }
}

interface EncryptedSessionKey {
  readonly keyId: Buffer;
  readonly algorithm: number;
  readonly fields: Buffer;
}

function readPkesk(body: Buffer): EncryptedSessionKey {
  const reader = new BufferReader(body, 'a public-key encrypted session key packet');
  const version = reader.byte();
  if (version !== 3) throw unsupported('the session key packet', `a version ${version} PKESK (RFC 9580 v6)`);
  const keyId = Buffer.from(reader.bytes(8));
  const algorithm = reader.byte();
  return { keyId, algorithm, fields: Buffer.from(reader.rest()) };
}

function hexId(id: Buffer): string {
  return id.toString('hex').toUpperCase();
}

/** Finds the session key: a PKESK for one of our key ids, or a hidden recipient (id 0) any key opens. */
function sessionKey(
  pkesks: readonly EncryptedSessionKey[],
  keys: readonly PgpKey[],
  passwordOnly: boolean,
): SessionKey {
  if (pkesks.length === 0) {
    if (passwordOnly)
      throw unsupported(
        'the encrypted data',
        'a message encrypted with a password (SKESK packet) rather than to a key',
      );
    throw failed(
      'the file holds no session key for a public key',
      'a public-key encrypted session key before the encrypted data',
    );
  }
  let lastError: unknown;
  for (const pkesk of pkesks) {
    const hidden = pkesk.keyId.every((b) => b === 0);
    for (const key of keys) {
      if (!hidden && !key.keyId.equals(pkesk.keyId)) continue;
      if (key.algorithm !== pkesk.algorithm) continue;
      try {
        return decryptSessionKey(key, pkesk.fields);
      } catch (error) {
        if (!hidden) throw error;
        lastError = error;
      }
    }
  }
  if (lastError) throw lastError;
  throw new IdxError('IDX_PGP_FAILED', 'the file was not encrypted for the private key', {
    expected: `a session key for key id ${keys.map((k) => hexId(k.keyId)).join(' or ')}`,
    received: `session keys for key id ${pkesks.map((p) => hexId(p.keyId)).join(', ')}`,
  });
}

/** Decrypts the SEIPD v1 body (after its version byte), holding back and checking the MDC at the end. */
async function* seipdPlaintext(body: AsyncIterable<Buffer>, session: SessionKey): AsyncGenerator<Buffer> {
  const c = cipher(session.algorithm, 'the encrypted data');
  const decipher = createDecipheriv(c.cfb, session.key, Buffer.alloc(c.blockSize));
  const mdc = createHash('sha1');
  const prefixSize = c.blockSize + 2;
  let prefix = Buffer.alloc(0);
  // The last 22 bytes are the MDC packet: held back until the next data shows they are not the end.
  let held = Buffer.alloc(0);
  for await (const piece of body) {
    let clear = decipher.update(piece);
    if (prefix.length < prefixSize) {
      const need = prefixSize - prefix.length;
      prefix = Buffer.concat([prefix, clear.subarray(0, need)]);
      clear = clear.subarray(need);
      if (prefix.length < prefixSize) continue;
      if (prefix[c.blockSize - 2] !== prefix[c.blockSize] || prefix[c.blockSize - 1] !== prefix[c.blockSize + 1]) {
        throw integrityError();
      }
      mdc.update(prefix);
    }
    const all = held.length === 0 ? clear : Buffer.concat([held, clear]);
    if (all.length > 22) {
      const out = all.subarray(0, all.length - 22);
      held = Buffer.from(all.subarray(all.length - 22));
      mdc.update(out);
      yield out;
    } else {
      held = Buffer.from(all);
    }
  }
  decipher.final();
  if (prefix.length < prefixSize || held.length !== 22 || held[0] !== 0xd3 || held[1] !== 0x14) throw integrityError();
  mdc.update(held.subarray(0, 2));
  if (!timingSafeEqual(mdc.digest(), held.subarray(2))) throw integrityError();
}

/** Signature checking over the literal data. */
class Verification {
  readonly #hashes = new Map<number, Hash>();
  readonly signatures: Signature[] = [];

  constructor(readonly verifiers: readonly PgpKey[] | undefined) {}

  /** Starts a hash announced by a one-pass signature (or a signature before the data). */
  expect(hashAlgorithm: number): void {
    if (!this.verifiers || this.#hashes.has(hashAlgorithm)) return;
    this.#hashes.set(hashAlgorithm, createHash(hashName(hashAlgorithm, 'the signature')));
  }

  /** Hashes a piece of the literal data. */
  update(data: Buffer): void {
    for (const hash of this.#hashes.values()) hash.update(data);
  }

  /** Checks every signature by a verifier; returns how many hold, and throws when one does not. */
  check(): number {
    const verifiers = this.verifiers ?? [];
    let valid = 0;
    for (const signature of this.signatures) {
      const issuer = issuerKeyId(signature);
      const key = verifiers.find((k) => issuer && k.keyId.equals(issuer));
      if (!key) continue;
      if (signature.type !== SignatureType.Binary) {
        throw unsupported(
          'checking the signature',
          `signature type 0x${signature.type.toString(16).padStart(2, '0')} (only binary signatures are checked)`,
        );
      }
      const hash = this.#hashes.get(signature.hashAlgorithm);
      if (!hash) throw failed('a signature has no one-pass signature packet announcing its hash before the data');
      const digest = hash.copy().update(signatureTrailer(signature.hashedPart)).digest();
      if (
        !digest.subarray(0, 2).equals(signature.digestStart) ||
        !verifyDigest(key, signature.hashAlgorithm, digest, signature.mpis)
      ) {
        throw new IdxError('IDX_PGP_FAILED', `the signature by key ${hexId(key.keyId)} does not match the data`, {
          expected: 'a valid signature by verificationKey',
          details: { check: 'signature' },
        });
      }
      valid++;
    }
    return valid;
  }
}

/** Inflates a compressed packet's data as a stream. */
async function* inflate(data: AsyncIterable<Buffer>, algorithm: number): AsyncGenerator<Buffer> {
  const inflater = algorithm === CompressionAlgorithm.Zip ? createInflateRaw() : createInflate();
  const fed = pipeline(Readable.from(data), inflater);
  // Errors surface through the iteration below.
  fed.catch(() => undefined);
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) yield chunk;
    await fed;
  } catch (error) {
    if (error instanceof IdxError) throw error;
    throw failed(`the compressed data is damaged: ${(error as Error).message}`);
  } finally {
    inflater.destroy();
  }
}

/** Reads the decrypted packets and yields the literal data. */
async function* plaintextPackets(
  reader: ByteReader,
  state: { literal: boolean; compressed: boolean; verification: Verification; report: DecryptReport },
): AsyncGenerator<Buffer> {
  for (;;) {
    const header = await readPacketHeader(reader);
    if (!header) return;
    switch (header.tag) {
      case Tag.CompressedData: {
        if (state.compressed || state.literal)
          throw unsupported(
            'the encrypted data',
            'a compressed data packet inside compressed data or after the literal data',
          );
        state.compressed = true;
        const body = new ByteReader(packetBody(reader, header));
        const algorithm = await body.readByte();
        let inner: AsyncIterable<Buffer>;
        if (algorithm === CompressionAlgorithm.Uncompressed) inner = remainingBytes(body);
        else if (algorithm === CompressionAlgorithm.Zip || algorithm === CompressionAlgorithm.Zlib) {
          state.report.compression = algorithm === CompressionAlgorithm.Zip ? 'zip' : 'zlib';
          inner = inflate(remainingBytes(body), algorithm);
        } else if (algorithm === CompressionAlgorithm.Bzip2) {
          throw unsupported(
            'the compression',
            'BZip2 (compression algorithm 3); encrypt with ZIP or ZLIB (gpg --compress-algo zlib)',
          );
        } else throw unsupported('the compression', `compression algorithm ${algorithm}`);
        yield* plaintextPackets(new ByteReader(inner), state);
        break;
      }
      case Tag.OnePassSignature: {
        const body = await readPacketBody(reader, header, MAX_SMALL_PACKET, 'a one-pass signature packet');
        if (body.length >= 4) state.verification.expect(body[2] as number);
        break;
      }
      case Tag.Signature: {
        const signature = parseSignature(await readPacketBody(reader, header, MAX_SMALL_PACKET, 'a signature packet'));
        state.report.signatures++;
        // A signature before the data (no one-pass packet) also says which hash to run over it.
        if (!state.literal) state.verification.expect(signature.hashAlgorithm);
        state.verification.signatures.push(signature);
        break;
      }
      case Tag.LiteralData: {
        if (state.literal)
          throw failed('the encrypted data holds more than one literal data packet', 'one literal data packet');
        state.literal = true;
        const body = new ByteReader(packetBody(reader, header));
        await body.readExact(1, 'the literal data header');
        const nameLength = (await body.readExact(1, 'the literal data header'))[0] as number;
        state.report.fileName = (await body.readExact(nameLength, 'the literal data file name')).toString('utf8');
        await body.readExact(4, 'the literal data date');
        for await (const data of remainingBytes(body)) {
          state.verification.update(data);
          yield data;
        }
        break;
      }
      case Tag.Marker:
      case Tag.Padding:
        await skipPacketBody(reader, header);
        break;
      default:
        throw failed(
          `the encrypted data holds an unexpected packet (tag ${header.tag})`,
          'compressed, literal or signature packets',
        );
    }
  }
}

/** Decrypts an OpenPGP message (binary or armored) as a stream of the literal data. */
export async function* decryptStream(
  source: AsyncIterable<Uint8Array>,
  options: DecryptOptions,
  report: DecryptReport = { signatures: 0, verified: 0 },
): AsyncGenerator<Buffer> {
  const reader = new ByteReader(binary(source));
  try {
    yield* readMessage(reader, options, report);
  } finally {
    // Stopped early (the consumer failed, or the message did): the source is closed, not left open.
    await reader.close();
  }
}

async function* readMessage(
  reader: ByteReader,
  options: DecryptOptions,
  report: DecryptReport,
): AsyncGenerator<Buffer> {
  const pkesks: EncryptedSessionKey[] = [];
  let passwordOnly = false;
  for (;;) {
    const header = await readPacketHeader(reader);
    if (!header) throw failed('the file holds no encrypted data', 'an OpenPGP encrypted message');
    if (header.tag === Tag.SymEncryptedIntegrityProtectedData) {
      const body = new ByteReader(packetBody(reader, header));
      const version = await body.readByte();
      if (version === 2) throw unsupported('the encrypted data', 'SEIPD version 2 (AEAD, RFC 9580)');
      if (version !== 1) throw unsupported('the encrypted data', `SEIPD version ${version}`);
      const session = sessionKey(pkesks, options.keys, passwordOnly);
      const state = { literal: false, compressed: false, verification: new Verification(options.verifiers), report };
      yield* plaintextPackets(new ByteReader(seipdPlaintext(remainingBytes(body), session)), state);
      // Here the MDC has been checked: the decrypted stream ended.
      if (!state.literal) throw failed('the encrypted data holds no literal data packet', 'one literal data packet');
      if (options.verifiers) {
        report.verified = state.verification.check();
        if (report.verified === 0) {
          throw new IdxError('IDX_PGP_FAILED', 'the file is not signed by verificationKey', {
            expected: 'a signature by a key of verificationKey',
            received: report.signatures === 0 ? 'no signature' : `${report.signatures} signature(s) by other keys`,
            details: { check: 'signature' },
          });
        }
      }
      if (!(await reader.atEnd()))
        throw failed('the file holds data after the encrypted data', 'one encrypted message');
      return;
    }
    switch (header.tag) {
      case Tag.PublicKeyEncryptedSessionKey:
        if (pkesks.length >= MAX_RECIPIENTS)
          throw failed(`the file has more than ${MAX_RECIPIENTS} session key packets`);
        pkesks.push(readPkesk(await readPacketBody(reader, header, MAX_SMALL_PACKET, 'a session key packet')));
        break;
      case Tag.SymmetricKeyEncryptedSessionKey:
        passwordOnly = true;
        await skipPacketBody(reader, header);
        break;
      case Tag.Marker:
      case Tag.Padding:
        await skipPacketBody(reader, header);
        break;
      case Tag.SymmetricallyEncryptedData:
        throw unsupported(
          'the encrypted data',
          'a Symmetrically Encrypted Data packet (tag 9): the old CFB encryption without a modification detection code, which can be changed undetected',
        );
      case Tag.AeadEncryptedData:
        throw unsupported('the encrypted data', 'an AEAD Encrypted Data packet (tag 20, OCB as GnuPG 2.3+ may write)');
      case Tag.LiteralData:
      case Tag.CompressedData:
      case Tag.OnePassSignature:
      case Tag.Signature:
        throw failed(
          `the file is not encrypted: it starts with a packet of tag ${header.tag}`,
          'an OpenPGP encrypted message',
        );
      default:
        throw failed(
          `the file holds an unexpected packet (tag ${header.tag}) before the encrypted data`,
          'an OpenPGP encrypted message',
        );
    }
  }
}
