import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StartEvent } from '../../../lib/core/events.ts';
import { type StepCounters, type StepResult, zeroCounters } from '../../../lib/core/refs.ts';
import type { JobContext } from '../../../lib/core/script.ts';
import { handle } from '../../../lib/engine/handler.ts';
import { checkDelivery } from '../../../lib/engine/job.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();

/** A finished step's result with these counters. */
function result(stepId: string, type: string, counters: Partial<StepCounters>): StepResult {
  return {
    stepId,
    type,
    out: { kind: 'nothing' },
    rejected: { kind: 'records', parts: [], count: 0 },
    counters: { ...zeroCounters(), invocations: 1, ...counters },
    done: true,
    iteration: 1,
  };
}

/** Starts a job of a new dataflow through the engine's handler, as the state machine does. */
async function start(): Promise<JobContext> {
  const event: StartEvent = {
    action: 'start',
    dataflow: { id: `flow-${randomUUID()}`, name: 'delivery', schedules: [] },
    input: {},
    execution: { Name: randomUUID(), StartTime: new Date().toISOString() },
  };
  return (await handle(event, local.env.services, registry, {
    deadline: Date.now() + 60_000,
    echo: false,
  })) as JobContext;
}

describe('checkDelivery', () => {
  it('accepts writers that delivered what they received minus what they rejected and dropped', () => {
    // Prepare
    const results = [
      result('read', 'datasource.read.gigya.account', { recordsOut: 10 }),
      result('to gigya', 'datasource.write.gigya.account', {
        recordsIn: 10,
        recordsOut: 8,
        recordsRejected: 2,
        recordsDelivered: 8,
      }),
      result('to sftp', 'datasource.write.sftp', { filesIn: 1, bytesIn: 120, filesOut: 1, bytesDelivered: 120 }),
    ];

    // Act
    const check = () => checkDelivery(results);

    // Assess
    expect(check).not.toThrow();
  });

  it('fails a file writer whose target holds fewer bytes than it received, naming the step', () => {
    // Prepare
    const results = [
      result('to sftp', 'datasource.write.sftp', { filesIn: 2, bytesIn: 120, filesOut: 1, bytesDelivered: 60 }),
    ];

    // Act
    const check = () => checkDelivery(results);

    // Assess
    expect(check).toThrow(
      expect.objectContaining({
        code: 'IDX_DELIVERY_SHORTFALL',
        location: expect.objectContaining({ stepId: 'to sftp' }),
        expected: '120 bytes delivered',
        received: '60 bytes',
      }),
    );
  });
});

describe('completing a job', () => {
  it('fails, and leaves the watermark where it was, when a writer delivered fewer records than it counted', async () => {
    // Prepare
    const job = await start();
    const results = {
      s0: result('read', 'datasource.read.gigya.account', { recordsOut: 5000 }),
      s1: result('to gigya', 'datasource.write.gigya.account', {
        recordsIn: 5000,
        recordsOut: 5000,
        recordsDelivered: 1001,
        invocations: 5,
      }),
    };

    // Act
    const completion = handle({ action: 'complete', job, results }, local.env.services, registry, {
      deadline: Date.now() + 60_000,
      echo: false,
    });
    const failure: Error = await completion.then(
      () => new Error('the job completed'),
      (error: unknown) => error as Error,
    );
    // The state machine's Catch hands the failure to the fail action.
    await handle(
      {
        action: 'fail',
        job,
        dataflow: { id: job.dataflowId, name: 'delivery' },
        input: {},
        execution: { Name: job.id },
        error: { Error: failure.name, Cause: failure.message },
      },
      local.env.services,
      registry,
      { deadline: Date.now() + 60_000, echo: false },
    );

    // Assess
    expect(JSON.parse(failure.message)).toMatchObject({
      code: 'IDX_DELIVERY_SHORTFALL',
      message: expect.stringContaining(
        'step "to gigya" (datasource.write.gigya.account) delivered 1001 of 5000 records',
      ),
    });
    const state = await new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(
      job.dataflowId,
    );
    expect(state.watermark).toBeUndefined();
    const record = await new JobStore(local.env.services.dynamo, local.env.config.tables.jobs).get(job.id);
    expect(record?.status).toBe('failed');
  });

  it('succeeds and moves the watermark when every writer delivered what it received', async () => {
    // Prepare
    const job = await start();
    const results = {
      s0: result('read', 'datasource.read.gigya.account', { recordsOut: 5000 }),
      s1: result('to gigya', 'datasource.write.gigya.account', {
        recordsIn: 5000,
        recordsOut: 5000,
        recordsDelivered: 5000,
      }),
    };

    // Act
    const outcome = await handle({ action: 'complete', job, results }, local.env.services, registry, {
      deadline: Date.now() + 60_000,
      echo: false,
    });

    // Assess
    expect(outcome).toMatchObject({ status: 'succeeded', totalRecords: 5000 });
    const state = await new DataflowStateStore(local.env.services.dynamo, local.env.config.tables.state).get(
      job.dataflowId,
    );
    expect(state.watermark).toBeDefined();
  });
});
