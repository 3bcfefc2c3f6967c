/**
 * The two actions around a partitioned reader's Map state: `partitions` asks the script for its plan (the items
 * the Map iterates), and `join` makes the step's one result of the iterations' results, so that the steps after it
 * see one staged record stream: the partitions' parts in partition order, each partition's parts in its own
 * (cursor) order. The iterations themselves are ordinary step invocations (runStep) with a partition.
 */
import { IdxError, locateError } from '../core/errors.ts';
import type { JoinEvent, PartitionPlanResult, PartitionsEvent } from '../core/events.ts';
import { jobPrefix } from '../core/keys.ts';
import { type RecordsRef, type StepCounters, type StepResult, zeroCounters } from '../core/refs.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { MAX_MAP_PARTITIONS, type PartitionItem } from '../core/script.ts';
import type { Services } from '../core/services.ts';
import { JobStore } from '../stores/jobs.ts';
import { type RunStepOptions, stepLogger, withStepInstance } from './runner.ts';

/** Plans a partitioned reader's read: the items of its Map state, in output order. */
export async function planStepPartitions(
  event: PartitionsEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<PartitionPlanResult> {
  const { job, step } = event;
  const log = stepLogger(job, step.id, services, options);
  let items: readonly PartitionItem[] = [{ index: 0 }];
  try {
    items = await withStepInstance({ job, step, services, registry, options, log }, async (instance) =>
      instance.partitions ? instance.partitions() : items,
    );
  } catch (error) {
    throw locateError(error, { stepId: step.id, dataflowId: job.dataflowId });
  } finally {
    await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).appendTrace(
      job.id,
      log.trace,
    );
  }
  if (items.length < 1 || items.length > MAX_MAP_PARTITIONS || items.some((item, i) => item.index !== i)) {
    throw new IdxError('IDX_PARTITION_PLAN', `step "${step.id}" planned partitions a Map state cannot read`, {
      stepId: step.id,
      dataflowId: job.dataflowId,
      expected: `1 to ${MAX_MAP_PARTITIONS} partitions numbered 0, 1, 2, … in order`,
      received: `${items.length} partition(s)`,
    });
  }
  return { items };
}

/** The records of several results, in order, as one staged stream. */
function concatRecords(refs: readonly RecordsRef[]): RecordsRef {
  return {
    kind: 'records',
    parts: refs.flatMap((r) => r.parts),
    count: refs.reduce((n, r) => n + r.count, 0),
  };
}

/**
 * Every counter summed over the partitions: records, pages and the records each partition's source said it holds
 * add up, as the partitions are disjoint; durations add up to the Lambda time the partitions took in all.
 */
function sumCounters(all: readonly StepCounters[]): StepCounters {
  const out = zeroCounters();
  for (const c of all) {
    for (const [k, v] of Object.entries(c) as [keyof StepCounters, number | undefined][]) {
      if (typeof v === 'number') out[k] = (out[k] ?? 0) + v;
    }
  }
  return out;
}

/** Joins a partitioned reader's iterations into the step's result, and records it in the job. */
export async function joinPartitions(event: JoinEvent, services: Services): Promise<StepResult> {
  const { job, step, results } = event;
  if (!Array.isArray(results) || results.some((r) => r.out?.kind !== 'records' || r.done !== true)) {
    throw new IdxError('IDX_PARTITION_PLAN', `step "${step.id}": a partition did not finish with staged records`, {
      stepId: step.id,
      dataflowId: job.dataflowId,
      expected: 'one finished result of staged records per partition',
      received: JSON.stringify(results?.map((r) => ({ out: r.out?.kind, done: r.done }))),
    });
  }
  const out = concatRecords(results.map((r) => r.out as RecordsRef));
  const rejected = concatRecords(results.map((r) => r.rejected));
  const counters = sumCounters(results.map((r) => r.counters));
  const limitReached = job.limit !== undefined && counters.recordsOut + counters.recordsRejected >= job.limit;
  const result: StepResult = {
    stepId: step.id,
    type: step.type,
    out,
    rejected,
    counters,
    done: true,
    iteration: results.reduce((n, r) => n + r.iteration, 0),
    ...(limitReached ? { limitReached: true as const } : {}),
  };
  const line = `${new Date().toISOString()} INFO [${step.id}] ${results.length} partition(s) joined in order: ${counters.recordsOut} records in ${out.parts.length} staged part(s), ${counters.invocations} invocation(s)`;
  await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).recordStep(
    job.id,
    {
      stepId: step.id,
      type: step.type,
      ...counters,
      ...(limitReached ? { limitReached: true as const } : {}),
      ...(rejected.count > 0
        ? {
            rejectedLocation: `s3://${services.config.stageBucket}/${jobPrefix(job.dataflowId, job.id)}${step.key}/`,
          }
        : {}),
      updateTime: new Date().toISOString(),
    },
    [line],
  );
  return result;
}
