/**
 * The job lifecycle around the steps: start (run lock, delta window, job record), complete (totals, watermark,
 * unlock) and fail (error; then either another attempt, keeping the lock, or the end, releasing it). The
 * watermark moves only when a non-test, non-limited run succeeds, to the time the run started minus an overlap,
 * because search results lag writes.
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ERROR_CODES, isIdxErrorCode, TRANSIENT_ERROR_NAME } from '../core/error-codes.ts';
import { IdxError, showValue } from '../core/errors.ts';
import type {
  AttemptPolicy,
  CompleteEvent,
  ExecutionInput,
  FailEvent,
  FailOutcome,
  ScheduleSummary,
  StartEvent,
} from '../core/events.ts';
import { jobPrefix } from '../core/keys.ts';
import { jobMetrics } from '../core/metrics.ts';
import type { StepResult } from '../core/refs.ts';
import type { JobContext, LogLevel } from '../core/script.ts';
import { redactValues } from '../core/secrets.ts';
import type { Services } from '../core/services.ts';
import {
  type AttemptSummary,
  type DeltaBasis,
  type JobRecord,
  type JobState,
  JobStore,
  progressTotals,
} from '../stores/jobs.ts';
import { type DataflowState, DataflowStateStore, type LockHolder } from '../stores/state.ts';
import { TraceLogger } from './logger.ts';

/** Records a test run processes (the console's "Run Test"). */
export const TEST_RUN_LIMIT = 10;
/** How long job records are kept before DynamoDB's TTL may remove them. */
const JOB_RETENTION_S = 90 * 86_400;

const PERIOD_MS: Record<string, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

/** Checks and normalizes the execution input; bad input fails the job with a coded error. */
export function parseInput(input: unknown): ExecutionInput {
  if (input === null || input === undefined) return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new IdxError('IDX_INPUT', 'the execution input must be a JSON object', {
      expected: '{"test"?, "dryRun"?, "limit"?, "fullExtract"?, "logLevel"?, "scheduleId"?, "maxAttempts"?}',
      received: showValue(input),
    });
  }
  const i = input as Record<string, unknown>;
  const bad = (field: string, expected: string) =>
    new IdxError('IDX_INPUT', `execution input field "${field}" is invalid`, {
      param: field,
      expected,
      received: showValue(i[field]),
    });
  if (i.test !== undefined && typeof i.test !== 'boolean') throw bad('test', 'true or false');
  if (i.dryRun !== undefined && typeof i.dryRun !== 'boolean') throw bad('dryRun', 'true or false');
  if (i.fullExtract !== undefined && typeof i.fullExtract !== 'boolean') throw bad('fullExtract', 'true or false');
  if (i.limit !== undefined && i.limit !== null && (!Number.isInteger(i.limit) || (i.limit as number) < 1)) {
    throw bad('limit', 'a positive integer or null');
  }
  if (i.logLevel !== undefined && !['error', 'info', 'debug'].includes(i.logLevel as string)) {
    throw bad('logLevel', 'error, info or debug');
  }
  if (i.scheduleId !== undefined && typeof i.scheduleId !== 'string') throw bad('scheduleId', 'a string');
  if (i.attempt !== undefined && (!Number.isInteger(i.attempt) || (i.attempt as number) < 1))
    throw bad('attempt', 'a positive integer');
  if (i.maxAttempts !== undefined && (!Number.isInteger(i.maxAttempts) || (i.maxAttempts as number) < 1))
    throw bad('maxAttempts', 'a positive integer (1: a failed job is not run again)');
  return i as ExecutionInput;
}

/**
 * Where a delta run with no watermark starts: a `once` schedule (or a manual run) reads the last 24 hours, a
 * recurring schedule reads one period back (IdentitySync's documented first-run behaviour).
 */
export function firstRunFrom(start: Date, schedule: ScheduleSummary | undefined): Date {
  if (!schedule || schedule.frequencyType === 'once') return new Date(start.getTime() - 86_400_000);
  const n = schedule.frequencyInterval ?? 1;
  if (schedule.frequencyType === 'month') {
    const d = new Date(start.getTime());
    d.setUTCMonth(d.getUTCMonth() - n);
    return d;
  }
  return new Date(start.getTime() - n * (PERIOD_MS[schedule.frequencyType] ?? 86_400_000));
}

/** True when a process with this id runs on this machine (signal 0 checks without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The local process holding a run lock, when it runs on this machine and is alive. */
export function liveLockProcess(held: DataflowState): number | undefined {
  if (held.lockPid === undefined || held.lockHost !== hostname()) return undefined;
  return processAlive(held.lockPid) ? held.lockPid : undefined;
}

/**
 * Why the holder of a run lock is known to be gone, or undefined when it may still be running: its job record
 * says the job ended (a run whose end did not release the lock), or it is a local process on this machine that
 * no longer exists (a run killed with `kill -9`, or a crash). A holder on another machine, or an execution whose
 * record still says `running`, is not judged here: its lock expires after its time to live.
 */
export async function lockHolderGone(held: DataflowState, jobs: JobStore): Promise<string | undefined> {
  if (held.lockJobId === undefined) return undefined;
  const record = await jobs.get(held.lockJobId);
  if (record && record.status !== 'running') return `its job ended ${record.status}`;
  if (held.lockPid !== undefined && held.lockHost === hostname() && !processAlive(held.lockPid))
    return `its process ${held.lockPid} on ${held.lockHost} is gone`;
  return undefined;
}

/**
 * Takes the run lock of a dataflow for a job. A lock held by another job whose holder is gone (see
 * {@link lockHolderGone}) is taken over, and that job's record, if still `running`, ends as `killed`; a live
 * holder's lock answers `IDX_RUN_LOCKED`.
 */
export async function takeRunLock(
  state: DataflowStateStore,
  jobs: JobStore,
  dataflowId: string,
  jobId: string,
  options: { readonly ttlMs: number; readonly holder: LockHolder },
): Promise<{ readonly tookOver?: { readonly jobId: string; readonly why: string } }> {
  try {
    await state.acquireLock(dataflowId, jobId, Date.now(), options.ttlMs, options.holder);
    return {};
  } catch (error) {
    if (!(error instanceof IdxError) || error.code !== 'IDX_RUN_LOCKED') throw error;
    const held = await state.get(dataflowId);
    const why = await lockHolderGone(held, jobs);
    if (why === undefined || held.lockJobId === undefined) throw error;
    await state.acquireLock(dataflowId, jobId, Date.now(), options.ttlMs, options.holder, held.lockJobId);
    await endAbandonedJob(jobs, held.lockJobId, `run lock taken over by job ${jobId}: ${why}`);
    return { tookOver: { jobId: held.lockJobId, why } };
  }
}

/** Ends the record of a job whose run is gone as `killed`, if it still says `running`. */
export async function endAbandonedJob(jobs: JobStore, jobId: string, why: string): Promise<boolean> {
  const endTime = new Date().toISOString();
  return jobs.finish(jobId, {
    status: 'killed',
    endTime,
    error: {
      name: 'States.Aborted',
      code: 'IDX_EXECUTION_ABORTED',
      message: `the run ended without finishing: ${why}`,
    },
    trace: [`${endTime} ERROR job killed: ${why}`],
    onlyIf: 'running',
  });
}

/**
 * Starts a job: takes the run lock, computes the delta window, writes the running job record. A dry run takes no
 * lock: it changes nothing a real run of the dataflow depends on, so it neither waits for one nor keeps one waiting.
 */
export async function startJob(event: StartEvent, services: Services, echo = true): Promise<JobContext> {
  const input = parseInput(event.input);
  const jobId = event.execution.Name ?? randomUUID();
  const start = event.execution.StartTime ? new Date(event.execution.StartTime) : new Date();
  const startTime = start.toISOString();
  const test = input.test === true;
  const dryRun = input.dryRun === true;
  const limit = test ? TEST_RUN_LIMIT : (input.limit ?? undefined);
  const fullExtract = input.fullExtract === true;
  const logLevel: LogLevel = input.logLevel ?? 'info';
  const state = new DataflowStateStore(services.dynamo, services.config.tables.state);
  if (!dryRun)
    await takeRunLock(
      state,
      new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor),
      event.dataflow.id,
      jobId,
      {
        ttlMs: services.config.lockTtlMs,
        holder: lockHolder(event.execution),
      },
    );
  try {
    const current = await state.get(event.dataflow.id);
    // A manual run names no schedule; it must not take the period of a schedule that has no id either.
    const schedule =
      input.scheduleId === undefined
        ? undefined
        : event.dataflow.schedules.find((s) => s.id === input.scheduleId || s.name === input.scheduleId);
    const from = current.watermark ?? event.dataflow.lastRuntime ?? firstRunFrom(start, schedule).toISOString();
    const deltaBasis: DeltaBasis = fullExtract
      ? 'full-extract'
      : current.watermark !== undefined
        ? 'watermark'
        : event.dataflow.lastRuntime !== undefined
          ? 'lastRuntime'
          : schedule && schedule.frequencyType !== 'once'
            ? 'first-run-schedule'
            : 'first-run';
    const job: JobContext = {
      id: jobId,
      dataflowId: event.dataflow.id,
      dataflowName: event.dataflow.name,
      ...(input.scheduleId === undefined ? {} : { scheduleId: input.scheduleId }),
      startTime,
      test,
      ...(dryRun ? { dryRun } : {}),
      ...(limit === undefined ? {} : { limit }),
      fullExtract,
      logLevel,
      ...(fullExtract ? {} : { delta: { from, to: startTime } }),
      attempt: input.attempt ?? 1,
      ...(event.dataflow.apiKey === undefined ? {} : { apiKey: event.dataflow.apiKey }),
    };
    const log = new TraceLogger({ jobId, level: logLevel, redactor: services.secrets.redactor, echo });
    log.info(
      `job started${dryRun ? ' (dry run: nothing is written)' : ''}${test ? ' (test run, 10 records)' : ''}${fullExtract ? ', full extract' : `, changes after ${from} (${deltaBasis})`}${limit && !test ? `, limit ${limit}` : ''}`,
    );
    const now = new Date().toISOString();
    const record: JobRecord = {
      id: jobId,
      dataflowId: job.dataflowId,
      dataflowName: event.dataflow.name,
      ...(job.scheduleId === undefined ? {} : { schedulingId: job.scheduleId }),
      status: 'running',
      createTime: now,
      updateTime: now,
      startTime,
      totalRecords: 0,
      processedRecords: 0,
      attemptNumber: job.attempt,
      trace: log.trace,
      steps: {},
      test,
      ...(dryRun ? { dryRun } : {}),
      ...(limit === undefined ? {} : { limit }),
      fullExtract,
      logLevel,
      ...(job.delta ? { delta: job.delta } : {}),
      deltaBasis,
      stage: { bucket: services.config.stageBucket, prefix: jobPrefix(job.dataflowId, jobId) },
      expiresAt: Math.floor(Date.now() / 1000) + JOB_RETENTION_S,
    };
    await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).create(record);
    return job;
  } catch (error) {
    if (!dryRun) await state.releaseLock(event.dataflow.id, jobId);
    throw error;
  }
}

/** Collects step results from the state machine's `$.r`, flattening parallel groups and fused runs. */
export function collectResults(results: Readonly<Record<string, unknown>>): StepResult[] {
  const out: StepResult[] = [];
  const visit = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.stepId === 'string' && typeof o.counters === 'object') {
      const { chain, ...result } = o as unknown as StepResult;
      out.push(result as StepResult);
      for (const c of chain ?? []) visit(c);
      return;
    }
    for (const x of Object.values(o)) visit(x);
  };
  visit(results);
  return out;
}

/**
 * The job's totals: `totalRecords` are the records its sources produced (readers, and parsers of the files
 * readers fetched: the steps that made records without consuming any); `processedRecords` are those not
 * rejected by any step.
 */
export function totalsOf(results: readonly StepResult[]): { totalRecords: number; processedRecords: number } {
  const totalRecords = results
    .filter((r) => r.counters.recordsIn === 0)
    .reduce((n, r) => n + r.counters.recordsOut + r.counters.recordsRejected, 0);
  const rejected = results.reduce((n, r) => n + r.counters.recordsRejected, 0);
  return { totalRecords, processedRecords: Math.max(0, totalRecords - rejected) };
}

/**
 * Fails with `IDX_DELIVERY_SHORTFALL` when a writer delivered less than it received, over all its invocations:
 * a record writer fewer records than its input minus its rejected and dropped records, a file writer fewer bytes
 * than its input files held. Called before the job is recorded as succeeded, so the watermark does not move.
 */
export function checkDelivery(results: readonly StepResult[]): void {
  for (const { stepId, type, counters: c } of results) {
    const owed = c.recordsIn - c.recordsRejected - c.recordsDropped;
    if (c.recordsDelivered !== undefined && c.recordsDelivered < owed) {
      throw new IdxError(
        'IDX_DELIVERY_SHORTFALL',
        `step "${stepId}" (${type}) delivered ${c.recordsDelivered} of ${owed} records (${c.recordsIn} in, ${c.recordsRejected} rejected, ${c.recordsDropped} dropped)`,
        { stepId, expected: `${owed} records delivered`, received: `${c.recordsDelivered} records` },
      );
    }
    if (c.bytesDelivered !== undefined && c.bytesDelivered < c.bytesIn) {
      throw new IdxError(
        'IDX_DELIVERY_SHORTFALL',
        `step "${stepId}" (${type}) delivered ${c.bytesDelivered} of ${c.bytesIn} bytes in ${c.filesOut} of ${c.filesIn} files`,
        { stepId, expected: `${c.bytesIn} bytes delivered`, received: `${c.bytesDelivered} bytes` },
      );
    }
  }
}

/**
 * Completes a job: totals, watermark (non-test, non-limited runs only), unlock. A dry run changes nothing in the
 * dataflow's state: no watermark, no last successful (test) run, no lock to release.
 */
export async function completeJob(
  event: CompleteEvent,
  services: Services,
  echo = true,
): Promise<{ status: 'succeeded'; totalRecords: number; processedRecords: number }> {
  const { job } = event;
  const endTime = new Date().toISOString();
  const results = collectResults(event.results);
  checkDelivery(results);
  const totals = totalsOf(results);
  const log = new TraceLogger({ jobId: job.id, level: job.logLevel, redactor: services.secrets.redactor, echo });
  const state = new DataflowStateStore(services.dynamo, services.config.tables.state);
  let watermark: string | undefined;
  if (job.dryRun === true) {
    log.info('watermark not moved (dry run); a dry run never counts as a successful run');
  } else if (!job.test && job.limit === undefined) {
    watermark = new Date(new Date(job.startTime).getTime() - services.config.watermarkOverlapMs).toISOString();
    log.info(
      `watermark moves to ${watermark} (job start minus ${Math.round(services.config.watermarkOverlapMs / 1000)} s overlap)`,
    );
  } else {
    log.info(`watermark not moved (${job.test ? 'test run' : `limited run, limit ${job.limit}`})`);
  }
  log.info(`job succeeded: ${totals.totalRecords} records read, ${totals.processedRecords} processed`);
  // A dry run is neither the dataflow's last successful run nor its last successful test run.
  if (job.dryRun === true) log.debug('dry run: the dataflow state is left as it was');
  else if (job.test) await state.recordTestSuccess(job.dataflowId, job.id, endTime);
  else await state.recordSuccess(job.dataflowId, job.id, watermark, endTime);
  await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).finish(job.id, {
    status: 'succeeded',
    endTime,
    ...totals,
    trace: log.trace,
  });
  if (job.dryRun !== true) await state.releaseLock(job.dataflowId, job.id);
  log.metrics(
    jobMetrics(job, {
      read: totals.totalRecords,
      processed: totals.processedRecords,
      rejected: results.reduce((n, r) => n + r.counters.recordsRejected, 0),
      durationMs: Math.max(0, Date.parse(endTime) - Date.parse(job.startTime)),
    }),
  );
  return { status: 'succeeded', ...totals };
}

/** Reads the structured error the step function put in a failure's Cause (Lambda wraps it once more). */
export function parseCause(error: FailEvent['error']): Record<string, unknown> {
  const parse = (text: string | undefined): unknown => {
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  let cause = parse(error.Cause) as Record<string, unknown> | undefined;
  if (cause && typeof cause.errorMessage === 'string')
    cause = (parse(cause.errorMessage) as Record<string, unknown>) ?? { message: cause.errorMessage };
  return { name: error.Error ?? 'Error', ...(cause ?? { message: error.Cause ?? 'unknown failure' }) };
}

/**
 * Error names of failures that may pass when the job runs again: the engine's transient errors once the Task's
 * own retries are spent, a Task that reached Lambda's timeout, and Lambda's own failures (a crashed or killed
 * runtime is `Lambda.Unknown`).
 */
const TRANSIENT_FAILURE_NAMES = new Set([
  TRANSIENT_ERROR_NAME,
  'States.Timeout',
  'Lambda.Unknown',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
]);

/**
 * True when a job that failed with `error` (as {@link parseCause} reads it) may succeed if run again: a coded
 * error by its catalogue entry (or, for codes that are either, by what it says of itself); an uncoded one by its
 * name, `States.TaskFailed` included (a function that died without a coded answer).
 */
export function isTransientFailure(error: Readonly<Record<string, unknown>>): boolean {
  if (isIdxErrorCode(error.code)) {
    const transience = ERROR_CODES[error.code].transience;
    return transience === 'transient' || (transience === 'either' && error.transient === true);
  }
  if (error.code !== undefined) return error.transient === true;
  const name = String(error.name ?? '');
  return TRANSIENT_FAILURE_NAMES.has(name) || name === 'States.TaskFailed';
}

/** The pause before attempt `attempt + 1`: the policy's backoff, doubled for each attempt already run again. */
export function backoffSeconds(policy: AttemptPolicy, attempt: number): number {
  return Math.min(3_600, Math.round(policy.backoffSeconds * 2 ** Math.max(0, attempt - 1)));
}

/** Who holds a run lock: this process, for a local run; the execution, deployed (a Lambda's pid means nothing). */
function lockHolder(event: { readonly Id?: string }): LockHolder {
  const execution = event.Id;
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) return execution ? { execution } : {};
  return { pid: process.pid, host: hostname(), ...(execution ? { execution } : {}) };
}

/**
 * Records a failed attempt of a job and decides whether the job runs again: a transient failure of a job that
 * is not a test run, with attempts left (the execution input's `maxAttempts`, else the state machine's policy),
 * runs again after a backoff, as the same job (id, delta window, run lock and staged results kept) with `attempt`
 * one more; anything else ends the job as failed and releases the lock. The watermark does not move either way.
 * Every field written passes the secret masking the trace passes.
 */
export async function failJob(event: FailEvent, services: Services, echo = true): Promise<FailOutcome> {
  const redactor = services.secrets.redactor;
  const error = redactValues(parseCause(event.error), redactor);
  const jobs = new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor);
  const endTime = new Date().toISOString();
  const message = `${String(error.code ?? error.name)}: ${String(error.message ?? '')}`;
  const { job } = event;
  if (!job) {
    // The job never started (bad input, lock held): keep a record so the failure is visible in `idx jobs`.
    await jobs.create(
      unstartedJobRecord({
        id: event.execution.Name ?? randomUUID(),
        dataflow: event.dataflow,
        input: event.input,
        startTime: event.execution.StartTime ? new Date(event.execution.StartTime).toISOString() : endTime,
        endTime,
        status: 'failed',
        error,
        trace: [redactor.redact(`${endTime} ERROR job failed: ${message}`)],
      }),
    );
    return { status: 'failed', retry: false, error };
  }
  const log = new TraceLogger({ jobId: job.id, level: 'error', redactor, echo });
  const attempt: AttemptSummary = {
    attempt: job.attempt,
    startTime: job.attemptStart ?? job.startTime,
    endTime,
    error,
  };
  const maxAttempts = event.input?.maxAttempts ?? event.retry?.maxAttempts ?? 1;
  const transient = isTransientFailure(error);
  const state = new DataflowStateStore(services.dynamo, services.config.tables.state);
  if (event.retry && transient && !job.test && job.dryRun !== true && job.attempt < maxAttempts) {
    const waitSeconds = backoffSeconds(event.retry, job.attempt);
    const next: JobContext = {
      ...job,
      attempt: job.attempt + 1,
      attemptStart: new Date(Date.parse(endTime) + waitSeconds * 1000).toISOString(),
    };
    log.error(
      `attempt ${job.attempt} of ${maxAttempts} failed: ${message}; attempt ${next.attempt} starts in ${waitSeconds} s, resuming from what is staged`,
    );
    // The same job runs on: its lock is renewed, so a long backoff never lets another run in.
    await state.acquireLock(job.dataflowId, job.id, Date.now(), services.config.lockTtlMs, lockHolder(event.execution));
    await jobs.recordAttempt(job.id, attempt, next.attempt, log.trace);
    return { status: 'retrying', retry: true, error, waitSeconds, job: next };
  }
  const why = job.test
    ? 'test runs are not run again'
    : job.dryRun === true
      ? 'dry runs are not run again'
      : !transient
        ? 'the cause is permanent'
        : job.attempt >= maxAttempts
          ? `no attempts left (${maxAttempts})`
          : 'the state machine has no retry path';
  log.error(`job failed on attempt ${job.attempt}: ${message} (not run again: ${why})`);
  // The totals of a job that failed are what its sources had read when it stopped, from the steps it recorded (a
  // step's summary does not move them; only a succeeded job's finalization and running progress do).
  const recorded = await jobs.get(job.id);
  const totals = recorded ? progressTotals(Object.values(recorded.steps), job.limit) : {};
  await jobs.finish(job.id, { status: 'failed', endTime, error, attempt, trace: log.trace, ...totals });
  if (job.dryRun !== true) await state.releaseLock(job.dataflowId, job.id);
  return { status: 'failed', retry: false, error };
}

/**
 * The record of a job whose start action never wrote one: the input was bad, the lock was held, or the
 * execution ended (timed out, was stopped) before the job started.
 */
export function unstartedJobRecord(job: {
  readonly id: string;
  readonly dataflow: { readonly id: string; readonly name: string };
  readonly input: ExecutionInput | undefined;
  readonly startTime: string;
  readonly endTime: string;
  readonly status: JobState;
  readonly error?: Record<string, unknown>;
  readonly trace: string[];
}): JobRecord {
  return {
    id: job.id,
    dataflowId: job.dataflow.id,
    dataflowName: job.dataflow.name,
    ...(job.input?.scheduleId === undefined ? {} : { schedulingId: job.input.scheduleId }),
    status: job.status,
    createTime: job.endTime,
    updateTime: job.endTime,
    startTime: job.startTime,
    endTime: job.endTime,
    totalRecords: 0,
    processedRecords: 0,
    attemptNumber: job.input?.attempt ?? 1,
    trace: job.trace,
    steps: {},
    test: job.input?.test === true,
    ...(job.input?.dryRun === true ? { dryRun: true } : {}),
    fullExtract: job.input?.fullExtract === true,
    logLevel: job.input?.logLevel ?? 'info',
    ...(job.error === undefined ? {} : { error: job.error }),
    expiresAt: Math.floor(Date.now() / 1000) + JOB_RETENTION_S,
  };
}
