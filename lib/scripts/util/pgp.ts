/** Helpers shared by the PGP scripts: reading keys into typed errors that name the step and param. */
import { type Certificate, isLocked, readCertificates, unlock } from '../../connectors/pgp/keys.ts';
import { IdxError, showValue } from '../../core/errors.ts';
import type { ScriptCheckProblem } from '../../core/script.ts';

/** A key error located at the step and param; an unsupported algorithm keeps its own code. */
function keyError(stepId: string, param: string, what: string, error: unknown): IdxError {
  const code = error instanceof IdxError && error.code === 'IDX_PGP_UNSUPPORTED' ? error.code : 'IDX_PGP_KEY';
  return new IdxError(code, `${param} is not ${what}: ${(error as Error).message}`, {
    stepId,
    param,
    expected: what,
    ...(error instanceof IdxError && error.received !== undefined ? { received: error.received } : {}),
    cause: error,
  });
}

/** Reads one or more armored public keys (several keys mean several recipients). */
export function readPublicKeys(armored: string, stepId: string, param: string): Certificate[] {
  try {
    return readCertificates(armored, 'public');
  } catch (error) {
    throw keyError(stepId, param, 'an armored PGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)', error);
  }
}

/** Reads an armored private key and unlocks it with the passphrase when it is protected. */
export function readPrivateKey(
  armored: string,
  passphrase: string | undefined,
  stepId: string,
  param: string,
): Certificate[] {
  let certificates: Certificate[];
  try {
    certificates = readCertificates(armored, 'private');
  } catch (error) {
    throw keyError(stepId, param, 'an armored PGP private key (-----BEGIN PGP PRIVATE KEY BLOCK-----)', error);
  }
  if (!certificates.some(isLocked)) return certificates;
  if (!passphrase) {
    throw new IdxError('IDX_PGP_KEY', `${param} is protected by a passphrase and none is given`, {
      stepId,
      param,
      expected: 'the passphrase param (a ${secret:NAME} reference)',
      received: 'nothing',
    });
  }
  try {
    for (const certificate of certificates) unlock(certificate, passphrase);
  } catch (error) {
    // The message never includes the passphrase.
    const code = error instanceof IdxError && error.code === 'IDX_PGP_UNSUPPORTED' ? error.code : 'IDX_PGP_KEY';
    throw new IdxError(code, `${param} cannot be unlocked: ${(error as Error).message}`, { stepId, param });
  }
  return certificates;
}

/** Runs a key selection (encryption or signing key), locating its error at the param. */
export function selectKey<T>(select: () => T, stepId: string, param: string): T {
  try {
    return select();
  } catch (error) {
    if (!(error instanceof IdxError)) throw error;
    throw new IdxError(error.code, `${param}: ${error.message}`, {
      stepId,
      param,
      ...(error.expected === undefined ? {} : { expected: error.expected }),
      ...(error.received === undefined ? {} : { received: error.received }),
      cause: error,
    });
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
 * Checks, without reading the key material (validation stays synchronous and side-effect free), that a param holds one
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

/** An error while a file is encrypted or decrypted, naming the file and step; coded errors keep their code. */
export function fileError(error: unknown, action: 'encrypt' | 'decrypt', fileName: string, stepId: string): IdxError {
  const coded = error instanceof IdxError ? error : undefined;
  return new IdxError(coded?.code ?? 'IDX_PGP_FAILED', `cannot ${action} ${fileName}: ${(error as Error).message}`, {
    stepId,
    ...(coded?.expected === undefined ? {} : { expected: coded.expected }),
    ...(coded?.received === undefined ? {} : { received: coded.received }),
    ...(coded?.details === undefined ? {} : { details: coded.details }),
    cause: error,
  });
}
