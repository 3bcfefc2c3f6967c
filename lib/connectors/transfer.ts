/**
 * What every file reader and writer does the same way, whatever the protocol: pick files (regex, sort,
 * processed-file memory), download them into the stage with resume on a dropped connection, then leave, delete
 * or move them; and upload under a temporary name with bounded retries, then rename. Protocols (SFTP, FTP, S3)
 * only implement {@link FileSource} / {@link FileTarget}.
 */
import { once } from 'node:events';
import { type Readable, Transform, type Writable } from 'node:stream';
import { IdxError } from '../core/errors.ts';
import type { InputFile, ScriptContext, StepOutput } from '../core/script.ts';
import { ProcessedFileStore } from '../stores/processed-files.ts';
import { checkRelativeName, joinRemote, parentOf } from './remote-path.ts';
import { withRetry } from './retry.ts';

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

/** What a protocol gives the generic reader. Every call may (re)connect; `reset` drops a broken connection. */
export interface FileSource {
  /** Identifies the server and account in processed-file marks, e.g. `sftp://user@host:22`. */
  readonly id: string;
  /** The regular files in the configured folder, not recursive. Names are as the server sent them. */
  list(): Promise<RemoteFile[]>;
  /** Streams a file's content from byte `start`. */
  open(file: RemoteFile, start: number): Promise<Readable>;
  remove(file: RemoteFile): Promise<void>;
  /** Moves a file into the post-read folder (replacing a file of the same name there). */
  move(file: RemoteFile): Promise<void>;
  /** Forgets the current connection after a failure, so the next call connects afresh. */
  reset(): Promise<void>;
  /** True when an error may go away on another attempt (dropped connection, timeout, 5xx). */
  isTransient(error: unknown): boolean;
}

/** Options shared by file readers (the params of the same names). */
export interface ReadOptions {
  readonly fileNameRegex: string;
  readonly sortBy: 'time' | 'name';
  readonly sortOrder: 'ASC' | 'DESC';
  readonly skipProcessedFiles: boolean;
  readonly afterRead: 'leave' | 'delete' | 'move';
  /** Attempts per file transfer. */
  readonly maxAttempts: number;
  /** Seconds without a byte before a transfer counts as dropped. */
  readonly timeout: number;
  /** Initial backoff between attempts. @default 1000 */
  readonly retryDelayMs?: number;
}

/** The continuation of a file reader that ran out of time: the paths it already staged in this job. */
interface ReadContinuation {
  readonly read: string[];
}

/** Leaves this much of a Lambda's budget for staging and bookkeeping before handing back a continuation. */
const DEADLINE_MARGIN_MS = 60_000;

/** Compiles a `fileNameRegex` as a full match, as IdentitySync's (Java) regexes are. */
export function fileNameMatcher(regex: string): RegExp {
  return new RegExp(`^(?:${regex})$`);
}

/** Orders files by time (then name) or by name, ascending or descending. */
export function sortFiles(files: RemoteFile[], sortBy: 'time' | 'name', sortOrder: 'ASC' | 'DESC'): RemoteFile[] {
  const dir = sortOrder === 'DESC' ? -1 : 1;
  const byName = (a: RemoteFile, b: RemoteFile) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...files].sort(
    (a, b) => dir * (sortBy === 'time' ? a.modifiedAt - b.modifiedAt || byName(a, b) : byName(a, b)),
  );
}

/** A transfer error that exhausted its attempts (or is permanent), coded and located. */
export function transferError(
  code: string,
  action: string,
  error: unknown,
  transient: boolean,
  stepId: string,
): IdxError {
  if (error instanceof IdxError) return error;
  const e = error as { code?: string | number; message?: string };
  return new IdxError(code, `${action} failed: ${e.message ?? String(error)}`, {
    stepId,
    transient,
    cause: error,
    ...(e.code === undefined ? {} : { details: { cause: String(e.code) } }),
  });
}

/**
 * Copies a stream into a writable without ending it, returning the bytes copied. A source silent for
 * `idleMs` is destroyed with a timeout error, which counts as a dropped connection.
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
 * The generic file reader: lists, selects, downloads into the stage (resuming after a dropped connection),
 * remembers what it imported and applies the post-read action. Test runs and limited runs read only the first
 * selected file and change nothing on the server or in the dataflow's state.
 */
export async function readRemoteFiles(
  source: FileSource,
  options: ReadOptions,
  ctx: ScriptContext,
  out: StepOutput,
  codes: { readonly io: string },
): Promise<{ continuation?: ReadContinuation; deferred?: RemoteFile[] } | undefined> {
  const { job, log, stepId } = ctx;
  const retry = {
    attempts: options.maxAttempts,
    baseDelayMs: options.retryDelayMs ?? 1000,
    isTransient: (e: unknown) => source.isTransient(e),
    signal: ctx.signal,
  };
  const onRetry = (action: string) => (error: unknown, attempt: number, delay: number) => {
    log.warn(
      `${action} failed (attempt ${attempt} of ${options.maxAttempts}), retrying in ${delay} ms: ${(error as Error).message}`,
    );
    void source.reset();
  };
  const fail = (action: string) => (error: unknown) => {
    throw transferError(codes.io, action, error, source.isTransient(error), stepId);
  };

  const listed = await withRetry(() => source.list(), { ...retry, onRetry: onRetry('listing the folder') }).catch(
    fail('listing the folder'),
  );
  const matcher = fileNameMatcher(options.fileNameRegex);
  const matching = listed.filter((f) => matcher.test(f.name));
  // A name from the server is data like any other: one that could leave the folder is refused, not read.
  for (const f of matching) checkRelativeName(f.name, { stepId, allowFolders: false });
  let files = sortFiles(matching, options.sortBy, options.sortOrder);
  const consumes = !job.test && job.limit === undefined;
  const previous = (ctx.continuation as ReadContinuation | undefined)?.read ?? [];
  const already = new Set(previous);
  files = files.filter((f) => !already.has(f.path));

  const store = new ProcessedFileStore(
    ctx.services.dynamo,
    ctx.services.config.tables.state,
    ctx.services.config.tables.jobs,
  );
  if (options.skipProcessedFiles && !job.fullExtract && files.length > 0) {
    const done = await store.processedMarks(job.dataflowId, source.id, files, job.id);
    if (done.size > 0) log.info(`${done.size} matching file(s) already imported by an earlier run, skipped`);
    for (const f of files) {
      const mark = done.get(f.path);
      if (mark)
        out.skipped?.(f.name, `already imported by job ${mark.jobId} at ${mark.processedAt} (same size and time)`);
    }
    files = files.filter((f) => !done.has(f.path));
  }
  if (!consumes && files.length > 1) {
    log.info(
      `${job.test ? 'test' : 'limited'} run: reading only the first of ${files.length} selected files, changing nothing on the server`,
    );
    for (const f of files.slice(1))
      out.skipped?.(f.name, `${job.test ? 'a test run' : 'a limited run'} reads only the first selected file`);
    files = files.slice(0, 1);
  }
  log.info(
    files.length ? `selected ${files.length} file(s): ${files.map((f) => f.name).join(', ')}` : 'no new file to read',
  );

  const read: RemoteFile[] = [];
  let continuation: ReadContinuation | undefined;
  for (const file of files) {
    if (read.length > 0 && Date.now() > ctx.deadline - DEADLINE_MARGIN_MS) {
      continuation = { read: [...previous, ...read.map((f) => f.path)] };
      log.info(`time budget nearly spent: ${files.length - read.length} file(s) left for the next invocation`);
      break;
    }
    await download(source, file, out, options, retry, onRetry, codes.io, stepId);
    read.push(file);
  }

  if (consumes && read.length > 0 && options.skipProcessedFiles)
    await store.mark(job.dataflowId, source.id, read, job.id);
  // Deleting or moving waits until the whole job succeeded: a later step that fails must find the file again.
  const deferred = consumes && read.length > 0 && options.afterRead !== 'leave' ? read : undefined;
  if (deferred)
    log.info(
      `${deferred.length} file(s) will be ${options.afterRead === 'delete' ? 'deleted' : 'moved'} once the job succeeds`,
    );
  return continuation || deferred
    ? { ...(continuation ? { continuation } : {}), ...(deferred ? { deferred } : {}) }
    : undefined;
}

/** Applies the post-read action (delete or move) to files a reader read, once their job has succeeded. */
export async function finishRemoteFiles(
  source: FileSource,
  options: Pick<ReadOptions, 'afterRead' | 'maxAttempts' | 'retryDelayMs'>,
  ctx: ScriptContext,
  deferred: readonly unknown[],
  codes: { readonly io: string },
): Promise<void> {
  if (options.afterRead === 'leave') return;
  const retry = {
    attempts: options.maxAttempts,
    baseDelayMs: options.retryDelayMs ?? 1000,
    isTransient: (e: unknown) => source.isTransient(e),
    signal: ctx.signal,
  };
  for (const file of deferred.flat() as RemoteFile[]) {
    const action = options.afterRead === 'delete' ? `deleting ${file.path}` : `moving ${file.path}`;
    await withRetry(() => (options.afterRead === 'delete' ? source.remove(file) : source.move(file)), {
      ...retry,
      onRetry: (error: unknown, attempt: number, delay: number) => {
        ctx.log.warn(
          `${action} failed (attempt ${attempt} of ${options.maxAttempts}), retrying in ${delay} ms: ${(error as Error).message}`,
        );
        void source.reset();
      },
    }).catch((error: unknown) => {
      throw transferError(codes.io, action, error, source.isTransient(error), ctx.stepId);
    });
    ctx.log.info(`${options.afterRead === 'delete' ? 'deleted' : 'moved'} ${file.path} after the job succeeded`);
  }
}

async function download(
  source: FileSource,
  file: RemoteFile,
  out: StepOutput,
  options: ReadOptions,
  retry: { attempts: number; baseDelayMs: number; isTransient: (e: unknown) => boolean; signal: AbortSignal },
  onRetry: (action: string) => (error: unknown, attempt: number, delay: number) => void,
  code: string,
  stepId: string,
): Promise<void> {
  const target = out.createFile(file.name);
  // The stage sink fails on its own (an S3 error); that must end the transfer rather than leave it waiting.
  const targetFailed = new Promise<never>((_, reject) => target.once('error', reject));
  targetFailed.catch(() => undefined);
  let written = 0;
  const action = `downloading ${file.path}`;
  try {
    await withRetry(
      async () => {
        const stream = await source.open(file, written);
        await Promise.race([
          pump(stream, target, options.timeout * 1000, (n) => {
            written += n;
          }),
          targetFailed,
        ]);
      },
      { ...retry, onRetry: onRetry(action) },
    );
  } catch (error) {
    target.destroy();
    throw transferError(code, action, error, source.isTransient(error), stepId);
  }
  target.end();
  await Promise.race([once(target, 'finish'), targetFailed]);
  if (written !== file.size) {
    throw new IdxError(
      code,
      `${file.path} changed while it was read: listed with ${file.size} bytes, read ${written}`,
      {
        stepId,
        expected: `${file.size} bytes`,
        received: `${written} bytes`,
        transient: true,
      },
    );
  }
}

/** What a protocol gives the generic uploader. Every call may (re)connect; `reset` drops a broken connection. */
export interface FileTarget {
  /** Writes a whole file from a stream, replacing any file of that name. */
  upload(path: string, body: Readable): Promise<void>;
  /** Renames, replacing the target if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing file is fine. */
  remove(path: string): Promise<void>;
  /** The size of a file, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** Creates a folder and its parents when missing. */
  ensureFolder(path: string): Promise<void>;
  reset(): Promise<void>;
  isTransient(error: unknown): boolean;
}

/** Options shared by file writers. */
export interface WriteOptions {
  /** The normalized folder files go to. */
  readonly root: string;
  readonly temporaryUploadExtension: boolean;
  readonly maxAttempts: number;
  /** Seconds without progress before an upload counts as dropped. */
  readonly timeout: number;
  /** Initial backoff between attempts. @default 1000 */
  readonly retryDelayMs?: number;
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

/**
 * Uploads one staged file under the writer's folder: to `<name>.uploading` then renamed (or straight to the
 * name), verified by size, retried with backoff on a dropped connection. Every attempt restarts from the
 * beginning over whatever a failed attempt left. When attempts run out, a partial file is removed on a best
 * effort basis so nothing half-written stays under the final name.
 */
export async function uploadRemoteFile(
  target: FileTarget,
  file: InputFile,
  options: WriteOptions,
  ctx: ScriptContext,
  codes: { readonly io: string },
): Promise<string> {
  const { log, stepId } = ctx;
  const path = joinRemote(options.root, file.name, { stepId, param: 'file name' });
  const temp = options.temporaryUploadExtension ? `${path}${UPLOADING_SUFFIX}` : path;
  const folder = parentOf(path);
  const action = `uploading ${path}`;
  try {
    await withRetry(
      async () => {
        if (folder && folder !== '/') await target.ensureFolder(folder);
        let sent = 0;
        const source = file.open();
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
        if (temp !== path) await target.rename(temp, path);
      },
      {
        attempts: options.maxAttempts,
        baseDelayMs: options.retryDelayMs ?? 1000,
        isTransient: (e) => (e as { code?: string }).code === 'EINCOMPLETE' || target.isTransient(e),
        signal: ctx.signal,
        onRetry: (error, attempt, delay) => {
          log.warn(
            `${action} failed (attempt ${attempt} of ${options.maxAttempts}), retrying in ${delay} ms: ${(error as Error).message}`,
          );
          void target.reset();
        },
      },
    );
  } catch (error) {
    const transient = (error as { code?: string }).code === 'EINCOMPLETE' || target.isTransient(error);
    await target
      .reset()
      .then(() => target.remove(temp))
      .catch(() => log.warn(`could not remove the partial upload ${temp}; remove it by hand`));
    throw transferError(codes.io, action, error, transient, stepId);
  }
  return path;
}

/**
 * The `file` hook of a remote writer: uploads each staged file with {@link uploadRemoteFile}, then logs and
 * reports it delivered under the location `locate` gives for its path.
 */
export function remoteWriterHook(
  target: FileTarget,
  options: WriteOptions,
  ctx: ScriptContext,
  codes: { readonly io: string },
  locate: (path: string) => string | Promise<string>,
): (file: InputFile, out: StepOutput) => Promise<void> {
  return async (file, out) => {
    const path = await uploadRemoteFile(target, file, options, ctx, codes);
    const where = await locate(path);
    ctx.log.info(`uploaded ${where} (${file.size} bytes)`);
    out.delivered(where, file.size);
  };
}
