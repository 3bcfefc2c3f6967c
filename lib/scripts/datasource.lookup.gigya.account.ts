import { type DataRecord, defineScript } from '../core/script.ts';
import {
  GIGYA_CONNECTION_PARAMS,
  GIGYA_REACHES,
  gigyaClientFor,
  mapConcurrent,
  normalizeSelect,
  queryLiteral,
} from './util/gigya-step.ts';
import { getPath } from './util/paths.ts';

type Key = string | number | boolean;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A usable lookup value: a non-empty scalar. */
function keyOf(v: unknown): Key | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  return undefined;
}

/** Every value a dotted path reaches in an account, through arrays (`loginIDs.emails`). */
function valuesAt(doc: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  const walk = (cur: unknown, parts: string[], i: number) => {
    if (Array.isArray(cur)) for (const el of cur) walk(el, parts, i);
    else if (i === parts.length) {
      if (cur !== undefined && cur !== null) out.push(cur);
    } else if (isObject(cur)) walk(cur[parts[i] as string], parts, i + 1);
  };
  walk(doc, path.split('.'), 0);
  return out;
}

/** Merges `from` into `into`; with `overwrite` false, values the record already has are kept. */
function merge(into: Record<string, unknown>, from: Record<string, unknown>, overwrite: boolean): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (isObject(cur) && isObject(v)) merge(cur, v, overwrite);
    else if (overwrite || cur === undefined) into[k] = v;
  }
}

/** Deletes a dotted path from an object, dropping parents it leaves empty. */
function prune(doc: Record<string, unknown>, parts: string[]): void {
  const [head, ...rest] = parts;
  if (head === undefined || !(head in doc)) return;
  if (rest.length === 0) {
    delete doc[head];
    return;
  }
  const child = doc[head];
  if (!isObject(child)) return;
  prune(child, rest);
  if (Object.keys(child).length === 0) delete doc[head];
}

/**
 * `datasource.lookup.gigya.account`: finds the account of each record by key fields (batched accounts.search) and
 * merges it into the record.
 */
export const datasourceLookupGigyaAccount = defineScript({
  type: 'datasource.lookup.gigya.account',
  summary: 'Finds the account of each record by key fields with batched accounts.search and merges it into the record.',
  description:
    'Records are looked up `batchSize` at a time with one query per batch (`IN (…)` lists, or `CONTAINS` when ' +
    'the comparison is case-insensitive, then compared exactly here). With operator AND every lookup field must ' +
    'match, with OR any of them. A record with one match is merged with the account (`handleFieldConflicts` ' +
    'decides who wins on a collision); with no match, or with several, it follows `mismatchBehavior` / ' +
    '`multiMatchBehavior`: `error` sends it down the error path (codes IDX_LOOKUP_NO_MATCH, ' +
    'IDX_LOOKUP_MULTI_MATCH), `process` passes it on (unchanged, or merged with the first match by UID — or once ' +
    'per match with separateMultiMatches), `skip` drops it.',
  consumes: 'records',
  produces: 'records',
  // One record per match when multi-matches are processed separately.
  expands: true,
  params: {
    select: {
      type: 'string',
      default: '*',
      description: 'Account fields to bring into the record, e.g. `UID, profile.email`, or `*`.',
    },
    from: {
      type: 'string',
      enum: ['accounts', 'emailAccounts'],
      default: 'accounts',
      description: 'Search full accounts or lite (email) accounts.',
    },
    lookupFields: {
      type: 'array',
      required: true,
      minItems: 1,
      description: 'The keys: a record field and the account field it must equal.',
      items: {
        type: 'object',
        description: 'One key pair.',
        properties: {
          sourceField: { type: 'string', required: true, description: 'Record field (dotted path).' },
          gigyaField: { type: 'string', required: true, description: 'Account field, e.g. `profile.email`, `UID`.' },
        },
      },
    },
    lookupFieldsOperator: {
      type: 'string',
      enum: ['AND', 'OR'],
      default: 'AND',
      description: 'Whether every key pair must match (AND) or any of them (OR).',
    },
    isCaseSensitive: {
      type: 'boolean',
      default: false,
      description: 'Compare string keys case-sensitively.',
    },
    matchBehavior: {
      type: 'string',
      enum: ['process', 'error', 'skip'],
      default: 'process',
      description: 'A record with exactly one match: merge and pass on, send to the error path, or drop.',
    },
    mismatchBehavior: {
      type: 'string',
      enum: ['error', 'process', 'skip'],
      default: 'error',
      description: 'A record without a match: error path, pass on unchanged, or drop.',
    },
    multiMatchBehavior: {
      type: 'string',
      enum: ['error', 'process', 'skip'],
      default: 'error',
      description: 'A record with several matches: error path, pass on (see separateMultiMatches), or drop.',
    },
    separateMultiMatches: {
      type: 'boolean',
      default: false,
      description: 'With multiMatchBehavior process: one record per match instead of the first match (by UID).',
    },
    handleFieldConflicts: {
      type: 'string',
      enum: ['take_lookup', 'take_source'],
      default: 'take_lookup',
      description: 'When record and account both have a field: keep the account value or the record value.',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 200,
      description: 'Records looked up per query.',
    },
    maxConcurrency: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      default: 1,
      description: 'Queries in flight at once.',
    },
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  async create(params, ctx) {
    const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: params.maxConcurrency });
    const pairs = params.lookupFields.map((f) => ({ source: f.sourceField, gigya: f.gigyaField }));
    const and = params.lookupFieldsOperator === 'AND';
    const fold = (v: Key): string => (params.isCaseSensitive || typeof v !== 'string' ? String(v) : v.toLowerCase());
    const selected = normalizeSelect(params.select);
    const all = selected === '' || selected === '*';
    const selectedPaths = all ? [] : selected.split(', ');
    // Key fields are fetched to match results to records; those not selected are removed before merging.
    const extra = all
      ? []
      : pairs.map((p) => p.gigya).filter((g) => !selectedPaths.some((s) => g === s || g.startsWith(`${s}.`)));
    const select = all ? '*' : [...selectedPaths, ...extra.filter((g, i, xs) => xs.indexOf(g) === i)].join(', ');

    const keysOf = (record: DataRecord): (Key | undefined)[] => pairs.map((p) => keyOf(getPath(record, p.source)));
    const usable = (keys: (Key | undefined)[]) =>
      and ? keys.every((k) => k !== undefined) : keys.some((k) => k !== undefined);

    const lookup = async (records: DataRecord[]): Promise<Record<string, unknown>[][]> => {
      const keys = records.map(keysOf);
      const conditions: string[] = [];
      pairs.forEach((p, i) => {
        const values = new Map<string, Key>();
        keys.forEach((k, r) => {
          const v = k[i];
          if (v !== undefined && usable(keys[r] as (Key | undefined)[])) values.set(`${typeof v}:${fold(v)}`, v);
        });
        if (values.size === 0) return;
        const list = [...values.values()];
        const strings = list.filter((v): v is string => typeof v === 'string');
        const others = list.filter((v) => typeof v !== 'string');
        const parts: string[] = [];
        if (params.isCaseSensitive) parts.push(`${p.gigya} IN (${list.map(queryLiteral).join(', ')})`);
        else {
          // Case-insensitive equality is not in the search language; CONTAINS is case-insensitive, and the exact
          // comparison happens below.
          for (const s of strings) parts.push(`${p.gigya} CONTAINS ${queryLiteral(s)}`);
          if (others.length) parts.push(`${p.gigya} IN (${others.map(queryLiteral).join(', ')})`);
        }
        conditions.push(parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`);
      });
      if (conditions.length === 0) return records.map(() => []);
      const query = `SELECT ${select} FROM ${params.from} WHERE ${conditions.join(and ? ' AND ' : ' OR ')} LIMIT 1000`;
      const found: Record<string, unknown>[] = [];
      for await (const page of client.search('accounts.search', query)) found.push(...page.results);
      const indexes = pairs.map((p) =>
        found.map((doc) => new Set(valuesAt(doc, p.gigya).map((v) => (keyOf(v) === undefined ? '' : fold(v as Key))))),
      );
      return keys.map((k) => {
        if (!usable(k)) return [];
        const hits: Record<string, unknown>[] = [];
        found.forEach((doc, d) => {
          const checks = k.map((v, i) => v !== undefined && (indexes[i]?.[d]?.has(fold(v)) ?? false));
          if (and ? checks.every(Boolean) : checks.some(Boolean)) hits.push(doc);
        });
        return hits.sort((a, b) => String(a.UID ?? '').localeCompare(String(b.UID ?? '')));
      });
    };

    const mergeWith = (record: DataRecord, account: Record<string, unknown>): DataRecord => {
      const copy = structuredClone(account);
      for (const g of extra) prune(copy, g.split('.'));
      const out = structuredClone(record);
      merge(out, copy, params.handleFieldConflicts === 'take_lookup');
      return out;
    };

    return {
      async records(batch, out) {
        const chunks: DataRecord[][] = [];
        for (let i = 0; i < batch.length; i += params.batchSize)
          chunks.push(batch.slice(i, i + params.batchSize) as DataRecord[]);
        const results = await mapConcurrent(chunks, params.maxConcurrency, lookup);
        chunks.forEach((chunk, c) => {
          chunk.forEach((record, r) => {
            const hits = results[c]?.[r] ?? [];
            if (hits.length === 1) {
              if (params.matchBehavior === 'process') out.emit(mergeWith(record, hits[0] as Record<string, unknown>));
              else if (params.matchBehavior === 'error') {
                out.reject(record, {
                  message: 'an account matches the record',
                  code: 'IDX_LOOKUP_MATCH',
                  UID: hits[0]?.UID,
                });
              } else out.drop(record);
            } else if (hits.length === 0) {
              if (params.mismatchBehavior === 'process') out.emit(record);
              else if (params.mismatchBehavior === 'error') {
                out.reject(record, {
                  message: usable(keysOf(record))
                    ? 'no account matches the record'
                    : `the record has no value in ${pairs.map((p) => p.source).join(and ? ' and ' : ' or ')}`,
                  code: 'IDX_LOOKUP_NO_MATCH',
                });
              } else out.drop(record);
            } else if (params.multiMatchBehavior === 'process') {
              if (params.separateMultiMatches) for (const h of hits) out.emit(mergeWith(record, h));
              else out.emit(mergeWith(record, hits[0] as Record<string, unknown>));
            } else if (params.multiMatchBehavior === 'error') {
              out.reject(record, {
                message: `${hits.length} accounts match the record`,
                code: 'IDX_LOOKUP_MULTI_MATCH',
                matches: hits.length,
                UIDs: hits.slice(0, 10).map((h) => h.UID),
              });
            } else out.drop(record);
          });
        });
      },
      close,
    };
  },
});
