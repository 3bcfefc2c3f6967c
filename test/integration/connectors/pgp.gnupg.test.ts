/**
 * The OpenPGP implementation against the real GnuPG (`gpg`, in a temporary GNUPGHOME): what we encrypt gpg
 * decrypts, what gpg encrypts we decrypt, and what we refuse we refuse with a code.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptStream } from '../../../lib/connectors/pgp/decrypt.ts';
import { encryptStream } from '../../../lib/connectors/pgp/encrypt.ts';
import { allKeys, encryptionKey, readCertificates, signingKey, unlock } from '../../../lib/connectors/pgp/keys.ts';
import { IdxError } from '../../../lib/core/errors.ts';
import { copyToFile } from '../../../lib/scripts/util/io.ts';
import { collect, pieces } from '../../support/byte-streams.ts';
import { GnuPgHome } from '../../support/gnupg.ts';
import { runNode } from '../../support/node-process.ts';

/** An odd piece size, so every parser meets structures split across chunks. */
const ODD = 1009;

function encryptFor(publicKeys: string, data: Buffer, armor = false): Promise<Buffer> {
  const recipients = readCertificates(publicKeys, 'public').map((c) => encryptionKey(c));
  return collect(encryptStream(pieces(data, ODD), { recipients, fileName: 'accounts.csv', date: new Date(), armor }));
}

function unlockedKeys(privateKey: string, passphrase: string) {
  const certificates = readCertificates(privateKey, 'private');
  for (const certificate of certificates) unlock(certificate, passphrase);
  return certificates.flatMap(allKeys);
}

function decryptWith(privateKey: string, passphrase: string, message: Buffer): Promise<Buffer> {
  return collect(decryptStream(pieces(message, ODD), { keys: unlockedKeys(privateKey, passphrase) }));
}

const CSV = Buffer.from(`UID,MAIL\n${'u1,zoë@example.com 🚀\n'.repeat(40_000)}`);
const PASS = 'correct horse';

describe('OpenPGP interoperability with GnuPG', () => {
  let gpg: GnuPgHome;
  let other: GnuPgHome;
  beforeAll(() => {
    gpg = new GnuPgHome();
    other = new GnuPgHome();
    gpg.generateRsa('rsa2048@example.com', 2048, PASS);
    gpg.generateRsa('rsa3072@example.com', 3072, PASS);
    gpg.generate('cv25519@example.com', PASS);
    other.generate('second@example.com', PASS);
  }, 240_000);
  afterAll(() => {
    gpg?.dispose();
    other?.dispose();
  });

  /** gpg's decryption of a message in `home`, with the keys' passphrase. */
  function gpgDecrypt(home: GnuPgHome, message: Buffer, name: string): Buffer {
    writeFileSync(join(home.home, name), message);
    return home.run(['--decrypt', join(home.home, name)], undefined, PASS);
  }

  function gpgEncrypt(email: string, data: Buffer, extra: string[] = []): Buffer {
    return gpg.run(['--encrypt', '--trust-model', 'always', '--recipient', email, ...extra, '--output', '-'], data);
  }

  it('encrypts to RSA-2048, RSA-3072 and cv25519 keys so that gpg decrypts byte for byte, binary and armored', async () => {
    for (const email of ['rsa2048@example.com', 'rsa3072@example.com', 'cv25519@example.com']) {
      // Prepare
      const publicKey = gpg.publicKey(email);

      // Act
      const binary = await encryptFor(publicKey, CSV);
      const armored = await encryptFor(publicKey, CSV, true);

      // Assess
      expect(binary.includes(Buffer.from('zoë@example.com'))).toBe(false);
      expect(gpgDecrypt(gpg, binary, `${email}.pgp`).equals(CSV)).toBe(true);
      expect(armored.toString('latin1')).toMatch(/^-----BEGIN PGP MESSAGE-----\n/);
      expect(gpgDecrypt(gpg, armored, `${email}.asc`).equals(CSV)).toBe(true);
    }
  });

  it('encrypts one message for two recipients with one session key packet each, and each decrypts it alone', async () => {
    // Prepare: two homes, each holding only its own secret key.
    const keys = `${gpg.publicKey('rsa2048@example.com')}\n${other.publicKey('second@example.com')}`;

    // Act
    const message = await encryptFor(keys, CSV);
    const packets = other.run(['--list-packets'], message, PASS).toString();

    // Assess
    expect(packets.match(/:pubkey enc packet:/g)).toHaveLength(2);
    expect(gpgDecrypt(gpg, message, 'both-a.pgp').equals(CSV)).toBe(true);
    expect(gpgDecrypt(other, message, 'both-b.pgp').equals(CSV)).toBe(true);
  });

  it('decrypts gpg’s default, ZIP, ZLIB, uncompressed and armored messages with passphrase-protected keys', async () => {
    for (const email of ['rsa2048@example.com', 'rsa3072@example.com', 'cv25519@example.com']) {
      // Prepare
      const privateKey = gpg.privateKey(email, PASS);
      const messages = [
        gpgEncrypt(email, CSV),
        gpgEncrypt(email, CSV, ['--compress-algo', 'zip']),
        gpgEncrypt(email, CSV, ['--compress-algo', 'zlib']),
        gpgEncrypt(email, CSV, ['--compress-algo', 'none']),
        gpgEncrypt(email, CSV, ['--armor', '--cipher-algo', 'AES128']),
      ];

      // Act
      const decrypted = await Promise.all(messages.map((m) => decryptWith(privateKey, PASS, m)));

      // Assess
      expect(decrypted.map((d) => d.equals(CSV))).toEqual([true, true, true, true, true]);
    }
  });

  it('refuses gpg’s --rfc2440 output, the old CFB encryption without integrity check, with IDX_PGP_UNSUPPORTED', async () => {
    // Prepare
    const old = gpgEncrypt('cv25519@example.com', CSV, ['--rfc2440']);

    // Act
    const result = decryptWith(gpg.privateKey('cv25519@example.com', PASS), PASS, old);

    // Assess
    await expect(result).rejects.toMatchObject({
      code: 'IDX_PGP_UNSUPPORTED',
      message: expect.stringContaining('without a modification detection code'),
    });
  });

  it('refuses BZip2-compressed data with IDX_PGP_UNSUPPORTED naming BZip2', async () => {
    // Prepare
    const bzip2 = gpgEncrypt('cv25519@example.com', CSV, ['--compress-algo', 'bzip2']);

    // Act
    const result = decryptWith(gpg.privateKey('cv25519@example.com', PASS), PASS, bzip2);

    // Assess
    await expect(result).rejects.toMatchObject({
      code: 'IDX_PGP_UNSUPPORTED',
      message: expect.stringContaining('BZip2'),
    });
  });

  it('fails a tampered ciphertext with IDX_PGP_FAILED at its integrity check and leaves the output unfinished', async () => {
    // Prepare: uncompressed, so the change decrypts to changed data that only the MDC catches.
    const tampered = gpgEncrypt('rsa2048@example.com', CSV, ['--compress-algo', 'none']);
    tampered[tampered.length - 1000]! ^= 0x01;
    let written = 0;
    let finished = false;
    const target = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        callback();
      },
      final(callback) {
        finished = true;
        callback();
      },
    });
    const keys = unlockedKeys(gpg.privateKey('rsa2048@example.com', PASS), PASS);

    // Act
    const result = copyToFile(decryptStream(pieces(tampered, ODD), { keys }), target);

    // Assess: data streamed before the check failed, and the file was destroyed, never finished.
    await expect(result).rejects.toMatchObject({ code: 'IDX_PGP_FAILED', details: { check: 'mdc' } });
    expect(written).toBeGreaterThan(CSV.length / 2);
    expect(finished).toBe(false);
    expect(target.destroyed).toBe(true);
  });

  it('signs with RSA so that gpg reports a good signature, and checks gpg’s RSA signature against the sender’s key only', async () => {
    // Prepare
    const signer = readCertificates(gpg.privateKey('rsa3072@example.com', PASS), 'private')[0]!;
    unlock(signer, PASS);
    const recipients = readCertificates(gpg.publicKey('rsa2048@example.com'), 'public').map((c) => encryptionKey(c));
    const signedByGpg = gpg.run(
      [
        '--sign',
        '--local-user',
        'rsa3072@example.com',
        ...['--encrypt', '--trust-model', 'always'],
        '--recipient',
        'rsa2048@example.com',
        '--output',
        '-',
      ],
      CSV,
      PASS,
    );
    const verifiers = readCertificates(gpg.publicKey('rsa3072@example.com'), 'public').flatMap(allKeys);
    const keys = unlockedKeys(gpg.privateKey('rsa2048@example.com', PASS), PASS);

    // Act
    const ours = await collect(
      encryptStream(pieces(CSV, ODD), {
        recipients,
        signer: signingKey(signer),
        fileName: 'x',
        date: new Date(),
        armor: false,
      }),
    );
    writeFileSync(join(gpg.home, 'signed.pgp'), ours);
    const status = gpg
      .run(
        ['--status-fd', '1', '--decrypt', '--output', join(gpg.home, 'signed.out'), join(gpg.home, 'signed.pgp')],
        undefined,
        PASS,
      )
      .toString();
    const theirs = await collect(decryptStream(pieces(signedByGpg, ODD), { keys, verifiers }));
    const strangers = readCertificates(gpg.publicKey('cv25519@example.com'), 'public').flatMap(allKeys);
    const byStranger = collect(decryptStream(pieces(signedByGpg, ODD), { keys, verifiers: strangers }));

    // Assess
    expect(status).toMatch(/\[GNUPG:\] GOODSIG [0-9A-F]+ Test <rsa3072@example.com>/);
    expect(createHash('sha256').update(theirs).digest('hex')).toBe(createHash('sha256').update(CSV).digest('hex'));
    await expect(byStranger).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('not signed by verificationKey'),
      received: '1 signature(s) by other keys',
    });
  });

  it('decrypts gpg’s CAST5 messages with OpenSSL’s legacy provider, and without it refuses them naming CAST5', async () => {
    // Prepare
    const cast5 = gpgEncrypt('cv25519@example.com', CSV, ['--cipher-algo', 'CAST5']);
    const privateKey = gpg.privateKey('cv25519@example.com', PASS);
    writeFileSync(join(gpg.home, 'cast5.pgp'), cast5);
    writeFileSync(join(gpg.home, 'cast5-key.asc'), privateKey);
    const child = join(__dirname, '../../support/pgp-decrypt.ts');
    const args = [child, join(gpg.home, 'cast5-key.asc'), PASS, join(gpg.home, 'cast5.pgp')];

    // Act
    const legacy = await runNode(['--openssl-legacy-provider', '--import', 'tsx', ...args]);
    const plain = await runNode(['--import', 'tsx', ...args]);

    // Assess
    expect(JSON.parse(legacy.stdout)).toEqual({
      sha256: createHash('sha256').update(CSV).digest('hex'),
      bytes: CSV.length,
    });
    expect(JSON.parse(plain.stdout)).toMatchObject({
      code: 'IDX_PGP_UNSUPPORTED',
      message: expect.stringMatching(/CAST5.*legacy provider/),
    });
  });

  it('refuses a NIST P-256 recipient with IDX_PGP_UNSUPPORTED naming the curve, and an expired key with IDX_PGP_KEY', () => {
    // Prepare
    other.run(['--quick-generate-key', 'Test <p256@example.com>', 'nistp256', 'sign,cert', 'never'], undefined, PASS);
    other.run(['--quick-add-key', other.fingerprint('p256@example.com'), 'nistp256', 'encr', 'never'], undefined, PASS);
    // Made in 2020 to expire a day later.
    other.run(
      [
        '--faked-system-time',
        '20200101T000000',
        '--quick-generate-key',
        'Test <old@example.com>',
        'futuredefault',
        'default',
        '1d',
      ],
      undefined,
      PASS,
    );
    const [p256] = readCertificates(other.publicKey('p256@example.com'), 'public');
    const [expired] = readCertificates(other.publicKey('old@example.com'), 'public');

    // Act / Assess
    expect(() => encryptionKey(p256!)).toThrow(
      expect.objectContaining({ code: 'IDX_PGP_UNSUPPORTED', message: expect.stringContaining('NIST P-256') }),
    );
    expect(() => encryptionKey(expired!)).toThrow(
      expect.objectContaining({ code: 'IDX_PGP_KEY', message: expect.stringContaining('expired') }),
    );
  });

  it('refuses a file encrypted for another key with IDX_PGP_FAILED naming both key ids', async () => {
    // Prepare
    const forOther = other.run(
      ['--encrypt', '--trust-model', 'always', '--recipient', 'second@example.com', '--output', '-'],
      CSV,
    );

    // Act
    const result = decryptWith(gpg.privateKey('cv25519@example.com', PASS), PASS, forOther);

    // Assess
    await expect(result).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('not encrypted for the private key'),
      received: expect.stringMatching(/key id [0-9A-F]{16}/),
    });
  });

  it('answers every cut or changed message with a coded error, never another exception or changed data', async () => {
    // Prepare: small messages, compressed and not, binary and armored; a seeded generator picks the damage.
    const data = Buffer.from('UID,MAIL\nu1,a@b.c\n'.repeat(50));
    const messages = [
      gpgEncrypt('cv25519@example.com', data),
      gpgEncrypt('rsa2048@example.com', data, ['--compress-algo', 'none']),
      gpgEncrypt('cv25519@example.com', data, ['--armor']),
    ];
    const keys = [
      ...unlockedKeys(gpg.privateKey('cv25519@example.com', PASS), PASS),
      ...unlockedKeys(gpg.privateKey('rsa2048@example.com', PASS), PASS),
    ];
    let seed = 17;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const outcomes = new Map<string, number>();

    // Act
    for (let round = 0; round < 300; round++) {
      const original = messages[round % messages.length]!;
      const damaged = Buffer.from(original);
      if (round % 4 === 0) damaged.fill(0, random(damaged.length));
      else damaged[random(damaged.length)]! ^= 1 + random(255);
      const cut = round % 4 === 0 ? damaged.subarray(0, random(damaged.length)) : damaged;
      let outcome: string;
      try {
        const out = await collect(decryptStream(pieces(cut, 97), { keys }));
        outcome = out.equals(data) ? 'same data' : 'CHANGED DATA';
      } catch (error) {
        outcome =
          error instanceof IdxError ? error.code : `uncoded ${(error as Error).name}: ${(error as Error).message}`;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }

    // Assess: armor lines and headers may absorb a change (data unchanged); nothing else gets through.
    const allowed = new Set(['IDX_PGP_FAILED', 'IDX_PGP_UNSUPPORTED', 'IDX_PGP_KEY', 'same data']);
    expect([...outcomes.keys()].filter((o) => !allowed.has(o))).toEqual([]);
    expect(outcomes.get('IDX_PGP_FAILED')).toBeGreaterThan(200);
  });
});
