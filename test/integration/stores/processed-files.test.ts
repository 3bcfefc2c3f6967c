import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { ProcessedFileStore, processedFileKey } from '../../../lib/stores/processed-files.ts';

let env: LocalEnvironment;
let dir: string;
let store: ProcessedFileStore;

async function job(id: string, status: string): Promise<void> {
  await env.services.dynamo.send(
    new PutCommand({ TableName: env.config.tables.jobs, Item: { id, dataflowId: 'df', status } }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-processed-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
  store = new ProcessedFileStore(env.services.dynamo, env.config.tables.state, env.config.tables.jobs);
});

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ProcessedFileStore', () => {
  it('keeps one item per file on the state table under file#<source>#<path>', async () => {
    // Act
    await store.mark('df-layout', 'sftp://u@h:22', [{ path: '/in/a.csv', size: 3, modifiedAt: 1000 }], 'job-1');

    // Assess
    const item = await env.services.dynamo.send(
      new GetCommand({
        TableName: env.config.tables.state,
        Key: { pk: 'df-layout', sk: processedFileKey('sftp://u@h:22', '/in/a.csv') },
      }),
    );
    expect(item.Item).toMatchObject({ sk: 'file#sftp://u@h:22#/in/a.csv', size: 3, modifiedAt: 1000, jobId: 'job-1' });
  });

  it('counts a file as processed only with the same size and time, by another job that did not fail', async () => {
    // Prepare
    await job('ok-job', 'succeeded');
    await job('bad-job', 'failed');
    const source = 's3://bucket';
    await store.mark('df-rules', source, [{ path: 'same', size: 1, modifiedAt: 1 }], 'ok-job');
    await store.mark('df-rules', source, [{ path: 'resized', size: 1, modifiedAt: 1 }], 'ok-job');
    await store.mark('df-rules', source, [{ path: 'touched', size: 1, modifiedAt: 1 }], 'ok-job');
    await store.mark('df-rules', source, [{ path: 'failed', size: 1, modifiedAt: 1 }], 'bad-job');
    await store.mark('df-rules', source, [{ path: 'mine', size: 1, modifiedAt: 1 }], 'current');
    await store.mark('df-rules', source, [{ path: 'expired', size: 1, modifiedAt: 1 }], 'job-record-gone');

    // Act
    const done = await store.processed(
      'df-rules',
      source,
      [
        { path: 'same', size: 1, modifiedAt: 1 },
        { path: 'resized', size: 2, modifiedAt: 1 },
        { path: 'touched', size: 1, modifiedAt: 2 },
        { path: 'failed', size: 1, modifiedAt: 1 },
        { path: 'mine', size: 1, modifiedAt: 1 },
        { path: 'expired', size: 1, modifiedAt: 1 },
        { path: 'never', size: 1, modifiedAt: 1 },
      ],
      'current',
    );

    // Assess
    expect([...done].sort()).toEqual(['expired', 'same']);
  });

  it('looks up more files than one batch holds', async () => {
    // Prepare
    await job('bulk-job', 'succeeded');
    const files = Array.from({ length: 250 }, (_, i) => ({ path: `f${i}`, size: i, modifiedAt: i }));
    await store.mark('df-bulk', 'ftp://h', files.slice(0, 180), 'bulk-job');

    // Act
    const done = await store.processed('df-bulk', 'ftp://h', files, 'other');

    // Assess
    expect(done.size).toBe(180);
  });
});
