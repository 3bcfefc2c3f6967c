/** Helpers shared by the PGP scripts: reading keys into typed errors, and bridging Node and web streams. */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { IdxError, showValue } from '../../core/errors.ts';
import type { ScriptCheckProblem } from '../../core/script.ts';

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

const PUBLIC_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/g;

/** The OpenPGP packet tag of the first packet (RFC 9580 §4.2: old or new header format), if there is one. */
function firstPacketTag(bytes: Buffer): number | undefined {
  const b = bytes[0];
  if (b === undefined || (b & 0x80) === 0) return undefined;
  return b & 0x40 ? b & 0x3f : (b >> 2) & 0x0f;
}

/**
 * Checks, without running openpgp (validation stays synchronous and side-effect free), that a param holds one
 * or more armored PGP public keys: every PUBLIC KEY BLOCK decodes and starts with a public-key packet. A value
 * with a placeholder is only known at run time; a private key anywhere in it is reported by the dataflow's
 * credential check, which never echoes it.
 */
export function checkArmoredPublicKeys(value: string | undefined, param: string): ScriptCheckProblem[] {
  if (value === undefined || value.trim() === '' || value.includes('${') || value.includes('PRIVATE KEY')) return [];
  const expected = 'one or more armored PGP public keys (-----BEGIN PGP PUBLIC KEY BLOCK----- … -----END …)';
  // Key material is not echoed: the block may be a secret key under a public label.
  const problem = (message: string, received = `${value.length} characters`): ScriptCheckProblem[] => [
    { code: 'IDX_PARAM_VALUE', path: param, message: `${param} ${message}`, expected, received },
  ];
  const blocks = [...value.matchAll(PUBLIC_BLOCK)];
  if (blocks.length === 0) return problem('holds no armored PGP public key block', showValue(value, 60));
  for (const [n, block] of blocks.entries()) {
    // Armor: optional "Name: value" headers (base64 has no colon), base64 lines, an optional "=XXXX" checksum.
    const body = (block[1] ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.includes(':') && !l.startsWith('='))
      .join('');
    if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return problem(`key block ${n + 1} is not base64`);
    const tag = firstPacketTag(Buffer.from(body, 'base64'));
    // Tags 5 and 7 are secret-key packets: a private key labelled as public, which must not be deployed.
    if (tag === 5 || tag === 7) {
      return [
        {
          code: 'IDX_CREDENTIAL_PLAINTEXT',
          path: param,
          message: `${param}: key block ${n + 1} is a private key; give the recipient's public key, and keep the private key secret`,
          expected,
          received: 'a secret-key packet (not shown)',
        },
      ];
    }
    if (tag !== 6) return problem(`key block ${n + 1} does not start with a public-key packet`);
  }
  return [];
}
