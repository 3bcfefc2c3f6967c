/**
 * What every file reader and writer step does the same way, over the protocol clients of
 * lib/connectors/transfer.ts: a reader picks files (regex, order, the processed-file memory, test and limited
 * runs, the invocation's time budget), stages them, and leaves, deletes or moves them once the job succeeded; a
 * writer claims each file's target for the job, uploads it without replacing another job's file and reports what
 * the target holds. The SFTP and FTP readers and writers are one
 * implementation ({@link readFolder}, {@link writeFolder}) over a {@link RemoteFolder}.
 */
import { checkRelativeName, joinRemote, moveFolder, normalizeRoot } from '../../connectors/remote-path.ts';
import { withRetry } from '../../connectors/retry.ts';
import {
  downloadFile,
  type FileSource,
  type FileTarget,
  fileNameMatcher,
  type RemoteFile,
  retryTransfer,
  sortFiles,
  type TransferOptions,
  targetExists,
  uploadFile,
} from '../../connectors/transfer.ts';
import { type IdxError, type IdxErrorCode, locateError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { InputFile, ScriptContext, ScriptInstance, StepOutput } from '../../core/script.ts';
import { ProcessedFileStore } from '../../stores/processed-files.ts';
import { TargetClaimStore } from '../../stores/target-claims.ts';
import type { fileReaderParams, folderWriterParams, transferRetryParams } from './file-transfer.ts';

/** What a file reader reads with: its params of the same names. */
export type ReadOptions = ParamsOf<typeof fileReaderParams> &
  ParamsOf<typeof transferRetryParams> & {
    /** Seconds without a byte before a transfer counts as dropped. */
    readonly timeout: number;
    /** Initial backoff between attempts. @default 1000 */
    readonly retryDelayMs?: number;
  };

/** What a file writer writes with. */
export type WriteOptions = Pick<
  ParamsOf<typeof folderWriterParams>,
  'temporaryUploadExtension' | 'maxAttempts' | 'overwrite'
> & {
  /** The normalized folder files go to. */
  readonly root: string;
  /** Seconds without progress before an upload counts as dropped. */
  readonly timeout: number;
  /** Initial backoff between attempts. @default 1000 */
  readonly retryDelayMs?: number;
};

/** The continuation of a file reader that ran out of time: the paths it already staged in this job. */
interface ReadContinuation {
  readonly read: string[];
}

/** Leaves this much of a Lambda's budget for staging and bookkeeping before handing back a continuation. */
const DEADLINE_MARGIN_MS = 60_000;

/** The retry policy of a step's transfers, reporting to its trace. */
function transferOptions(
  options: { maxAttempts: number; timeout: number; retryDelayMs?: number },
  ctx: ScriptContext,
  code: IdxErrorCode,
): TransferOptions {
  return {
    maxAttempts: options.maxAttempts,
    timeout: options.timeout,
    ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
    code,
    log: ctx.log,
    signal: ctx.signal,
  };
}

/** Runs work of a step; a coded error from a protocol client, which knows no steps, is told which step it was. */
async function atStep<T>(ctx: ScriptContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw locateError(error, { stepId: ctx.stepId });
  }
}

/**
 * The generic file reader: lists, selects, downloads into the stage (resuming after a dropped connection),
 * remembers what it imported and defers the post-read action. A test run reads the newest matching file, whatever
 * the processed-files memory says; a limited run the first selected one; neither changes anything on the server
 * or in the processed-files memory. Dry runs read every file a real run would and change nothing either.
 */
export function readRemoteFiles(
  source: FileSource,
  options: ReadOptions,
  ctx: ScriptContext,
  out: StepOutput,
  codes: { readonly io: IdxErrorCode },
): Promise<{ continuation?: ReadContinuation; deferred?: RemoteFile[] } | undefined> {
  return atStep(ctx, async () => {
    const { job, log, stepId } = ctx;
    const transfer = transferOptions(options, ctx, codes.io);
    const listed = await retryTransfer(source, 'listing the folder', () => source.list(), transfer);
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
    // A test run samples what the source holds now, whether or not a scheduled import already took it: it reads
    // the newest matching file and, like a limited run, marks, moves and deletes nothing.
    if (job.test && files.length > 0) {
      files = sortFiles(files, 'time', 'DESC');
      log.info('test run: reading the newest matching file, whatever the processed-files memory says');
    } else if (options.skipProcessedFiles && !job.fullExtract && files.length > 0) {
      const done = await store.processedMarks(job.dataflowId, source.id, files, job.id);
      if (done.size > 0) log.info(`${done.size} matching file(s) already imported by an earlier run, skipped`);
      for (const f of files) {
        const mark = done.get(f.path);
        if (mark)
          out.skipped?.(f.name, `already imported by job ${mark.jobId} at ${mark.processedAt} (same size and time)`);
      }
      files = files.filter((f) => !done.has(f.path));
    }
    // The records of a file are counted only by the parser, in a later Task: a test or limited run stages one file,
    // the parser stops at the limit within it (see entersRecords), and no other file is fetched in case.
    if (!consumes && files.length > 1) {
      log.info(
        `${job.test ? 'test' : 'limited'} run: reading only the ${job.test ? 'newest' : 'first'} of ${files.length} selected files, changing nothing on the server`,
      );
      for (const f of files.slice(1))
        out.skipped?.(
          f.name,
          job.test
            ? 'a test run reads only the newest matching file'
            : 'a limited run reads only the first selected file',
        );
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
      await downloadFile(source, file, out.createFile(file.name), transfer);
      read.push(file);
    }

    // A dry run reads what the real run would read, but leaves the files and the processed-file memory as they are.
    const keeps = consumes && job.dryRun !== true;
    if (keeps && read.length > 0 && options.skipProcessedFiles)
      await store.mark(job.dataflowId, source.id, read, job.id);
    // Deleting or moving waits until the whole job succeeded: a later step that fails must find the file again.
    const deferred = keeps && read.length > 0 && options.afterRead !== 'leave' ? read : undefined;
    if (deferred)
      log.info(
        `${deferred.length} file(s) will be ${options.afterRead === 'delete' ? 'deleted' : 'moved'} once the job succeeds`,
      );
    return continuation || deferred
      ? { ...(continuation ? { continuation } : {}), ...(deferred ? { deferred } : {}) }
      : undefined;
  });
}

/** Applies the post-read action (delete or move) to files a reader read, once their job has succeeded. */
export async function finishRemoteFiles(
  source: FileSource,
  options: Pick<ReadOptions, 'afterRead' | 'maxAttempts' | 'timeout' | 'retryDelayMs'>,
  ctx: ScriptContext,
  deferred: readonly unknown[],
  codes: { readonly io: IdxErrorCode },
): Promise<void> {
  if (options.afterRead === 'leave') return;
  const transfer = transferOptions(options, ctx, codes.io);
  await atStep(ctx, async () => {
    for (const file of deferred.flat() as RemoteFile[]) {
      const action = options.afterRead === 'delete' ? `deleting ${file.path}` : `moving ${file.path}`;
      await retryTransfer(
        source,
        action,
        () => (options.afterRead === 'delete' ? source.remove(file) : source.move(file)),
        transfer,
      );
      ctx.log.info(`${options.afterRead === 'delete' ? 'deleted' : 'moved'} ${file.path} after the job succeeded`);
    }
  });
}

/**
 * How an object-store writer runs a request: transient failures are retried up to `attempts`, each retry logged,
 * and the last failure becomes the coded error `failure` makes of it (naming the action and the target), located
 * at the step.
 */
export function writerRequests(
  ctx: ScriptContext,
  options: {
    readonly attempts: number;
    readonly isTransient: (error: unknown) => boolean;
    readonly failure: (error: unknown, action: string, where: string) => IdxError;
    readonly retryDelayMs?: number;
  },
): <T>(action: string, where: string, work: () => Promise<T>) => Promise<T> {
  return (action, where, work) =>
    withRetry(work, {
      attempts: options.attempts,
      isTransient: options.isTransient,
      signal: ctx.signal,
      ...(options.retryDelayMs === undefined ? {} : { baseDelayMs: options.retryDelayMs }),
      onRetry: (error, attempt, delay) =>
        ctx.log.warn(
          `${action} ${where} failed (attempt ${attempt} of ${options.attempts}), retrying in ${delay} ms: ${(error as Error).message}`,
        ),
    }).catch((error: unknown) => {
      throw locateError(options.failure(error, action, where), { stepId: ctx.stepId });
    });
}

/**
 * Claims a writer's target for one file of the job (see lib/stores/target-claims.ts) and, for a first claim, checks
 * that no other job left a file there. With `overwrite`, neither: the file replaces whatever is there. Returns
 * whether the file may replace a file at the target: with `overwrite`, or when an earlier attempt of this very
 * upload (a retried invocation) put it there.
 */
export async function claimTarget(
  ctx: ScriptContext,
  where: string,
  producer: { readonly ordinal: number; readonly file: string },
  overwrite: boolean,
  exists: () => Promise<boolean>,
): Promise<{ readonly replace: boolean }> {
  if (overwrite) return { replace: true };
  const claims = new TargetClaimStore(ctx.services.dynamo, ctx.services.config.tables.state);
  const outcome = await claims.claim(ctx.job.id, where, {
    // The same step, invocation and place in the input: what a retry of this upload repeats and no other file has.
    id: `${ctx.stepId}#${ctx.invocation ?? 0}#${producer.ordinal}#${producer.file}`,
    stepId: ctx.stepId,
    file: producer.file,
  });
  if (outcome === 'retried') return { replace: true };
  if (await exists()) throw locateError(targetExists(where), { stepId: ctx.stepId });
  return { replace: false };
}

/**
 * The `file` hook of a remote writer: claims each staged file's target ({@link claimTarget}), uploads it under the
 * writer's folder with {@link uploadFile} (temporary name, verified size, retries; a name that could leave the
 * folder is refused), then logs and reports it delivered, with the size the target holds, under the location
 * `locate` gives for its path.
 */
export function remoteWriterHook(
  target: FileTarget,
  options: WriteOptions,
  ctx: ScriptContext,
  codes: { readonly io: IdxErrorCode },
  locate: (path: string) => string | Promise<string>,
): (file: InputFile, out: StepOutput) => Promise<void> {
  let ordinal = 0;
  return (file, out) =>
    atStep(ctx, async () => {
      const path = joinRemote(options.root, file.name, { stepId: ctx.stepId, param: 'file name' });
      const where = await locate(path);
      const transfer = transferOptions(options, ctx, codes.io);
      const { replace } = await claimTarget(
        ctx,
        where,
        { ordinal: ordinal++, file: file.name },
        options.overwrite,
        async () => (await retryTransfer(target, `checking ${path}`, () => target.size(path), transfer)) !== undefined,
      );
      const size = await uploadFile(target, path, file, {
        ...transfer,
        temporaryUploadExtension: options.temporaryUploadExtension,
        replace,
      });
      ctx.log.info(`uploaded ${where} (${size} bytes)`);
      out.delivered(where, size);
    });
}

/** A reader step over a source: reads in the step, applies the post-read action once the job succeeded. */
export function readerInstance(
  source: FileSource,
  params: ReadOptions,
  ctx: ScriptContext,
  io: IdxErrorCode,
  close?: () => Promise<void>,
): ScriptInstance {
  return {
    read: (out) => readRemoteFiles(source, params, ctx, out, { io }),
    afterJob: (deferred) => finishRemoteFiles(source, params, ctx, deferred, { io }),
    ...(close ? { close } : {}),
  };
}

/** One account on a file server (SFTP, FTP) as the shared folder reader and writer use it. */
export interface RemoteFolder {
  /** The code of transfer failures: `IDX_SFTP_IO`, `IDX_FTP_IO`. */
  readonly io: IdxErrorCode;
  /** The files of the normalized folder `root`; files read are moved into `moveTo` (else they stay in `root`). */
  source(root: string, moveTo: string | undefined): FileSource;
  /** The account as an upload target. */
  target(): FileTarget;
  /** Where an uploaded path is, as the job record lists it, e.g. `sftp://user@host:22/inbound/a.csv`. */
  locate(path: string): string | Promise<string>;
  /** Closes the connection at the end of the step. */
  close(): Promise<void>;
}

/** The instance of a folder reader (`datasource.read.sftp`, `datasource.read.ftp`): the files of `remotePath`. */
export function readFolder(
  folder: RemoteFolder,
  params: ReadOptions & { remotePath: string },
  ctx: ScriptContext,
): ScriptInstance {
  const root = normalizeRoot(params.remotePath, { param: 'remotePath', stepId: ctx.stepId });
  const moveTo =
    params.afterRead === 'move' && params.moveToPath !== undefined
      ? moveFolder(root, params.moveToPath, ctx.stepId)
      : undefined;
  return readerInstance(folder.source(root, moveTo), params, ctx, folder.io, () => folder.close());
}

/**
 * Where a folder writer delivers a file of this name on the account `accountId` (`sftp://user@host:port`), as it
 * reports it: a name that could leave `remotePath` is refused, as the upload refuses it.
 */
export function folderTarget(accountId: string, remotePath: string, name: string, stepId: string): string {
  const root = normalizeRoot(remotePath, { param: 'remotePath', stepId });
  return `${accountId}/${joinRemote(root, name, { stepId, param: 'file name' }).replace(/^\//, '')}`;
}

/** The instance of a folder writer (`datasource.write.sftp`, `datasource.write.ftp`): uploads into `remotePath`. */
export function writeFolder(
  folder: RemoteFolder,
  params: Omit<WriteOptions, 'root'> & { remotePath: string },
  ctx: ScriptContext,
): ScriptInstance {
  const options: WriteOptions = {
    root: normalizeRoot(params.remotePath, { param: 'remotePath', stepId: ctx.stepId }),
    temporaryUploadExtension: params.temporaryUploadExtension,
    overwrite: params.overwrite,
    maxAttempts: params.maxAttempts,
    timeout: params.timeout,
  };
  return {
    file: remoteWriterHook(folder.target(), options, ctx, { io: folder.io }, (path) => folder.locate(path)),
    close: () => folder.close(),
  };
}
