import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { StepEvent } from '../../../lib/core/events.ts';
import type { StepResult } from '../../../lib/core/refs.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { handle } from '../../../lib/engine/handler.ts';
import { type RunEvent, runLocal } from '../../../lib/local/runner.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment({ watermarkOverlapMs: 60_000 });
const registry = testRegistry();

function flow(id: string, steps: unknown[]): Dataflow {
  const { dataflow, problems } = readDataflow({ id, name: id, steps });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

const splitFlow = (id: string, count = 2500) =>
  flow(id, [
    { id: 'gen', type: 'test.generate', params: { count, perInvocation: 1000 }, next: ['rename', 'rej'] },
    {
      id: 'rename',
      type: 'field.rename',
      params: { fields: [{ sourceField: 'profile.email', targetField: 'MAIL' }] },
      next: ['remove'],
    },
    { id: 'rej', type: 'test.reject', params: { every: 100 }, next: ['remove'], error: ['remove'] },
    { id: 'remove', type: 'field.remove', params: { fields: ['profile'] } },
  ]);

describe('runLocal', () => {
  it('runs a split, an error path, a fan-in and a continuing reader, accounting for every record', async () => {
    // Prepare
    const events: RunEvent[] = [];

    // Act
    const result = await runLocal(splitFlow('split'), {
      services: local.env.services,
      registry,
      onEvent: (e) => events.push(e),
    });

    // Assess
    expect(result.status).toBe('succeeded');
    const steps = result.job?.steps ?? {};
    expect(steps.gen).toMatchObject({ recordsOut: 2500, invocations: 3 });
    expect(steps.rej).toMatchObject({ recordsIn: 2500, recordsOut: 2475, recordsRejected: 25 });
    expect(steps.remove).toMatchObject({ recordsIn: 2500 + 2475 + 25, recordsOut: 5000 });
    for (const s of Object.values(steps).filter((x) => x.type !== 'test.generate')) {
      expect(s.recordsIn).toBe(s.recordsOut + s.recordsRejected + s.recordsDropped);
    }
    expect(result.job).toMatchObject({
      status: 'succeeded',
      totalRecords: 2500,
      processedRecords: 2475,
      attemptNumber: 1,
    });
    expect(steps.rej?.rejectedLocation).toMatch(/^s3:\/\/identity-sync-stage\/stage\/split\//);
    expect(events.filter((e) => e.kind === 'step-started').length).toBe(6);
  });

  it('moves the watermark to the job start minus the overlap after a successful run', async () => {
    // Act
    const result = await runLocal(splitFlow('watermark', 10), { services: local.env.services, registry });

    // Assess
    const state = await new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(
      'watermark',
    );
    expect(state.watermark).toBe(new Date(Date.parse(result.job!.startTime) - 60_000).toISOString());
    expect(state.lockJobId).toBeUndefined();
  });

  it('runs a test run on 10 records and leaves the watermark alone', async () => {
    // Prepare
    const store = new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state);
    await runLocal(splitFlow('testrun', 50), { services: local.env.services, registry });
    const before = await store.get('testrun');

    // Act
    const result = await runLocal(splitFlow('testrun', 50), {
      services: local.env.services,
      registry,
      input: { test: true },
    });

    // Assess
    expect(result.job).toMatchObject({ status: 'succeeded', test: true, limit: 10, totalRecords: 10 });
    expect((await store.get('testrun')).watermark).toBe(before.watermark);
  });

  it('retries a transient failure and succeeds', async () => {
    // Prepare
    const df = flow('transient', [
      { id: 'gen', type: 'test.generate', params: { count: 5 }, next: ['flaky'] },
      { id: 'flaky', type: 'test.fail', params: { transientTimes: 2 } },
    ]);
    const events: RunEvent[] = [];

    // Act
    const result = await runLocal(df, {
      services: local.env.services,
      registry,
      onEvent: (e) => events.push(e),
      retryIntervalMs: 10,
    });

    // Assess
    expect(result.status).toBe('succeeded');
    expect(events.filter((e) => e.kind === 'retry').map((e) => (e as { error: string }).error)).toEqual([
      'IdxTransientError',
      'IdxTransientError',
    ]);
  });

  it('records a permanent failure with its code, releases the lock and keeps the watermark', async () => {
    // Prepare
    const df = flow('permanent', [
      { id: 'gen', type: 'test.generate', params: { count: 5 }, next: ['broken'] },
      { id: 'broken', type: 'test.fail', params: { transientTimes: 0 } },
    ]);

    // Act
    const result = await runLocal(df, { services: local.env.services, registry });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job).toMatchObject({
      status: 'failed',
      error: { code: 'IDX_INTERNAL', message: 'simulated permanent failure' },
    });
    expect(result.job?.endTime).toBeDefined();
    const state = await new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(
      'permanent',
    );
    expect(state.lockJobId).toBeUndefined();
    expect(state.watermark).toBeUndefined();
  });

  it('fails fast with IDX_RUN_LOCKED when another run holds the lock', async () => {
    // Prepare
    const store = new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state);
    await store.acquireLock('locked', 'other-job', Date.now(), 60_000);

    // Act
    const result = await runLocal(splitFlow('locked', 5), { services: local.env.services, registry });

    // Assess
    expect(result.status).toBe('failed');
    expect(result.job).toMatchObject({ status: 'failed', error: { code: 'IDX_RUN_LOCKED' } });
    expect((await store.get('locked')).lockJobId).toBe('other-job');
  });

  it('rejects a bad execution input with a coded error', async () => {
    // Act
    const result = await runLocal(splitFlow('badinput', 5), {
      services: local.env.services,
      registry,
      input: { limit: -3 },
    });

    // Assess
    expect(result.job).toMatchObject({ status: 'failed', error: { code: 'IDX_INPUT', param: 'limit' } });
  });
});

describe('runStep', () => {
  it('overwrites its staged objects when retried instead of duplicating them', async () => {
    // Prepare
    const { services } = local.env;
    const job = {
      id: 'retry-job',
      dataflowId: 'retry',
      startTime: new Date().toISOString(),
      test: false,
      fullExtract: true,
      logLevel: 'info' as const,
      attempt: 1,
    };
    await services.dynamo.send(
      new (await import('@aws-sdk/lib-dynamodb')).PutCommand({
        TableName: services.config.tables.jobs,
        Item: { id: job.id, dataflowId: 'retry', startTime: job.startTime, steps: {}, trace: [] },
      }),
    );
    const event: StepEvent = {
      action: 'step',
      job,
      step: { id: 'gen', type: 'test.generate', key: 's0', params: { count: 250_000 } },
      inputs: {},
    };
    const list = async () =>
      (
        await services.s3.send(
          new ListObjectsV2Command({ Bucket: services.config.stageBucket, Prefix: 'stage/retry/' }),
        )
      ).Contents?.map((o) => o.Key);

    // Act
    const first = (await handle(event, services, registry, {
      deadline: Date.now() + 60_000,
      echo: false,
    })) as StepResult;
    const keysAfterFirst = await list();
    const second = (await handle(event, services, registry, {
      deadline: Date.now() + 60_000,
      echo: false,
    })) as StepResult;

    // Assess
    expect(await list()).toEqual(keysAfterFirst);
    expect(keysAfterFirst).toHaveLength(3);
    expect(second.out).toEqual({
      ...first.out,
      parts: first.out.kind === 'records' ? first.out.parts.map((p) => ({ ...p })) : [],
    });
  });
});
