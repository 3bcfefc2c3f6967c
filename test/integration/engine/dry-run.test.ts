/**
 * The job lifecycle of a dry run, on dynalite and s3rver: it takes no run lock, records nothing in the dataflow's
 * state (no watermark, no last successful run or test run, no processed-file mark), leaves the files it read where
 * they are whatever `afterRead` says, and is not run again after a failure.
 */
import { hostname } from 'node:os';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { runLocal } from '../../../lib/local/runner.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();
const BUCKET = 'dry-run-files';

function flow(id: string, steps: unknown[]): Dataflow {
  const { dataflow, problems } = readDataflow({ id, name: id, steps });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

/** S3 CSV files under `in/` (deleted once read) to one CSV under `out/`. */
const importFlow = (id: string) =>
  flow(id, [
    {
      id: 'read',
      type: 'datasource.read.amazon.s3',
      params: { bucketName: BUCKET, objectKeyPrefix: `${id}/in/`, afterRead: 'delete', skipProcessedFiles: true },
      next: ['parse'],
    },
    { id: 'parse', type: 'file.parse.dsv', params: { columnSeparator: ',' }, next: ['format'] },
    { id: 'format', type: 'file.format.dsv', params: { fileName: 'out.csv', columns: ['email'] }, next: ['write'] },
    { id: 'write', type: 'datasource.write.amazon.s3', params: { bucketName: BUCKET, objectKeyPrefix: `${id}/out/` } },
  ]);

const fiveRecords = (id: string) =>
  flow(id, [
    { id: 'gen', type: 'test.generate', params: { count: 5 }, next: ['rename'] },
    { id: 'rename', type: 'field.rename', params: { fields: [{ sourceField: 'n', targetField: 'N' }] } },
  ]);

const stateOf = (dataflowId: string) =>
  new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(dataflowId);

const keys = async (prefix: string) =>
  ((await local.env.services.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
    (o) => o.Key,
  );

beforeAll(async () => {
  await local.env.services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

describe('a dry run', () => {
  it('reads every file but deletes none, marks none imported, and writes no output', async () => {
    // Prepare
    const df = importFlow('dry-import');
    for (const name of ['a.csv', 'b.csv'])
      await local.env.services.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `dry-import/in/${name}`, Body: 'email\nx@example.com\n' }),
      );

    // Act
    const dry = await runLocal(df, { services: local.env.services, registry, input: { dryRun: true } });
    const afterDry = { inputs: await keys('dry-import/in/'), outputs: await keys('dry-import/out/') };
    const real = await runLocal(df, { services: local.env.services, registry });

    // Assess
    expect(dry.status, JSON.stringify(dry.error)).toBe('succeeded');
    expect(dry.job?.steps.read?.files?.map((f) => f.name)).toEqual(['a.csv', 'b.csv']);
    expect(dry.job?.steps.write?.wouldWrite?.files.map((f) => f.target)).toEqual([
      `s3://${BUCKET}/dry-import/out/out.csv`,
    ]);
    expect(afterDry).toEqual({ inputs: ['dry-import/in/a.csv', 'dry-import/in/b.csv'], outputs: [] });
    // The real run still finds both files new: the dry run marked neither as imported.
    expect(real.job?.steps.read?.files?.map((f) => f.name)).toEqual(['a.csv', 'b.csv']);
    expect(await keys('dry-import/in/')).toEqual([]);
    expect(await keys('dry-import/out/')).toEqual(['dry-import/out/out.csv']);
  });

  it('runs beside a run that holds the run lock, and leaves that lock as it was', async () => {
    // Prepare
    const state = new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state);
    await state.acquireLock('dry-locked', 'live-run', Date.now(), 3_600_000, { pid: process.pid, host: hostname() });
    const held = await stateOf('dry-locked');

    // Act
    const dry = await runLocal(fiveRecords('dry-locked'), {
      services: local.env.services,
      registry,
      input: { dryRun: true },
    });

    // Assess
    expect(dry.status, JSON.stringify(dry.error)).toBe('succeeded');
    expect(await stateOf('dry-locked')).toEqual(held);
  });

  it('is neither the last successful run nor the last successful test run, and moves no watermark', async () => {
    // Act
    const dry = await runLocal(fiveRecords('dry-state'), {
      services: local.env.services,
      registry,
      input: { dryRun: true },
    });
    const dryTest = await runLocal(fiveRecords('dry-state'), {
      services: local.env.services,
      registry,
      input: { dryRun: true, test: true },
    });

    // Assess
    expect(dry.job).toMatchObject({ status: 'succeeded', dryRun: true, test: false });
    expect(dryTest.job).toMatchObject({ status: 'succeeded', dryRun: true, test: true, totalRecords: 5 });
    expect(await stateOf('dry-state')).toEqual({ dataflowId: 'dry-state' });
  });

  it('is not run again when it fails on a transient cause, and leaves the state as it was', async () => {
    // Act
    const result = await runLocal(fiveRecords('dry-crash'), {
      services: local.env.services,
      registry,
      input: { dryRun: true },
      faults: { crashStepInvocations: [1] },
      attemptBackoffMs: 10,
    });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', attemptNumber: 1, dryRun: true });
    expect(result.job?.trace.join('\n')).toMatch(/not run again: dry runs are not run again/);
    expect(await stateOf('dry-crash')).toEqual({ dataflowId: 'dry-crash' });
  });

  it('fails to start on a dryRun that is not a boolean, naming the field', async () => {
    // Act
    const result = await runLocal(fiveRecords('dry-bad-input'), {
      services: local.env.services,
      registry,
      input: { dryRun: 'yes' } as never,
    });

    // Assess
    expect(result.job).toMatchObject({
      status: 'failed',
      error: { code: 'IDX_INPUT', param: 'dryRun', expected: 'true or false', received: '"yes"' },
    });
    expect(await stateOf('dry-bad-input')).toEqual({ dataflowId: 'dry-bad-input' });
  });
});
