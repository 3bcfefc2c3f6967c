/**
 * The local runner: compiles a dataflow and executes *that* ASL definition with aws-local-stepfunctions, each
 * Task bound in-process to the same {@link handle} the Lambda calls. Only the endpoints differ from AWS.
 */
import './polyfills.ts';
import { randomBytes } from 'node:crypto';
import { type AslDefinition, type CompileOptions, compile, JOB_STATES, taskStateNames } from '../compiler/compile.ts';
import type { ExecutionInput, FailOutcome } from '../core/events.ts';
import type { StepCounters, StepResult } from '../core/refs.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Services } from '../core/services.ts';
import { formatDate } from '../dataflow/placeholders.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { handle } from '../engine/handler.ts';
import { endAbandonedJob } from '../engine/job.ts';
import { type JobRecord, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';

/** Progress of a local run, for the CLI's live display. */
export type RunEvent =
  | { readonly kind: 'job-started'; readonly jobId: string }
  | { readonly kind: 'step-started'; readonly stepId: string; readonly type: string; readonly iteration: number }
  /** A running step's counters over all its invocations so far; `elapsedMs`: how long its Task ran so far. */
  | {
      readonly kind: 'step-progress';
      readonly stepId: string;
      readonly counters: StepCounters;
      readonly elapsedMs?: number;
    }
  | { readonly kind: 'step-finished'; readonly result: StepResult }
  | { readonly kind: 'retry'; readonly state: string; readonly error: string }
  /** The job failed on a transient cause and runs again as `attempt` after `waitMs` (the local backoff). */
  | { readonly kind: 'attempt'; readonly attempt: number; readonly waitMs: number; readonly error: string }
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
  /** How often a running step writes its counters so far to the job record. @default 10000 ms, as deployed */
  readonly recordProgressMs?: number;
  /** How a job that failed on a transient cause runs again (the compiler's policy). */
  readonly attempts?: CompileOptions['attempts'];
  /** The pause before a job's next attempt, instead of the deployed backoff (minutes). @default 1000 ms */
  readonly attemptBackoffMs?: number;
  /**
   * Stops the run (Ctrl-C, SIGTERM): the execution is aborted, its job ends as `killed` and its run lock is
   * released. A step already running is not interrupted; what it writes after the abort is not recorded.
   */
  readonly signal?: AbortSignal;
  /** Injected faults, for tests of what survives a crash. */
  readonly faults?: LocalFaults;
}

/** Faults the local runner injects, as Lambda would see them. */
export interface LocalFaults {
  /**
   * The step invocations (1-based, counted over the whole execution) whose function dies after doing its work
   * but before answering, as a Lambda killed mid-slice does: what the slice staged or delivered stays, its
   * result is lost, and the Task fails with `Lambda.Unknown`.
   */
  readonly crashStepInvocations?: readonly number[];
  /**
   * Counts for {@link crashStepInvocations} only the invocations that run this step (alone or fused with
   * others), so a fault can target one step whatever states the compiler puts before it.
   */
  readonly crashCountsOnlyStep?: string;
}

/** The outcome of a local run. */
export interface LocalRunResult {
  readonly jobId: string;
  readonly status: 'succeeded' | 'failed' | 'killed';
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
    ...(options.attempts ? { attempts: options.attempts } : {}),
  });
  const jobId = options.jobId ?? newJobId();
  const budget = options.invocationBudgetMs ?? 810_000;
  const emit = options.onEvent ?? (() => undefined);
  let stepInvocations = 0;
  const invoke = async (input: { Payload: Record<string, unknown> }) => {
    const payload = input.Payload;
    const steps =
      payload.action === 'step'
        ? ([payload.step, ...((payload.fused as unknown[] | undefined) ?? [])] as { id: string; type: string }[])
        : [];
    const only = options.faults?.crashCountsOnlyStep;
    const counted = payload.action === 'step' && (only === undefined || steps.some((s) => s.id === only));
    const crash = counted && options.faults?.crashStepInvocations?.includes(++stepInvocations);
    if (payload.action === 'step') {
      const previous = payload.previous as { iteration?: number } | undefined;
      for (const step of steps)
        emit({ kind: 'step-started', stepId: step.id, type: step.type, iteration: previous?.iteration ?? 0 });
    }
    const result = await handle(payload as never, options.services, options.registry, {
      deadline: Date.now() + budget,
      echo: options.echo ?? false,
      // A partition's counters are a part of its step's; the join's result reports the step.
      onProgress: (stepId, counters, elapsedMs) => {
        if (payload.partition === undefined)
          emit({ kind: 'step-progress', stepId, counters, ...(elapsedMs === undefined ? {} : { elapsedMs }) });
      },
      progressIntervalMs: options.progressIntervalMs ?? 2000,
      ...(options.recordProgressMs === undefined ? {} : { recordProgressMs: options.recordProgressMs }),
    });
    if (crash) {
      // What Lambda reports when the runtime dies before it answers (killed, out of memory, a crash).
      const error = new Error(
        JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited with error: signal: killed' }),
      );
      error.name = 'Lambda.Unknown';
      throw error;
    }
    if (payload.action === 'start') emit({ kind: 'job-started', jobId });
    if (payload.action === 'fail') {
      const outcome = result as FailOutcome;
      if (outcome.retry) {
        const error = outcome.error as { code?: unknown; name?: unknown };
        emit({
          kind: 'attempt',
          attempt: outcome.job.attempt,
          waitMs: options.attemptBackoffMs ?? 1000,
          error: String(error.code ?? error.name),
        });
      }
    }
    // A partition's result is a part of its step's: the join's is the step's.
    if (payload.action === 'join') emit({ kind: 'step-finished', result: result as StepResult });
    if (payload.action === 'step' && payload.partition === undefined) {
      const { chain, ...head } = result as StepResult;
      for (const r of [head, ...(chain ?? [])]) emit({ kind: 'step-finished', result: r as StepResult });
    }
    return { Payload: result };
  };
  const tasks = taskStateNames(definition);
  // Loaded here, not with the module: only a run needs it, and loading it took a tenth of every CLI command's start
  // (`idx --version`: 0.84 s of wall time, 1.12 CPU s, before; 0.76 to 0.80 s, 0.98 to 1.04 CPU s, after).
  const { StateMachine } = await import('aws-local-stepfunctions');
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(
    (options.input ?? {}) as never,
    {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(tasks.map((t) => [t, invoke])),
        retryIntervalOverrides: Object.fromEntries(tasks.map((t) => [t, options.retryIntervalMs ?? 200])),
        waitTimeOverrides: { [JOB_STATES.backoff]: options.attemptBackoffMs ?? 1000 },
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
  const abort = () => execution.abort();
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  let status: LocalRunResult['status'] = 'succeeded';
  let error: LocalRunResult['error'];
  try {
    await execution.result;
  } catch (e) {
    status = options.signal?.aborted ? 'killed' : 'failed';
    const cause = (e as { cause?: { name?: string; message?: string } }).cause;
    error = { Error: cause?.name ?? (e as Error).name, Cause: cause?.message ?? (e as Error).message };
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
  await watch;
  const jobs = new JobStore(options.services.dynamo, options.services.config.tables.jobs);
  if (status === 'killed') {
    // The execution stopped between states: no failure state ran, so the job is ended and unlocked here, as the
    // deployed finalizer does for an aborted execution.
    await endAbandonedJob(jobs, jobId, 'the run was interrupted');
    await new DataflowStateStore(options.services.dynamo, options.services.config.tables.state).releaseLock(
      dataflow.id,
      jobId,
    );
  }
  emit({ kind: 'job-finished', status });
  const job = await jobs.get(jobId);
  return { jobId, status, job, definition, ...(error ? { error } : {}) };
}
