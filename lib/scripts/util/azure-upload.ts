/**
 * The `file` hook of the Azure writers: claims each file's target for the job, streams it into a block blob
 * (invisible until committed), retries transient failures from the start, and reports what the container holds.
 */
import { Transform } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';
import {
  azureFailure,
  blobSize,
  isBlobTaken,
  isTransientAzureError,
  uploadBlockBlob,
} from '../../connectors/azure-blob.ts';
import { targetExists } from '../../connectors/transfer.ts';
import { IdxError, locateError } from '../../core/errors.ts';
import type { InputFile, ScriptContext, StepOutput } from '../../core/script.ts';
import { claimTarget, writerRequests } from './remote-files.ts';

/** Where one file goes: the blob client and its name for messages and the job record. */
export interface BlobTarget {
  readonly blob: BlockBlobClient;
  /** e.g. `azure://account/container/exports/a.csv`, without any SAS token. */
  readonly where: string;
}

/** Options of {@link blobWriterHook}. */
export interface BlobWriterOptions {
  readonly overwrite: boolean;
  readonly maxAttempts: number;
  readonly contentType?: string | undefined;
  /** Initial backoff between attempts. @default 1000 */
  readonly retryDelayMs?: number;
}

/** The writer hook over `targetOf`, which gives each staged file its blob (e.g. after asking for a SAS URL). */
export function blobWriterHook(
  ctx: ScriptContext,
  options: BlobWriterOptions,
  targetOf: (file: InputFile) => Promise<BlobTarget>,
): (file: InputFile, out: StepOutput) => Promise<void> {
  let ordinal = 0;
  /** Runs a request with the step's retries; a failure becomes a coded error naming the blob. */
  const retried = writerRequests(ctx, {
    attempts: options.maxAttempts,
    isTransient: isTransientAzureError,
    failure: azureFailure,
    ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
  });
  return async (file, out) => {
    // Getting the target may ask a SAS service, whose transient failures are retried like an upload's.
    const { blob, where } = await retried('preparing the upload of', file.name, () => targetOf(file));
    const { replace } = await claimTarget(
      ctx,
      where,
      { ordinal: ordinal++, file: file.name },
      options.overwrite,
      async () => (await retried('checking', where, () => blobSize(blob))) !== undefined,
    );
    let size = 0;
    await retried('uploading', where, async () => {
      size = 0;
      const body = file.open().pipe(
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            cb(null, chunk);
          },
        }),
      );
      try {
        await uploadBlockBlob({
          blob,
          body,
          replace,
          ...(options.contentType ? { contentType: options.contentType } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
      } catch (error) {
        // The commit carries If-None-Match: *, so a blob put there since the check is never replaced.
        if (!replace && isBlobTaken(error)) throw locateError(targetExists(where), { stepId: ctx.stepId });
        throw error;
      }
    });
    // What the container holds under the name, not what was sent, is what the job counts as delivered.
    const held = await retried('checking', where, () => blobSize(blob));
    if (held !== size) {
      throw new IdxError('IDX_DELIVERY_SHORTFALL', `${where} holds ${held ?? 'no'} bytes after an upload of ${size}`, {
        stepId: ctx.stepId,
        expected: `${size} bytes`,
        received: `${held ?? 0} bytes`,
      });
    }
    ctx.log.info(`uploaded ${where} (${held} bytes)`);
    out.delivered(where, held);
  };
}
