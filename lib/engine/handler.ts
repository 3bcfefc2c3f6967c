/**
 * One entry point for every action of the compiled state machine. The Lambda handler and the local runner
 * both call {@link handle}, so the deployed and the local code paths are the same.
 */
import { IdxError, TRANSIENT_ERROR_NAME } from '../core/errors.ts';
import type { EngineEvent } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Services } from '../core/services.ts';
import { checkDelivery, collectResults, completeJob, failJob, startJob } from './job.ts';
import { joinPartitions, planStepPartitions } from './partitions.ts';
import { type RunStepOptions, runAfterJob, runStep } from './runner.ts';

/**
 * An error as it leaves the step function: its `name` is what Retry/Catch match; its message is the JSON of
 * the coded error, so the failure handler can record code, step and parameter from the Catch's Cause.
 */
export class StepFailure extends Error {
  constructor(name: string, payload: Record<string, unknown>) {
    super(JSON.stringify(payload));
    this.name = name;
  }
}

/** Converts any thrown value into a {@link StepFailure}. */
export function toStepFailure(error: unknown): StepFailure {
  if (error instanceof StepFailure) return error;
  if (error instanceof IdxError) return new StepFailure(error.name, error.toJSON());
  const e = error as Error;
  const transient = /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|ECONNREFUSED/i.test(
    `${e?.message ?? ''} ${(e as { code?: string })?.code ?? ''}`,
  );
  return new StepFailure(transient ? TRANSIENT_ERROR_NAME : 'Error', {
    code: transient ? 'IDX_NETWORK' : 'IDX_INTERNAL',
    message: e?.message ?? String(error),
    transient,
  });
}

/** Dispatches one event. */
export async function handle(
  event: EngineEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<unknown> {
  try {
    switch (event.action) {
      case 'start':
        return await startJob(event, services, options.echo ?? true);
      case 'step':
        return await runStep(event, services, registry, options);
      case 'partitions':
        return await planStepPartitions(event, services, registry, options);
      case 'join':
        return await joinPartitions(event, services);
      case 'check':
        checkDelivery(collectResults(event.results));
        return { ok: true };
      case 'after':
        return await runAfterJob(event, services, registry, options);
      case 'complete':
        return await completeJob(event, services, options.echo ?? true);
      case 'fail':
        return await failJob(event, services, options.echo ?? true);
      default:
        throw new IdxError('IDX_EVENT', 'the step function received an event with an unknown action', {
          expected: 'start, step, partitions, join, check, after, complete or fail',
          received: String((event as { action?: unknown }).action),
        });
    }
  } catch (error) {
    throw toStepFailure(error);
  }
}
