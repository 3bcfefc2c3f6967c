/**
 * What the Gigya scripts share: the connection params (credentials, data centre, limits, retries), the client a
 * step gets from them, the paged reader loop that continues past an invocation's time budget, and helpers for
 * record-level errors. The scripts themselves (lib/scripts/datasource.*.gigya.*.ts) stay small.
 *
 * Credentials, in order: the step's `apiKey` / `userKey` / `secret` params (written as `${secret:NAME}`); when
 * they are empty and the runtime is local with a Gigya endpoint (the emulator), the emulator's own credentials
 * ({@link LOCAL_GIGYA_CREDENTIALS}); otherwise the dataflow's `apiKey` and the secrets `GIGYA_API_KEY`,
 * `GIGYA_USER_KEY` and `GIGYA_SECRET`. Every value used is registered with the log redactor.
 */

import {
  CONFIGURATION_ERROR_CODES,
  type GigyaAuthMode,
  GigyaClient,
  GigyaError,
  PACE_CUT,
  PACE_FLOOR,
  PACE_FLOOR_FRACTION,
  PACE_HALF_LIFE_MS,
  PACE_HOLD_MS,
  PACE_MARGIN,
  PACE_PROBE,
  PACE_PROBE_AFTER_MS,
  REFUSAL_PAUSE_MS,
  sharedCallBudget,
} from '../../connectors/gigya.ts';
import type { Reach, ScriptReaches } from '../../core/access.ts';
import { IdxError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import {
  type DataRecord,
  MAX_MAP_PARTITIONS,
  type ReadResult,
  type RecordError,
  type ScriptContext,
  type ScriptInstance,
  type StepOutput,
} from '../../core/script.ts';
import { isBlankTemplateValue, renderPlaceholders } from '../../dataflow/placeholders.ts';
import { tableBudgetFor } from './gigya-budget.ts';
import {
  type PartitionedContinuation,
  type PartitionedQuery,
  partitionRanges,
  planPartitions,
  rangeCondition,
  readPartitioned,
} from './gigya-partitions.ts';
import { setPath } from './paths.ts';

/**
 * The credentials the local emulator accepts by default. Steps that leave `apiKey` / `userKey` / `secret` empty
 * use them when the runtime is local and points Gigya at the emulator, so the public templates (which ship
 * without credentials) run on a laptop unchanged. They guard nothing real.
 */
export const LOCAL_GIGYA_CREDENTIALS = {
  apiKey: '3_localEmulatorApiKey',
  userKey: 'localEmulatorUserKey',
  // base64("identity-sync local emulator secret"): the signature key is the base64-decoded secret.
  secret: 'aWRlbnRpdHktc3luYyBsb2NhbCBlbXVsYXRvciBzZWNyZXQ=',
} as const;

/** The page size of the search readers (the cursor LIMIT). */
export const GIGYA_PAGE_SIZE_PARAM = {
  type: 'integer',
  minimum: 1,
  maximum: 1000,
  default: 1000,
  description: 'Page size (the cursor LIMIT); Gigya allows at most 1000 and may return fewer.',
} as const;

/** Connection params every Gigya script accepts (spread into its `params`). */
export const GIGYA_CONNECTION_PARAMS = {
  apiKey: {
    type: 'string',
    description:
      "Site API key. Empty: the dataflow's apiKey, then the secret GIGYA_API_KEY; in local mode the emulator's key.",
    examples: ['${secret:gigyaApiKey}'],
  },
  userKey: {
    type: 'string',
    secret: true,
    description:
      "User (application) key, as `${secret:NAME}`. Empty: the secret GIGYA_USER_KEY; in local mode the emulator's.",
  },
  secret: {
    type: 'string',
    secret: true,
    description:
      "Secret of the user key, as `${secret:NAME}`. Empty: the secret GIGYA_SECRET; in local mode the emulator's.",
  },
  privateKey: {
    type: 'string',
    secret: true,
    description:
      'PEM private key of an RSA application key, as `${secret:NAME}`: requests then carry a signed bearer token ' +
      'instead of the secret.',
  },
  dataCenter: {
    type: 'string',
    default: 'us1',
    description:
      'Data centre of the site: us1, eu1, au1, ru1, cn1, … or a full domain (global.gigya.com). Ignored in local ' +
      'mode, where calls go to the emulator.',
  },
  signRequests: {
    type: 'boolean',
    default: false,
    description: 'Sign each request (timestamp, nonce, HMAC-SHA1) instead of sending the secret with it.',
  },
  maxCallsPerSecond: {
    type: 'number',
    minimum: 0.1,
    default: 20,
    description:
      'Calls per second this job makes to the site at most, shared by its Gigya steps (the first step to start ' +
      "sets it). The budget finds the site's real ceiling below it: calls start evenly spaced at " +
      `${100 * (1 - PACE_MARGIN)} % of it (a margin for calls that reach the site unevenly); a 403048 pauses every ` +
      `call sharing the budget for ${REFUSAL_PAUSE_MS} ms (at most the retry's backoff) and cuts the pace to ` +
      `${100 * PACE_CUT} % of the pace the refused call was sent at (the calls already paced when the site first ` +
      'refused make one cut), never below ' +
      `${PACE_FLOOR}/s nor ${100 * PACE_FLOOR_FRACTION} % of it; after ${PACE_HOLD_MS / 1000} s the pace climbs ` +
      `back towards the refused pace, halving the gap each ${PACE_HALF_LIFE_MS / 1000} s without a 403048, and ` +
      `after ${PACE_PROBE_AFTER_MS / 1000} s without one past it by ${100 * PACE_PROBE} % of it a second, never ` +
      'above the paced rate. Sites licensed for up to 5M contacts allow 10 searches/s: the default settles there ' +
      'after a few 403048; set it to the ceiling when it is known, to spare them.',
  },
  maxRetries: {
    type: 'integer',
    minimum: 0,
    maximum: 20,
    default: 7,
    description: 'Retries of a call after a transient error (403048, 500001, 503001, 504001, 409030, network).',
  },
  retryBaseDelayMs: {
    type: 'integer',
    minimum: 1,
    default: 1000,
    description: 'First backoff before a retry; it doubles on each retry (with jitter), up to 30 s.',
  },
} as const;

/** The connection params as a script receives them. */
export type GigyaConnectionParams = ParamsOf<typeof GIGYA_CONNECTION_PARAMS>;

/** The secrets a Gigya step falls back to when its own credential params are blank (deployed only). */
export const GIGYA_FALLBACK_SECRETS = {
  apiKey: 'GIGYA_API_KEY',
  userKey: 'GIGYA_USER_KEY',
  secret: 'GIGYA_SECRET',
} as const;

/**
 * What a Gigya step reaches deployed beyond the secrets its params name: the conventional secrets
 * {@link gigyaClientFor} falls back to when its credential params are blank.
 */
export const GIGYA_REACHES: ScriptReaches<GigyaConnectionParams> = {
  summary:
    'Secrets Manager, for blank credential params: GIGYA_API_KEY (blank apiKey, and no dataflow apiKey), ' +
    'GIGYA_USER_KEY (blank userKey) and GIGYA_SECRET (blank secret), these two only without privateKey.',
  of(params, dataflow) {
    const out: Reach[] = [];
    const secret = (name: string) => out.push({ kind: 'secret', name });
    if (isBlankTemplateValue(params.apiKey) && isBlankTemplateValue(dataflow.apiKey)) {
      secret(GIGYA_FALLBACK_SECRETS.apiKey);
    }
    if (isBlankTemplateValue(params.privateKey)) {
      if (isBlankTemplateValue(params.userKey)) secret(GIGYA_FALLBACK_SECRETS.userKey);
      if (isBlankTemplateValue(params.secret)) secret(GIGYA_FALLBACK_SECRETS.secret);
    }
    return out;
  },
};

async function conventional(ctx: ScriptContext, name: string): Promise<string | undefined> {
  try {
    return await ctx.services.secrets.resolve(name);
  } catch (error) {
    if (error instanceof IdxError && error.code === 'IDX_SECRET_MISSING' && !error.transient) return undefined;
    throw error;
  }
}

/** A client for a step, with the job's shared calls-per-second budget; `close` releases the budget. */
export interface StepClient {
  readonly client: GigyaClient;
  close(): void;
}

/** Builds the client of a step from its connection params (see the module notes for the credential order). */
export async function gigyaClientFor(
  params: GigyaConnectionParams,
  ctx: ScriptContext,
  options: { maxConcurrency: number },
): Promise<StepClient> {
  const endpoint = ctx.services.config.endpoints.gigya;
  const emulator = ctx.services.config.local && endpoint !== undefined;
  let apiKey = isBlankTemplateValue(params.apiKey) ? undefined : params.apiKey;
  let userKey = isBlankTemplateValue(params.userKey) ? undefined : params.userKey;
  let secret = isBlankTemplateValue(params.secret) ? undefined : params.secret;
  const privateKey = isBlankTemplateValue(params.privateKey) ? undefined : params.privateKey;
  if (emulator && userKey === undefined && secret === undefined && privateKey === undefined) {
    // Templates ship without credentials; locally they run against the emulator with its own.
    apiKey = LOCAL_GIGYA_CREDENTIALS.apiKey;
    userKey = LOCAL_GIGYA_CREDENTIALS.userKey;
    secret = LOCAL_GIGYA_CREDENTIALS.secret;
  } else {
    apiKey ??= isBlankTemplateValue(ctx.job.apiKey)
      ? await conventional(ctx, GIGYA_FALLBACK_SECRETS.apiKey)
      : ctx.job.apiKey;
    if (privateKey === undefined) {
      userKey ??= await conventional(ctx, GIGYA_FALLBACK_SECRETS.userKey);
      secret ??= await conventional(ctx, GIGYA_FALLBACK_SECRETS.secret);
    }
  }
  const missing = !apiKey ? 'apiKey' : privateKey === undefined && !secret ? 'secret' : undefined;
  if (missing) {
    throw new IdxError('IDX_GIGYA_CREDENTIALS', `Gigya credentials are incomplete: ${missing} is not set`, {
      stepId: ctx.stepId,
      param: missing,
      expected: `a \${secret:NAME} reference in the step's ${missing}, or the secret ${missing === 'apiKey' ? 'GIGYA_API_KEY' : 'GIGYA_SECRET'}`,
      received: 'nothing',
    });
  }
  for (const v of [secret, privateKey, userKey]) if (v) ctx.services.secrets.redactor.add(v);
  const auth: GigyaAuthMode = privateKey !== undefined ? 'bearer' : params.signRequests ? 'signature' : 'secret';
  const target = endpoint ?? params.dataCenter;
  // The partitions of a Map state in concurrent Lambdas share the budget through the state table (deployed).
  const table = tableBudgetFor(ctx, { target, apiKey: apiKey as string }, params.maxCallsPerSecond);
  const shared = table
    ? { budget: table, release: () => undefined }
    : sharedCallBudget(`${ctx.job.id}|${target}|${apiKey}`, {
        maxConcurrency: Number.MAX_SAFE_INTEGER,
        callsPerSecond: params.maxCallsPerSecond,
      });
  const client = new GigyaClient({
    apiKey: apiKey as string,
    ...(userKey === undefined ? {} : { userKey }),
    ...(secret === undefined ? {} : { secret }),
    ...(privateKey === undefined ? {} : { privateKey }),
    auth,
    ...(endpoint ? { endpoint } : { dataCenter: params.dataCenter }),
    budget: shared.budget,
    maxConcurrency: options.maxConcurrency,
    retry: { maxAttempts: params.maxRetries + 1, baseDelayMs: params.retryBaseDelayMs },
    log: ctx.log,
    signal: ctx.signal,
  });
  return { client, close: shared.release };
}

/** Normalises a comma list of fields: trims the stray spaces templates carry (`"a ,b, c"`). */
export function normalizeSelect(select: string): string {
  return select
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .join(', ');
}

/** Quotes a value as a search-language literal: numbers and booleans bare, strings in double quotes. */
export function queryLiteral(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return `"${String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The continuation a paged reader hands to its next invocation. */
export interface SearchContinuation {
  /** The cursor of the next page (valid for 5 minutes, so the next invocation must follow promptly). */
  readonly cursorId: string;
  /** Records emitted by this step so far, over all invocations. */
  readonly emitted: number;
  readonly pages: number;
  /** The first page's `totalCount`, so later invocations still report the total. */
  readonly total?: number;
}

/**
 * Reads a query page by page with a cursor, emitting every result and flushing per page. It stops when the last
 * page has no `nextCursorId`, when `out.remaining` or `limit` is reached, or — after at least one page — when the
 * invocation's deadline is near, returning the cursor as a continuation.
 */
export async function readWithCursor(args: {
  readonly client: GigyaClient;
  readonly method: string;
  readonly query: string;
  readonly ctx: ScriptContext;
  readonly out: StepOutput;
  readonly limit?: number;
  readonly params?: Record<string, unknown>;
  readonly transform?: (record: DataRecord) => DataRecord;
}): Promise<ReadResult> {
  const { client, method, ctx, out } = args;
  const state = ctx.continuation as SearchContinuation | undefined;
  let cursorId = state?.cursorId;
  let emitted = state?.emitted ?? 0;
  let pages = state?.pages ?? 0;
  let total = state?.total;
  const limit = args.limit ?? Number.POSITIVE_INFINITY;
  let slowest = 0;
  // Calls of this invocation that a throttling pause of the job's budget held back (a 403048 anywhere in the job).
  let held = 0;
  const onHeld = () => {
    held++;
  };
  const retriesBefore = client.stats.retries;
  const firstPage = pages;
  if (cursorId === undefined) ctx.log.info(`${method}: ${args.query}`);
  for (;;) {
    if (Math.min(out.remaining, limit - emitted) <= 0) {
      ctx.log.info(`${method}: stopped at the record limit after ${emitted} records`);
      return {};
    }
    if (pages > firstPage && cursorId && Date.now() + Math.max(2 * slowest, 1000) >= ctx.deadline) {
      ctx.log.info(`${method}: time budget reached after ${emitted} records in ${pages} pages; continuing`);
      return {
        continuation: {
          cursorId,
          emitted,
          pages,
          ...(total === undefined ? {} : { total }),
        } satisfies SearchContinuation,
      };
    }
    const started = Date.now();
    const page = cursorId
      ? await client.searchPage(method, { cursorId, onHeld, ...(args.params ? { params: args.params } : {}) })
      : await client.searchPage(method, {
          query: args.query,
          openCursor: true,
          onHeld,
          ...(args.params ? { params: args.params } : {}),
        });
    pages++;
    if (pages === 1 && page.totalCount !== undefined) {
      ctx.log.info(`${method}: ${page.totalCount} matching`);
      total = page.totalCount;
    }
    out.progress?.({ pages, ...(total === undefined ? {} : { total }) });
    for (const r of page.results) {
      if (out.remaining <= 0 || emitted >= limit) break;
      out.emit(args.transform ? args.transform(r) : r);
      emitted++;
    }
    await out.flush();
    slowest = Math.max(slowest, Date.now() - started);
    if (!page.nextCursorId) {
      const retried = client.stats.retries - retriesBefore;
      ctx.log.info(
        `${method}: read ${emitted} records in ${pages} pages` +
          (held || retried ? `; ${held} calls held by a throttling pause, ${retried} retried` : ''),
      );
      return {};
    }
    cursorId = page.nextCursorId;
  }
}

/**
 * What a record-level failure becomes: a GigyaError that concerns only this record (not a configuration error,
 * not a transient error that outlived its retries) → the details for `_errorDetails`; anything else → undefined,
 * and the caller rethrows so the step fails.
 */
export function recordErrorOf(error: unknown): (Record<string, unknown> & { message: string }) | undefined {
  if (!(error instanceof GigyaError) || error.transient || CONFIGURATION_ERROR_CODES.has(error.errorCode))
    return undefined;
  return {
    message: error.message,
    code: error.errorCode,
    errorCode: error.errorCode,
    errorMessage: error.errorMessage,
    ...(error.errorDetails === undefined ? {} : { errorDetails: error.errorDetails }),
    ...(error.callId === undefined ? {} : { callId: error.callId }),
    ...(error.validationErrors === undefined ? {} : { validationErrors: error.validationErrors }),
  };
}

/**
 * What one record's call came to: a value for the record, or why the record is rejected (with, when Gigya
 * answered with an error, that answer's body).
 */
export type RecordCall<T> =
  | { readonly value: T }
  | { readonly failure: RecordError; readonly response?: Readonly<Record<string, unknown>> };

/**
 * Makes one call per record, at most `concurrency` in flight, outcomes in record order. A Gigya error that
 * concerns only its record (see {@link recordErrorOf}) becomes that record's failure, with Gigya's answer; any
 * other error fails the batch, and so the step.
 */
export async function callPerRecord<T>(
  records: readonly DataRecord[],
  concurrency: number,
  call: (record: DataRecord) => Promise<RecordCall<T>>,
): Promise<RecordCall<T>[]> {
  return mapConcurrent(records, concurrency, async (record) => {
    try {
      return await call(record);
    } catch (error) {
      const failure = recordErrorOf(error);
      if (!failure) throw error;
      return error instanceof GigyaError ? { failure, response: error.response } : { failure };
    }
  });
}

/**
 * The params of a call built from a record's fields: every top-level field `include` accepts (never the
 * engine's `_`-prefixed fields), with flat dotted keys (`profile.email`, a CSV header) nested into their objects.
 * Objects are copied, so the record that continues downstream stays as it was.
 */
export function nestedCallParams(
  record: DataRecord,
  include: (key: string, head: string) => boolean = () => true,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key.startsWith('_') || !include(key, key.split('.')[0] as string)) continue;
    if (key.includes('.')) setPath(out, key, value);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      // Flat keys merged in later (in either order) must not change the record that continues downstream.
      out[key] = {
        ...(structuredClone(value) as Record<string, unknown>),
        ...((out[key] as object | undefined) ?? {}),
      };
    } else out[key] = value;
  }
  return out;
}

/** The params of a writer that makes one Gigya call per record. */
export type RecordCallerParams = GigyaConnectionParams & {
  readonly maxConnections: number;
  readonly addResponse: boolean;
};

/**
 * A writer that makes one call per record, `maxConnections` at a time: an answer without an error code passes the
 * record on, a record-level Gigya error sends it down the error path with `_errorDetails` (the Gigya code, message,
 * details, callId, validationErrors), anything else fails the step (see {@link recordErrorOf}). With
 * `addResponse` the reply (or the error's body) is added to the record as `_response`. A batch is whole before the
 * engine checks the invocation's deadline, so a continuing step never calls twice for one record.
 */
export async function createRecordCaller(
  params: RecordCallerParams,
  ctx: ScriptContext,
  callOf: (record: DataRecord) => { readonly method: string; readonly params: Record<string, unknown> },
): Promise<ScriptInstance> {
  const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: params.maxConnections });
  return {
    async records(batch, out) {
      const outcomes = await callPerRecord(batch, params.maxConnections, async (record) => {
        const call = callOf(record);
        return { value: await client.call(call.method, call.params) };
      });
      outcomes.forEach((o, i) => {
        const record = batch[i] as DataRecord;
        if (params.addResponse) record._response = 'value' in o ? o.value : (o.response ?? {});
        if ('failure' in o) out.reject(record, o.failure);
        else out.emit(record);
      });
      // Gigya answered every call without an error code for these: what the job counts as delivered.
      out.deliveredRecords(outcomes.filter((o) => 'value' in o).length);
    },
    close,
  };
}

/** Runs `fn` over items with at most `concurrency` in flight; results keep the input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (error) {
        // The other workers stop taking items; the first failure is what the caller sees.
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** Renders the `${now…}`, `${jobId}` … placeholders of a (verbatim) where clause for this job. */
export function renderWhere(where: string | undefined, ctx: ScriptContext, timeFormat: 'epochMillis' | 'iso'): string {
  return renderPlaceholders(
    (where ?? '').trim(),
    {
      now: new Date(ctx.job.startTime),
      jobId: ctx.job.id,
      dataflowId: ctx.job.dataflowId,
      ...(ctx.job.apiKey === undefined ? {} : { apiKey: ctx.job.apiKey }),
    },
    timeFormat,
  );
}

/** What a paged search reader reads. */
export interface SearchReaderSpec {
  readonly method: 'accounts.search' | 'ds.search' | 'audit.search' | 'comments.search';
  readonly select: string;
  readonly from: string;
  /** The rendered where clause ('' for none). */
  readonly where: string;
  /** The field the job's delta window applies to; none: no window. */
  readonly deltaField?: string;
  /** How the window's bounds are written: epoch ms, or ISO-8601 strings. */
  readonly deltaFormat: 'epochMillis' | 'iso';
  /** Order by this field (the delta field keeps a cursor walk stable). */
  readonly orderBy?: string;
}

/**
 * Builds a paged reader: `SELECT … FROM … WHERE (where) AND <window> ORDER BY … LIMIT <page>`, read with
 * {@link readWithCursor}. The window is left out on a full extract.
 */
export async function createSearchReader(
  params: GigyaConnectionParams & { batchSize: number; limit?: number; partitions?: number },
  ctx: ScriptContext,
  spec: SearchReaderSpec,
  fullExtract: boolean = ctx.job.fullExtract,
): Promise<ScriptInstance> {
  const conditions: string[] = spec.where ? [`(${spec.where})`] : [];
  const bound = (iso: string) =>
    spec.deltaFormat === 'iso' ? queryLiteral(new Date(iso).toISOString()) : String(Date.parse(iso));
  const windowed = spec.deltaField !== undefined && !fullExtract && ctx.job.delta !== undefined;
  if (spec.deltaField && windowed && ctx.job.delta) {
    if (ctx.job.delta.from !== undefined) conditions.push(`${spec.deltaField} > ${bound(ctx.job.delta.from)}`);
    conditions.push(`${spec.deltaField} <= ${bound(ctx.job.delta.to)}`);
  }
  const pageSize = Math.max(
    1,
    Math.min(params.batchSize, params.limit ?? params.batchSize, ctx.job.limit ?? params.batchSize),
  );
  const select = normalizeSelect(spec.select) || '*';
  const query =
    `SELECT ${select} FROM ${spec.from}` +
    (conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '') +
    (spec.orderBy ? ` ORDER BY ${spec.orderBy}` : '') +
    ` LIMIT ${pageSize}`;
  const state = ctx.continuation as SearchContinuation | PartitionedContinuation | undefined;
  // Ranges of the ordering field keep the single cursor's order; a record limit needs no more than one cursor.
  const partitionable =
    spec.orderBy !== undefined &&
    params.partitions !== 1 &&
    params.limit === undefined &&
    ctx.job.limit === undefined &&
    (state === undefined || 'plan' in state);
  const concurrency = partitionedConcurrency(params.maxCallsPerSecond);
  // An iteration of a Map state reads one partition with one cursor; the Map runs the partitions side by side.
  const inMap = ctx.partition !== undefined;
  const { client, close } = await gigyaClientFor(params, ctx, {
    maxConcurrency: partitionable && !inMap ? concurrency : 1,
  });
  const single = (out: StepOutput, where = query) =>
    readWithCursor({
      client,
      method: spec.method,
      query: where,
      ctx,
      out,
      ...(params.limit === undefined ? {} : { limit: params.limit }),
    });
  if (ctx.partition !== undefined && ctx.partition.range !== undefined && spec.orderBy !== undefined) {
    const range = rangeCondition(ctx.partition.range, spec.orderBy, spec.deltaFormat);
    const ranged =
      `SELECT ${select} FROM ${spec.from} WHERE ${[...conditions, range].join(' AND ')} ` +
      `ORDER BY ${spec.orderBy} LIMIT ${pageSize}`;
    return { read: (out) => single(out, ranged), close };
  }
  if (!partitionable || spec.orderBy === undefined || inMap) {
    return { read: (out) => single(out), partitions: async () => [{ index: 0 }], close };
  }
  const q: PartitionedQuery = {
    method: spec.method,
    select,
    from: spec.from,
    conditions,
    field: spec.orderBy,
    format: spec.deltaFormat,
    ...(windowed && spec.deltaField === spec.orderBy && ctx.job.delta?.from !== undefined
      ? { after: Date.parse(ctx.job.delta.from) }
      : {}),
    nulls: !(windowed && spec.deltaField === spec.orderBy),
    pageSize,
  };
  return {
    async partitions() {
      const planned = await planPartitions({
        client,
        q,
        ctx,
        partitions: params.partitions,
        concurrency,
        max: MAX_MAP_PARTITIONS,
      });
      if (!planned.plan) return [{ index: 0 }];
      return partitionRanges(planned.plan).map((range, index) => ({ index, range }));
    },
    // Outside a Map state (a script run on its own), the partitions share this one invocation.
    async read(out) {
      let current = state as PartitionedContinuation | undefined;
      if (current === undefined) {
        const planned = await planPartitions({ client, q, ctx, partitions: params.partitions, concurrency });
        if (!planned.plan) return single(out);
        current = { plan: planned.plan, head: 0, emitted: 0, pages: planned.probes };
      }
      return readPartitioned({ client, q, ctx, out, state: current, concurrency });
    },
    close,
  };
}

/**
 * Iterations an inline Map state runs at once at most (AWS Step Functions developer guide, "Using Map state in
 * Inline mode": "the Map state supports up to 40 concurrent iterations").
 */
export const MAX_INLINE_MAP_CONCURRENCY = 40;

/**
 * Whether a search reader with these params (as written, without defaults) is compiled into a Map state of
 * partitions, and how many it reads at once: as many as a partitioned read keeps cursors in flight, up to what an
 * inline Map runs at once. `partitions: 1` and a step `limit` read one cursor, in the single Task loop.
 */
export function searchPartitioned(params: Readonly<Record<string, unknown>>): { maxConcurrency: number } | undefined {
  if (params.partitions === 1 || params.limit !== undefined) return undefined;
  const rate = typeof params.maxCallsPerSecond === 'number' ? params.maxCallsPerSecond : 20;
  return { maxConcurrency: Math.min(MAX_INLINE_MAP_CONCURRENCY, partitionedConcurrency(rate)) };
}

/**
 * Partitions a reader keeps in flight: two per call it may start each second, so that a search taking up to 2 s
 * still leaves no second of the budget unused (at most 64).
 */
export function partitionedConcurrency(callsPerSecond: number): number {
  return Math.max(2, Math.min(64, Math.ceil(2 * callsPerSecond)));
}
