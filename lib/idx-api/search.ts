/**
 * `idx.search` (identitysync-spec.md §6, extras.md §4.3): IdentitySync's SQL-like query over the `dataflow`,
 * `scheduling` and `idx_job_status` tables, with `openCursor` / `cursorId` paging. The query is parsed by the
 * same parser as the Gigya emulator's searches (lib/local/gigya-query.ts) in IdentitySync's dialect: both quote
 * styles, no `regex()`. The parser is a hand-written tokenizer and recursive descent; nothing from a query is
 * evaluated or turned into a regular expression, and every limit below is explicit.
 */
import { randomBytes } from 'node:crypto';
import {
  type Expr,
  matches,
  parseQuery,
  project,
  type Query,
  QueryError,
  sortDocuments,
} from '../local/gigya-query.ts';
import { IdxApiError, type IdxData } from './data.ts';

/** Longest query accepted, in characters. */
export const MAX_QUERY_LENGTH = 4096;
/** Deepest nesting of parentheses and NOT in a query. */
export const MAX_QUERY_NESTING = 16;
/** Largest LIMIT (page size with a cursor). */
export const MAX_SEARCH_LIMIT = 1000;
/** Rows of an answer when the query gives no LIMIT (the page size of a cursor without LIMIT). */
export const DEFAULT_SEARCH_LIMIT = 300;
/** How long an unused cursor stays valid. */
export const CURSOR_TTL_MS = 5 * 60_000;
/** Most cursors open at once; opening another drops the least recently used one. */
export const MAX_OPEN_CURSORS = 100;

/**
 * The tables a query may name. `dataflow_draft` is searchable and always empty: drafts are not kept here, and the
 * SAP toolkit searches it beside `dataflow` (extras.md §4.5).
 */
export const SEARCH_TABLES = ['dataflow', 'dataflow_draft', 'scheduling', 'idx_job_status'] as const;

type Row = Readonly<Record<string, unknown>>;

interface Cursor {
  readonly rows: readonly Row[];
  readonly select: Query['select'];
  readonly pageSize: number;
  offset: number;
  lastUsed: number;
}

/** The search answer's fields beyond the envelope. */
export interface SearchAnswer {
  readonly result: Record<string, unknown>[];
  readonly resultCount: number;
  readonly totalCount: number;
  readonly nextCursorId?: string;
}

/** Parses an `idx.search` query; a query outside the language or its limits is a 400006. */
export function parseIdxQuery(text: string): Query {
  if (text.length > MAX_QUERY_LENGTH)
    throw new IdxApiError(400006, `query is ${text.length} characters; at most ${MAX_QUERY_LENGTH} are accepted`);
  let query: Query;
  try {
    query = parseQuery(text, { singleQuotes: true, regex: false, maxDepth: MAX_QUERY_NESTING });
  } catch (error) {
    // The parser's own errors say what was wrong and where; anything else (there should be nothing) stays hidden.
    throw new IdxApiError(400006, `invalid query: ${error instanceof QueryError ? error.message : 'unreadable'}`);
  }
  if (!(SEARCH_TABLES as readonly string[]).includes(query.from.toLowerCase()))
    throw new IdxApiError(
      400006,
      `invalid query: no table ${JSON.stringify(query.from)}; tables: ${SEARCH_TABLES.join(', ')}`,
    );
  if (query.limit !== undefined && (query.limit < 1 || query.limit > MAX_SEARCH_LIMIT))
    throw new IdxApiError(400006, `invalid query: LIMIT must be between 1 and ${MAX_SEARCH_LIMIT}, got ${query.limit}`);
  return query;
}

/**
 * The dataflow a WHERE clause keeps to, when it says so for every row it matches: `dataflowId = '…'` alone or
 * as a term of a top-level AND (the reference's `SELECT * FROM idx_job_status WHERE dataflowId='…'`).
 */
export function jobFilterOf(where: Expr | undefined): { dataflowId?: string } {
  if (!where) return {};
  if (where.kind === 'cmp' && where.field === 'dataflowId' && where.op === '=' && typeof where.value === 'string')
    return { dataflowId: where.value };
  if (where.kind === 'and') {
    const left = jobFilterOf(where.left);
    return left.dataflowId === undefined ? jobFilterOf(where.right) : left;
  }
  return {};
}

/** The search engine of one API: tables from {@link IdxData}, and the cursors it opened. */
export class IdxSearch {
  readonly #cursors = new Map<string, Cursor>();

  constructor(
    private readonly data: IdxData,
    private readonly now: () => number = Date.now,
  ) {}

  /** Answers one `idx.search` call from its parameters. */
  async search(params: Readonly<Record<string, string>>): Promise<SearchAnswer> {
    const t = this.now();
    this.#expire(t);
    if (params.cursorId !== undefined) {
      if (params.query !== undefined) throw new IdxApiError(400006, 'query and cursorId cannot be sent together');
      const cursor = this.#cursors.get(params.cursorId);
      if (!cursor) throw new IdxApiError(400006, 'invalid or expired cursorId');
      cursor.lastUsed = t;
      return this.#page(cursor, t);
    }
    if (params.query === undefined || params.query === '') throw new IdxApiError(400002, 'query is required');
    const q = parseIdxQuery(params.query);
    const openCursor = params.openCursor === 'true';
    if (params.openCursor !== undefined && params.openCursor !== 'true' && params.openCursor !== 'false')
      throw new IdxApiError(400006, 'openCursor must be true or false');
    if (openCursor && q.start !== undefined) throw new IdxApiError(400006, 'START cannot be used with openCursor');
    const rows = await this.#rows(q);
    if (q.select === 'count') return { result: [{ 'count(*)': rows.length }], resultCount: 1, totalCount: rows.length };
    const pageSize = q.limit ?? DEFAULT_SEARCH_LIMIT;
    if (openCursor) return this.#page({ rows, select: q.select, pageSize, offset: 0, lastUsed: t }, t);
    const start = q.start ?? 0;
    const result = rows.slice(start, start + pageSize).map((r) => project({ ...r }, q.select, true));
    return { result, resultCount: result.length, totalCount: rows.length };
  }

  /** The rows a query matches, in its order (ties by id, so pages never repeat or skip a row). */
  async #rows(q: Query): Promise<Row[]> {
    const table = q.from.toLowerCase();
    const all: readonly Row[] =
      table === 'dataflow'
        ? await this.data.dataflows()
        : table === 'scheduling'
          ? await this.data.schedulings()
          : table === 'idx_job_status'
            ? await this.data.jobs(jobFilterOf(q.where))
            : [];
    const matched = all.filter((r) => matches(r, q.where));
    return sortDocuments(matched, q.orderBy, (r) => String(r.id ?? ''));
  }

  #page(cursor: Cursor, t: number): SearchAnswer {
    const end = Math.min(cursor.rows.length, cursor.offset + cursor.pageSize);
    const result = cursor.rows.slice(cursor.offset, end).map((r) => project({ ...r }, cursor.select, true));
    const answer = { result, resultCount: result.length, totalCount: cursor.rows.length };
    if (end >= cursor.rows.length) return answer;
    // The next page gets a cursor of its own; this one stays, so a client retrying a call gets the same page.
    const id = randomBytes(24).toString('base64url');
    if (this.#cursors.size >= MAX_OPEN_CURSORS) {
      const oldest = [...this.#cursors.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (oldest) this.#cursors.delete(oldest[0]);
    }
    this.#cursors.set(id, { ...cursor, offset: end, lastUsed: t });
    return { ...answer, nextCursorId: id };
  }

  #expire(t: number): void {
    for (const [id, c] of this.#cursors) if (t - c.lastUsed > CURSOR_TTL_MS) this.#cursors.delete(id);
  }
}
