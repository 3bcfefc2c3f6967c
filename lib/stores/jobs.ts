/**
 * The jobs table: one IdentitySync JobStatus record per run, plus our per-step counters and where each step's
 * rejected records are. Steps update their own entry as they finish, so a running job shows progress.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SkippedFile, StepCounters, WouldWrite } from '../core/refs.ts';
import { type Redactor, redactValues } from '../core/secrets.ts';

/**
 * Where a job's delta window starts: the watermark of the last successful run; the dataflow file's `lastRuntime`
 * (no successful run recorded yet); on a first run, one day back (a manual run or a `once` schedule) or one
 * period of the schedule back; or no window at all (a full extract).
 */
export type DeltaBasis = 'watermark' | 'lastRuntime' | 'first-run' | 'first-run-schedule' | 'full-extract';

/** IdentitySync job status values. */
export type JobState = 'running' | 'succeeded' | 'failed' | 'killed';

/** What the job record keeps of one step. */
export interface StepSummary extends StepCounters {
  readonly stepId: string;
  readonly type: string;
  /** Files the step wrote or uploaded. */
  readonly files?: readonly { readonly name: string; readonly size: number }[];
  /** Files a reader selected but did not read, and why. */
  readonly skipped?: readonly SkippedFile[];
  /** S3 location of the step's rejected records (`s3://bucket/prefix`), when it rejected any. */
  readonly rejectedLocation?: string;
  /** The step handed on the job's limit of records and read no further (see StepResult.limitReached). */
  readonly limitReached?: true;
  /** The counters are a running step's so far (see JobStore.recordProgress); absent once it finished. */
  readonly running?: boolean;
  /** A writer in a dry run: what it would have written instead. */
  readonly wouldWrite?: WouldWrite;
  readonly updateTime: string;
}

/** One failed attempt of a job (a job that failed on a transient cause runs again, as the same job). */
export interface AttemptSummary {
  readonly attempt: number;
  readonly startTime: string;
  readonly endTime: string;
  /** How the attempt failed: error name, code and message (masked like the trace). */
  readonly error: Record<string, unknown>;
}

/** A job record (IdentitySync JobStatus fields plus per-step counters). */
export interface JobRecord {
  readonly id: string;
  readonly dataflowId: string;
  readonly dataflowName?: string;
  readonly schedulingId?: string;
  status: JobState;
  readonly createTime: string;
  updateTime: string;
  readonly startTime: string;
  endTime?: string;
  totalRecords: number;
  processedRecords: number;
  /** The current (or last) attempt: 1, then one more each time a transient failure runs the job again. */
  readonly attemptNumber: number;
  /** Every attempt that failed, oldest first; the job's last attempt is here too when the job failed. */
  attempts?: AttemptSummary[];
  trace: string[];
  steps: Record<string, StepSummary>;
  readonly test: boolean;
  /** A dry run: no writer wrote anything; each writer's step says what it would have written (`wouldWrite`). */
  readonly dryRun?: boolean;
  readonly limit?: number;
  readonly fullExtract: boolean;
  readonly logLevel: string;
  /** The delta window the readers used. */
  readonly delta?: { readonly from?: string; readonly to: string };
  /** Why the delta window starts where it does. */
  readonly deltaBasis?: DeltaBasis;
  /** How the job ended, when it failed: error name, code and message. */
  error?: Record<string, unknown>;
  /** Where the job's staged objects are. */
  readonly stage?: { readonly bucket: string; readonly prefix: string };
  /** Epoch seconds after which DynamoDB may expire the record. */
  readonly expiresAt?: number;
}

/**
 * A running job's totals, from its steps' counters so far: `totalRecords` the records its sources will produce (as
 * far as they announced it: Gigya's `totalCount`, else what they produced so far; at most the job's limit),
 * `processedRecords` those they produced that no step rejected. The sources are the steps that made records
 * without consuming any (readers, and parsers of the files readers fetched). Once the job ends, its totals are
 * what the sources produced (see totalsOf).
 */
export function progressTotals(
  steps: readonly StepCounters[],
  limit?: number,
): { totalRecords: number; processedRecords: number } {
  const sources = steps.filter((s) => s.recordsIn === 0);
  const read = sources.reduce((n, s) => n + s.recordsOut + s.recordsRejected, 0);
  const announced = sources.reduce((n, s) => n + Math.max(s.recordsOut + s.recordsRejected, s.expected ?? 0), 0);
  const rejected = steps.reduce((n, s) => n + s.recordsRejected, 0);
  return {
    totalRecords: limit === undefined ? announced : Math.min(announced, Math.max(limit, read)),
    processedRecords: Math.max(0, read - rejected),
  };
}

/** Most trace lines a job record keeps (DynamoDB items are limited to 400 KB). */
export const MAX_TRACE_LINES = 1000;

/**
 * Reads and writes job records. Given the job's redactor, every value it writes, in every field, passes the same
 * secret masking as the trace.
 */
export class JobStore {
  readonly #mask: <T>(value: T) => T;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    redactor?: Pick<Redactor, 'redact'>,
  ) {
    this.#mask = redactor ? (value) => redactValues(value, redactor) : (value) => value;
  }

  /** Writes a new job record (or replaces the record of a retried start of the same execution). */
  async create(job: JobRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: this.#mask(job) }));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }));
    return out.Item as JobRecord | undefined;
  }

  /** Records one step's counters and appends its trace lines. */
  async recordStep(id: string, summary: StepSummary, trace: readonly string[]): Promise<void> {
    const lines = await this.#fitting(id, trace);
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression:
          'SET #steps.#step = :summary, #trace = list_append(if_not_exists(#trace, :empty), :lines), updateTime = :now',
        ExpressionAttributeNames: { '#steps': 'steps', '#step': summary.stepId, '#trace': 'trace' },
        ExpressionAttributeValues: this.#mask({
          ':summary': summary,
          ':lines': lines,
          ':empty': [],
          ':now': summary.updateTime,
        }),
        ConditionExpression: 'attribute_exists(id)',
      }),
    );
  }

  /** The lines of `trace` the job's trace still has room for, the last saying how many more were not kept. */
  async #fitting(id: string, trace: readonly string[]): Promise<string[]> {
    const job = await this.get(id);
    const room = Math.max(0, MAX_TRACE_LINES - (job?.trace.length ?? 0));
    return trace.length > room
      ? [...trace.slice(0, room - 1), `… ${trace.length - room + 1} more trace lines not kept`].slice(0, room)
      : [...trace];
  }

  /**
   * Records the progress of running steps: their counters so far (marked `running`) and the job's totals moved
   * with them, as IdentitySync's job status moves `processedRecords` during a run. Written only while the job is
   * `running`, so a job that ended meanwhile keeps its final record; resolves `false` then.
   */
  async recordProgress(id: string, steps: readonly StepSummary[]): Promise<boolean> {
    const job = await this.get(id);
    if (job?.status !== 'running' || steps.length === 0) return false;
    const merged = { ...job.steps, ...Object.fromEntries(steps.map((s) => [s.stepId, s])) };
    const totals = progressTotals(Object.values(merged), job.limit);
    const names: Record<string, string> = { '#steps': 'steps', '#status': 'status' };
    const values: Record<string, unknown> = {
      ':total': totals.totalRecords,
      ':processed': totals.processedRecords,
      ':now': new Date().toISOString(),
      ':running': 'running',
    };
    const sets = steps.map((s, i) => {
      names[`#s${i}`] = s.stepId;
      values[`:s${i}`] = s;
      return `#steps.#s${i} = :s${i}`;
    });
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: `SET ${sets.join(', ')}, totalRecords = :total, processedRecords = :processed, updateTime = :now`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: this.#mask(values),
          ConditionExpression: '#status = :running',
        }),
      );
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
    return true;
  }

  /**
   * Records a failed attempt of a job that runs again: appends it to `attempts`, sets `attemptNumber` to the
   * next attempt and appends trace lines; the job stays `running`.
   */
  async recordAttempt(id: string, attempt: AttemptSummary, next: number, trace: readonly string[]): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression:
          'SET attemptNumber = :next, attempts = list_append(if_not_exists(attempts, :empty), :attempt), #trace = list_append(if_not_exists(#trace, :empty), :lines), updateTime = :now',
        ExpressionAttributeNames: { '#trace': 'trace' },
        ExpressionAttributeValues: this.#mask({
          ':next': next,
          ':attempt': [attempt],
          ':lines': [...trace],
          ':empty': [],
          ':now': attempt.endTime,
        }),
        ConditionExpression: 'attribute_exists(id)',
      }),
    );
  }

  /** Appends trace lines (work done outside a step, such as deferred clean-up). */
  async appendTrace(id: string, trace: readonly string[]): Promise<void> {
    if (trace.length === 0) return;
    // Many invocations append (the partitions of a Map state): the trace keeps its limit whoever writes.
    const lines = await this.#fitting(id, trace);
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: 'SET #trace = list_append(if_not_exists(#trace, :empty), :lines), updateTime = :now',
        ExpressionAttributeNames: { '#trace': 'trace' },
        ExpressionAttributeValues: this.#mask({ ':lines': [...lines], ':empty': [], ':now': new Date().toISOString() }),
        ConditionExpression: 'attribute_exists(id)',
      }),
    );
  }

  /**
   * Sets the final status, end time, totals and (on failure) the error; appends closing trace lines. With
   * `onlyIf`, writes only while the record has that status (a record another writer already finished is kept)
   * and resolves `false` when it did not.
   */
  async finish(
    id: string,
    update: {
      status: JobState;
      endTime: string;
      totalRecords?: number;
      processedRecords?: number;
      error?: Record<string, unknown>;
      /** The job's last attempt, appended to `attempts` (a job that failed). */
      attempt?: AttemptSummary;
      trace?: readonly string[];
      onlyIf?: JobState;
    },
  ): Promise<boolean> {
    const names: Record<string, string> = { '#status': 'status', '#trace': 'trace' };
    const values: Record<string, unknown> = {
      ':status': update.status,
      ':end': update.endTime,
      ':lines': [...(update.trace ?? [])],
      ':empty': [],
    };
    let expr =
      'SET #status = :status, endTime = :end, updateTime = :end, #trace = list_append(if_not_exists(#trace, :empty), :lines)';
    if (update.totalRecords !== undefined) {
      expr += ', totalRecords = :total';
      values[':total'] = update.totalRecords;
    }
    if (update.processedRecords !== undefined) {
      expr += ', processedRecords = :processed';
      values[':processed'] = update.processedRecords;
    }
    if (update.error !== undefined) {
      expr += ', #error = :error';
      names['#error'] = 'error';
      values[':error'] = update.error;
    }
    if (update.attempt !== undefined) {
      expr += ', attempts = list_append(if_not_exists(attempts, :empty), :attempt)';
      values[':attempt'] = [update.attempt];
    }
    if (update.onlyIf !== undefined) values[':expected'] = update.onlyIf;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: expr,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: this.#mask(values),
          ...(update.onlyIf === undefined ? {} : { ConditionExpression: '#status = :expected' }),
        }),
      );
    } catch (error) {
      if (update.onlyIf !== undefined && (error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
    return true;
  }

  /** Jobs, newest first; by dataflow through the `byDataflow` index when a dataflow is given. */
  async list(options: { dataflowId?: string; limit?: number } = {}): Promise<JobRecord[]> {
    const limit = options.limit ?? 50;
    if (options.dataflowId) {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'byDataflow',
          KeyConditionExpression: 'dataflowId = :d',
          ExpressionAttributeValues: { ':d': options.dataflowId },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []) as JobRecord[];
    }
    const items: JobRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(new ScanCommand({ TableName: this.table, ExclusiveStartKey: start }));
      items.push(...((out.Items ?? []) as JobRecord[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => b.startTime.localeCompare(a.startTime)).slice(0, limit);
  }
}
