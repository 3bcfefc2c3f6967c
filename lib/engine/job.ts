/**
 * The job lifecycle around the steps: start (run lock, delta window, job record), complete (totals, watermark,
 * unlock) and fail (error, unlock). The watermark moves only when a non-test, non-limited run succeeds, to the
 * time the run started minus an overlap, because search results lag writes.
 */
import { randomUUID } from 'node:crypto';
import { IdxError, showValue } from '../core/errors.ts';
import type { CompleteEvent, ExecutionInput, FailEvent, ScheduleSummary, StartEvent } from '../core/events.ts';
import { jobPrefix } from '../core/keys.ts';
import type { StepResult } from '../core/refs.ts';
import type { JobContext, LogLevel } from '../core/script.ts';
import type { Services } from '../core/services.ts';
import { type DeltaBasis, type JobRecord, type JobState, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
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
      expected: '{"test"?, "limit"?, "fullExtract"?, "logLevel"?, "scheduleId"?}',
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

/** Starts a job: takes the run lock, computes the delta window, writes the running job record. */
export async function startJob(event: StartEvent, services: Services, echo = true): Promise<JobContext> {
  const input = parseInput(event.input);
  const jobId = event.execution.Name ?? randomUUID();
  const start = event.execution.StartTime ? new Date(event.execution.StartTime) : new Date();
  const startTime = start.toISOString();
  const test = input.test === true;
  const limit = test ? TEST_RUN_LIMIT : (input.limit ?? undefined);
  const fullExtract = input.fullExtract === true;
  const logLevel: LogLevel = input.logLevel ?? 'info';
  const state = new DataflowStateStore(services.dynamo, services.config.tables.state);
  await state.acquireLock(event.dataflow.id, jobId, Date.now(), services.config.lockTtlMs);
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
      ...(limit === undefined ? {} : { limit }),
      fullExtract,
      logLevel,
      ...(fullExtract ? {} : { delta: { from, to: startTime } }),
      attempt: input.attempt ?? 1,
      ...(event.dataflow.apiKey === undefined ? {} : { apiKey: event.dataflow.apiKey }),
    };
    const log = new TraceLogger({ jobId, level: logLevel, redactor: services.secrets.redactor, echo });
    log.info(
      `job started${test ? ' (test run, 10 records)' : ''}${fullExtract ? ', full extract' : `, changes after ${from} (${deltaBasis})`}${limit && !test ? `, limit ${limit}` : ''}`,
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
      ...(limit === undefined ? {} : { limit }),
      fullExtract,
      logLevel,
      ...(job.delta ? { delta: job.delta } : {}),
      deltaBasis,
      stage: { bucket: services.config.stageBucket, prefix: jobPrefix(job.dataflowId, jobId) },
      expiresAt: Math.floor(Date.now() / 1000) + JOB_RETENTION_S,
    };
    await new JobStore(services.dynamo, services.config.tables.jobs).create(record);
    return job;
  } catch (error) {
    await state.releaseLock(event.dataflow.id, jobId);
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

/** Completes a job: totals, watermark (non-test, non-limited runs only), unlock. */
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
  if (!job.test && job.limit === undefined) {
    watermark = new Date(new Date(job.startTime).getTime() - services.config.watermarkOverlapMs).toISOString();
    log.info(
      `watermark moves to ${watermark} (job start minus ${Math.round(services.config.watermarkOverlapMs / 1000)} s overlap)`,
    );
  } else {
    log.info(`watermark not moved (${job.test ? 'test run' : `limited run, limit ${job.limit}`})`);
  }
  log.info(`job succeeded: ${totals.totalRecords} records read, ${totals.processedRecords} processed`);
  if (job.test) await state.recordTestSuccess(job.dataflowId, job.id, endTime);
  else await state.recordSuccess(job.dataflowId, job.id, watermark, endTime);
  await new JobStore(services.dynamo, services.config.tables.jobs).finish(job.id, {
    status: 'succeeded',
    endTime,
    ...totals,
    trace: log.trace,
  });
  await state.releaseLock(job.dataflowId, job.id);
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

/** Records a failed job and releases the lock it held. The watermark does not move. */
export async function failJob(
  event: FailEvent,
  services: Services,
  echo = true,
): Promise<{ status: 'failed'; error: Record<string, unknown> }> {
  const error = parseCause(event.error);
  const jobs = new JobStore(services.dynamo, services.config.tables.jobs);
  const endTime = new Date().toISOString();
  const message = `job failed: ${String(error.code ?? error.name)}: ${String(error.message ?? '')}`;
  if (event.job) {
    const log = new TraceLogger({ jobId: event.job.id, level: 'error', redactor: services.secrets.redactor, echo });
    log.error(message);
    await jobs.finish(event.job.id, { status: 'failed', endTime, error, trace: log.trace });
    await new DataflowStateStore(services.dynamo, services.config.tables.state).releaseLock(
      event.job.dataflowId,
      event.job.id,
    );
  } else {
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
        trace: [services.secrets.redactor.redact(`${endTime} ERROR ${message}`)],
      }),
    );
  }
  return { status: 'failed', error };
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
    fullExtract: job.input?.fullExtract === true,
    logLevel: job.input?.logLevel ?? 'info',
    ...(job.error === undefined ? {} : { error: job.error }),
    expiresAt: Math.floor(Date.now() / 1000) + JOB_RETENTION_S,
  };
}
