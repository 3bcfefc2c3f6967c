import { type DecryptReport, decryptStream } from '../connectors/pgp/decrypt.ts';
import { allKeys } from '../connectors/pgp/keys.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { fileError, readPrivateKey, readPublicKeys } from './util/pgp.ts';

/** The name of a file once its encryption layer is removed. */
export function decryptedName(name: string): string {
  const m = /\.(pgp|gpg|asc)$/i.exec(name);
  return m ? name.slice(0, -m[0].length) : name;
}

/** `file.decrypt.pgp`: decrypts OpenPGP files. */
export const fileDecryptPgp = defineScript({
  type: 'file.decrypt.pgp',
  summary: 'Decrypts PGP-encrypted files (binary or armored) with a private key; `x.csv.pgp` becomes `x.csv`.',
  description:
    'Reads what GnuPG and other OpenPGP tools write. The `.pgp`, `.gpg` or `.asc` suffix is removed from the ' +
    'name. With verificationKey the file must carry a valid signature by that key, otherwise the step fails; ' +
    'without it, signatures are not checked. See docs/pgp.md for the algorithms read and those refused. ' +
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
    const keys = readPrivateKey(params.privateKey, params.passphrase, ctx.stepId, 'privateKey').flatMap(allKeys);
    const verifiers =
      params.verificationKey === undefined
        ? undefined
        : readPublicKeys(params.verificationKey, ctx.stepId, 'verificationKey').flatMap(allKeys);
    return {
      async file(file, out) {
        const name = decryptedName(file.name);
        try {
          // The decrypted data is written to the step's staged output as it comes; the integrity and signature
          // checks at the end of the message throw before the file is finished, which discards it and fails the
          // step, so the next step never sees data that did not pass them.
          const report: DecryptReport = { signatures: 0, verified: 0 };
          const decrypted = decryptStream(file.open(), { keys, ...(verifiers ? { verifiers } : {}) }, report);
          await copyToFile(decrypted, out.createFile(name));
          // Unchecked signatures are said, so nobody takes a signed file for a verified one.
          if (!verifiers && report.signatures > 0) {
            ctx.log.info(
              `${file.name} carries ${report.signatures} signature(s), not checked: the step has no verificationKey`,
            );
          }
        } catch (error) {
          throw fileError(error, 'decrypt', file.name, ctx.stepId);
        }
      },
    };
  },
});
