/**
 * A child process for the PGP memory test: streams `megabytes` of generated data through encryption and straight
 * back through decryption, and prints what went in and came out with the process's peak RSS as JSON.
 *
 *   node --import tsx test/support/pgp-stream.ts <megabytes> <public key file> <private key file> <passphrase>
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decryptStream } from '../../lib/connectors/pgp/decrypt.ts';
import { encryptStream } from '../../lib/connectors/pgp/encrypt.ts';
import { allKeys, encryptionKey, readCertificates, unlock } from '../../lib/connectors/pgp/keys.ts';
import { counting, generatedText, printStreamRun } from './byte-streams.ts';

const [megabytes, publicFile, privateFile, passphrase] = process.argv.slice(2);
const total = Number(megabytes) * 1024 * 1024;
const inHash = createHash('sha256');
let encryptedBytes = 0;

const recipients = readCertificates(readFileSync(publicFile as string, 'utf8'), 'public').map((c) => encryptionKey(c));
const certificates = readCertificates(readFileSync(privateFile as string, 'utf8'), 'private');
for (const certificate of certificates) unlock(certificate, passphrase as string);
const encrypted = encryptStream(
  generatedText(
    total,
    (n) => `row ${n},user${n}@example.com\n`,
    (part) => inHash.update(part),
  ),
  { recipients, fileName: 'big.csv', date: new Date(), armor: false },
);
const outHash = createHash('sha256');
let bytesOut = 0;
for await (const part of decryptStream(
  counting(encrypted, (n) => {
    encryptedBytes += n;
  }),
  { keys: certificates.flatMap(allKeys) },
)) {
  outHash.update(part);
  bytesOut += part.length;
}
printStreamRun({
  bytesIn: total,
  bytesOut,
  encryptedBytes,
  inHash: inHash.digest('hex'),
  outHash: outHash.digest('hex'),
});
