/** The records a local run's writer step rejected, read back from the stage where the job record says they are. */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Services } from '../../lib/core/services.ts';
import type { LocalRunResult } from '../../lib/local/runner.ts';

/** The rejected records (with `_errorDetails`) of the run's first step whose type names a writer. */
export async function rejectedRecords(services: Services, result: LocalRunResult): Promise<Record<string, unknown>[]> {
  const steps = Object.values(result.job?.steps ?? {});
  const location = steps.find((s) => s?.rejectedLocation && /\.write\./.test(s.type))?.rejectedLocation;
  if (!location) return [];
  const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(location) ?? [];
  const listed = await services.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const out: Record<string, unknown>[] = [];
  for (const o of listed.Contents ?? []) {
    const got = await services.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
    const text = await (got.Body as { transformToString(): Promise<string> }).transformToString();
    for (const line of text.split('\n')) {
      // The prefix also holds what the step handed on; rejected records carry _errorDetails.
      const record = line.trim() ? (JSON.parse(line) as Record<string, unknown>) : undefined;
      if (record?._errorDetails) out.push(record);
    }
  }
  return out;
}
