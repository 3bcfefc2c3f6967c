/** The records a job's steps rejected, read back from the stage where the job record says they are. */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Services } from '../../lib/core/services.ts';
import type { LocalRunResult } from '../../lib/local/runner.ts';

/** A job record's steps, as far as rejected records go. */
interface JobSteps {
  readonly steps?: Readonly<Record<string, { readonly rejectedLocation?: string } | undefined>>;
}

/** The records the step `stepId` rejected (those carrying `_errorDetails`), in the order staged. */
export async function rejectedRecords(
  s3: S3Client,
  job: JobSteps | undefined,
  stepId: string,
): Promise<Record<string, unknown>[]> {
  const location = job?.steps?.[stepId]?.rejectedLocation;
  if (!location) return [];
  const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(location) ?? [];
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const out: Record<string, unknown>[] = [];
  for (const o of listed.Contents ?? []) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
    const text = await (got.Body as { transformToString(): Promise<string> }).transformToString();
    for (const line of text.split('\n')) {
      const record = line.trim() ? (JSON.parse(line) as Record<string, unknown>) : undefined;
      if (record?._errorDetails) out.push(record);
    }
  }
  return out;
}

/** The rejected records of a local run's first step whose type names a writer (`datasource.write.…`). */
export async function writerRejects(services: Services, result: LocalRunResult): Promise<Record<string, unknown>[]> {
  const steps = Object.entries(result.job?.steps ?? {});
  const writer = steps.find(([, s]) => s?.rejectedLocation && /\.write\./.test(s.type))?.[0];
  return writer === undefined ? [] : rejectedRecords(services.s3, result.job, writer);
}
