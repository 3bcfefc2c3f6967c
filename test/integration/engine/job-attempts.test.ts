import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { handle } from '../../../lib/engine/handler.ts';
import { type RunEvent, runLocal } from '../../../lib/local/runner.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { runningJobRecord } from '../../support/jobs.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();
const BUCKET = 'attempts-out';

function flow(id: string, steps: unknown[]): Dataflow {
  const { dataflow, problems } = readDataflow({ id, name: id, steps });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

/**
 * A reader that takes three invocations, a CSV of its records, the CSV written to S3 under `prefix`. The reader
 * also feeds a second branch, so its slices are staged and the CSV is formatted once over all of them.
 */
const exportFlow = (id: string, prefix: string, count = 2500) =>
  flow(id, [
    { id: 'gen', type: 'test.generate', params: { count, perInvocation: 1000 }, next: ['csv', 'names'] },
    { id: 'names', type: 'field.select', params: { fields: ['UID'] } },
    {
      id: 'csv',
      type: 'file.format.dsv',
      params: { fileName: 'accounts.csv', columnSeparator: ',', columns: ['UID', 'n', 'profile.email'] },
      next: ['s3'],
    },
    { id: 's3', type: 'datasource.write.amazon.s3', params: { bucketName: BUCKET, objectKeyPrefix: prefix } },
  ]);

const fiveRecords = (id: string) =>
  flow(id, [
    { id: 'gen', type: 'test.generate', params: { count: 5 }, next: ['rename'] },
    { id: 'rename', type: 'field.rename', params: { fields: [{ sourceField: 'n', targetField: 'N' }] } },
  ]);

async function readObject(key: string): Promise<string> {
  const out = await local.env.services.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await out.Body?.transformToString()) ?? '';
}

const lockOf = (dataflowId: string) =>
  new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(dataflowId);

beforeAll(async () => {
  await local.env.services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

describe('a job that fails on a transient cause', () => {
  it('runs again as attempt 2 after its function is killed mid-job, and delivers exactly what a normal run does', async () => {
    // Prepare
    const { services } = local.env;
    const normal = await runLocal(exportFlow('normal-export', 'normal/'), { services, registry });
    const events: RunEvent[] = [];

    // Act: the reader's second slice dies after staging its records, before it answers.
    const crashed = await runLocal(exportFlow('crashed-export', 'crashed/'), {
      services,
      registry,
      faults: { crashStepInvocations: [2] },
      attemptBackoffMs: 10,
      onEvent: (e) => events.push(e),
    });

    // Assess
    expect(normal.status).toBe('succeeded');
    expect(crashed.status, JSON.stringify(crashed.error)).toBe('succeeded');
    expect(crashed.job).toMatchObject({ status: 'succeeded', attemptNumber: 2, totalRecords: 2500 });
    expect(crashed.job?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, error: expect.objectContaining({ name: 'Lambda.Unknown' }) }),
    ]);
    expect(events.filter((e) => e.kind === 'attempt')).toEqual([
      { kind: 'attempt', attempt: 2, waitMs: 10, error: 'Lambda.Unknown' },
    ]);
    // The first slice ran once; the killed slice ran again from the first slice's position, not from the start.
    const started = events.filter((e) => e.kind === 'step-started' && e.stepId === 'gen');
    expect(started.map((e) => (e as { iteration: number }).iteration)).toEqual([0, 1, 1, 2]);
    expect(crashed.job?.steps.gen).toMatchObject({ recordsOut: 2500 });
    const delivered = await readObject('crashed/accounts.csv');
    expect(delivered).toBe(await readObject('normal/accounts.csv'));
    expect(delivered.trim().split('\n')).toHaveLength(2501);
    expect((await lockOf('crashed-export')).lockJobId).toBeUndefined();
    expect((await lockOf('crashed-export')).watermark).toBeDefined();
  });

  it('keeps its id, delta window and run lock between attempts', async () => {
    // Prepare
    const { services } = local.env;
    const locks: Promise<string | undefined>[] = [];
    const df = fiveRecords('same-job');

    // Act
    const result = await runLocal(df, {
      services,
      registry,
      faults: { crashStepInvocations: [1] },
      attemptBackoffMs: 10,
      onEvent: (e) => {
        // Read while the job waits for its next attempt.
        if (e.kind === 'attempt') locks.push(lockOf('same-job').then((s) => s.lockJobId));
      },
    });

    // Assess
    expect(result.status).toBe('succeeded');
    expect(await Promise.all(locks)).toEqual([result.jobId]);
    const job = result.job;
    expect(job?.attemptNumber).toBe(2);
    expect(job?.trace.join('\n')).toMatch(/attempt 1 of 3 failed: Lambda\.Unknown: .*attempt 2 starts in 60 s/);
    const records = await new JobStore(services.dynamo, local.env.config.tables.jobs).list({ dataflowId: 'same-job' });
    expect(records.jobs.map((r) => r.id)).toEqual([result.jobId]);
    expect(job?.delta?.to).toBe(job?.startTime);
    expect((await lockOf('same-job')).lockJobId).toBeUndefined();
  });

  it('gives up after the last attempt, recording every attempt, and releases the lock', async () => {
    // Act
    const result = await runLocal(fiveRecords('always-crashes'), {
      services: local.env.services,
      registry,
      faults: { crashStepInvocations: [1, 2, 3] },
      attemptBackoffMs: 10,
    });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job).toMatchObject({ status: 'failed', attemptNumber: 3, error: { name: 'Lambda.Unknown' } });
    expect(result.job?.attempts?.map((a) => [a.attempt, a.error.name])).toEqual([
      [1, 'Lambda.Unknown'],
      [2, 'Lambda.Unknown'],
      [3, 'Lambda.Unknown'],
    ]);
    expect(result.job?.trace.join('\n')).toMatch(/not run again: no attempts left \(3\)/);
    expect((await lockOf('always-crashes')).lockJobId).toBeUndefined();
  });

  it('takes the number of attempts from the execution input', async () => {
    // Act
    const result = await runLocal(fiveRecords('one-attempt'), {
      services: local.env.services,
      registry,
      input: { maxAttempts: 1 },
      faults: { crashStepInvocations: [1] },
      attemptBackoffMs: 10,
    });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', attemptNumber: 1 });
    expect(result.job?.attempts).toHaveLength(1);
  });

  it('is not run again when it is a test run', async () => {
    // Act
    const result = await runLocal(fiveRecords('test-run-crash'), {
      services: local.env.services,
      registry,
      input: { test: true },
      faults: { crashStepInvocations: [1] },
      attemptBackoffMs: 10,
    });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', attemptNumber: 1, test: true });
    expect(result.job?.trace.join('\n')).toMatch(/not run again: test runs are not run again/);
  });
});

describe('a job that fails on a permanent cause', () => {
  it('is not run again', async () => {
    // Prepare
    const df = flow('permanent-once', [
      { id: 'gen', type: 'test.generate', params: { count: 5 }, next: ['broken'] },
      { id: 'broken', type: 'test.fail', params: { transientTimes: 0 } },
    ]);

    // Act
    const result = await runLocal(df, { services: local.env.services, registry, attemptBackoffMs: 10 });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', attemptNumber: 1, error: { code: 'IDX_INTERNAL' } });
    expect(result.job?.attempts).toHaveLength(1);
    expect(result.job?.trace.join('\n')).toMatch(/not run again: the cause is permanent/);
  });
});

describe('the job record of a failed job', () => {
  it('keeps the records its sources read before a later step failed, as its totals', async () => {
    // Prepare: the reader's records are staged (it feeds two branches), then one branch fails for good.
    const df = flow('fails-after-reading', [
      { id: 'gen', type: 'test.generate', params: { count: 2500, perInvocation: 1000 }, next: ['broken', 'names'] },
      { id: 'names', type: 'field.select', params: { fields: ['UID'] } },
      { id: 'broken', type: 'test.fail', params: { transientTimes: 0 } },
    ]);

    // Act
    const result = await runLocal(df, { services: local.env.services, registry, attemptBackoffMs: 10 });

    // Assess
    expect(result.job?.steps.gen).toMatchObject({ recordsOut: 2500, invocations: 3 });
    expect(result.job).toMatchObject({ status: 'failed', totalRecords: 2500, processedRecords: 2500 });
  });

  it('masks secret values in every field, the error included', async () => {
    // Prepare
    const { services } = local.env;
    const secretHost = 'sftp.hidden-partner.example';
    const secretKey =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';
    services.secrets.redactor.add(secretHost);
    services.secrets.redactor.add(secretKey);
    const job = {
      id: 'masked-job',
      dataflowId: 'masked',
      startTime: new Date().toISOString(),
      test: false,
      fullExtract: true,
      logLevel: 'info' as const,
      attempt: 1,
    };
    await new JobStore(services.dynamo, local.env.config.tables.jobs).create({
      ...job,
      status: 'running',
      createTime: job.startTime,
      updateTime: job.startTime,
      totalRecords: 0,
      processedRecords: 0,
      attemptNumber: 1,
      trace: [],
      steps: {},
    });
    const cause = {
      code: 'IDX_SFTP_AUTH',
      message: `login to ${secretHost} refused`,
      received: secretHost,
      details: { key: secretKey, tried: [`${secretHost}:22`] },
    };

    // Act
    await new JobStore(services.dynamo, local.env.config.tables.jobs, services.secrets.redactor).recordStep(
      job.id,
      {
        stepId: 'upload',
        type: 'datasource.write.sftp',
        recordsIn: 0,
        recordsOut: 0,
        recordsRejected: 0,
        recordsDropped: 0,
        bytesIn: 0,
        bytesOut: 0,
        filesIn: 0,
        filesOut: 1,
        invocations: 1,
        durationMs: 1,
        files: [{ name: `sftp://${secretHost}/out.csv`, size: 1 }],
        updateTime: job.startTime,
      },
      [],
    );
    await handle(
      {
        action: 'fail',
        job,
        dataflow: { id: 'masked', name: 'masked' },
        input: {},
        execution: { Name: job.id },
        error: { Error: 'IdxError', Cause: JSON.stringify(cause) },
        retry: { maxAttempts: 3, backoffSeconds: 1 },
      },
      services,
      registry,
      { deadline: Date.now() + 10_000, echo: false },
    );

    // Assess
    const record = await new JobStore(services.dynamo, local.env.config.tables.jobs).get(job.id);
    const text = JSON.stringify(record);
    expect(record?.error).toMatchObject({ code: 'IDX_SFTP_AUTH', message: 'login to *** refused' });
    expect(record?.steps.upload?.files).toEqual([{ name: 'sftp://***/out.csv', size: 1 }]);
    expect(text).not.toContain(secretHost);
    expect(text).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA');
  });
});

describe('the run lock', () => {
  it('is taken over when the local process that held it is gone, and that job ends as killed', async () => {
    // Prepare
    const { services } = local.env;
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const state = new DataflowStateStore(services.dynamo, local.env.config.tables.state);
    const jobs = new JobStore(services.dynamo, local.env.config.tables.jobs);
    await jobs.create(runningJobRecord('dead-run', 'stale-lock'));
    await state.acquireLock('stale-lock', 'dead-run', Date.now(), 3_600_000, { pid: gone, host: hostname() });

    // Act
    const result = await runLocal(fiveRecords('stale-lock'), { services, registry });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(await jobs.get('dead-run')).toMatchObject({ status: 'killed', error: { code: 'IDX_EXECUTION_ABORTED' } });
    expect((await state.get('stale-lock')).lockJobId).toBeUndefined();
  });

  it('is not taken over while the process that holds it runs', async () => {
    // Prepare
    const { services } = local.env;
    const state = new DataflowStateStore(services.dynamo, local.env.config.tables.state);
    await state.acquireLock('live-lock', 'live-run', Date.now(), 3_600_000, { pid: process.pid, host: hostname() });

    // Act
    const result = await runLocal(fiveRecords('live-lock'), { services, registry });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', error: { code: 'IDX_RUN_LOCKED' } });
    expect((await state.get('live-lock')).lockJobId).toBe('live-run');
  });

  it('is released, and the job ends as killed, when a local run is interrupted', async () => {
    // Prepare
    const stop = new AbortController();

    // Act: interrupted while the reader's second slice runs.
    const result = await runLocal(exportFlow('interrupted', 'interrupted/'), {
      services: local.env.services,
      registry,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind === 'step-started' && e.iteration === 1) stop.abort();
      },
    });

    // Assess
    expect(result.status).toBe('killed');
    expect(result.job).toMatchObject({ status: 'killed', error: { code: 'IDX_EXECUTION_ABORTED' } });
    expect(result.job?.endTime).toBeDefined();
    const state = await lockOf('interrupted');
    expect(state.lockJobId).toBeUndefined();
    expect(state.watermark).toBeUndefined();
  });
});
