import { IdxError } from '../core/errors.ts';
import { defineScript, type ScriptCheckProblem } from '../core/script.ts';
import { isProblem, placeholdersIn } from '../dataflow/placeholders.ts';
import { GIGYA_PARTITIONS_PARAM } from './util/gigya-partitions.ts';
import {
  createSearchReader,
  GIGYA_CONNECTION_PARAMS,
  GIGYA_PAGE_SIZE_PARAM,
  GIGYA_REACHES,
  normalizeSelect,
  renderWhere,
  searchPartitioned,
} from './util/gigya-step.ts';

/** Timestamp fields a delta may key on (identitysync-spec.md §3). */
const DELTA_FIELDS = [
  'lastUpdatedTimestamp',
  'lastLoginTimestamp',
  'oldestDataUpdatedTimestamp',
  'createdTimestamp',
  'verifiedTimestamp',
  'registeredTimestamp',
] as const;

/** A consent statement id: dotted segments of letters, digits, `_` and `-` (`terms.tos`, `privacy.marketing`). */
const CONSENT_ID = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * The query parts of `consent`: a condition per consent id that it is granted, and the consent objects added to
 * `select` unless it already brings them (`*`, `preferences`, or the consent's own path).
 */
export function consentQuery(select: string, consent: readonly string[]): { select: string; where: string } {
  const fields = normalizeSelect(select);
  const paths = fields === '' ? [] : fields.split(', ');
  const covered = (path: string) => paths.some((p) => p === '*' || path === p || path.startsWith(`${p}.`));
  const added = consent.map((id) => `preferences.${id}`).filter((p) => !covered(p));
  return {
    select: [...paths, ...added].join(', '),
    where: consent.map((id) => `preferences.${id}.isConsentGranted = true`).join(' AND '),
  };
}

/** A time placeholder (`${now}`, `${now-1h}`, `${unix}`): allowed in `where` only with fullExtract. */
const TIME_PLACEHOLDER = /\$\{(?:now|unix)(?:[-+:][^}]*)?\}/;

/** Checks the placeholders of a `where` clause (it is `verbatim`, so the validator leaves them to us). */
export function checkWherePlaceholders(where: string | undefined): ScriptCheckProblem[] {
  const problems: ScriptCheckProblem[] = [];
  for (const p of placeholdersIn(where ?? '')) {
    if (isProblem(p))
      problems.push({ code: p.code, path: 'where', message: p.message, expected: p.expected, received: p.raw });
    else if (p.kind === 'secret') {
      problems.push({
        code: 'IDX_GIGYA_WHERE_SECRET',
        path: 'where',
        message: 'a where clause cannot hold a secret: it is sent as query text and logged',
        expected: 'no ${secret:…} in where',
        received: p.raw,
      });
    }
  }
  return problems;
}

/**
 * `datasource.read.gigya.account`: pulls accounts through `accounts.search` with a cursor, by default only those
 * changed within the job's delta window.
 */
export const datasourceReadGigyaAccount = defineScript({
  type: 'datasource.read.gigya.account',
  summary:
    'Reads accounts with accounts.search (cursor paging), by default only those changed since the last successful run.',
  description:
    'The query is `SELECT <select> FROM <from> WHERE (<where>) AND <deltaField> > <from> AND <deltaField> <= <to> ' +
    'ORDER BY <deltaField>` with the delta window of the job (no lower bound on a first run). With fullExtract ' +
    "(the schedule's or this step's) the window is left out and `where` may use `${now-1h}`-style times, which " +
    'render as epoch milliseconds; without fullExtract such a where fails the run (IDX_GIGYA_WHERE_TIME). Pages ' +
    "are read until the last one (short pages do not end the walk); near the invocation's time budget the reader " +
    'returns its cursor and the next invocation continues it, so exports of any size fit in 15-minute Lambdas.',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    select: {
      type: 'string',
      required: true,
      description:
        'Comma list of fields, e.g. `UID,profile.email,data.subscribed`; `profile` returns the whole object; `*` every field.',
      examples: ['UID,profile.firstName,profile.lastName,profile.email'],
    },
    from: {
      type: 'string',
      default: 'accounts',
      enum: ['accounts', 'emailAccounts'],
      description: 'Full accounts, or lite (email) accounts.',
    },
    where: {
      type: 'string',
      verbatim: true,
      timeFormat: 'epochMillis',
      description:
        'Filter in the search language (double-quoted strings), e.g. `profile.country = "DE"`. Time expressions ' +
        '`${now-1h}` (units y M w d h m s) render as epoch ms and are allowed only with fullExtract.',
      examples: ['profile.firstName IS NOT NULL', 'lastLoginTimestamp > ${now-7d}'],
    },
    deltaField: {
      type: 'string',
      default: 'lastUpdatedTimestamp',
      enum: DELTA_FIELDS,
      description: 'The timestamp the delta window applies to; results are ordered by it.',
    },
    fullExtract: {
      type: 'boolean',
      default: false,
      description: "Read everything that matches `where`, ignoring the delta window (as the schedule's fullExtract).",
    },
    consent: {
      type: 'array',
      default: [],
      items: { type: 'string', description: 'A consent statement id, e.g. `privacy.marketing`.' },
      description:
        'For sites with consent management: read only accounts that granted every one of these consent statements ' +
        '(`preferences.<id>.isConsentGranted = true` is added to the query), with those consent objects in each ' +
        'record (added to `select` unless it brings them). The reference records the param but not its shape: ' +
        'a list of consent ids is our reading of it.',
      examples: [['privacy.marketing']],
    },
    limit: {
      type: 'integer',
      minimum: 1,
      description: 'At most this many accounts (besides the job limit, e.g. 10 in test runs).',
    },
    batchSize: GIGYA_PAGE_SIZE_PARAM,
    partitions: GIGYA_PARTITIONS_PARAM,
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  partitioned: searchPartitioned,
  check(params) {
    const problems = checkWherePlaceholders(params.where);
    if (normalizeSelect(params.select) === '') {
      problems.push({
        code: 'IDX_GIGYA_SELECT',
        path: 'select',
        message: 'select names no field',
        expected: 'a comma list of fields, e.g. UID,profile.email',
        received: JSON.stringify(params.select),
      });
    }
    (params.consent ?? []).forEach((id, i) => {
      if (CONSENT_ID.test(id)) return;
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: `consent[${i}]`,
        message: 'a consent id names a consent statement and becomes part of the query',
        expected: 'dotted segments of letters, digits, _ and - (e.g. privacy.marketing)',
        received: JSON.stringify(id),
      });
    });
    return problems;
  },
  async create(params, ctx) {
    const fullExtract = ctx.job.fullExtract || params.fullExtract;
    const rawWhere = (params.where ?? '').trim();
    if (!fullExtract && TIME_PLACEHOLDER.test(rawWhere)) {
      throw new IdxError('IDX_GIGYA_WHERE_TIME', 'a time expression in where needs fullExtract', {
        stepId: ctx.stepId,
        param: 'where',
        expected: 'fullExtract on the schedule or the step, or a where without ${now…}',
        received: rawWhere,
      });
    }
    const where = renderWhere(rawWhere, ctx, 'epochMillis');
    const consent = consentQuery(params.select, params.consent);
    return createSearchReader(
      params,
      ctx,
      {
        method: 'accounts.search',
        select: consent.select,
        from: params.from,
        where: where && consent.where ? `(${where}) AND ${consent.where}` : where || consent.where,
        deltaField: params.deltaField,
        deltaFormat: 'epochMillis',
        orderBy: params.deltaField,
      },
      fullExtract,
    );
  },
});
