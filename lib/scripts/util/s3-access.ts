/**
 * Which S3 client an S3 step uses: the runtime's own (execution role, runtime region) unless the step's params
 * name a region or an access key pair.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { IdxError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { Services } from '../../core/services.ts';
import type { s3AccessParams } from './file-transfer.ts';

/** How a step reaches S3: region and optional explicit keys (already resolved from secrets). */
export type S3Access = ParamsOf<typeof s3AccessParams>;

/** The client for a step. Blank values count as unset, as console templates ship them blank. */
export function s3ClientFor(services: Services, access: S3Access): S3Client {
  const region = access.region?.trim() || undefined;
  const accessKeyId = access.accessKey?.trim() || undefined;
  const secretAccessKey = access.secretKey?.trim() || undefined;
  if (accessKeyId && secretAccessKey)
    return services.s3For({ ...(region ? { region } : {}), accessKeyId, secretAccessKey });
  if (region) return services.s3For({ region });
  return services.s3;
}

/** Checks that an access key pair is given whole or not at all. */
export function checkKeyPair(access: S3Access, stepId: string): void {
  const a = Boolean(access.accessKey?.trim());
  const s = Boolean(access.secretKey?.trim());
  if (a !== s) {
    throw new IdxError(
      'IDX_S3_CREDENTIALS',
      'accessKey and secretKey go together: give both, or neither to use the execution role',
      {
        stepId,
        param: a ? 'secretKey' : 'accessKey',
        expected: 'both accessKey and secretKey, or neither',
        received: `only ${a ? 'accessKey' : 'secretKey'}`,
      },
    );
  }
}
