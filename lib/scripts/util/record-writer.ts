/**
 * What the writers of records to a platform's API share (Salesforce, Marketing Cloud): how a record's value
 * becomes a cell, how a template's elided param is told apart, the coded error of a param that is not set, and
 * how the outcome of a batch sends each record on or down the error path and counts what was delivered, and where
 * a writer records what it started for a group (a Salesforce job, Eloqua syncs) so that a run of the same invocation
 * after a crash resumes it rather than sending the group twice.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { IdxError } from '../../core/errors.ts';
import { jobPrefix, safeSegment } from '../../core/keys.ts';
import type { DataRecord, RecordError, ScriptContext, ScriptInstance, StepOutput } from '../../core/script.ts';

/** A template's elided value (`...`) or an empty one: the param is not set yet. */
export function isUnset(value: string | undefined): boolean {
  return value === undefined || /^\s*\.*\s*$/.test(value);
}

/**
 * A record's value as a platform's text cell: text; objects and arrays as JSON. Undefined (no cell) for a
 * missing or null value, and for an empty object, which is what a rename leaves of a parent whose fields it moved
 * out (the published templates' `profile`).
 */
export function cellText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object') {
    if (!Array.isArray(value) && Object.keys(value).length === 0) return undefined;
    return JSON.stringify(value);
  }
  return String(value);
}

/** The error of a param a step needs and does not have. */
export function paramMissing(stepId: string, param: string, expected: string): IdxError {
  return new IdxError('IDX_PARAM_MISSING', `${param} is not set`, { stepId, param, expected, received: '""' });
}

/** Sends each record on, or down the error path with its failure, and reports those delivered. */
export function settle(
  out: StepOutput,
  records: readonly DataRecord[],
  outcomes: readonly (RecordError | undefined)[],
): void {
  let delivered = 0;
  records.forEach((record, i) => {
    const failure = outcomes[i];
    if (failure) out.reject(record, failure);
    else {
      delivered++;
      out.emit(record);
    }
  });
  out.deliveredRecords(delivered);
}

/** The `maxAttempts` param of a platform writer: attempts of one request before its failure is reported. */
export const MAX_ATTEMPTS_PARAM = {
  type: 'integer',
  minimum: 1,
  maximum: 10,
  default: 5,
  description:
    'Attempts of one request answered 429, 5xx or cut off (for Salesforce also 403 REQUEST_LIMIT_EXCEEDED), with exponential backoff (1 s doubling, 30 s at most).',
} as const;

/**
 * Where a writer records what it started for a group of records: the job's stage, by step, `folder` (one a
 * platform), invocation and group.
 */
export function groupMarkerKey(ctx: ScriptContext, folder: string, group: number): string {
  return `${jobPrefix(ctx.job.dataflowId, ctx.job.id)}${safeSegment(ctx.stepId)}/${folder}/${ctx.invocation ?? 0}-${group}.json`;
}

/**
 * What a failed earlier run of this invocation recorded for a group under `key`, if anything. Listed first rather
 * than read and caught: deployed, a missing key read with the stage's prefix-bound list grant may answer 403, not
 * 404.
 */
export async function readGroupMarker<T>(ctx: ScriptContext, key: string): Promise<T | undefined> {
  const bucket = ctx.services.config.stageBucket;
  const listed = await ctx.services.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  if (!listed.Contents?.some((o) => o.Key === key)) return undefined;
  const got = await ctx.services.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await (got.Body as { transformToString(): Promise<string> }).transformToString()) as T;
}

/** Records what was started for a group so far (see {@link readGroupMarker}). */
export async function writeGroupMarker(ctx: ScriptContext, key: string, marker: unknown): Promise<void> {
  await ctx.services.s3.send(
    new PutObjectCommand({
      Bucket: ctx.services.config.stageBucket,
      Key: key,
      Body: JSON.stringify(marker),
      ContentType: 'application/json',
    }),
  );
}

/**
 * The `records` and `end` hooks of a writer that sends records in groups of `size`: `send` gets each full group,
 * numbered from 0 within the invocation (what {@link groupMarkerKey} takes), and `end` sends the last, smaller one.
 * Every group is settled in the invocation its records came in: records cannot wait in a continuation.
 */
export function groupedRecords(
  size: number,
  send: (records: DataRecord[], group: number, out: StepOutput) => Promise<void>,
): Pick<ScriptInstance, 'records' | 'end'> {
  const pending: DataRecord[] = [];
  let group = 0;
  const flush = async (out: StepOutput, all: boolean) => {
    while (pending.length >= size || (all && pending.length)) await send(pending.splice(0, size), group++, out);
  };
  return {
    async records(batch, out) {
      pending.push(...batch);
      await flush(out, false);
    },
    async end(out) {
      await flush(out, true);
    },
  };
}
