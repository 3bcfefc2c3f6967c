/** Helpers shared by the PGP scripts: reading keys into typed errors, and bridging Node and web streams. */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { IdxError } from '../../core/errors.ts';

/** A Node stream as the web stream openpgp streams from. */
export function toWeb(stream: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
}

/** openpgp's output stream as a Node stream. */
export function fromWeb(stream: ReadableStream<Uint8Array> | ReadableStream<string>): Readable {
  return Readable.fromWeb(stream as unknown as WebReadableStream);
}

function keyError(stepId: string, param: string, what: string, error: unknown): IdxError {
  return new IdxError('IDX_PGP_KEY', `${param} is not ${what}: ${(error as Error).message}`, {
    stepId,
    param,
    expected: what,
  });
}

/** Reads one or more armored public keys (several keys mean several recipients). */
export async function readPublicKeys(armored: string, stepId: string, param: string): Promise<openpgp.Key[]> {
  try {
    return await openpgp.readKeys({ armoredKeys: armored });
  } catch (error) {
    throw keyError(stepId, param, 'an armored PGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)', error);
  }
}

/** Reads an armored private key and unlocks it with the passphrase when it is protected. */
export async function readPrivateKey(
  armored: string,
  passphrase: string | undefined,
  stepId: string,
  param: string,
): Promise<openpgp.PrivateKey> {
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch (error) {
    throw keyError(stepId, param, 'an armored PGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----)', error);
  }
  if (key.isDecrypted()) return key;
  if (!passphrase) {
    throw new IdxError('IDX_PGP_KEY', `${param} is protected by a passphrase and none is given`, {
      stepId,
      param,
      expected: 'the passphrase param (a ${secret:NAME} reference)',
      received: 'nothing',
    });
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (error) {
    // The message never includes the passphrase.
    throw new IdxError('IDX_PGP_KEY', `${param} cannot be unlocked: ${(error as Error).message}`, { stepId, param });
  }
}
