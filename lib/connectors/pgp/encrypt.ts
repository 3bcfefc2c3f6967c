/**
 * Writing an OpenPGP message as a stream: one public-key encrypted session key per recipient, then AES-256 in
 * a SEIPD v1 packet with its modification detection code, around an optionally signed literal data packet.
 * Every variable-size packet uses partial body lengths, so memory stays flat whatever the input size.
 */
import { createCipheriv, createHash, type Hash, randomBytes } from 'node:crypto';
import { HashAlgorithm, hashName, SymmetricAlgorithm } from './algorithms.ts';
import { armor } from './armor.ts';
import { uint16, uint32 } from './bytes.ts';
import type { PgpKey } from './keys.ts';
import { packet, streamedPacket, Tag } from './packets.ts';
import { encryptSessionKey, type SessionKey, signDigest } from './public-key.ts';
import { hashedPart, onePassSignature, SignatureType, SubpacketType, signatureTrailer } from './signature.ts';

/** What to encrypt for, and how. */
export interface EncryptOptions {
  /** The encryption keys of the recipients (see `encryptionKey`): one session key packet each. */
  readonly recipients: readonly PgpKey[];
  /** An unlocked signing key: the data is then signed (one-pass signature, then the signature). */
  readonly signer?: PgpKey;
  /** The file name recorded in the literal data packet. */
  readonly fileName: string;
  /** The date recorded in the literal data packet. */
  readonly date: Date;
  /** Write ASCII armor instead of binary packets. */
  readonly armor: boolean;
}

const SIGNATURE_HASH = HashAlgorithm.Sha256;

/** The literal data packet's body: format, file name and date, then the data (hashed for the signature). */
async function* literalBody(
  source: AsyncIterable<Uint8Array>,
  fileName: string,
  seconds: number,
  hash: Hash | undefined,
): AsyncGenerator<Buffer> {
  // The name field holds at most 255 bytes.
  const name = Buffer.from(fileName, 'utf8').subarray(0, 255);
  yield Buffer.concat([Buffer.from([0x62, name.length]), name, uint32(seconds)]);
  for await (const chunk of source) {
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (data.length === 0) continue;
    hash?.update(data);
    yield data;
  }
}

/** The plaintext packets: [one-pass signature,] literal data[, signature]. */
async function* plaintextPackets(source: AsyncIterable<Uint8Array>, options: EncryptOptions): AsyncGenerator<Buffer> {
  const seconds = Math.floor(options.date.getTime() / 1000);
  const signer = options.signer;
  const hash = signer ? createHash(hashName(SIGNATURE_HASH, 'the signature')) : undefined;
  if (signer) {
    yield packet(
      Tag.OnePassSignature,
      onePassSignature(SignatureType.Binary, SIGNATURE_HASH, signer.algorithm, signer.keyId),
    );
  }
  yield* streamedPacket(Tag.LiteralData, literalBody(source, options.fileName, seconds, hash));
  if (signer && hash) {
    const signed = hashedPart(SignatureType.Binary, signer.algorithm, SIGNATURE_HASH, [
      // Signed now: a signature older than its key (a job's start date can be) does not verify.
      { type: SubpacketType.CreationTime, data: uint32(Math.floor(Date.now() / 1000)) },
      { type: SubpacketType.IssuerFingerprint, data: Buffer.concat([Buffer.from([4]), signer.fingerprint]) },
    ]);
    const digest = hash.update(signatureTrailer(signed)).digest();
    const unhashed = Buffer.concat([Buffer.from([9, SubpacketType.Issuer]), signer.keyId]);
    yield packet(
      Tag.Signature,
      Buffer.concat([
        signed,
        uint16(unhashed.length),
        unhashed,
        digest.subarray(0, 2),
        signDigest(signer, SIGNATURE_HASH, digest),
      ]),
    );
  }
}

/** The SEIPD v1 body: version 1, then CFB over the random prefix, the plaintext packets and the MDC packet. */
async function* seipdBody(plaintext: AsyncIterable<Buffer>, session: SessionKey): AsyncGenerator<Buffer> {
  const blockSize = 16;
  const cipher = createCipheriv('aes-256-cfb', session.key, Buffer.alloc(blockSize));
  const mdc = createHash('sha1');
  const prefix = randomBytes(blockSize);
  // The last two prefix bytes repeated let a receiver check the session key before the data (RFC 4880 §5.13).
  const start = Buffer.concat([prefix, prefix.subarray(blockSize - 2)]);
  mdc.update(start);
  yield Buffer.from([1]);
  yield cipher.update(start);
  for await (const chunk of plaintext) {
    mdc.update(chunk);
    yield cipher.update(chunk);
  }
  const mdcHeader = Buffer.from([0xd3, 0x14]);
  mdc.update(mdcHeader);
  yield cipher.update(Buffer.concat([mdcHeader, mdc.digest()]));
  const last = cipher.final();
  if (last.length > 0) yield last;
}

async function* binaryMessage(source: AsyncIterable<Uint8Array>, options: EncryptOptions): AsyncGenerator<Buffer> {
  const session: SessionKey = { algorithm: SymmetricAlgorithm.Aes256, key: randomBytes(32) };
  for (const recipient of options.recipients) {
    yield packet(Tag.PublicKeyEncryptedSessionKey, encryptSessionKey(recipient, session));
  }
  yield* streamedPacket(Tag.SymEncryptedIntegrityProtectedData, seipdBody(plaintextPackets(source, options), session));
}

/** Encrypts a byte stream into an OpenPGP message (binary or armored), as a stream. */
export function encryptStream(source: AsyncIterable<Uint8Array>, options: EncryptOptions): AsyncGenerator<Buffer> {
  const message = binaryMessage(source, options);
  return options.armor ? armor('MESSAGE', message) : message;
}
