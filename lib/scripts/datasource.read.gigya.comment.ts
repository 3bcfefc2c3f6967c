import type { DataRecord, StepOutput } from '../core/script.ts';
import { defineScript } from '../core/script.ts';
import { checkWherePlaceholders, datasourceReadGigyaAccount } from './datasource.read.gigya.account.ts';
import { GIGYA_PARTITIONS_PARAM } from './util/gigya-partitions.ts';
import {
  createSearchReader,
  GIGYA_CONNECTION_PARAMS,
  GIGYA_PAGE_SIZE_PARAM,
  GIGYA_REACHES,
  renderWhere,
} from './util/gigya-step.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A copy of a value in which every key holding dots (`"delivery.speed": 5`) becomes nested objects
 * (`delivery: {speed: 5}`), merged with what is already there. A dotted key that cannot nest without replacing a
 * value (an empty part, or a part that already holds something other than an object) stays as it is: data is
 * never dropped.
 */
export function expandDottedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandDottedKeys);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  const dotted: [string, unknown][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('.')) dotted.push([k, expandDottedKeys(v)]);
    else
      Object.defineProperty(out, k, {
        value: expandDottedKeys(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  for (const [key, v] of dotted) {
    const parts = key.split('.');
    let cur = out;
    let placed = !parts.includes('');
    for (let i = 0; placed && i < parts.length - 1; i++) {
      const p = parts[i] as string;
      const next = Object.hasOwn(cur, p) ? cur[p] : undefined;
      if (next === undefined) {
        const created: Record<string, unknown> = {};
        Object.defineProperty(cur, p, { value: created, enumerable: true, writable: true, configurable: true });
        cur = created;
      } else if (isObject(next)) cur = next;
      else placed = false;
    }
    const last = parts[parts.length - 1] as string;
    if (placed && !Object.hasOwn(cur, last)) {
      Object.defineProperty(cur, last, { value: v, enumerable: true, writable: true, configurable: true });
    } else out[key] = v;
  }
  return out;
}

/** The output with every emitted record passed through `map` first. */
function mappingEmits(out: StepOutput, map: (r: DataRecord) => DataRecord): StepOutput {
  return new Proxy(out, {
    get(target, key) {
      if (key === 'emit') return (r: DataRecord) => target.emit(map(r));
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** The epoch-ms fields of each record kind a delta can key on (extras.md §2.2). */
const DELTA_FIELDS = {
  streams: ['timestamp', 'createDate', 'lastCommentTimestamp'],
  comments: ['timestamp', 'threadTimestamp'],
} as const;

/**
 * `datasource.read.gigya.comment`: reads Comments streams (StreamInfo) or comments with a cursor, by default only
 * those created within the job's delta window.
 */
export const datasourceReadGigyaComment = defineScript({
  type: 'datasource.read.gigya.comment',
  summary:
    'Reads Comments streams or comments of the site (cursor paging), by default only those created since the last successful run.',
  description:
    'The query is `SELECT * FROM <from> WHERE (<where>) AND <deltaField> > <from ms> AND <deltaField> <= <to ms> ' +
    'ORDER BY <deltaField> LIMIT <batchSize>`, sent to `comments.search` with a cursor, as the account reader ' +
    'reads accounts: the delta window of the job (left out with fullExtract, as the published comment migrations ' +
    'run: a `once` schedule with "pull all records"), pages until the last one, and near the invocation\'s time ' +
    'budget a continuation the next invocation resumes. Decisions where IdentitySync is not documented: the API ' +
    'is taken to be a search over two collections with the accounts.search language and cursors (no public ' +
    'document names it; the public Comments API is per stream and cannot list streams); the delta applies to ' +
    '`timestamp`, the creation time both record kinds carry, as IdentitySync readers read what is new since ' +
    'the last successful run and neither kind documents a last-updated time (so a comment edited or moderated ' +
    'after it was exported is not read again by a delta run); `${now-1d}`-style times in `where` render as ' +
    'epoch ms in any run (the rule tying them to fullExtract is documented for the account reader only). ' +
    'Records are StreamInfo objects (`streamID`, `categoryID`, `streamTitle`, `createDate`, `commentCount`, …) or ' +
    'Comment objects (`ID`, `streamId`, `threadID`, `parentID`, `commentText`, `sender.UID`, `timestamp`, …).',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    from: {
      type: 'string',
      required: true,
      enum: ['streams', 'comments'],
      description: 'Which records to read: streams (the comment threads of a page, with their counts) or comments.',
    },
    where: {
      type: 'string',
      verbatim: true,
      timeFormat: 'epochMillis',
      description:
        'Filter in the search language (double-quoted strings), e.g. `categoryID="comments"`; `${now-7d}` renders ' +
        'as epoch ms.',
      examples: ['categoryID="comments"'],
    },
    batchSize: {
      ...GIGYA_PAGE_SIZE_PARAM,
      default: 300,
      description:
        'Page size (the cursor LIMIT), at most 1000 as for every Gigya search. The published dataflows use 300 ' +
        'for streams and 100 for comments; 300 is the default.',
    },
    keepFieldNamesWithDotAsIs: {
      type: 'boolean',
      default: false,
      description:
        'false: a field name with dots (`"delivery.speed": 5`, e.g. a rating dimension) becomes nested objects ' +
        '(`delivery: {speed: 5}`), as field paths elsewhere are dotted; a name that cannot nest without replacing ' +
        'a value is kept as it is. true: every name is kept as it is. (IdentitySync documents no more than the ' +
        "param's name; this is our reading of it.)",
    },
    deltaField: {
      type: 'string',
      default: 'timestamp',
      enum: ['timestamp', 'createDate', 'lastCommentTimestamp', 'threadTimestamp'],
      description:
        'The epoch-ms field the delta window applies to; results are ordered by it. `timestamp` is the creation ' +
        'time of a stream or comment; for streams also `createDate` or `lastCommentTimestamp` (the streams ' +
        'commented on since the last run), for comments `threadTimestamp`.',
    },
    fullExtract: datasourceReadGigyaAccount.params.fullExtract,
    limit: {
      type: 'integer',
      minimum: 1,
      description: 'At most this many records (besides the job limit, e.g. 10 in test runs).',
    },
    partitions: GIGYA_PARTITIONS_PARAM,
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  check(params) {
    const problems = checkWherePlaceholders(params.where);
    // Validation sees the params as written: defaults are not filled in yet.
    const deltaField = (params.deltaField as string | undefined) ?? 'timestamp';
    const fields: readonly string[] = DELTA_FIELDS[params.from];
    if (!fields.includes(deltaField)) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: 'deltaField',
        message: `${params.from} records have no ${deltaField}, so the delta window would match none`,
        expected: `one of ${fields.join(', ')}`,
        received: JSON.stringify(deltaField),
      });
    }
    return problems;
  },
  async create(params, ctx) {
    const reader = await createSearchReader(
      params,
      ctx,
      {
        method: 'comments.search',
        select: '*',
        from: params.from,
        where: renderWhere(params.where, ctx, 'epochMillis'),
        deltaField: params.deltaField,
        deltaFormat: 'epochMillis',
        orderBy: params.deltaField,
      },
      ctx.job.fullExtract || params.fullExtract,
    );
    const read = reader.read;
    if (params.keepFieldNamesWithDotAsIs || !read) return reader;
    return { ...reader, read: (out) => read(mappingEmits(out, (r) => expandDottedKeys(r) as DataRecord)) };
  },
});
