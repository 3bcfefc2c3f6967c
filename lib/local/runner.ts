/**
 * The local runner: compiles a dataflow and executes *that* ASL definition with aws-local-stepfunctions, each
 * Task bound in-process to the same {@link handle} the Lambda calls. Only the endpoints differ from AWS.
 */
import './polyfills.ts';
import { randomBytes } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { type AslDefinition, compile, taskStateNames } from '../compiler/compile.ts';
import type { ExecutionInput } from '../core/events.ts';
import type { StepCounters, StepResult } from '../core/refs.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Services } from '../core/services.ts';
import { formatDate } from '../dataflow/placeholders.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { handle } from '../engine/handler.ts';
import { type JobRecord, JobStore } from '../stores/jobs.ts';

/** Progress of a local run, for the CLI's live display. */
export type RunEvent =
  | { readonly kind: 'job-started'; readonly jobId: string }
  | { readonly kind: 'step-started'; readonly stepId: string; readonly type: string; readonly iteration: number }
  | { readonly kind: 'step-progress'; readonly stepId: string; readonly counters: StepCounters }
  | { readonly kind: 'step-finished'; readonly result: StepResult }
  | { readonly kind: 'retry'; readonly state: string; readonly error: string }
  | { readonly kind: 'job-finished'; readonly status: string };

/** Options of {@link runLocal}. */
export interface LocalRunOptions {
  readonly services: Services;
  readonly registry: ScriptRegistry;
  readonly input?: ExecutionInput;
  /** The job id (execution name). @default `local-<yyyyMMddHHmmss>-<random>` */
  readonly jobId?: string;
  readonly onEvent?: (event: RunEvent) => void;
  /** Pause between retries of transient failures, instead of the deployed backoff. @default 200 ms */
  readonly retryIntervalMs?: number;
  /**
   * Time budget of every step invocation (the Lambda's 15 minutes, less a margin): each step stops once it passed
   * and continues in another invocation, so a budget of 1 ms runs every continuation path. @default 13.5 min
   */
  readonly invocationBudgetMs?: number;
  /** Write JSON log lines to stdout as Lambda would. @default false */
  readonly echo?: boolean;
  /** How often a running step reports its counters (`step-progress`). @default 2000 ms */
  readonly progressIntervalMs?: number;
}

/** The outcome of a local run. */
export interface LocalRunResult {
  readonly jobId: string;
  readonly status: 'succeeded' | 'failed';
  /** The job record as stored in the jobs table. */
  readonly job: JobRecord | undefined;
  readonly definition: AslDefinition;
  /** The execution error when the run failed. */
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

/** A fresh local job id: sortable and unique. */
export function newJobId(now = new Date()): string {
  return `local-${formatDate(now, 'yyyyMMddHHmmss')}-${randomBytes(3).toString('hex')}`;
}

/** Runs a dataflow locally through its compiled state machine; resolves when the execution ends. */
export async function runLocal(dataflow: Dataflow, options: LocalRunOptions): Promise<LocalRunResult> {
  const definition = compile(dataflow, options.registry, {
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:identity-sync-step',
  });
  const jobId = options.jobId ?? newJobId();
  const budget = options.invocationBudgetMs ?? 810_000;
  const emit = options.onEvent ?? (() => undefined);
  const invoke = async (input: { Payload: Record<string, unknown> }) => {
    const payload = input.Payload;
    if (payload.action === 'step') {
      const steps = [payload.step, ...((payload.fused as unknown[] | undefined) ?? [])] as {
        id: string;
        type: string;
      }[];
      const previous = payload.previous as { iteration?: number } | undefined;
      for (const step of steps)
        emit({ kind: 'step-started', stepId: step.id, type: step.type, iteration: previous?.iteration ?? 0 });
    }
    const result = await handle(payload as never, options.services, options.registry, {
      deadline: Date.now() + budget,
      echo: options.echo ?? false,
      onProgress: (stepId, counters) => emit({ kind: 'step-progress', stepId, counters }),
      progressIntervalMs: options.progressIntervalMs ?? 2000,
    });
    if (payload.action === 'start') emit({ kind: 'job-started', jobId });
    if (payload.action === 'step') {
      const { chain, ...head } = result as StepResult;
      for (const r of [head, ...(chain ?? [])]) emit({ kind: 'step-finished', result: r as StepResult });
    }
    return { Payload: result };
  };
  const tasks = taskStateNames(definition);
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(
    (options.input ?? {}) as never,
    {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(tasks.map((t) => [t, invoke])),
        retryIntervalOverrides: Object.fromEntries(tasks.map((t) => [t, options.retryIntervalMs ?? 200])),
      },
      context: {
        Execution: { Name: jobId, Id: `arn:aws:states:us-east-1:000000000000:execution:${dataflow.id}:${jobId}` },
      },
    } as never,
  );
  const watch = (async () => {
    // A retry event does not carry the error; the failure event just before it does.
    const lastError = new Map<string, string>();
    for await (const e of execution.eventLogs as AsyncIterable<Record<string, unknown>>) {
      const state = (e.state as { name?: string } | undefined)?.name ?? '';
      if (e.type === 'StateFailed') lastError.set(state, String(e.Error ?? ''));
      if (e.type === 'StateRetried') emit({ kind: 'retry', state, error: lastError.get(state) ?? '' });
    }
  })().catch(() => undefined);
  let status: 'succeeded' | 'failed' = 'succeeded';
  let error: LocalRunResult['error'];
  try {
    await execution.result;
  } catch (e) {
    status = 'failed';
    const cause = (e as { cause?: { name?: string; message?: string } }).cause;
    error = { Error: cause?.name ?? (e as Error).name, Cause: cause?.message ?? (e as Error).message };
  }
  await watch;
  emit({ kind: 'job-finished', status });
  const job = await new JobStore(options.services.dynamo, options.services.config.tables.jobs).get(jobId);
  return { jobId, status, job, definition, ...(error ? { error } : {}) };
}
