/**
 * Partitioned reading of a Gigya search (`accounts.search`, `ds.search`, `audit.search`, `comments.search`): the
 * query space is cut into disjoint ranges of the field the results are ordered by, which together cover it exactly
 * once, and each range is read by its own cursor, many at once, within the site's calls-per-second budget. One
 * cursor reads one page per round trip, so it runs at 1 ÷ latency pages per second whatever the budget; with as
 * many cursors in flight as the budget allows per round trip, the budget is what bounds the export.
 *
 * Plan (the first invocation): one search without a cursor, `ORDER BY <field> DESC LIMIT 1`, gives the number of
 * matching records (`totalCount`) and the newest value, which becomes the fixed upper bound of the export; a second
 * one, ascending and sent at the same time, the oldest value when the job's window has no lower bound. The span
 * between is cut into ranges of equal width, about {@link PAGES_PER_PARTITION} pages each by the count (the last
 * ones halved when they outnumber the cursors in flight: {@link taperRanges}); a range
 * whose first page reports more than {@link SPLIT_FACTOR} times that is cut again before anything of it is emitted
 * (skewed timestamps, a bulk import). A full extract ends with a range of the records without the field (`IS NULL`),
 * which the single cursor also returns, last.
 *
 * Order: ranges in order, then each cursor's order, which is the single cursor's `ORDER BY <field>`: the file is
 * the same whatever the number of partitions. Only the head range emits; the ranges after it that are already
 * being read spool their pages to a local file, emitted when their turn comes, so memory stays flat.
 *
 * Continuation: near the invocation's deadline no further range starts; ranges already read to the end are
 * emitted, the head range hands back its cursor, and the ranges after it that are not finished are dropped with
 * their spool and read again in the next invocation (what a Lambda's /tmp keeps between invocations is not
 * guaranteed). Every invocation emits at least one page of the head, so a job progresses whatever the budget.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { GigyaClient, GigyaSearchPage } from '../../connectors/gigya.ts';
import { IdxError } from '../../core/errors.ts';
import {
  type DataRecord,
  MAX_MAP_PARTITIONS,
  type ReadResult,
  type ScriptContext,
  type StepOutput,
} from '../../core/script.ts';
import { getPath } from './paths.ts';

/** At most this many partitions (the plan travels in the state machine's state, 256 KB at most). */
export const MAX_PARTITIONS = 1000;
/** The size of a partition the plan aims at, in pages; larger partitions waste less on their last short page. */
export const PAGES_PER_PARTITION = 10;
/** Without a `partitions` param, exports of fewer pages than this read one cursor. */
export const AUTO_MIN_PAGES = 20;
/**
 * Without a `partitions` param, partitions are at least this many pages; smaller exports get more partitions than
 * {@link PAGES_PER_PARTITION} gives, up to one per cursor in flight, since one cursor reads one page per round trip.
 */
export const MIN_PAGES_PER_PARTITION = 2;
/** A partition whose first page counts more than this many times the target is cut again. */
export const SPLIT_FACTOR = 3;

/** The `partitions` param of the search readers. */
export const GIGYA_PARTITIONS_PARAM = {
  type: 'integer',
  minimum: 1,
  maximum: MAX_MAP_PARTITIONS,
  description:
    'An identity-sync addition (IdentitySync has no such param): the number of disjoint ranges of the ordering ' +
    'field the read is cut into, each read by its own cursor in an iteration of a Map state (its own Lambda ' +
    'invocations, continuing on their own), many at once within `maxCallsPerSecond`, which they all share. ' +
    'Default: chosen from a count of the matching records: about 10 pages a partition, and as many partitions as ' +
    "cursors in flight (two per call of `maxCallsPerSecond`, at most 40: the Map's MaxConcurrency) while each keeps 2 pages or " +
    'more, the last ones halved when there are more partitions than cursors in flight; one cursor below 20 pages; ' +
    'at most 256 in a Map. `1`: a single cursor, in one Task loop. The records and ' +
    "their order are the same whatever the number: ranges in order, then each cursor's order. A job limit (test " +
    'runs) or `limit` reads one cursor.',
} as const;

/** The ranges of a partitioned read. */
export interface PartitionPlan {
  /** The field the ranges apply to (the search's ORDER BY). */
  readonly field: string;
  /** How the field's values are written in the query: epoch ms, or ISO-8601 strings. */
  readonly format: 'epochMillis' | 'iso';
  /** Range ends in epoch ms: range i is `field > bounds[i] AND field <= bounds[i + 1]`. */
  readonly bounds: number[];
  /** A last partition holds the records without the field (full extracts). */
  readonly nulls: boolean;
  /** Matching records when planned (for logs). */
  readonly total: number;
  /** The partition size aimed at, in records; a range whose first page counts over SPLIT_FACTOR× it is cut. */
  readonly target: number;
}

/** What a partitioned reader hands to its next invocation. */
export interface PartitionedContinuation {
  readonly plan: PartitionPlan;
  /** The partition being emitted. */
  readonly head: number;
  /** The head partition's cursor, when it has read some of its pages. */
  readonly cursorId?: string;
  /** Records emitted so far, over all invocations. */
  readonly emitted: number;
  /** Pages read so far, over all invocations, probes and dropped ones included. */
  readonly pages: number;
}

/** What a partitioned read queries: everything but the range. */
export interface PartitionedQuery {
  readonly method: string;
  /** The select list (normalised). */
  readonly select: string;
  readonly from: string;
  /** The conditions every partition keeps (the where clause, the delta window). */
  readonly conditions: readonly string[];
  readonly field: string;
  readonly format: 'epochMillis' | 'iso';
  /** The window's lower bound (exclusive, epoch ms), when the job has one. */
  readonly after?: number;
  /** Whether records without the field match (no window applies to the field). */
  readonly nulls: boolean;
  readonly pageSize: number;
}

/** How a value of the field is written in a query. */
function literal(ms: number, format: 'epochMillis' | 'iso'): string {
  return format === 'iso' ? `"${new Date(ms).toISOString()}"` : String(ms);
}

/** The condition of partition `i` of a plan. */
export function partitionCondition(plan: PartitionPlan, i: number): string {
  if (i >= plan.bounds.length - 1) return `${plan.field} IS NULL`;
  const lo = plan.bounds[i] as number;
  const hi = plan.bounds[i + 1] as number;
  return `${plan.field} > ${literal(lo, plan.format)} AND ${plan.field} <= ${literal(hi, plan.format)}`;
}

/** The range of one partition of a Map state's plan: `field > lo AND field <= hi`, or the records without it. */
export type PartitionRange = { readonly lo: number; readonly hi: number } | { readonly nulls: true };

/** The ranges of a plan, in order, as the items of a Map state. */
export function partitionRanges(plan: PartitionPlan): PartitionRange[] {
  const out: PartitionRange[] = [];
  for (let i = 0; i < plan.bounds.length - 1; i++)
    out.push({ lo: plan.bounds[i] as number, hi: plan.bounds[i + 1] as number });
  if (plan.nulls) out.push({ nulls: true });
  return out;
}

/**
 * The condition of one range of a Map state's plan, for a query on `field`; throws `IDX_PARTITION_PLAN` when the
 * item is not a range this module made (the state is ours, but nothing from it becomes query text unchecked).
 */
export function rangeCondition(range: unknown, field: string, format: 'epochMillis' | 'iso'): string {
  const r = range as Partial<{ lo: unknown; hi: unknown; nulls: unknown }> | null;
  if (r && r.nulls === true) return `${field} IS NULL`;
  if (r && Number.isSafeInteger(r.lo) && Number.isSafeInteger(r.hi) && (r.lo as number) < (r.hi as number)) {
    const lo = r.lo as number;
    const hi = r.hi as number;
    return `${field} > ${literal(lo, format)} AND ${field} <= ${literal(hi, format)}`;
  }
  throw new IdxError('IDX_PARTITION_PLAN', `a partition of ${field} is not a range this reader planned`, {
    param: 'partitions',
    expected: '{lo, hi} (integers, lo < hi) or {nulls: true}',
    received: JSON.stringify(range) ?? 'nothing',
  });
}

/** The number of partitions of a plan. */
export function partitionCount(plan: PartitionPlan): number {
  return plan.bounds.length - 1 + (plan.nulls ? 1 : 0);
}

function where(conditions: readonly string[]): string {
  return conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
}

/** Cuts (lo, hi] into at most `n` ranges of equal width on whole milliseconds; returns the n + 1 ends. */
export function equalRanges(lo: number, hi: number, n: number): number[] {
  const count = Math.max(1, Math.min(n, hi - lo));
  const bounds = [lo];
  for (let i = 1; i < count; i++) bounds.push(lo + Math.round(((hi - lo) * i) / count));
  bounds.push(hi);
  return bounds.filter((b, i) => i === 0 || b > (bounds[i - 1] as number));
}

/**
 * Ranges whose ends taper: the last ranges of a plan that has more ranges than cursors in flight are cut in two.
 * A Map starts its ranges in order, `concurrency` at once, so once the last range has started the ranges still in
 * flight dwindle, and with fewer cursors than calls per round trip the budget goes unused; a range keeps its cursor
 * to its end. Halving the last `concurrency ÷ 2` ranges halves that drain, at the price of one more short last page
 * for each. Plans with no more ranges than cursors in flight, or with ranges too small to halve, stay as they are.
 */
export function taperRanges(bounds: readonly number[], concurrency: number, max: number): number[] {
  const n = bounds.length - 1;
  const k = Math.min(Math.ceil(concurrency / 2), n - concurrency, max - n);
  if (k <= 0) return [...bounds];
  const out = bounds.slice(0, n - k + 1);
  for (let i = n - k; i < n; i++) {
    const lo = bounds[i] as number;
    const hi = bounds[i + 1] as number;
    const mid = lo + Math.floor((hi - lo) / 2);
    if (mid > lo) out.push(mid);
    out.push(hi);
  }
  return out;
}

/** The value of the field in a probe's only result, as epoch ms. */
function probedValue(
  q: PartitionedQuery,
  page: GigyaSearchPage,
  ctx: ScriptContext,
  which: 'newest' | 'oldest',
): number {
  const first = page.results[0];
  const raw = first === undefined ? undefined : getPath(first, q.field);
  const ms =
    typeof raw === 'number' ? raw : typeof raw === 'string' && q.format === 'iso' ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new IdxError(
      'IDX_GIGYA_PARTITION_FIELD',
      `${q.method}: the ${which} value of ${q.field} cannot bound a partition`,
      {
        stepId: ctx.stepId,
        param: 'partitions',
        expected: q.format === 'iso' ? 'an ISO-8601 time' : 'a number (epoch milliseconds)',
        received: JSON.stringify(raw) ?? 'nothing',
      },
    );
  }
  // Ranges are whole milliseconds: round outwards so that a fractional value stays inside them.
  return which === 'newest' ? Math.ceil(ms) : Math.floor(ms);
}

/**
 * Plans a partitioned read: probes the count and the field's newest (and, without a window start, oldest) value.
 * Returns undefined when the read should stay one cursor (nothing matches, or too little for the default).
 */
export async function planPartitions(args: {
  readonly client: GigyaClient;
  readonly q: PartitionedQuery;
  readonly ctx: ScriptContext;
  /** The `partitions` param; undefined: chosen from the count. */
  readonly partitions: number | undefined;
  /** Partitions read at once. */
  readonly concurrency: number;
  /** The most partitions the plan may have. @default {@link MAX_PARTITIONS} */
  readonly max?: number;
}): Promise<{ plan?: PartitionPlan; probes: number }> {
  const { client, q, ctx } = args;
  const probe = (order: 'ASC' | 'DESC', extra: string[]) =>
    client.searchPage(q.method, {
      query: `SELECT ${q.field} FROM ${q.from}${where([...q.conditions, ...extra])} ORDER BY ${q.field} ${order} LIMIT 1`,
    });
  // Records without the field sort apart (last, in the emulator); the probes look at those with it, through a
  // range condition (a search index serves it from the field's order) rather than IS NOT NULL.
  const notNull = q.nulls ? [`${q.field} >= ${literal(0, q.format)}`] : [];
  // Without a window start the oldest value is needed too: both probes are sent at once, as they are independent
  // (one round trip rather than two, at the price of a wasted probe when the count then says one cursor).
  const oldestProbe = q.after === undefined ? probe('ASC', notNull) : undefined;
  // Marked handled now: when the newest's probe fails first, the oldest's failure must not go unhandled.
  oldestProbe?.catch(() => undefined);
  const newest = await probe('DESC', notNull);
  const probes = oldestProbe ? 2 : 1;
  const withField = newest.totalCount ?? newest.results.length;
  const pages = Math.ceil(withField / q.pageSize);
  const wanted =
    args.partitions ??
    (pages < AUTO_MIN_PAGES
      ? 1
      : Math.max(
          Math.ceil(pages / PAGES_PER_PARTITION),
          Math.min(args.concurrency, Math.floor(pages / MIN_PAGES_PER_PARTITION)),
        ));
  // The range of the records without the field counts towards the most partitions too.
  const most = (args.max ?? MAX_PARTITIONS) - (q.nulls ? 1 : 0);
  const n = Math.min(most, wanted);
  if (withField === 0 || n <= 1) {
    // Not needed after all; waited for so that no call of this read outlives it, and its failure is no one's.
    await oldestProbe?.catch(() => undefined);
    ctx.log.info(`${q.method}: ${withField} matching; one cursor`);
    return { probes };
  }
  const hi = probedValue(q, newest, ctx, 'newest');
  const lo = oldestProbe ? probedValue(q, await oldestProbe, ctx, 'oldest') - 1 : (q.after as number);
  const equal = equalRanges(lo, hi, n);
  // Tapered only when the plan is the reader's own choice, and its ranges hold enough pages to halve.
  const bounds =
    args.partitions === undefined && pages >= 2 * MIN_PAGES_PER_PARTITION * n
      ? taperRanges(equal, args.concurrency, most)
      : equal;
  if (bounds.length < 3) {
    // One range (or none, if the site's newest value came before its oldest) is the single cursor's read.
    ctx.log.info(`${q.method}: ${withField} matching within one millisecond; one cursor`);
    return { probes };
  }
  const plan: PartitionPlan = {
    field: q.field,
    format: q.format,
    bounds,
    nulls: q.nulls,
    total: withField,
    target: Math.max(q.pageSize, Math.ceil(withField / n)),
  };
  ctx.log.info(
    `${q.method}: ${withField} matching; ${partitionCount(plan)} partitions of ${q.field} up to ` +
      `${literal(hi, q.format)} (fixed for this job)`,
  );
  return { plan, probes };
}

/** One partition while an invocation reads it. */
interface Part {
  /** Its range, for logs. */
  readonly condition: string;
  /** `paused`: the head stopped at the deadline with its cursor; `dropped`: stopped, read again next time. */
  state: 'waiting' | 'reading' | 'paused' | 'done' | 'dropped';
  head: boolean;
  cursorId?: string;
  /** Pages delivered, whether emitted or spooled. */
  pages: number;
  records: number;
  /** Calls of this partition that a throttling pause held back. */
  held: number;
  spool?: { file: FileHandle; path: string; records: number };
  /** Serialises delivery: pages, then the turn to emit, in order. */
  chain: Promise<void>;
  /** Set when reading stops; the turn waits for it. */
  finished?: Promise<void>;
  /** Subranges replacing this partition, when its first page showed it far too large. */
  split?: number[];
}

/**
 * Reads a planned partitioned search: at most `concurrency` partitions at once, emitting in partition order.
 * Returns a continuation while partitions are left when the deadline comes.
 */
export async function readPartitioned(args: {
  readonly client: GigyaClient;
  readonly q: PartitionedQuery;
  readonly ctx: ScriptContext;
  readonly out: StepOutput;
  readonly state: PartitionedContinuation;
  readonly concurrency: number;
}): Promise<ReadResult> {
  const { client, q, ctx, out } = args;
  const plan: PartitionPlan = { ...args.state.plan, bounds: [...args.state.plan.bounds] };
  let emitted = args.state.emitted;
  let pages = args.state.pages;
  // Whether the head emitted a page or moved on in this invocation: it may stop at the deadline only then.
  let progressed = false;
  let slowest = 0;
  let stopping = false;
  const dir = await mkdtemp(join(tmpdir(), 'idx-gigya-partitions-'));
  const failures: unknown[] = [];
  const query = (i: number) =>
    `SELECT ${q.select} FROM ${q.from}${where([...q.conditions, partitionCondition(plan, i)])} ` +
    `ORDER BY ${q.field} LIMIT ${q.pageSize}`;
  const near = () => Date.now() + Math.max(2 * slowest, 1000) >= ctx.deadline;
  // A partition starts only if it can be read to the end before the deadline at the slowest pace seen, twice over:
  // at the deadline the partitions read ahead are then mostly emitted already, rather than dropped and read again.
  const late = () => Date.now() + 2 * slowest * Math.ceil(plan.target / q.pageSize) >= ctx.deadline;
  // The partitions from the head on, in order; index 0 is the head.
  const parts: Part[] = [];
  let headIndex = args.state.head;
  const total = () => partitionCount(plan);
  const make = (i: number): Part => ({
    condition: partitionCondition(plan, i),
    state: 'waiting',
    head: false,
    pages: 0,
    records: 0,
    held: 0,
    chain: Promise.resolve(),
  });
  for (let i = headIndex; i < total(); i++) parts.push(make(i));
  const first = parts[0];
  if (first && args.state.cursorId !== undefined) first.cursorId = args.state.cursorId;

  const emitPage = async (records: readonly DataRecord[]) => {
    for (const r of records) out.emit(r);
    emitted += records.length;
    await out.flush();
  };
  const deliver = (part: Part, records: DataRecord[]): Promise<void> => {
    part.chain = part.chain.then(async () => {
      if (part.head) {
        progressed = true;
        return emitPage(records);
      }
      if (!part.spool) {
        const path = join(dir, `p${Math.random().toString(36).slice(2)}.ndjson`);
        part.spool = { file: await open(path, 'w'), path, records: 0 };
      }
      if (records.length) await part.spool.file.write(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
      part.spool.records += records.length;
    });
    return part.chain;
  };
  const dropSpool = async (part: Part) => {
    if (!part.spool) return;
    await part.spool.file.close();
    await rm(part.spool.path, { force: true });
    delete part.spool;
  };
  /** Emits what the partition spooled, then lets its later pages through. */
  const takeTurn = (part: Part): Promise<void> => {
    part.chain = part.chain.then(async () => {
      if (part.spool) {
        const { file, path } = part.spool;
        await file.close();
        const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
        let batch: DataRecord[] = [];
        for await (const line of lines) {
          if (!line) continue;
          batch.push(JSON.parse(line) as DataRecord);
          if (batch.length >= 1000) {
            await emitPage(batch);
            batch = [];
          }
        }
        await emitPage(batch);
        await rm(path, { force: true });
        delete part.spool;
      }
      part.head = true;
    });
    return part.chain;
  };

  const read = async (part: Part) => {
    const index = () => headIndex + parts.indexOf(part);
    for (;;) {
      if (failures.length || (stopping && !part.head)) {
        part.state = 'dropped';
        return;
      }
      // The head stops at the deadline once this invocation made progress; the others stop with it.
      if (part.head && progressed && part.cursorId !== undefined && near()) {
        stopping = true;
        part.state = 'paused';
        return;
      }
      const started = Date.now();
      const opened = part.cursorId === undefined;
      const onHeld = () => {
        part.held++;
      };
      const page = part.cursorId
        ? await client.searchPage(q.method, { cursorId: part.cursorId, onHeld })
        : await client.searchPage(q.method, { query: query(index()), openCursor: true, onHeld });
      pages++;
      slowest = Math.max(slowest, Date.now() - started);
      const count = page.totalCount ?? 0;
      const i = index();
      if (opened && count > SPLIT_FACTOR * plan.target && i < plan.bounds.length - 1) {
        const sub = equalRanges(plan.bounds[i] as number, plan.bounds[i + 1] as number, Math.ceil(count / plan.target));
        // Cuts stop at twice the most a plan makes: the plan travels in the state machine's state.
        if (sub.length > 2 && total() + sub.length - 2 <= 2 * MAX_PARTITIONS) {
          part.state = 'done';
          const k = parts.indexOf(part);
          // The head is replaced by the turn loop; another partition at once, so its subranges start reading.
          if (k === 0) part.split = sub;
          else {
            plan.bounds.splice(i, 2, ...sub);
            parts.splice(k, 1, ...sub.slice(1).map((_, j) => make(i + j)));
          }
          return;
        }
      }
      part.pages++;
      part.records += page.results.length;
      await deliver(part, page.results);
      if (!page.nextCursorId) {
        part.state = 'done';
        ctx.log.debug(
          `${q.method}: partition ${i + 1}/${total()} (${part.condition}): ${part.records} records in ` +
            `${part.pages} pages; ${part.held} calls held by a throttling pause`,
        );
        return;
      }
      part.cursorId = page.nextCursorId;
    }
  };

  // Starts partitions in order from the head while fewer than `concurrency` read and the deadline is far.
  const window = Math.max(1, Math.ceil(args.concurrency * 1.5));
  const fill = () => {
    let reading = parts.filter((p) => p.state === 'reading').length;
    for (let k = 0; k < Math.min(parts.length, window); k++) {
      const part = parts[k] as Part;
      if (part.state !== 'waiting') continue;
      // The head always reads: the turn waits for it.
      if (k > 0 && reading >= args.concurrency) break;
      // Past the deadline only the head starts: it must emit a page in every invocation.
      if (k > 0 && (stopping || near() || late())) break;
      part.state = 'reading';
      reading++;
      part.finished = read(part).then(
        () => {
          if (part.state === 'reading') part.state = 'done';
          fill();
        },
        (error: unknown) => {
          failures.push(error);
          stopping = true;
          part.state = 'dropped';
        },
      );
    }
  };

  try {
    while (parts.length > 0) {
      const head = parts[0] as Part;
      fill();
      await takeTurn(head);
      await head.finished;
      if (failures.length) throw failures[0];
      if (head.split) {
        // Cut again before anything of it was emitted: the subranges take its place, in order.
        const sub = head.split;
        plan.bounds.splice(headIndex, 2, ...sub);
        parts.splice(0, 1, ...sub.slice(1).map((_, k) => make(headIndex + k)));
        continue;
      }
      if (head.state !== 'done') break;
      parts.shift();
      headIndex++;
      progressed = true;
      if (stopping || near()) {
        stopping = true;
        // Partitions already read to the end are emitted; the rest are read again next time.
        while (parts[0]?.state === 'done' && !parts[0].split) {
          const done = parts[0];
          await takeTurn(done);
          parts.shift();
          headIndex++;
        }
        break;
      }
    }
    stopping = true;
    await Promise.all(parts.map((p) => p.finished));
    if (failures.length) throw failures[0];
  } finally {
    stopping = true;
    await Promise.allSettled(parts.map((p) => p.finished));
    for (const p of parts) {
      await p.chain.catch(() => undefined);
      await dropSpool(p).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  }
  const head = parts[0];
  if (!head) {
    ctx.log.info(`${q.method}: read ${emitted} records in ${pages} searches over ${total()} partitions`);
    return {};
  }
  ctx.log.info(
    `${q.method}: time budget reached after ${emitted} records in ${pages} searches; continuing at partition ` +
      `${headIndex + 1}/${total()}`,
  );
  return {
    continuation: {
      plan,
      head: headIndex,
      ...(head.state === 'paused' && head.cursorId !== undefined ? { cursorId: head.cursorId } : {}),
      emitted,
      pages,
    } satisfies PartitionedContinuation,
  };
}
