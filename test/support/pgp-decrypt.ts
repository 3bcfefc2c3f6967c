/**
 * A child process that decrypts one message file with the PGP connector and prints the result as JSON: the
 * SHA-256 and size of the plaintext, or the error code and message. Lets a test run decryption under other
 * Node.js options (e.g. `--openssl-legacy-provider`).
 *
 *   node [options] --import tsx test/support/pgp-decrypt.ts <private key file> <passphrase> <message file>
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { decryptStream } from '../../lib/connectors/pgp/decrypt.ts';
import { allKeys, readCertificates, unlock } from '../../lib/connectors/pgp/keys.ts';
import { IdxError } from '../../lib/core/errors.ts';

const [privateFile, passphrase, messageFile] = process.argv.slice(2);
try {
  const certificates = readCertificates(readFileSync(privateFile as string, 'utf8'), 'private');
  for (const certificate of certificates) unlock(certificate, passphrase as string);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const part of decryptStream(createReadStream(messageFile as string), {
    keys: certificates.flatMap(allKeys),
  })) {
    hash.update(part);
    bytes += part.length;
  }
  process.stdout.write(`${JSON.stringify({ sha256: hash.digest('hex'), bytes })}\n`);
} catch (error) {
  const code = error instanceof IdxError ? error.code : 'UNCODED';
  process.stdout.write(`${JSON.stringify({ code, message: (error as Error).message })}\n`);
}
