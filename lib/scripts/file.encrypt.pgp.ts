import * as openpgp from 'openpgp';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { checkArmoredPublicKeys, fromWeb, readPrivateKey, readPublicKeys, toWeb } from './util/pgp.ts';

/** `file.encrypt.pgp`: OpenPGP-encrypts every file. */
export const fileEncryptPgp = defineScript({
  type: 'file.encrypt.pgp',
  summary: 'Encrypts every file for the recipients’ PGP public keys (optionally signed); `x.csv` becomes `x.csv.pgp`.',
  description:
    'Standard OpenPGP (RFC 4880 / 9580) messages that GnuPG and other PGP tools decrypt: AES-256 with an ' +
    'integrity check, for each key in publicKey. With signingKey the content is also signed, so the receiver ' +
    'can check who sent it. Streaming: memory does not grow with the file size.',
  consumes: 'files',
  produces: 'files',
  readsOnce: true,
  params: {
    publicKey: {
      type: 'string',
      required: true,
      description:
        'The recipient’s armored public key (-----BEGIN PGP PUBLIC KEY BLOCK-----); several keys one after the ' +
        'other encrypt for several recipients.',
    },
    signingKey: {
      type: 'string',
      secret: true,
      description: 'Optional armored private key to sign with, as ${secret:NAME}.',
    },
    signingKeyPassphrase: {
      type: 'string',
      secret: true,
      description: 'Passphrase of signingKey when it has one, as ${secret:NAME}.',
    },
    armor: {
      type: 'boolean',
      default: false,
      description: 'Write ASCII-armored text (`.asc`) instead of binary (`.pgp`).',
    },
  },
  check: (params) => checkArmoredPublicKeys(params.publicKey, 'publicKey'),
  async create(params, ctx) {
    const encryptionKeys = await readPublicKeys(params.publicKey, ctx.stepId, 'publicKey');
    const signingKeys =
      params.signingKey === undefined
        ? undefined
        : await readPrivateKey(params.signingKey, params.signingKeyPassphrase, ctx.stepId, 'signingKey');
    const suffix = params.armor ? '.asc' : '.pgp';
    return {
      async file(file, out) {
        const name = `${file.name}${suffix}`;
        try {
          const message = await openpgp.createMessage({
            binary: toWeb(file.open()),
            filename: file.name.slice(file.name.lastIndexOf('/') + 1),
            date: new Date(ctx.job.startTime),
          });
          const common = {
            message,
            encryptionKeys,
            ...(signingKeys ? { signingKeys } : {}),
            config: { preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256 },
          };
          const encrypted = params.armor
            ? await openpgp.encrypt({ ...common, format: 'armored' })
            : await openpgp.encrypt({ ...common, format: 'binary' });
          await copyToFile(fromWeb(encrypted as ReadableStream<Uint8Array>), out.createFile(name));
        } catch (error) {
          if (error instanceof IdxError) throw error;
          throw new IdxError('IDX_PGP_FAILED', `cannot encrypt ${file.name}: ${(error as Error).message}`, {
            stepId: ctx.stepId,
            cause: error,
          });
        }
      },
    };
  },
});
