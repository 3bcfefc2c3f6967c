import type { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { IdxError } from '../core/errors.ts';
import { defineScript, type InputFile } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { fromWeb, readPrivateKey, readPublicKeys, toWeb } from './util/pgp.ts';

/** The name of a file once its encryption layer is removed. */
export function decryptedName(name: string): string {
  const m = /\.(pgp|gpg|asc)$/i.exec(name);
  return m ? name.slice(0, -m[0].length) : name;
}

/** True when the file starts with an ASCII armor header rather than binary packets. */
async function isArmored(file: InputFile): Promise<boolean> {
  const stream = file.open();
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      return chunk.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN PGP');
    }
    return false;
  } finally {
    stream.destroy();
  }
}

/** `file.decrypt.pgp`: decrypts OpenPGP files. */
export const fileDecryptPgp = defineScript({
  type: 'file.decrypt.pgp',
  summary: 'Decrypts PGP-encrypted files (binary or armored) with a private key; `x.csv.pgp` becomes `x.csv`.',
  description:
    'Reads what GnuPG and other OpenPGP tools write. The `.pgp`, `.gpg` or `.asc` suffix is removed from the ' +
    'name. With verificationKey the file must carry a valid signature by that key, otherwise the step fails. ' +
    'Streaming: decrypted data flows on while the file is read, and the integrity check (and signature check) ' +
    'at the end of the file fails the step when it does not hold, so a tampered file never completes.',
  consumes: 'files',
  produces: 'files',
  params: {
    privateKey: {
      type: 'string',
      required: true,
      secret: true,
      description: 'The armored private key (-----BEGIN PGP PRIVATE KEY BLOCK-----), as ${secret:NAME}.',
    },
    passphrase: {
      type: 'string',
      secret: true,
      description: 'Passphrase of the private key when it has one, as ${secret:NAME}.',
    },
    verificationKey: {
      type: 'string',
      description: 'Optional armored public key of the sender: the file must then be signed by it.',
    },
  },
  async create(params, ctx) {
    const decryptionKeys = await readPrivateKey(params.privateKey, params.passphrase, ctx.stepId, 'privateKey');
    const verificationKeys =
      params.verificationKey === undefined
        ? undefined
        : await readPublicKeys(params.verificationKey, ctx.stepId, 'verificationKey');
    return {
      async file(file, out) {
        const name = decryptedName(file.name);
        try {
          const armored = await isArmored(file);
          const source: Readable = file.open();
          const message = armored
            ? await openpgp.readMessage({
                armoredMessage: toWeb(source.setEncoding('utf8')) as unknown as ReadableStream<string>,
              })
            : await openpgp.readMessage({ binaryMessage: toWeb(source) });
          const result = await openpgp.decrypt({
            message,
            decryptionKeys,
            format: 'binary',
            ...(verificationKeys ? { verificationKeys, expectSigned: true } : {}),
            // Stream instead of holding the whole file to check its integrity first; a failed check still
            // errors the stream at the end, which fails the step and discards the output.
            config: { allowUnauthenticatedStream: true },
          });
          await copyToFile(fromWeb(result.data as ReadableStream<Uint8Array>), out.createFile(name));
          if (verificationKeys) {
            for (const signature of result.signatures) await signature.verified;
          }
        } catch (error) {
          if (error instanceof IdxError) throw error;
          throw new IdxError('IDX_PGP_FAILED', `cannot decrypt ${file.name}: ${(error as Error).message}`, {
            stepId: ctx.stepId,
            cause: error,
          });
        }
      },
    };
  },
});
