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
import { IdxError } from '../core/errors.ts';
import type { SkippedFile, StepCounters, WouldWrite } from '../core/refs.ts';
import { type Redactor, redactValues } from '../core/secrets.ts';
import { batchGetItems } from './batch-get.ts';

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
    // The list keys put the record in the `byStart` index (see JOB_INDEXES); they are not masked, as they are ours.
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...this.#mask(job), ...listKeysOf(job) } }));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }));
    return out.Item === undefined ? undefined : recordOf(out.Item);
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

  /**
   * One page of jobs, newest first (ties by id), and the cursor of the next (older) page when there may be one.
   * Always a Query, never a Scan: through `byDataflow` with a dataflow, through `byStart` without. `from` and
   * `to` bound the start time as key conditions; `status` is a filter, so at most `readLimit` jobs are read
   * per call, and a page may hold fewer than `limit` jobs and still have a cursor.
   */
  async list(options: JobListOptions = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? DEFAULT_JOB_PAGE)), MAX_JOB_PAGE);
    const filtered = options.status !== undefined;
    const readLimit = Math.min(Math.max(1, Math.trunc(options.readLimit ?? DEFAULT_JOB_READ_LIMIT)), MAX_JOB_PAGE);
    const query = jobQuery(options);
    if (query === undefined) return { jobs: [] };
    // The index's items: whole records from byDataflow, keys and status from byStart (see JOB_INDEXES).
    const found: Record<string, unknown>[] = [];
    let read = 0;
    let start = query.start;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: query.index.name,
          KeyConditionExpression: query.condition,
          ...(filtered ? { FilterExpression: '#status = :status' } : {}),
          ExpressionAttributeNames: query.names,
          ExpressionAttributeValues: query.values,
          ScanIndexForward: false,
          // One more job than the page, so a full page knows whether an older one exists.
          Limit: filtered ? readLimit - read : limit + 1 - found.length,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      read += out.ScannedCount ?? out.Items?.length ?? 0;
      // byDataflow's BETWEEN includes its upper bound; `to` does not.
      for (const item of out.Items ?? [])
        if (options.to === undefined || positionOfKey(item).startTime < options.to) found.push(item);
      start = out.LastEvaluatedKey;
    } while (start !== undefined && found.length <= limit && (!filtered || read < readLimit));
    const last = found.length > limit ? found[limit - 1] : start;
    const page = found.slice(0, limit);
    const jobs = query.index.projection === 'ALL' ? page.map(recordOf) : await this.#records(page);
    return { jobs, ...(last === undefined ? {} : { cursor: encodeCursor(positionOfKey(last)) }) };
  }

  /**
   * The whole records of index items, in their order, read by BatchGetItem (100 keys a call). Keys DynamoDB hands
   * back unprocessed (a response holds at most 16 MB; throttling) are asked again, at once while calls bring
   * records and after a growing pause while they bring none, at most {@link MAX_UNPROCESSED_ROUNDS} times in a
   * row. A record that expired since the index listed it is left out.
   */
  async #records(items: readonly Record<string, unknown>[]): Promise<JobRecord[]> {
    const byId = new Map<string, JobRecord>();
    await batchGetItems(
      this.db,
      this.table,
      items.map((item) => ({ id: item.id })),
      {
        before: async ({ idle, pending }) => {
          if (idle === 0) return;
          if (idle > MAX_UNPROCESSED_ROUNDS)
            throw new IdxError('IDX_JOB_READ_THROTTLED', `the jobs table ${this.table} returned no records to read`, {
              expected: 'BatchGetItem to return the job records of the page',
              received: `${pending} key(s) unprocessed ${MAX_UNPROCESSED_ROUNDS + 1} times in a row`,
              transient: true,
            });
          await new Promise((r) => setTimeout(r, 50 * 2 ** idle));
        },
        onItem: (item) => byId.set(String(item.id), recordOf(item)),
      },
    );
    return items.flatMap((item) => byId.get(String(item.id)) ?? []);
  }

  /**
   * Gives the records written before the `byStart` index existed their list keys, so every job lists (a one-off
   * after upgrading: `idx jobs reindex`). Reads the table page by page (a Scan: this is the one place that
   * scans) and updates only records that lack the keys and still exist; resolves how many it updated.
   */
  async backfillListKeys(): Promise<number> {
    let updated = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'attribute_not_exists(listKey) AND attribute_exists(startTime)',
          ProjectionExpression: 'id, startTime',
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      for (const item of out.Items ?? []) {
        const { id, startTime } = item as { id: string; startTime: string };
        const keys = listKeysOf({ id, startTime });
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.table,
              Key: { id },
              UpdateExpression: 'SET listKey = :k, startKey = :s',
              ExpressionAttributeValues: { ':k': keys.listKey, ':s': keys.startKey },
              // A record that expired or was deleted meanwhile is not brought back as a stub.
              ConditionExpression: 'attribute_exists(id)',
            }),
          );
          updated++;
        } catch (error) {
          if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
        }
      }
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return updated;
  }
}

/** Options of {@link JobStore.list}. */
export interface JobListOptions {
  /** Only this dataflow's jobs (the `byDataflow` index). */
  readonly dataflowId?: string;
  /** Only jobs with this status. */
  readonly status?: JobState;
  /** Jobs started at or after this ISO time (`toISOString()` form). */
  readonly from?: string;
  /** Jobs started before this ISO time (`toISOString()` form). */
  readonly to?: string;
  /** Jobs on the page, at most {@link MAX_JOB_PAGE}. @default 50 */
  readonly limit?: number;
  /** Where the page starts: the cursor an earlier page of the listing gave. */
  readonly cursor?: string;
  /** Jobs read at most for the page when `status` filters them. @default 1000 */
  readonly readLimit?: number;
}

/** A page of jobs, newest first. */
export interface JobPage {
  readonly jobs: JobRecord[];
  /** The cursor of the next, older page; absent when the listing has no more jobs. */
  readonly cursor?: string;
}

/** Jobs a page holds when the caller does not say. */
export const DEFAULT_JOB_PAGE = 50;

/** Most jobs one page holds (and most a status-filtered page reads). */
export const MAX_JOB_PAGE = 10_000;

/** Jobs a status-filtered page reads at most when the caller does not say. */
export const DEFAULT_JOB_READ_LIMIT = 1000;

/**
 * The `byStart` index's partition key value, the same on every job record. One constant partition rather than
 * time buckets (a month per partition): a listing is then one Query whatever the period, and a cursor a plain
 * position, with no walk back through empty months. A partition takes 1000 writes a second; the index holds
 * keys and status only (see JOB_INDEXES), so it is written when a job starts, changes status and expires — a few
 * small writes per run, far below that for any number of dataflows. Buckets would only pay off at hundreds of
 * job starts a second, which a scheduler of nightly and hourly syncs never comes near.
 */
export const JOB_LIST_KEY = 'job';

/**
 * The secondary indexes of the jobs table: the CDK construct (lib/infra/tables.ts) and the local table creation
 * (lib/local/jobs-table.ts) build them from here. `byDataflow` projects every attribute (as it always did:
 * a projection changes only by dropping and adding the index). `byStart` projects its keys and `status` only
 * (`projection: 'status'`), and a listing reads the page's records by BatchGetItem: every job record sits in its
 * one partition, and a job's record is updated many times while it runs (steps, progress every 10 s, trace)
 * at up to 400 KB each; an index holding the whole record would be written with each update, at its size, all
 * in one partition, while one holding keys and status is written when a job starts, ends or expires.
 * `startKey` is `<startTime>#<id>`, so jobs that started in one millisecond still have one order.
 */
export const JOB_INDEXES = {
  byDataflow: { name: 'byDataflow', partitionKey: 'dataflowId', sortKey: 'startTime', projection: 'ALL' },
  byStart: { name: 'byStart', partitionKey: 'listKey', sortKey: 'startKey', projection: 'status' },
} as const;

/** Rounds in a row BatchGetItem may hand every key of a listing page back unprocessed before the listing fails. */
const MAX_UNPROCESSED_ROUNDS = 5;

/** The attributes that put a job record in the `byStart` index; the job writer always sets them. */
export function listKeysOf(job: Pick<JobRecord, 'id' | 'startTime'>): { listKey: string; startKey: string } {
  return { listKey: JOB_LIST_KEY, startKey: `${job.startTime}#${job.id}` };
}

/** A stored item as a job record: without the index keys, which are the store's business. */
function recordOf(item: Record<string, unknown>): JobRecord {
  const { listKey: _listKey, startKey: _startKey, ...job } = item;
  return job as unknown as JobRecord;
}

/** A position in a listing: the start time and id of the last job a page had. */
interface Position {
  readonly startTime: string;
  readonly id: string;
}

/** Longest cursor accepted, in characters (a position is an ISO time and a job id of at most 1 KB). */
const MAX_CURSOR_CHARS = 2048;

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify({ t: p.startTime, i: p.id })).toString('base64url');
}

/** The position a cursor names, or IDX_JOB_CURSOR_INVALID: a cursor comes back from outside and is checked. */
export function decodeCursor(cursor: string): Position {
  const bad = (why: string) =>
    new IdxError('IDX_JOB_CURSOR_INVALID', `the job listing's cursor ${why}`, {
      param: 'cursor',
      expected: 'the cursor an earlier page of the listing gave, unchanged',
      received: JSON.stringify(cursor.slice(0, 60)),
    });
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor))
    throw bad('is not a cursor of at most 2048 base64url characters');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('does not decode');
  }
  const { t, i } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof t !== 'string' || !ISO_TIME.test(t) || Number.isNaN(Date.parse(t))) throw bad('has no start time');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (typeof i !== 'string' || i === '' || i.length > 1024 || /[\u0000-\u001f\u007f]/.test(i))
    throw bad('has no job id');
  return { startTime: t, id: i };
}

/** The position of a Query's LastEvaluatedKey (either index's: both hold `id`, one `startTime`, one `startKey`). */
function positionOfKey(key: Record<string, unknown>): Position {
  const id = String(key.id);
  const startTime = typeof key.startTime === 'string' ? key.startTime : String(key.startKey).slice(0, -(id.length + 1));
  return { startTime, id };
}

/** The Query of a listing: index, key condition and where it starts; undefined when nothing can match. */
function jobQuery(options: JobListOptions):
  | {
      index: (typeof JOB_INDEXES)[keyof typeof JOB_INDEXES];
      condition: string;
      names: Record<string, string>;
      values: Record<string, unknown>;
      start?: Record<string, unknown>;
    }
  | undefined {
  const position = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  const byDataflow = options.dataflowId !== undefined;
  const index = byDataflow ? JOB_INDEXES.byDataflow : JOB_INDEXES.byStart;
  const names: Record<string, string> = { '#pk': index.partitionKey };
  const values: Record<string, unknown> = { ':pk': byDataflow ? options.dataflowId : JOB_LIST_KEY };
  if (options.status !== undefined) {
    names['#status'] = 'status';
    values[':status'] = options.status;
  }
  // The index's sort key of a position; `<time>#<id>` sorts after every key of an earlier time and before every
  // key of a later one, so the time bounds compare with either index's keys alike.
  const sortKeyOf = (p: Position) => (byDataflow ? p.startTime : listKeysOf(p).startKey);
  const { from, to } = options;
  if (from !== undefined && to !== undefined && from >= to) return undefined;
  let start: Record<string, unknown> | undefined;
  if (position !== undefined) {
    const key = sortKeyOf(position);
    // DynamoDB refuses a start key outside the key condition: a cursor past the range ends the listing, and one
    // before it (newer than `to`) starts at the range's top, as every job of the range is older.
    if (from !== undefined && key < from) return undefined;
    if (to === undefined || key < to)
      start = byDataflow
        ? { dataflowId: options.dataflowId, startTime: position.startTime, id: position.id }
        : { listKey: JOB_LIST_KEY, startKey: key, id: position.id };
  }
  let range = '';
  if (from !== undefined && to !== undefined) {
    range = ' AND #sk BETWEEN :from AND :to';
    Object.assign(values, { ':from': from, ':to': to });
  } else if (from !== undefined) {
    range = ' AND #sk >= :from';
    values[':from'] = from;
  } else if (to !== undefined) {
    range = ' AND #sk < :to';
    values[':to'] = to;
  }
  if (range !== '') names['#sk'] = index.sortKey;
  return { index, condition: `#pk = :pk${range}`, names, values, ...(start === undefined ? {} : { start }) };
}
