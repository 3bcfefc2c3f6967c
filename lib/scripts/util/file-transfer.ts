/**
 * Params shared by the file readers and writers (SFTP, FTP, S3), so the same option has the same name,
 * default and meaning everywhere, and the checks they need.
 */

import { hasPlaceholder, type Reach } from '../../core/access.ts';
import { showValue } from '../../core/errors.ts';
import { regexProblem } from '../../core/regex.ts';
import type { ScriptCheckProblem } from '../../core/script.ts';

/** Selection, memory and post-read params of every file reader. */
export const fileReaderParams = {
  fileNameRegex: {
    type: 'string',
    default: '.*',
    description:
      'Regular expression a file name must match as a whole (not a substring), e.g. ".*\\.csv" or "accounts.json". ' +
      'Only files directly in the folder are considered; placeholders such as ${now:yyyyMMdd} are rendered first.',
    examples: ['.*.csv', 'accounts.json', 'export_${now:yyyyMMdd}_.*\\.csv'],
  },
  sortBy: {
    type: 'string',
    enum: ['time', 'name'],
    default: 'time',
    description: 'Order in which the selected files are read: by modification time (then name) or by name.',
  },
  sortOrder: {
    type: 'string',
    enum: ['ASC', 'DESC'],
    default: 'ASC',
    description: 'ASC reads the oldest (or first by name) file first; DESC the newest first.',
  },
  skipProcessedFiles: {
    type: 'boolean',
    default: true,
    description:
      'Remember imported files (path, size, modification time) in the dataflow state and skip them on later runs, ' +
      'so a scheduled import never imports a file twice; a file replaced with a new size or time is read again. ' +
      'A file read by a job that then failed counts as not imported. A schedule with fullExtract reads every ' +
      'matching file again. Test and limited runs neither skip by nor update this memory; a dry run skips by it, as ' +
      'the run it stands for would, but does not update it.',
  },
  afterRead: {
    type: 'string',
    enum: ['leave', 'delete', 'move'],
    default: 'leave',
    description:
      'What happens to a file on the server once this step has staged it: leave it, delete it, or move it into ' +
      'moveToPath. Applied when the reading step has finished (not when the whole job has): prefer move over ' +
      'delete if a later step may fail. Test, limited and dry runs always leave files where they are.',
  },
  moveToPath: {
    type: 'string',
    description:
      'Folder files are moved into when afterRead is "move"; a relative folder is taken inside the read folder ' +
      '(e.g. "processed"), an absolute one as is. A file of the same name there is replaced.',
    examples: ['processed', '/archive/imports'],
  },
} as const;

/** Retry params of every file reader and writer. */
export const transferRetryParams = {
  maxAttempts: {
    type: 'integer',
    default: 4,
    minimum: 1,
    maximum: 10,
    description:
      'Attempts per transfer when the connection drops or times out, with exponential backoff between them ' +
      '(1 s, 2 s, 4 s, …); a download resumes where it stopped, an upload starts over. When attempts run out the ' +
      'step fails with a transient error, which the job retries as a whole.',
  },
} as const;

/** Checks of reader params that the schema cannot express. */
export function checkReaderParams(params: {
  fileNameRegex?: string;
  afterRead?: string;
  moveToPath?: string;
}): ScriptCheckProblem[] {
  const problems: ScriptCheckProblem[] = [];
  if (params.fileNameRegex !== undefined) {
    const problem = regexProblem(`^(?:${params.fileNameRegex})$`);
    if (problem) {
      problems.push({
        code: problem.code,
        path: 'fileNameRegex',
        message: `fileNameRegex cannot be used: ${problem.message}`,
        expected: 'a regular expression RE2 runs: no backreferences, lookaround or possessive quantifiers',
        received: showValue(params.fileNameRegex, 200),
      });
    }
  }
  if (params.afterRead === 'move' && !params.moveToPath?.trim()) {
    problems.push({
      code: 'IDX_PARAM_MISSING',
      path: 'moveToPath',
      message: 'afterRead "move" needs moveToPath, the folder files are moved into',
      expected: 'a folder such as "processed"',
      received: 'nothing',
    });
  }
  return problems;
}

/** How long an SFTP or FTP connection may make no progress before it counts as dropped. */
const transferTimeoutParam = {
  type: 'integer',
  default: 60,
  minimum: 1,
  maximum: 600,
  description: 'Seconds to wait for the connection, and for progress during a transfer, before it counts as dropped.',
} as const;

/** Connection params of the SFTP steps (names as in IdentitySync, plus host key pinning). */
export const sftpConnectionParams = {
  host: {
    type: 'string',
    default: '',
    description:
      'SFTP server name or address. Empty in local mode: the embedded SFTP server (folder .idx/sftp/), with its ' +
      'host key pinned and, when username is empty too, the local login idx / idx.',
    examples: ['sftp.example.com'],
  },
  port: { type: 'integer', default: 22, minimum: 1, maximum: 65535, description: 'SSH port.' },
  username: { type: 'string', default: '', description: 'Login name.' },
  password: {
    type: 'string',
    secret: true,
    description: 'Password, as ${secret:NAME}; leave unset for key authentication.',
  },
  privateKey: {
    type: 'string',
    secret: true,
    description: 'Private key for key authentication (OpenSSH/PEM text, or base64 of it), as ${secret:NAME}.',
  },
  passphrase: {
    type: 'string',
    secret: true,
    description: 'Passphrase of an encrypted privateKey, as ${secret:NAME}.',
  },
  hostKeyFingerprint: {
    type: 'string',
    description:
      "SHA256 fingerprint of the server's host key, as `ssh-keygen -lf` prints it (SHA256:…; hex also accepted). " +
      'A server presenting another key is refused before any credential or data is sent. Unset: any key is ' +
      'accepted and the job trace warns with the key seen, ready to pin.',
    examples: ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'],
  },
  timeout: transferTimeoutParam,
} as const;

/** Connection params of the FTP steps. */
export const ftpConnectionParams = {
  host: { type: 'string', required: true, description: 'FTP server name or address.', examples: ['ftp.example.com'] },
  port: { type: 'integer', default: 21, minimum: 1, maximum: 65535, description: 'Control connection port.' },
  username: { type: 'string', default: '', description: 'Login name; empty logs in as anonymous.' },
  password: { type: 'string', secret: true, description: 'Password, as ${secret:NAME}.' },
  secure: {
    type: 'string',
    enum: ['none', 'explicit'],
    default: 'none',
    description:
      'none: plain FTP (credentials and data travel in clear text); explicit: FTPS, TLS negotiated with AUTH TLS ' +
      'before the login, data connections protected too.',
  },
  certificateFingerprint: {
    type: 'string',
    description:
      "SHA-256 fingerprint of the server's TLS certificate (hex, colons optional), for servers whose certificate " +
      'no public CA signed. Checked before the login is sent; a different certificate is refused. Unset: the ' +
      'certificate must be trusted by a CA.',
    examples: ['AB:CD:…'],
  },
  timeout: transferTimeoutParam,
} as const;

/** The params of the SFTP and FTP readers after their connection params: the folder, selection, memory, retries. */
export const folderReaderParams = {
  remotePath: {
    type: 'string',
    default: '',
    description:
      'Folder to read from; relative to the login folder unless it starts with "/". Empty: the login folder.',
    examples: ['/outbound', 'exports/daily'],
  },
  ...fileReaderParams,
  ...transferRetryParams,
} as const;

/**
 * The `overwrite` param of every file writer (SFTP, FTP, S3): an identity-sync addition, IdentitySync has no such
 * param. Without it a writer never replaces a file: one already on the target fails the step with
 * `IDX_TARGET_EXISTS`, and two files of one job under the same name with `IDX_FILE_NAME_COLLISION`.
 */
export const OVERWRITE_PARAM = {
  type: 'boolean',
  default: false,
  description:
    'Replace a file of the same name on the target (identity-sync addition). When false (the default), a file ' +
    'already there fails the step with IDX_TARGET_EXISTS, and two files of this job with the same name fail it ' +
    'with IDX_FILE_NAME_COLLISION: nothing delivered is ever replaced silently.',
} as const;

/** The params of the SFTP and FTP writers after their connection params: the folder, atomic upload, retries. */
export const folderWriterParams = {
  remotePath: {
    type: 'string',
    default: '',
    description:
      'Folder to upload into (created when missing); relative to the login folder unless it starts with "/". ' +
      'Empty: the login folder.',
    examples: ['/inbound', 'errors'],
  },
  temporaryUploadExtension: {
    type: 'boolean',
    default: true,
    description:
      'Upload as <name>.uploading, then rename to <name> when complete, so the receiver never sees a partial ' +
      'file. When false the file is written under its final name and, if every attempt fails, removed.',
  },
  overwrite: OVERWRITE_PARAM,
  ...transferRetryParams,
} as const;

/** Region and credentials of the S3 steps: the execution role unless a key pair names secrets. */
export const s3AccessParams = {
  region: {
    type: 'string',
    description: "The bucket's region when it differs from the runtime's region (e.g. eu-west-1).",
  },
  accessKey: {
    type: 'string',
    secret: true,
    description: 'Access key id of another account, as ${secret:NAME}; leave unset to use the execution role.',
  },
  secretKey: {
    type: 'string',
    secret: true,
    description: 'Secret access key matching accessKey, as ${secret:NAME}.',
  },
} as const;

/**
 * What an S3 step reaches with its function's role, before the job runs: nothing when the step names its own
 * access key (its credentials, not the role, decide), an unresolved reach when the bucket's name is only known
 * at run time, and otherwise the `locations` of the bucket.
 */
export function s3RoleReaches(
  params: { readonly bucketName: string; readonly accessKey?: string | undefined },
  locations: (bucket: string) => Reach[],
): Reach[] {
  if (params.accessKey !== undefined && params.accessKey !== '') return [];
  if (params.bucketName === '' || hasPlaceholder(params.bucketName)) {
    return [
      {
        kind: 'unresolved',
        resource: 's3-bucket',
        param: 'bucketName',
        reason: 'the bucket name is only known at run time',
        remedy: 'grant the role access yourself or give the step accessKey/secretKey',
      },
    ];
  }
  return locations(params.bucketName);
}

/** A key folder as granted: without leading `/`, with one trailing `/` (empty stays empty: the bucket root). */
export function s3GrantFolder(path: string): string {
  const p = path.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/** `SHA256:` and 43 base64 characters (how `ssh-keygen -lf` prints it), or 64 hex digits, colons allowed. */
const HOST_KEY_FINGERPRINT = /^(?:SHA256:[A-Za-z0-9+/]{43}=?|(?:SHA256:)?(?:[0-9a-f]{2}:?){31}[0-9a-f]{2})$/i;

/** Checks of SFTP connection params that the schema cannot express. */
export function checkSftpParams(params: { hostKeyFingerprint?: string }): ScriptCheckProblem[] {
  const fingerprint = params.hostKeyFingerprint?.trim();
  // Empty means "not pinned"; a placeholder is only known when the job runs.
  if (!fingerprint || hasPlaceholder(fingerprint) || HOST_KEY_FINGERPRINT.test(fingerprint)) return [];
  return [
    {
      code: 'IDX_PARAM_VALUE',
      path: 'hostKeyFingerprint',
      message: 'hostKeyFingerprint is not a SHA-256 host key fingerprint, so no server could ever match it',
      expected: 'SHA256: and 43 base64 characters, as `ssh-keygen -lf` prints it, or 64 hex digits',
      received: showValue(params.hostKeyFingerprint),
    },
  ];
}
