/**
 * The malformed-file corpus (test/support/malformed-files.ts) run through whole dataflows on the local stand-ins:
 * each file is read from S3 (s3rver on loopback), uncompressed and parsed by the real scripts, its records
 * formatted and written back to S3, and the rejected ones written by the parser's error path. Every case must end
 * with its exact code, with no stack trace anywhere in the job record, with the dataflow's run lock released, and
 * with nothing delivered from a file whose corruption fails the job.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { DataflowStateStore } from '../../lib/stores/state.ts';
import { useLocalEnvironment } from '../support/local.ts';
import { type MalformedFile, malformedFiles } from '../support/malformed-files.ts';

const BUCKET = 'corpus';
const local = useLocalEnvironment();
const cases = await malformedFiles();

/** The dataflow that reads one case's file and delivers what it can, under `out/<id>/` and `rejected/<id>/`. */
function dataflowOf(c: MalformedFile, id = c.name) {
  const parseNext = c.uncompress ? ['uncompress'] : ['parse'];
  return {
    id,
    name: `malformed file ${c.name}`,
    steps: [
      {
        id: 'read',
        type: 'datasource.read.amazon.s3',
        params: { bucketName: BUCKET, objectKeyPrefix: `in/${c.name}/` },
        next: parseNext,
      },
      ...(c.uncompress
        ? [{ id: 'uncompress', type: c.uncompress, params: c.uncompressParams ?? {}, next: ['parse'] }]
        : []),
      { id: 'parse', type: c.parser, params: c.params ?? {}, next: ['format'], error: ['format rejected'] },
      {
        id: 'format',
        type: 'file.format.json',
        params: { fileName: 'out.jsonl', format: 'jsonLines' },
        next: ['write'],
      },
      {
        id: 'write',
        type: 'datasource.write.amazon.s3',
        params: { bucketName: BUCKET, objectKeyPrefix: `out/${id}/` },
      },
      {
        id: 'format rejected',
        type: 'file.format.json',
        params: { fileName: 'rejected.jsonl', format: 'jsonLines' },
        next: ['write rejected'],
      },
      {
        id: 'write rejected',
        type: 'datasource.write.amazon.s3',
        params: { bucketName: BUCKET, objectKeyPrefix: `rejected/${id}/` },
      },
    ],
  };
}

/** The JSON Lines records written under a prefix (none when nothing was written). */
async function recordsUnder(prefix: string): Promise<Record<string, unknown>[]> {
  const { s3 } = local.env.services;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  const records: Record<string, unknown>[] = [];
  for (const o of listed.Contents ?? []) {
    const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
    const text = (await body.Body?.transformToString()) ?? '';
    for (const line of text.split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
  }
  return records;
}

describe('the malformed-file corpus through whole dataflows', () => {
  beforeAll(async () => {
    // Prepare: every file in the bucket, each under its own prefix.
    const { s3 } = local.env.services;
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const c of cases) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `in/${c.name}/${c.fileName}`, Body: c.content }));
    }
  });

  it('holds at least 40 malformed files, each with a distinct name', () => {
    // Assess
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))(
    'answers %s with its code, no stack trace, the lock released and nothing corrupt delivered',
    async (_name, c) => {
      // Prepare
      const { services, config } = local.env;
      const { dataflow, valid, problems } = validateText(JSON.stringify(dataflowOf(c)), defaultRegistry());
      expect(valid, JSON.stringify(problems)).toBe(true);

      // Act
      const result = await runLocal(dataflow!, { services, registry: defaultRegistry() });

      // Assess
      const delivered = await recordsUnder(`out/${c.name}/`);
      const rejected = await recordsUnder(`rejected/${c.name}/`);
      expect(JSON.stringify(result.job)).not.toMatch(/\\n\s+at |RangeError|TypeError|IDX_INTERNAL/);
      const { lockJobId } = await new DataflowStateStore(services.dynamo, config.tables.state).get(c.name);
      expect(lockJobId).toBeUndefined();
      if (c.outcome === 'step') {
        expect(result.status).toBe('failed');
        expect(result.job?.error?.code, JSON.stringify(result.job?.error)).toBe(c.code);
        expect(delivered).toEqual([]);
      } else {
        expect(result.status, JSON.stringify(result.job?.error)).toBe('succeeded');
        expect(delivered).toHaveLength(c.delivered);
        expect(rejected.map((r) => (r._errorDetails as { code?: string } | undefined)?.code)).toEqual(
          Array(c.rejected ?? 1).fill(c.code),
        );
      }
    },
    60_000,
  );

  it.each(cases.filter((c) => c.outcome === 'record').map((c) => [c.name, c] as const))(
    'delivers and rejects the same records of %s with a 1 ms invocation budget',
    async (_name, c) => {
      // Prepare
      const { services } = local.env;
      const id = `${c.name}-budget`;
      const { dataflow } = validateText(JSON.stringify(dataflowOf(c, id)), defaultRegistry());

      // Act
      const result = await runLocal(dataflow!, { services, registry: defaultRegistry(), invocationBudgetMs: 1 });

      // Assess: the same as the normal run of the case, which ran before.
      expect(result.status, JSON.stringify(result.job?.error)).toBe('succeeded');
      expect(await recordsUnder(`out/${id}/`)).toEqual(await recordsUnder(`out/${c.name}/`));
      const codes = (records: Record<string, unknown>[]) =>
        records.map((r) => [(r._errorDetails as { code?: string }).code, r._raw]);
      expect(codes(await recordsUnder(`rejected/${id}/`))).toEqual(codes(await recordsUnder(`rejected/${c.name}/`)));
    },
    60_000,
  );
});
