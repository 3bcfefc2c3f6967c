import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { runLocal } from '../../../lib/local/runner.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();
const BUCKET = 'zips-in';

/** A zip whose entries hold the given texts, under the given names, as written (no name checks). */
async function zipOf(entries: readonly [string, string][]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, text] of entries) zip.addBuffer(Buffer.from(text), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const archive = Buffer.concat(chunks);
  return archive;
}

function flow(id: string, prefix: string): Dataflow {
  const { dataflow, problems } = readDataflow({
    id,
    name: id,
    steps: [
      {
        id: 'read',
        type: 'datasource.read.amazon.s3',
        params: { bucketName: BUCKET, objectKeyPrefix: prefix, fileNameRegex: '.*\\.zip$' },
        next: ['unzip'],
      },
      { id: 'unzip', type: 'file.uncompress.zip', next: ['parse'] },
      { id: 'parse', type: 'file.parse.dsv', params: { columnSeparator: ',' }, next: ['keep'] },
      { id: 'keep', type: 'field.remove', params: { fields: [] } },
    ],
  });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

beforeAll(async () => {
  await local.env.services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

describe('a stream error in a fused chain', () => {
  it('fails the job with a coded error and releases the run lock when a zip’s second entry is refused', async () => {
    // Prepare
    const rows = `email,name\n${Array.from({ length: 5000 }, (_, i) => `u${i}@example.com,U${i}`).join('\n')}\n`;
    const archive = await zipOf([
      ['good.csv', rows],
      ['__/evil.csv', 'email\nx@example.com\n'],
    ]);
    // yazl refuses `..` in names; the bytes are patched after, as a hostile archive would be written.
    const hostile = Buffer.from(archive.toString('latin1').replaceAll('__/evil.csv', '../evil.csv'), 'latin1');
    await local.env.services.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'traversal/in.zip', Body: hostile }));

    // Act
    const result = await runLocal(flow('zip-traversal', 'traversal/'), { services: local.env.services, registry });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job).toMatchObject({ status: 'failed', error: { code: 'IDX_ZIP_CORRUPT', stepId: 'unzip' } });
    expect(String(result.job?.error?.message)).toContain('../evil.csv');
    const state = await new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(
      'zip-traversal',
    );
    expect(state.lockJobId).toBeUndefined();
  });
});
