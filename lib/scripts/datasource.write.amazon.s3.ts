import { Transform } from 'node:stream';
import { joinRemote } from '../connectors/remote-path.ts';
import { withRetry } from '../connectors/retry.ts';
import { isTransientS3Error, keyFolder, objectSize, s3Failure, uploadObject } from '../connectors/s3.ts';
import { literalPrefix } from '../core/access.ts';
import { IdxError, locateError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import {
  OVERWRITE_PARAM,
  s3AccessParams,
  s3GrantFolder,
  s3RoleReaches,
  transferRetryParams,
} from './util/file-transfer.ts';
import { claimTarget, writerRequests } from './util/remote-files.ts';
import { checkKeyPair, s3ClientFor } from './util/s3-access.ts';

/** The key and `s3://` location a file of this name goes to; a name that could leave the key folder is refused. */
function s3Target(
  params: { readonly bucketName: string; readonly objectKeyPrefix: string },
  name: string,
  stepId: string,
): { readonly key: string; readonly where: string } {
  const folder = keyFolder(params.objectKeyPrefix, { param: 'objectKeyPrefix', stepId });
  const key = joinRemote(folder === '' ? '.' : folder.slice(0, -1), name, { stepId, param: 'file name' });
  return { key, where: `s3://${params.bucketName}/${key}` };
}

/** `datasource.write.amazon.s3`: puts every incoming file into a bucket folder. */
export const datasourceWriteAmazonS3 = defineScript({
  type: 'datasource.write.amazon.s3',
  summary: 'Uploads every incoming file to a bucket under a key prefix, encrypted at rest.',
  description:
    'Each file is streamed as a multipart upload to <objectKeyPrefix><file name>; S3 shows the object only once ' +
    'it is complete, so a reader never sees a partial file. A failed upload is retried from the start. An object ' +
    'already under the key is not replaced unless overwrite is true (If-None-Match: *), and the object is measured ' +
    'after the upload: what S3 holds is what counts as delivered. ' +
    'Credentials are the execution role unless accessKey and secretKey name secrets.',
  consumes: 'files',
  produces: 'nothing',
  delivers: 'files',
  params: {
    bucketName: { type: 'string', required: true, description: 'The bucket to write to.' },
    objectKeyPrefix: {
      type: 'string',
      default: '',
      description:
        'The key folder files go to ("exports/daily/"); a missing trailing "/" is added. Folders in S3 are only ' +
        'key prefixes, so nothing needs to exist beforehand. Empty: the bucket root.',
      examples: ['exports/', 'gigya/${now:yyyy/MM/dd}/'],
    },
    ...s3AccessParams,
    serverSideEncryption: {
      type: 'string',
      enum: ['AES256', 'aws:kms', 'aws:kms:dsse', 'none'],
      default: 'AES256',
      description:
        'Server-side encryption of the objects: S3-managed keys (AES256), KMS (aws:kms, with kmsKeyId or the ' +
        "account's S3 key), dual-layer KMS, or none (the bucket's default encryption still applies).",
    },
    kmsKeyId: {
      type: 'string',
      description: 'KMS key id or ARN for aws:kms encryption; unset uses the AWS managed key for S3.',
    },
    contentType: {
      type: 'string',
      description: 'Content-Type of the objects; unset lets S3 store binary/octet-stream.',
      examples: ['text/csv', 'application/gzip'],
    },
    overwrite: OVERWRITE_PARAM,
    ...transferRetryParams,
  },
  reaches: {
    summary:
      "S3, with the function's role unless accessKey is set: puts objects under objectKeyPrefix of bucketName, and " +
      'reads their metadata (HEAD: is the key taken, what does S3 hold after the upload).',
    of: (params) =>
      s3RoleReaches(params, (bucket) => [
        {
          kind: 's3',
          bucket,
          prefix: literalPrefix(s3GrantFolder(params.objectKeyPrefix)),
          // HEAD needs s3:GetObject, and tells a missing key (404) from a forbidden one only with s3:ListBucket.
          read: true,
          write: true,
          remove: false,
        },
      ]),
  },
  dryRun: {
    target(params, name, ctx) {
      // A dry run fails on a lone access key as the upload would.
      checkKeyPair(params, ctx.stepId);
      return s3Target(params, name, ctx.stepId).where;
    },
  },
  create(params, ctx) {
    checkKeyPair(params, ctx.stepId);
    const client = s3ClientFor(ctx.services, params);
    // Checked before the first file arrives, as a step's params are.
    keyFolder(params.objectKeyPrefix, { param: 'objectKeyPrefix', stepId: ctx.stepId });
    let ordinal = 0;
    /** Runs an S3 request with the step's retries; a failure becomes a coded error naming the object. */
    const retried = writerRequests(ctx, {
      attempts: params.maxAttempts,
      isTransient: isTransientS3Error,
      failure: (error, action, where) => (error instanceof IdxError ? error : s3Failure(error, action, where)),
    });
    return {
      async file(file, out) {
        const { key, where } = s3Target(params, file.name, ctx.stepId);
        const { replace } = await claimTarget(
          ctx,
          where,
          { ordinal: ordinal++, file: file.name },
          params.overwrite,
          async () =>
            (await retried('checking', where, () => objectSize(client, params.bucketName, key))) !== undefined,
        );
        let size = 0;
        await withRetry(
          async () => {
            size = 0;
            const body = file.open().pipe(
              new Transform({
                transform(chunk: Buffer, _enc, cb) {
                  size += chunk.length;
                  cb(null, chunk);
                },
              }),
            );
            await uploadObject({
              client,
              bucket: params.bucketName,
              key,
              body,
              serverSideEncryption: params.serverSideEncryption,
              ...(params.kmsKeyId ? { kmsKeyId: params.kmsKeyId } : {}),
              ...(params.contentType ? { contentType: params.contentType } : {}),
              // Atomic on S3 (a key taken since the check fails the put); s3rver ignores the condition, so
              // locally only the check above guards, with a window of one upload.
              ifNoneMatch: !replace,
              signal: ctx.signal,
            });
          },
          {
            attempts: params.maxAttempts,
            isTransient: isTransientS3Error,
            signal: ctx.signal,
            onRetry: (error, attempt, delay) =>
              ctx.log.warn(
                `uploading ${where} failed (attempt ${attempt} of ${params.maxAttempts}), retrying in ${delay} ms: ${(error as Error).message}`,
              ),
          },
        ).catch((error: unknown) => {
          throw locateError(error instanceof IdxError ? error : s3Failure(error, 'uploading', where), {
            stepId: ctx.stepId,
          });
        });
        // What S3 holds under the key, not what was sent, is what the job counts as delivered.
        const held = await retried('checking', where, () => objectSize(client, params.bucketName, key));
        if (held !== size) {
          throw new IdxError(
            'IDX_DELIVERY_SHORTFALL',
            `${where} holds ${held ?? 'no'} bytes after an upload of ${size}`,
            {
              stepId: ctx.stepId,
              expected: `${size} bytes`,
              received: `${held ?? 0} bytes`,
            },
          );
        }
        ctx.log.info(`uploaded ${where} (${held} bytes)`);
        out.delivered(where, held);
      },
    };
  },
});
