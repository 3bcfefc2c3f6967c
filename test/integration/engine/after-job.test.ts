import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { runLocal } from '../../../lib/local/runner.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();

function flow(id: string, last: Record<string, unknown>): Dataflow {
  const { dataflow, problems } = readDataflow({
    id,
    name: id,
    steps: [
      {
        id: 'read',
        type: 'datasource.read.amazon.s3',
        params: { bucketName: id, objectKeyPrefix: 'in/', afterRead: 'delete' },
        next: ['parse'],
      },
      { id: 'parse', type: 'file.parse.dsv', next: ['last'] },
      { id: 'last', ...last },
    ],
  });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

async function seed(bucket: string): Promise<void> {
  const { s3 } = local.env.services;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'in/a.csv', Body: 'UID,n\nu1,1\nu2,2\n' }));
}

async function keys(bucket: string): Promise<string[]> {
  const out = await local.env.services.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

describe('work deferred until the job succeeds', () => {
  it('keeps the source file when a later step fails, so nothing is lost', async () => {
    // Prepare
    await seed('fails');

    // Act
    const result = await runLocal(flow('fails', { type: 'test.fail', params: { transientTimes: 0 } }), {
      services: local.env.services,
      registry,
    });

    // Assess
    expect(result.status).toBe('failed');
    expect(await keys('fails')).toEqual(['in/a.csv']);
  });

  it('keeps the source file when a writer delivered fewer records than it received', async () => {
    // Prepare
    await seed('short');

    // Act
    const result = await runLocal(flow('short', { type: 'test.shortfall' }), {
      services: local.env.services,
      registry,
    });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job?.error).toMatchObject({ code: 'IDX_DELIVERY_SHORTFALL' });
    expect(await keys('short')).toEqual(['in/a.csv']);
  });

  it('deletes the source file once every step succeeded, in a state after the last step', async () => {
    // Prepare
    await seed('succeeds');
    const df = flow('succeeds', { type: 'field.remove', params: { fields: ['n'] } });

    // Act
    const result = await runLocal(df, { services: local.env.services, registry });

    // Assess
    expect(result.status).toBe('succeeded');
    expect(await keys('succeeds')).toEqual([]);
    expect(result.definition.States['Job: check delivery']).toMatchObject({ Next: 'After: read' });
    expect(result.definition.States['After: read']).toMatchObject({ Next: 'Job: complete', ResultPath: null });
    expect(result.job?.trace.join('\n')).toContain('deleted in/a.csv after the job succeeded');
  });
});
