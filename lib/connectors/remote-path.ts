/**
 * Safe joining of file names under a configured remote folder. File names come from two untrusted places: the
 * dataflow (`${...}` placeholders render into names) and the server's own listings. Neither may reach outside
 * the folder the step is configured with, whatever the protocol (SFTP, FTP, S3 keys).
 */
import { posix } from 'node:path';
import { IdxError } from '../core/errors.ts';

/** The error code of every refused name or path. */
export const UNSAFE_PATH = 'IDX_REMOTE_PATH_UNSAFE';

// Control characters (including NUL) end strings in C servers and split lines in FTP commands.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function refuse(message: string, received: string, options: { param?: string; stepId?: string }): IdxError {
  return new IdxError(UNSAFE_PATH, message, {
    expected: 'a relative name of plain segments (no "..", no leading "/", no "\\", no control characters)',
    received: JSON.stringify(received),
    ...(options.param === undefined ? {} : { param: options.param }),
    ...(options.stepId === undefined ? {} : { stepId: options.stepId }),
  });
}

/**
 * Normalizes a configured folder (`remotePath`, `moveToPath`): `''` means the login folder, a trailing `/` is
 * dropped, and `.`/`..` segments are refused so the folder the author wrote is the folder used.
 */
export function normalizeRoot(root: string, options: { param?: string; stepId?: string } = {}): string {
  const trimmed = root.trim();
  if (CONTROL.test(trimmed) || trimmed.includes('\\')) {
    throw refuse('the folder holds a control character or a backslash', root, options);
  }
  if (trimmed === '' || trimmed === '.') return '.';
  const absolute = trimmed.startsWith('/');
  const segments = trimmed.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) throw refuse('the folder may not contain ".." segments', root, options);
  if (segments.length === 0) return absolute ? '/' : '.';
  return `${absolute ? '/' : ''}${segments.join('/')}`;
}

/**
 * Checks a file name that may hold sub-folders (`success/x.json`): every segment must be a plain name. Returns
 * the segments.
 */
export function checkRelativeName(
  name: string,
  options: { param?: string; stepId?: string; allowFolders?: boolean } = {},
): string[] {
  if (name === '') throw refuse('the file name is empty', name, options);
  if (CONTROL.test(name)) throw refuse('the file name holds a control character', name, options);
  if (name.includes('\\')) throw refuse('the file name holds a backslash, an ambiguous separator', name, options);
  if (name.startsWith('/')) throw refuse('the file name is an absolute path', name, options);
  if (/^[A-Za-z]:/.test(name)) throw refuse('the file name starts with a drive letter', name, options);
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw refuse('the file name holds an empty, "." or ".." segment', name, options);
  }
  if (segments.length > 1 && options.allowFolders === false) {
    throw refuse('the file name holds a "/" where a plain name was expected', name, options);
  }
  return segments;
}

/**
 * Joins a checked name under a normalized root. The result is verified to stay inside the root, so a name
 * that slipped past the segment checks still cannot escape.
 */
export function joinRemote(
  root: string,
  name: string,
  options: { param?: string; stepId?: string; allowFolders?: boolean } = {},
): string {
  const segments = checkRelativeName(name, options);
  const base = root === '.' ? '' : root === '/' ? '/' : `${root}/`;
  const joined = `${base}${segments.join('/')}`;
  const normalized = posix.normalize(joined);
  const prefix = root === '.' ? '' : base;
  if (normalized !== joined || (prefix && !normalized.startsWith(prefix)) || normalized.startsWith('../')) {
    throw refuse('the file name leaves the configured folder', name, options);
  }
  return joined;
}

/**
 * The folder files are moved into after reading: `moveToPath` inside the (normalized) read folder when
 * relative, as written when absolute.
 */
export function moveFolder(root: string, moveToPath: string, stepId?: string): string {
  const to = normalizeRoot(moveToPath, { param: 'moveToPath', ...(stepId === undefined ? {} : { stepId }) });
  if (to.startsWith('/') || root === '.') return to;
  return to === '.' ? root : `${root}/${to}`;
}

/** The folder part of a joined path (`a/b/c.csv` → `a/b`), or undefined for a bare name. */
export function parentOf(path: string): string | undefined {
  const i = path.lastIndexOf('/');
  if (i < 0) return undefined;
  if (i === 0) return '/';
  return path.slice(0, i);
}
