import { encryptStream } from '../connectors/pgp/encrypt.ts';
import { encryptionKey, signingKey } from '../connectors/pgp/keys.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { checkArmoredPublicKeys, fileError, readPrivateKey, readPublicKeys, selectKey } from './util/pgp.ts';

/** `file.encrypt.pgp`: OpenPGP-encrypts every file. */
export const fileEncryptPgp = defineScript({
  type: 'file.encrypt.pgp',
  summary: 'Encrypts every file for the recipients’ PGP public keys (optionally signed); `x.csv` becomes `x.csv.pgp`.',
  description:
    'Standard OpenPGP (RFC 4880 / 9580) messages that GnuPG and other PGP tools decrypt: AES-256 with an ' +
    'integrity check, for each key in publicKey. With signingKey the content is also signed, so the receiver ' +
    'can check who sent it. Streaming: memory does not grow with the file size. See docs/pgp.md.',
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
    // One session key packet per recipient certificate, for its current encryption key.
    const recipients = readPublicKeys(params.publicKey, ctx.stepId, 'publicKey').map((certificate) =>
      selectKey(() => encryptionKey(certificate), ctx.stepId, 'publicKey'),
    );
    const signingCertificate =
      params.signingKey === undefined
        ? undefined
        : readPrivateKey(params.signingKey, params.signingKeyPassphrase, ctx.stepId, 'signingKey')[0];
    const signer = signingCertificate && selectKey(() => signingKey(signingCertificate), ctx.stepId, 'signingKey');
    const suffix = params.armor ? '.asc' : '.pgp';
    return {
      async file(file, out) {
        const name = `${file.name}${suffix}`;
        try {
          const encrypted = encryptStream(file.open(), {
            recipients,
            ...(signer ? { signer } : {}),
            fileName: file.name.slice(file.name.lastIndexOf('/') + 1),
            date: new Date(ctx.job.startTime),
            armor: params.armor,
          });
          await copyToFile(encrypted, out.createFile(name));
        } catch (error) {
          throw fileError(error, 'encrypt', file.name, ctx.stepId);
        }
      },
    };
  },
});
