/**
 * The emulator's subset of Gigya's SQL-like search language (apis.md §A.5, §C.1): SELECT `*`, paths, `AS`
 * aliases or `count(*)`; FROM one collection; WHERE with `= != < <= > >=`, `CONTAINS`, `IN (…)`,
 * `IS [NOT] NULL`, `regex("…")`, AND / OR / NOT and parentheses; ORDER BY; START and LIMIT. Clause order is fixed
 * as on the real service; anything else is a {@link QueryError}, which the emulator answers with 400006.
 *
 * Matching follows the search index rather than SQL, where the real service is known to: array fields match when
 * any element matches; `CONTAINS` is case-insensitive; `!=` and `NOT` also match accounts where the field is
 * absent (an index "must not" clause). String literals take double quotes only.
 */

/** A literal in a query. */
export type Literal = string | number | boolean | null;

/** A WHERE expression. */
export type Expr =
  | { readonly kind: 'and' | 'or'; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'not'; readonly expr: Expr }
  | {
      readonly kind: 'cmp';
      readonly field: string;
      readonly op: '=' | '!=' | '<' | '<=' | '>' | '>=';
      readonly value: Literal;
    }
  | { readonly kind: 'in'; readonly field: string; readonly values: readonly Literal[] }
  | { readonly kind: 'null'; readonly field: string; readonly negated: boolean }
  | { readonly kind: 'contains'; readonly field: string; readonly value: string }
  | { readonly kind: 'regex'; readonly field: string; readonly pattern: RegExp };

/** One SELECT item. */
export interface SelectItem {
  readonly path: string;
  readonly alias?: string;
}

/** A parsed query. */
export interface Query {
  /** `'*'`, `'count'` for `count(*)`, or the selected paths. */
  readonly select: '*' | 'count' | readonly SelectItem[];
  readonly from: string;
  readonly where?: Expr;
  readonly orderBy: readonly { readonly field: string; readonly desc: boolean }[];
  readonly start?: number;
  readonly limit?: number;
}

/**
 * What a dialect of the language allows besides the common subset. The accounts namespaces take double quotes
 * only and `regex()`; IdentitySync's `idx.search` quotes strings with single quotes (its documented examples) and
 * gets no `regex()`, so a query from the network never builds a regular expression.
 */
export interface QueryDialect {
  /** Single-quoted string literals are accepted too. @default false */
  readonly singleQuotes?: boolean;
  /** `field = regex("…")` is accepted. @default true */
  readonly regex?: boolean;
  /**
   * Deepest nesting of parentheses and NOT, so a hostile query is a {@link QueryError} rather than a stack
   * overflow. @default {@link MAX_QUERY_DEPTH}
   */
  readonly maxDepth?: number;
}

/** The deepest nesting of parentheses and NOT a query may have, by default. */
export const MAX_QUERY_DEPTH = 32;

/** A query the emulator does not understand (the real service answers 400006). */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

type Token =
  | { t: 'word'; v: string; pos: number }
  | { t: 'string'; v: string; single: boolean; pos: number }
  | { t: 'number'; v: number; pos: number }
  | { t: 'op'; v: string; pos: number }
  | { t: 'punct'; v: '(' | ')' | ',' | '*'; pos: number };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let v = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < text.length) {
          v += text[j + 1];
          j += 2;
        } else v += text[j++];
      }
      if (j >= text.length) throw new QueryError(`unterminated string at position ${i}`);
      out.push({ t: 'string', v, single: c === "'", pos: i });
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(?:\.\d+)?(?![A-Za-z_@$.])/.exec(text.slice(i));
    if (num && (c !== '-' || !isValueEnd(out[out.length - 1]))) {
      out.push({ t: 'number', v: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const op = /^(<=|>=|!=|<>|=|<|>)/.exec(text.slice(i));
    if (op) {
      out.push({ t: 'op', v: op[0] === '<>' ? '!=' : op[0], pos: i });
      i += op[0].length;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === '*') {
      out.push({ t: 'punct', v: c, pos: i });
      i++;
      continue;
    }
    const word = /^[A-Za-z_@$][A-Za-z0-9_@$.]*/.exec(text.slice(i));
    if (word) {
      out.push({ t: 'word', v: word[0], pos: i });
      i += word[0].length;
      continue;
    }
    throw new QueryError(`unexpected character ${JSON.stringify(c)} at position ${i}`);
  }
  return out;
}

function isValueEnd(t: Token | undefined): boolean {
  return (
    t !== undefined && (t.t === 'number' || t.t === 'string' || t.t === 'word' || (t.t === 'punct' && t.v === ')'))
  );
}

const CLAUSES = ['SELECT', 'FROM', 'WHERE', 'FILTER', 'GROUP', 'ORDER', 'START', 'LIMIT'];

class Parser {
  #i = 0;
  #depth = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly dialect: QueryDialect = {},
  ) {}

  /** Runs `inner` one nesting level deeper, refusing past the dialect's depth. */
  nested<T>(inner: () => T): T {
    if (++this.#depth > (this.dialect.maxDepth ?? MAX_QUERY_DEPTH))
      throw new QueryError(`the query nests deeper than ${this.dialect.maxDepth ?? MAX_QUERY_DEPTH} levels`);
    try {
      return inner();
    } finally {
      this.#depth--;
    }
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.#i + offset];
  }
  next(): Token {
    const t = this.tokens[this.#i++];
    if (!t) throw new QueryError('unexpected end of query');
    return t;
  }
  isWord(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.t === 'word' && t.v.toUpperCase() === word;
  }
  expectWord(word: string): void {
    const t = this.next();
    if (t.t !== 'word' || t.v.toUpperCase() !== word) throw new QueryError(`expected ${word} at position ${t.pos}`);
  }
  expectPunct(p: string): void {
    const t = this.next();
    if (t.t !== 'punct' || t.v !== p) throw new QueryError(`expected "${p}" at position ${t.pos}`);
  }
  done(): boolean {
    return this.#i >= this.tokens.length;
  }

  field(): string {
    const t = this.next();
    if (t.t !== 'word' || CLAUSES.includes(t.v.toUpperCase()) || isKeyword(t.v)) {
      throw new QueryError(`expected a field name at position ${t.pos}`);
    }
    return t.v;
  }

  literal(): Literal {
    const t = this.next();
    if (t.t === 'number') return t.v;
    if (t.t === 'string') {
      if (t.single && !this.dialect.singleQuotes)
        throw new QueryError(`string literals take double quotes (position ${t.pos})`);
      return t.v;
    }
    if (t.t === 'word') {
      const w = t.v.toLowerCase();
      if (w === 'true') return true;
      if (w === 'false') return false;
      if (w === 'null') return null;
    }
    throw new QueryError(`expected a value at position ${t.pos}`);
  }

  integer(what: string): number {
    const t = this.next();
    if (t.t !== 'number' || !Number.isInteger(t.v) || t.v < 0) throw new QueryError(`${what} needs a whole number`);
    return t.v;
  }

  expr(): Expr {
    let left = this.and();
    while (this.isWord('OR')) {
      this.next();
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }
  and(): Expr {
    let left = this.not();
    while (this.isWord('AND')) {
      this.next();
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }
  not(): Expr {
    if (this.isWord('NOT')) {
      this.next();
      return { kind: 'not', expr: this.nested(() => this.not()) };
    }
    return this.primary();
  }
  primary(): Expr {
    const t = this.peek();
    if (t?.t === 'punct' && t.v === '(') {
      this.next();
      const e = this.nested(() => this.expr());
      this.expectPunct(')');
      return e;
    }
    const field = this.field();
    const n = this.peek();
    if (n?.t === 'op') {
      this.next();
      if (this.isWord('REGEX') && isOpen(this.peek(1))) {
        if (this.dialect.regex === false) throw new QueryError(`regex() is not supported here (position ${n.pos})`);
        this.next();
        this.expectPunct('(');
        const p = this.next();
        if (p.t !== 'string') throw new QueryError(`regex() needs a quoted pattern (position ${p.pos})`);
        this.expectPunct(')');
        if (n.v !== '=') throw new QueryError('regex() works with = only');
        let pattern: RegExp;
        try {
          pattern = new RegExp(`^(?:${p.v})$`);
        } catch {
          throw new QueryError(`invalid regex ${JSON.stringify(p.v)}`);
        }
        return { kind: 'regex', field, pattern };
      }
      return { kind: 'cmp', field, op: n.v as '=', value: this.literal() };
    }
    if (this.isWord('IN')) {
      this.next();
      this.expectPunct('(');
      const values: Literal[] = [this.literal()];
      while (this.peek()?.t === 'punct' && (this.peek() as { v: string }).v === ',') {
        this.next();
        values.push(this.literal());
      }
      this.expectPunct(')');
      return { kind: 'in', field, values };
    }
    if (this.isWord('IS')) {
      this.next();
      let negated = false;
      if (this.isWord('NOT')) {
        this.next();
        negated = true;
      }
      this.expectWord('NULL');
      return { kind: 'null', field, negated };
    }
    if (this.isWord('CONTAINS')) {
      this.next();
      const v = this.literal();
      if (typeof v !== 'string' && typeof v !== 'number') throw new QueryError('CONTAINS needs a string');
      return { kind: 'contains', field, value: String(v) };
    }
    throw new QueryError(`expected an operator after "${field}"${n ? ` at position ${n.pos}` : ''}`);
  }
}

function isOpen(t: Token | undefined): boolean {
  return t?.t === 'punct' && t.v === '(';
}

function isKeyword(word: string): boolean {
  return ['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'CONTAINS', 'AS', 'ASC', 'DESC', 'BY'].includes(word.toUpperCase());
}

/** Parses a query; throws {@link QueryError} on anything outside the subset or out of clause order. */
export function parseQuery(text: string, dialect: QueryDialect = {}): Query {
  const p = new Parser(tokenize(text), dialect);
  p.expectWord('SELECT');
  let select: Query['select'];
  if (p.peek()?.t === 'punct' && (p.peek() as { v: string }).v === '*') {
    p.next();
    select = '*';
  } else if (p.isWord('COUNT') && isOpen(p.peek(1))) {
    p.next();
    p.expectPunct('(');
    p.expectPunct('*');
    p.expectPunct(')');
    select = 'count';
  } else {
    const items: SelectItem[] = [];
    for (;;) {
      const path = p.field();
      if (p.isWord('AS')) {
        p.next();
        items.push({ path, alias: p.field() });
      } else items.push({ path });
      const n = p.peek();
      if (n?.t === 'punct' && n.v === ',') {
        p.next();
        continue;
      }
      break;
    }
    select = items;
  }
  p.expectWord('FROM');
  const fromToken = p.next();
  if (fromToken.t !== 'word') throw new QueryError(`expected a collection after FROM (position ${fromToken.pos})`);
  const from = fromToken.v;
  let where: Expr | undefined;
  if (p.isWord('WHERE')) {
    p.next();
    where = p.expr();
  }
  if (p.isWord('FILTER') || p.isWord('GROUP'))
    throw new QueryError(`${(p.peek() as { v: string }).v} is not supported here`);
  const orderBy: { field: string; desc: boolean }[] = [];
  if (p.isWord('ORDER')) {
    p.next();
    p.expectWord('BY');
    for (;;) {
      const field = p.field();
      let desc = false;
      if (p.isWord('ASC')) p.next();
      else if (p.isWord('DESC')) {
        p.next();
        desc = true;
      }
      orderBy.push({ field, desc });
      const n = p.peek();
      if (n?.t === 'punct' && n.v === ',') {
        p.next();
        continue;
      }
      break;
    }
  }
  let start: number | undefined;
  let limit: number | undefined;
  for (let k = 0; k < 2; k++) {
    if (p.isWord('START') && start === undefined) {
      p.next();
      start = p.integer('START');
    } else if (p.isWord('LIMIT') && limit === undefined) {
      p.next();
      limit = p.integer('LIMIT');
    }
  }
  if (!p.done()) {
    const t = p.peek() as Token;
    throw new QueryError(`unexpected ${JSON.stringify(String(t.v))} at position ${t.pos} (clauses out of order?)`);
  }
  return {
    select,
    from,
    ...(where ? { where } : {}),
    orderBy,
    ...(start === undefined ? {} : { start }),
    ...(limit === undefined ? {} : { limit }),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every value a path reaches, walking through arrays; absent paths give none. */
export function valuesAt(obj: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  collectValues(obj, path.split('.'), 0, out);
  return out;
}

/** {@link valuesAt}'s walk: a module-level function rather than a closure made per call (it runs per document). */
function collectValues(cur: unknown, parts: readonly string[], i: number, out: unknown[]): void {
  if (Array.isArray(cur)) {
    for (const el of cur) collectValues(el, parts, i, out);
    return;
  }
  if (i === parts.length) {
    if (cur !== undefined) out.push(cur);
    return;
  }
  if (!isObject(cur)) return;
  collectValues(cur[parts[i] as string], parts, i + 1, out);
}

const DATE_LIKE = /^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?Z?/;

function compare(a: unknown, b: Literal): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') {
    if (DATE_LIKE.test(a) && DATE_LIKE.test(b)) {
      const x = Date.parse(a);
      const y = Date.parse(b);
      if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'number') {
    if (a.trim() !== '' && !Number.isNaN(Number(a))) return Number(a) - b;
    if (DATE_LIKE.test(a)) {
      const x = Date.parse(a);
      return Number.isNaN(x) ? undefined : x - b;
    }
    return undefined;
  }
  if (typeof a === 'number' && typeof b === 'string') {
    const r = compare(b, a);
    return r === undefined ? undefined : -r;
  }
  return undefined;
}

function looseEquals(a: unknown, b: Literal): boolean {
  if (b === null) return a === null;
  if (typeof a === typeof b) return a === b;
  if (typeof b === 'boolean') return String(a) === String(b);
  if (typeof a === 'boolean') return String(a) === String(b);
  return compare(a, b) === 0;
}

/** Whether a document matches a WHERE expression. */
export function matches(doc: unknown, expr: Expr | undefined): boolean {
  if (!expr) return true;
  switch (expr.kind) {
    case 'and':
      return matches(doc, expr.left) && matches(doc, expr.right);
    case 'or':
      return matches(doc, expr.left) || matches(doc, expr.right);
    case 'not':
      return !matches(doc, expr.expr);
    case 'null': {
      const present = valuesAt(doc, expr.field).some((v) => v !== null);
      return expr.negated ? present : !present;
    }
    case 'in': {
      const vals = valuesAt(doc, expr.field);
      return vals.some((v) => expr.values.some((l) => looseEquals(v, l)));
    }
    case 'contains': {
      const needle = expr.value.toLowerCase();
      return valuesAt(doc, expr.field).some(
        (v) => v !== null && typeof v !== 'object' && String(v).toLowerCase().includes(needle),
      );
    }
    case 'regex':
      return valuesAt(doc, expr.field).some((v) => typeof v === 'string' && expr.pattern.test(v));
    case 'cmp': {
      const vals = valuesAt(doc, expr.field);
      if (expr.op === '=') return vals.some((v) => looseEquals(v, expr.value));
      if (expr.op === '!=') return !vals.some((v) => looseEquals(v, expr.value));
      return vals.some((v) => {
        const c = compare(v, expr.value);
        if (c === undefined) return false;
        switch (expr.op) {
          case '<':
            return c < 0;
          case '<=':
            return c <= 0;
          case '>':
            return c > 0;
          default:
            return c >= 0;
        }
      });
    }
  }
}

function sortKey(doc: unknown, field: string): unknown {
  return valuesAt(doc, field)[0];
}

/**
 * Sorts documents by the ORDER BY fields; absent values last in either direction, ties broken by `idOf` so a
 * cursor walk over equal timestamps is stable.
 */
export function sortDocuments<T>(docs: T[], orderBy: Query['orderBy'], idOf: (doc: T) => string): T[] {
  return docs.sort((x, y) => {
    for (const { field, desc } of orderBy) {
      const a = sortKey(x, field);
      const b = sortKey(y, field);
      if (a === undefined || a === null) {
        if (b === undefined || b === null) continue;
        return 1;
      }
      if (b === undefined || b === null) return -1;
      const c = compare(a, b as Literal) ?? String(a).localeCompare(String(b));
      if (c !== 0) return desc ? -c : c;
    }
    const ia = idOf(x);
    const ib = idOf(y);
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  });
}

function pick(src: unknown, parts: readonly string[], i: number, copy: <T>(v: T) => T): unknown {
  if (i === parts.length) return copy(src);
  if (Array.isArray(src)) {
    const items = src.map((el) => pick(el, parts, i, copy)).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (!isObject(src)) return undefined;
  const key = parts[i] as string;
  if (!(key in src)) return undefined;
  const v = pick(src[key], parts, i + 1, copy);
  return v === undefined ? undefined : { [key]: v };
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    const cur = target[k];
    if (isObject(cur) && isObject(v)) mergeInto(cur, v);
    else target[k] = v;
  }
}

/**
 * The object at the first `depth` keys of a path in `root`, made (replacing what is not an object) where missing:
 * where a write or a projection puts a nested value.
 */
export function objectAt(
  root: Record<string, unknown>,
  parts: readonly string[],
  depth = parts.length,
): Record<string, unknown> {
  let cur = root;
  for (let k = 0; k < depth; k++) {
    const key = parts[k] as string;
    const next = cur[key];
    if (isObject(next)) cur = next;
    else {
      const created: Record<string, unknown> = {};
      cur[key] = created;
      cur = created;
    }
  }
  return cur;
}

function identity<T>(v: T): T {
  return v;
}

/**
 * Copies the value at a path of plain objects (no array on the way) into `out` under the same nesting, as
 * `mergeInto(out, pick(...))` would; false when an array lies on the way (the caller picks then). Builds no
 * intermediate objects: a page of search results projects a thousand documents.
 */
function copyPath(
  out: Record<string, unknown>,
  doc: Record<string, unknown>,
  parts: readonly string[],
  copy: <T>(v: T) => T,
): boolean {
  let src: unknown = doc;
  for (const key of parts) {
    if (Array.isArray(src)) return false;
    if (!isObject(src) || !(key in src)) return true;
    src = src[key];
  }
  const v = copy(src);
  if (v === undefined) return true;
  const last = parts.length - 1;
  const target = objectAt(out, parts, last);
  const key = parts[last] as string;
  const cur = target[key];
  if (isObject(cur) && isObject(v)) mergeInto(cur, v);
  else target[key] = v;
  return true;
}

/**
 * Projects a document onto a SELECT list: nested paths keep their nesting, aliases become top-level keys. The
 * result shares nothing with `doc`, unless `owned` says the caller hands `doc` over (a copy read for this answer
 * only), when copying again would be wasted.
 */
export function project(doc: Record<string, unknown>, select: Query['select'], owned = false): Record<string, unknown> {
  const copy: <T>(v: T) => T = owned ? identity : structuredClone;
  if (select === '*' || select === 'count') return copy(doc);
  const out: Record<string, unknown> = {};
  for (const item of select) {
    if (item.alias !== undefined) {
      const vals = valuesAt(doc, item.path);
      if (vals.length) out[item.alias] = copy(vals.length === 1 ? vals[0] : vals);
      continue;
    }
    const parts = item.path.split('.');
    if (copyPath(out, doc, parts, copy)) continue;
    const picked = pick(doc, parts, 0, copy);
    if (isObject(picked)) mergeInto(out, picked);
  }
  return out;
}

/** One end of a range of a numeric field. */
export interface Bound {
  readonly value: number;
  readonly inclusive: boolean;
}

/** A WHERE clause split into a range of one numeric field and what else it asks. */
export interface FieldRange {
  readonly low?: Bound;
  readonly high?: Bound;
  /** The conditions the range does not cover (none: the range says it all). */
  readonly residual?: Expr;
}

/** The number a literal compares as against a numeric field (as {@link matches} compares), if it is one. */
function numericLiteral(value: Literal): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  if (value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  if (!DATE_LIKE.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Splits the top-level AND of a WHERE clause into a range of `field` (from its `=`, `<`, `<=`, `>`, `>=`
 * comparisons with numbers, numeric strings or dates) and the other conditions. For a document whose `field` is a
 * number, the clause matches exactly when the number is in the range and the residual matches; an index sorted by
 * the field can then read just the range.
 */
export function rangeOf(where: Expr | undefined, field: string): FieldRange {
  if (!where) return {};
  const conjuncts: Expr[] = [];
  const flatten = (e: Expr) => {
    if (e.kind === 'and') {
      flatten(e.left);
      flatten(e.right);
    } else conjuncts.push(e);
  };
  flatten(where);
  let low: Bound | undefined;
  let high: Bound | undefined;
  const rest: Expr[] = [];
  const raise = (b: Bound) => {
    if (!low || b.value > low.value || (b.value === low.value && !b.inclusive)) low = b;
  };
  const lower = (b: Bound) => {
    if (!high || b.value < high.value || (b.value === high.value && !b.inclusive)) high = b;
  };
  for (const c of conjuncts) {
    const value = c.kind === 'cmp' && c.field === field && c.op !== '!=' ? numericLiteral(c.value) : undefined;
    if (c.kind !== 'cmp' || value === undefined) {
      rest.push(c);
      continue;
    }
    if (c.op === '=' || c.op === '>=') raise({ value, inclusive: true });
    if (c.op === '=' || c.op === '<=') lower({ value, inclusive: true });
    if (c.op === '>') raise({ value, inclusive: false });
    if (c.op === '<') lower({ value, inclusive: false });
  }
  const residual = rest.reduce<Expr | undefined>(
    (acc, e) => (acc ? { kind: 'and', left: acc, right: e } : e),
    undefined,
  );
  return { ...(low ? { low } : {}), ...(high ? { high } : {}), ...(residual ? { residual } : {}) };
}

/**
 * Whether every document of a kind has a value other than null at a path (`always`), none has any (`never`), or
 * either (`sometimes`).
 */
export type PathPresence = 'always' | 'never' | 'sometimes';

/**
 * What every document of a kind holds, as a search index knows it without reading the documents: the presence of
 * each path. A leaf holds a scalar or an array of scalars (nothing lies below it); an object node is present in
 * every document; a key not listed is in no document.
 */
export interface DocumentShape {
  readonly [key: string]: PathPresence | DocumentShape;
}

/** The presence of a path (as {@link valuesAt} walks it) in the documents a shape describes. */
export function presenceIn(shape: DocumentShape, path: string): PathPresence {
  let node: PathPresence | DocumentShape = shape;
  for (const part of path.split('.')) {
    // Below a leaf there is nothing: a scalar, or an array of scalars, has no keys.
    if (typeof node === 'string' || !Object.hasOwn(node, part)) return 'never';
    node = node[part] as PathPresence | DocumentShape;
  }
  return typeof node === 'string' ? node : 'always';
}

/**
 * What {@link matches} answers for every document of a shape, when the shape alone decides it (as a search index
 * answers `IS NULL` from what it holds, without reading documents); undefined when it depends on the document.
 */
export function decideByShape(expr: Expr, shape: DocumentShape): boolean | undefined {
  switch (expr.kind) {
    case 'and': {
      const left = decideByShape(expr.left, shape);
      if (left === false) return false;
      const right = decideByShape(expr.right, shape);
      if (right === false) return false;
      return left === true && right === true ? true : undefined;
    }
    case 'or': {
      const left = decideByShape(expr.left, shape);
      if (left === true) return true;
      const right = decideByShape(expr.right, shape);
      if (right === true) return true;
      return left === false && right === false ? false : undefined;
    }
    case 'not': {
      const inner = decideByShape(expr.expr, shape);
      return inner === undefined ? undefined : !inner;
    }
    case 'null': {
      const presence = presenceIn(shape, expr.field);
      if (presence === 'sometimes') return undefined;
      return (presence === 'always') === expr.negated;
    }
    default: {
      // A comparison with no value at all: only `!=` matches (an index "must not" clause matches absent fields).
      if (presenceIn(shape, expr.field) !== 'never') return undefined;
      return expr.kind === 'cmp' && expr.op === '!=';
    }
  }
}

/** A text that is the same for two expressions exactly when they ask the same (regexes by their source). */
export function exprKey(expr: Expr): string {
  return JSON.stringify(expr, (_k, v: unknown) => (v instanceof RegExp ? `/${v.source}/${v.flags}` : v));
}
