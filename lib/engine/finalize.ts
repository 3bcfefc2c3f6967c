/**
 * Finalizes a job when its execution ends, from the Step Functions "Execution Status Change" event, and
 * notifies the schedule's recipients.
 *
 * The state machine records its own outcome (`Job: complete`, or the Catch into `Job: record failure`), so for
 * SUCCEEDED and FAILED the record is usually final already and is kept as it is. An execution that timed out or
 * was stopped never ran its Catch: its record still says `running`, and is finished here as `failed`
 * (TIMED_OUT) or `killed` (ABORTED, IdentitySync's status for a stopped job), with the end time and the cause.
 * A record that is missing (the execution died before `Job: start` wrote one) is created. Either way the run
 * lock is released if the job still holds it: an ended execution must never block the next run.
 *
 * Notification: one message to the dataflow's success topic (SUCCEEDED) or failure topic (anything else),
 * with a `scheduleId` message attribute. Email subscriptions filter on it, so each schedule's
 * `successEmailNotification` / `failureEmailNotification` recipients hear about that schedule's runs only, and
 * runs started by hand (console test runs carry no scheduleId) notify nobody by email.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExecutionInput } from '../core/events.ts';
import { type JobRecord, type JobState, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { parseCause, unstartedJobRecord } from './job.ts';

/** Terminal execution statuses and the job status each ends in. */
const OUTCOME: Readonly<Record<string, JobState>> = {
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  TIMED_OUT: 'failed',
  ABORTED: 'killed',
};

/** The `detail` of a Step Functions "Execution Status Change" event (the fields used here). */
export interface ExecutionStatusDetail {
  readonly executionArn: string;
  readonly stateMachineArn?: string;
  /** The execution name: the job id. */
  readonly name: string;
  readonly status: string;
  /** Epoch ms. */
  readonly startDate?: number | null;
  /** Epoch ms. */
  readonly stopDate?: number | null;
  /** The execution input as JSON text. */
  readonly input?: string | null;
  readonly error?: string | null;
  readonly cause?: string | null;
}

/** What the dataflow's notification rule hands the handler: the event detail plus the dataflow and its topics. */
export interface ExecutionStatusNotice {
  readonly dataflowId: string;
  readonly dataflowName: string;
  readonly successTopicArn?: string;
  readonly failureTopicArn?: string;
  readonly detail: ExecutionStatusDetail;
}

/** Clients and table names finalization needs. */
export interface FinalizeDeps {
  readonly dynamo: DynamoDBDocumentClient;
  readonly sns: SNSClient;
  readonly tables: { readonly jobs: string; readonly state: string };
}

/** What finalization did. */
export interface FinalizeResult {
  readonly jobId: string;
  readonly status: JobState;
  /** `kept`: the record was final already; `finished`: a running record was ended; `created`: it was missing. */
  readonly record: 'kept' | 'finished' | 'created';
  /** The topic notified, if any. */
  readonly notified?: string;
}

/** The error a job record gets when the execution ended without the Catch recording one. */
export function executionError(detail: ExecutionStatusDetail): Record<string, unknown> {
  if (detail.status === 'TIMED_OUT') {
    return {
      name: detail.error ?? 'States.Timeout',
      code: 'IDX_EXECUTION_TIMED_OUT',
      message: 'the execution reached its timeout before the job finished',
    };
  }
  if (detail.status === 'ABORTED') {
    return {
      name: detail.error ?? 'States.Aborted',
      code: 'IDX_EXECUTION_ABORTED',
      message: detail.cause ? `the execution was stopped: ${detail.cause}` : 'the execution was stopped',
    };
  }
  const parsed = parseCause({
    ...(detail.error ? { Error: detail.error } : {}),
    ...(detail.cause ? { Cause: detail.cause } : {}),
  });
  return { code: 'IDX_EXECUTION_FAILED', ...parsed };
}

function parseInput(text: string | null | undefined): ExecutionInput {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as ExecutionInput) : {};
  } catch {
    // A truncated or unreadable input only loses the schedule id and flags.
    return {};
  }
}

const iso = (ms: number | null | undefined, fallback: Date): string =>
  typeof ms === 'number' ? new Date(ms).toISOString() : fallback.toISOString();

/** Finalizes the job of an ended execution and publishes the notification; ignores non-terminal statuses. */
export async function finalizeExecution(
  notice: ExecutionStatusNotice,
  deps: FinalizeDeps,
  now: Date = new Date(),
): Promise<FinalizeResult | undefined> {
  const { detail } = notice;
  const status = OUTCOME[detail.status];
  if (status === undefined) return undefined;
  const jobId = detail.name;
  const endTime = iso(detail.stopDate, now);
  const input = parseInput(detail.input);
  const jobs = new JobStore(deps.dynamo, deps.tables.jobs);

  let job = await jobs.get(jobId);
  let record: FinalizeResult['record'] = 'kept';
  const error = status === 'succeeded' ? undefined : executionError(detail);
  const closing = `${endTime} ${status === 'succeeded' ? 'INFO' : 'ERROR'} job ${status}: execution ${detail.status}${
    error ? ` (${String(error.code)}: ${String(error.message ?? '')})` : ''
  }`;
  if (!job) {
    job = unstartedJobRecord({
      id: jobId,
      dataflow: { id: notice.dataflowId, name: notice.dataflowName },
      input,
      startTime: iso(detail.startDate, now),
      endTime,
      status,
      ...(error ? { error } : {}),
      trace: [closing],
    });
    await jobs.create(job);
    record = 'created';
  } else if (job.status === 'running') {
    const finished = await jobs.finish(jobId, {
      status,
      endTime,
      ...(error ? { error } : {}),
      trace: [closing],
      onlyIf: 'running',
    });
    if (finished) {
      job = {
        ...job,
        status,
        endTime,
        updateTime: endTime,
        ...(error ? { error } : {}),
        trace: [...job.trace, closing],
      };
      record = 'finished';
    } else {
      job = (await jobs.get(jobId)) ?? job;
    }
  }
  await new DataflowStateStore(deps.dynamo, deps.tables.state).releaseLock(notice.dataflowId, jobId);

  const topic = job.status === 'succeeded' ? notice.successTopicArn : notice.failureTopicArn;
  if (topic) {
    const scheduleId = input.scheduleId ?? job.schedulingId;
    await deps.sns.send(
      new PublishCommand({
        TopicArn: topic,
        Subject: notificationSubject(notice.dataflowName, job),
        Message: notificationMessage(notice, job),
        MessageAttributes: {
          status: { DataType: 'String', StringValue: job.status },
          ...(scheduleId ? { scheduleId: { DataType: 'String', StringValue: scheduleId } } : {}),
        },
      }),
    );
  }
  return { jobId, status: job.status, record, ...(topic ? { notified: topic } : {}) };
}

/** The email subject: at most 100 printable ASCII characters, as SNS requires. */
export function notificationSubject(dataflowName: string, job: Pick<JobRecord, 'status' | 'test' | 'dryRun'>): string {
  const text = `identity-sync: ${dataflowName} ${job.dryRun === true ? 'dry run ' : ''}${job.test ? 'test run ' : ''}${job.status}`;
  // SNS takes printable ASCII only in subjects.
  const ascii = text.replace(/[^\x20-\x7E]/g, '?');
  return ascii.length <= 100 ? ascii : `${ascii.slice(0, 97)}...`;
}

/** The message body: what ran, how it ended, where to look. */
export function notificationMessage(notice: ExecutionStatusNotice, job: JobRecord): string {
  const arn = notice.detail.executionArn;
  const region = arn.split(':')[3] ?? '';
  const error = job.error as { code?: unknown; name?: unknown; message?: unknown; stepId?: unknown } | undefined;
  const lines = [
    `Dataflow: ${notice.dataflowName} (${notice.dataflowId})`,
    `Job: ${job.id}${job.dryRun === true ? ' (dry run: nothing written)' : ''}${job.test ? ' (test run)' : ''}`,
    `Schedule: ${job.schedulingId ?? 'none (started by hand)'}`,
    `Status: ${job.status} (execution ${notice.detail.status})`,
    `Attempt: ${job.attemptNumber}`,
    // A job that failed on a transient cause ran again: each failed attempt, so the message tells the whole story.
    ...(job.attempts ?? []).map(
      (a) =>
        `Attempt ${a.attempt} failed at ${a.endTime}: ${String(a.error.code ?? a.error.name ?? 'Error')}: ${String(a.error.message ?? '')}`,
    ),
    `Started: ${job.startTime}`,
    `Ended: ${job.endTime ?? ''}`,
    `Records: ${job.totalRecords} read, ${job.processedRecords} processed`,
    ...(error
      ? [
          `Error: ${String(error.code ?? error.name ?? 'Error')}: ${String(error.message ?? '')}${
            error.stepId ? ` (step ${String(error.stepId)})` : ''
          }`,
        ]
      : []),
    '',
    `Execution: https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${arn}`,
  ];
  return lines.join('\n');
}
