/**
 * Moving files the same way whatever the protocol (SFTP, FTP, S3): the protocol plugs in as a {@link FileSource}
 * or {@link FileTarget}; files are picked by a whole-name regex and ordered; a download resumes from the byte
 * where a dropped connection stopped it; an upload goes under a temporary name, is verified by size and renamed;
 * every action is retried with backoff while its failure is transient, then fails with a coded error.
 */
import { once } from 'node:events';
import { type Readable, Transform, type Writable } from 'node:stream';
import { IdxError, type IdxErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { LinearRegex } from '../core/regex.ts';
import { parentOf } from './remote-path.ts';
import { withRetry } from './retry.ts';

/** Node's codes of a connection that dropped, was refused or timed out: worth another attempt on any protocol. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** One regular file in a remote folder. */
export interface RemoteFile {
  /** The plain name (no folder). */
  readonly name: string;
  /** The full path (or S3 key) on the server. */
  readonly path: string;
  readonly size: number;
  /** Epoch ms. */
  readonly modifiedAt: number;
  /** A version tag (S3 ETag) that a resumed read must still see. */
  readonly version?: string;
}

/** What every protocol endpoint offers: a way to start afresh after a failure, and which failures may pass. */
export interface Reconnecting {
  /** Forgets the current connection after a failure, so the next call connects afresh. */
  reset(): Promise<void>;
  /** True when an error may go away on another attempt (dropped connection, timeout, 5xx). */
  isTransient(error: unknown): boolean;
}

/** A connection to one account on a server: it names the account and decides resets and transient failures. */
export interface Connection extends Reconnecting {
  /** Names the server and account in processed-file marks and messages, e.g. `sftp://user@host:22`. */
  readonly id: string;
}

/**
 * A folder reached over one connection, the common part of a protocol's {@link FileSource} and
 * {@link FileTarget}: the connection names the account, drops itself after a failure and judges which failures
 * may pass. `root` and `moveTo` are normalized folders (`normalizeRoot`, `moveFolder`); without `moveTo`, files
 * are moved within `root`.
 */
export abstract class ConnectedFolder<C extends Connection> implements Reconnecting {
  protected readonly connection: C;
  protected readonly root: string;
  protected readonly moveTo: string | undefined;

  constructor(connection: C, root = '.', moveTo?: string) {
    this.connection = connection;
    this.root = root;
    this.moveTo = moveTo;
  }

  get id(): string {
    return this.connection.id;
  }

  reset(): Promise<void> {
    return this.connection.reset();
  }

  isTransient(error: unknown): boolean {
    return this.connection.isTransient(error);
  }
}

/** What a protocol gives the generic reader. Every call may (re)connect; `reset` drops a broken connection. */
export interface FileSource extends Reconnecting {
  /** Identifies the server and account in processed-file marks, e.g. `sftp://user@host:22`. */
  readonly id: string;
  /** The regular files in the configured folder, not recursive. Names are as the server sent them. */
  list(): Promise<RemoteFile[]>;
  /** Streams a file's content from byte `start`. */
  open(file: RemoteFile, start: number): Promise<Readable>;
  remove(file: RemoteFile): Promise<void>;
  /** Moves a file into the post-read folder (replacing a file of the same name there). */
  move(file: RemoteFile): Promise<void>;
}

/** What a protocol gives the generic uploader. Every call may (re)connect; `reset` drops a broken connection. */
export interface FileTarget extends Reconnecting {
  /** Writes a whole file from a stream, replacing any file of that name. */
  upload(path: string, body: Readable): Promise<void>;
  /**
   * Renames. With `replace`, a file at `to` is replaced; without, the rename fails when `to` exists (atomically on
   * SFTP, whose plain rename refuses to replace; FTP's RNTO replaces on most servers, so there the target is
   * checked just before, which leaves a window of one round trip).
   */
  rename(from: string, to: string, replace: boolean): Promise<void>;
  /** Removes a file; a missing file is fine. */
  remove(path: string): Promise<void>;
  /** The size of a file, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Creates a folder and its parents when missing. */
  ensureFolder(path: string): Promise<void>;
}

/** How one transfer action is retried and reported. */
export interface TransferOptions {
  /** Attempts in total, the first included. */
  readonly maxAttempts: number;
  /** Seconds without a byte (or without progress) before a transfer counts as dropped. */
  readonly timeout: number;
  /** Initial backoff between attempts. @default 1000 */
  readonly retryDelayMs?: number;
  /** The code of the error raised when attempts run out or a failure is permanent (`IDX_SFTP_IO`, …). */
  readonly code: IdxErrorCode;
  /** Receives a warning before each retry. */
  readonly log: Logger;
  /** Stops waiting between attempts when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * Compiles a `fileNameRegex` as a full match, as IdentitySync's (Java) regexes are, in the linear-time engine: a
 * file name on a server is input, and must not be able to stall the listing with a backtracking pattern.
 */
export function fileNameMatcher(regex: string): LinearRegex {
  return new LinearRegex(`^(?:${regex})$`);
}

/** Orders files by time (then name) or by name, ascending or descending. */
export function sortFiles(files: RemoteFile[], sortBy: 'time' | 'name', sortOrder: 'ASC' | 'DESC'): RemoteFile[] {
  const dir = sortOrder === 'DESC' ? -1 : 1;
  const byName = (a: RemoteFile, b: RemoteFile) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...files].sort(
    (a, b) => dir * (sortBy === 'time' ? a.modifiedAt - b.modifiedAt || byName(a, b) : byName(a, b)),
  );
}

/** A transfer error that exhausted its attempts (or is permanent), coded; a coded error stays as it is. */
export function transferError(code: IdxErrorCode, action: string, error: unknown, transient: boolean): IdxError {
  if (error instanceof IdxError) return error;
  const e = error as { code?: string | number; message?: string };
  return new IdxError(code, `${action} failed: ${e.message ?? String(error)}`, {
    transient,
    cause: error,
    ...(e.code === undefined ? {} : { details: { cause: String(e.code) } }),
  });
}

/**
 * Runs one action against an endpoint until it succeeds, fails permanently or runs out of attempts: before each
 * retry it warns and drops the connection, so the next attempt connects afresh; the last failure becomes a
 * {@link transferError}. `isTransient` widens the endpoint's own judgement (an incomplete upload).
 */
export async function retryTransfer<T>(
  endpoint: Reconnecting,
  action: string,
  work: () => Promise<T>,
  options: TransferOptions,
  isTransient: (error: unknown) => boolean = (e) => endpoint.isTransient(e),
): Promise<T> {
  try {
    return await withRetry(work, {
      attempts: options.maxAttempts,
      baseDelayMs: options.retryDelayMs ?? 1000,
      isTransient,
      ...(options.signal ? { signal: options.signal } : {}),
      onRetry: (error, attempt, delay) => {
        options.log.warn(
          `${action} failed (attempt ${attempt} of ${options.maxAttempts}), retrying in ${delay} ms: ${(error as Error).message}`,
        );
        void endpoint.reset();
      },
    });
  } catch (error) {
    throw transferError(options.code, action, error, isTransient(error));
  }
}

/**
 * Copies a stream into a writable without ending it, counting the bytes copied. A source silent for `idleMs` is
 * destroyed with a timeout error, which counts as a dropped connection.
 */
async function pump(source: Readable, target: Writable, idleMs: number, onBytes: (n: number) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const err = Object.assign(new Error(`no data for ${idleMs / 1000} s`), { code: 'ETIMEDOUT' });
      source.destroy(err);
    }, idleMs);
  };
  try {
    arm();
    for await (const chunk of source) {
      arm();
      const buf = chunk as Buffer;
      onBytes(buf.length);
      if (!target.write(buf)) {
        clearTimeout(timer);
        await once(target, 'drain');
        arm();
      }
    }
  } finally {
    clearTimeout(timer);
    // Closing the remote handle may still fail once the connection is gone; that must not surface later as an
    // unhandled stream error. Waiting for the close also keeps handles from piling up on the server.
    source.on('error', () => undefined);
    if (!source.destroyed) source.destroy();
    if (!source.closed) {
      await Promise.race([
        once(source, 'close').catch(() => undefined),
        new Promise((r) => setTimeout(r, 5000).unref()),
      ]);
    }
  }
}

/**
 * Downloads one file into `target` and ends it, resuming from the byte where a dropped connection stopped. A
 * file whose size differs from its listing changed while it was read: a transient error, as the next attempt of
 * the job may find it complete.
 */
export async function downloadFile(
  source: FileSource,
  file: RemoteFile,
  target: Writable,
  options: TransferOptions,
): Promise<void> {
  // The target fails on its own (an S3 error while staging); that must end the transfer rather than leave it waiting.
  const targetFailed = new Promise<never>((_, reject) => target.once('error', reject));
  targetFailed.catch(() => undefined);
  let written = 0;
  try {
    await retryTransfer(
      source,
      `downloading ${file.path}`,
      async () => {
        const stream = await source.open(file, written);
        await Promise.race([
          pump(stream, target, options.timeout * 1000, (n) => {
            written += n;
          }),
          targetFailed,
        ]);
      },
      options,
    );
  } catch (error) {
    target.destroy();
    throw error;
  }
  target.end();
  await Promise.race([once(target, 'finish'), targetFailed]);
  if (written !== file.size) {
    throw new IdxError(
      options.code,
      `${file.path} changed while it was read: listed with ${file.size} bytes, read ${written}`,
      { expected: `${file.size} bytes`, received: `${written} bytes`, transient: true },
    );
  }
}

/**
 * The error of a writer that found `where` already on its target and was not asked to replace it: nothing was
 * replaced, and the message says how to opt in.
 */
export function targetExists(where: string): IdxError {
  return new IdxError(
    'IDX_TARGET_EXISTS',
    `${where} already exists on the target and was left as it is; set overwrite: true on the writer to replace it`,
    { param: 'overwrite', expected: `no file at ${where}`, received: 'an existing file' },
  );
}

/** The suffix of a file while it uploads. */
export const UPLOADING_SUFFIX = '.uploading';

/** Counts the bytes that pass. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/** True for an upload the server holds fewer bytes of than were sent: worth another attempt. */
const incomplete = (error: unknown) => (error as { code?: string }).code === 'EINCOMPLETE';

/**
 * Uploads a file to `path`: to `<path>.uploading` then renamed (or straight to the path), its parent folder
 * created, its size verified, retried with backoff on a dropped connection. Every attempt restarts from the
 * beginning over whatever a failed attempt left. When attempts run out, a partial file is removed on a best
 * effort basis so nothing half-written stays under the final name.
 *
 * Without `replace`, a file already at `path` is never replaced: the rename refuses it (`IDX_TARGET_EXISTS`).
 * After the rename the file is measured again where it now is; a target that holds fewer bytes than were sent
 * fails with `IDX_DELIVERY_SHORTFALL`. Returns the bytes the target holds.
 */
export async function uploadFile(
  target: FileTarget,
  path: string,
  content: { open(): Readable },
  options: TransferOptions & { readonly temporaryUploadExtension: boolean; readonly replace?: boolean },
): Promise<number> {
  const replace = options.replace ?? true;
  let renameTried = false;
  const temp = options.temporaryUploadExtension ? `${path}${UPLOADING_SUFFIX}` : path;
  const folder = parentOf(path);
  try {
    return await retryTransfer(
      target,
      `uploading ${path}`,
      async () => {
        if (folder && folder !== '/') await target.ensureFolder(folder);
        let sent = 0;
        const source = content.open();
        let stalled: NodeJS.Timeout | undefined;
        const body = source.pipe(
          counter((n) => {
            sent += n;
            arm();
          }),
        );
        // A server that stops answering leaves the write pending forever; drop the connection instead.
        const arm = () => {
          clearTimeout(stalled);
          stalled = setTimeout(() => {
            body.destroy(Object.assign(new Error(`no progress for ${options.timeout} s`), { code: 'ETIMEDOUT' }));
            void target.reset();
          }, options.timeout * 1000);
        };
        source.on('error', (e) => body.destroy(e));
        try {
          arm();
          await target.upload(temp, body);
        } finally {
          clearTimeout(stalled);
          if (!source.destroyed) source.destroy();
        }
        const size = await target.size(temp);
        if (size !== sent) {
          throw Object.assign(new Error(`the server holds ${size ?? 'no'} bytes of ${sent} sent`), {
            code: 'EINCOMPLETE',
          });
        }
        if (temp !== path) {
          // An attempt whose rename went through but whose answer was lost left this upload at `path`: a later
          // attempt replaces it instead of taking it for another job's file.
          const mayReplace = replace || renameTried;
          renameTried = true;
          await renameInPlace(target, temp, path, mayReplace);
        }
        const held = await target.size(path);
        if (held !== sent) {
          throw new IdxError(
            'IDX_DELIVERY_SHORTFALL',
            `${path} holds ${held ?? 'no'} bytes after the upload of ${sent}`,
            {
              expected: `${sent} bytes`,
              received: `${held ?? 0} bytes`,
            },
          );
        }
        return sent;
      },
      options,
      (e) => incomplete(e) || target.isTransient(e),
    );
  } catch (error) {
    await target
      .reset()
      .then(() => target.remove(temp))
      .catch(() => options.log.warn(`could not remove the partial upload ${temp}; remove it by hand`));
    throw error;
  }
}

/**
 * Renames a finished upload to its final name; when the rename must not replace and the name is taken, fails
 * with `IDX_TARGET_EXISTS` (the target's own refusal does not say why).
 */
async function renameInPlace(target: FileTarget, temp: string, path: string, replace: boolean): Promise<void> {
  try {
    await target.rename(temp, path, replace);
  } catch (error) {
    if (!replace && (await target.size(path).catch(() => undefined)) !== undefined) throw targetExists(path);
    throw error;
  }
}
