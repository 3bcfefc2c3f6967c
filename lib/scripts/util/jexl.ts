/**
 * JEXL for field.evaluate: one configured language instance, and a compiler that turns a parsed expression into
 * plain closures over the record, so evaluating it costs a few function calls instead of jexl's evaluator and
 * its promise wrappers (tens of times cheaper per record). Operators come from jexl's own grammar, so results are
 * the ones `evalSync` gives; any construct the compiler does not cover (filters, relative paths) is evaluated
 * with `evalSync` on the same compiled expression.
 *
 * IdentitySync runs Apache Commons JEXL, so its word operators are added: `eq ne lt le gt ge and or not`,
 * plus `=~` / `!~` (matches a regular expression, or is / is not in an array), `=^` (starts with), `=$` (ends
 * with), and the functions `empty(x)` and `size(x)`.
 *
 * Field names: an identifier is the record's field of that name; `a.b.c` walks nested objects, and when the
 * record has no `a` it also reads a flat field named `a.b.c` (a CSV header). An identifier that is absent
 * (`data_subscribed`) is read as the dotted path with every `_` turned into `.` (`data.subscribed`), the form some
 * IdentitySync templates use.
 */
import jexlPackage from 'jexl';
import { cachedRegex } from '../../core/regex.ts';
import type { DataRecord } from '../../core/script.ts';
import { getPath } from './paths.ts';

type Ast = ReturnType<ReturnType<InstanceType<typeof jexlPackage.Jexl>['compile']>['_getAst']>;
type Jexl = InstanceType<typeof jexlPackage.Jexl>;
type Fn = (record: DataRecord) => unknown;

interface GrammarElement {
  readonly type: string;
  readonly eval?: (...args: unknown[]) => unknown;
  readonly evalOnDemand?: unknown;
}

const hasOwn = Object.hasOwn as (o: object, key: string) => boolean;

function size(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  if (value !== null && typeof value === 'object') return Object.keys(value).length;
  return 0;
}

function matches(left: unknown, right: unknown): boolean {
  // biome-ignore lint/suspicious/noDoubleEquals: membership uses JEXL's loose equality.
  if (Array.isArray(right)) return right.some((r) => r == left);
  // The pattern may come from the record: it runs in the linear-time engine, compiled once per pattern.
  if (typeof right === 'string' && typeof left === 'string') return cachedRegex(`^(?:${right})$`).test(left);
  return false;
}

/** A jexl instance with the Commons-JEXL operators and functions dataflows use. */
export function createJexl(): Jexl {
  const jexl = new jexlPackage.Jexl();
  // biome-ignore lint/suspicious/noDoubleEquals: JEXL equality is loose, like jexl's own `==`.
  jexl.addBinaryOp('eq', 20, (a, b) => a == b);
  // biome-ignore lint/suspicious/noDoubleEquals: as above.
  jexl.addBinaryOp('ne', 20, (a, b) => a != b);
  jexl.addBinaryOp('lt', 20, (a, b) => a < b);
  jexl.addBinaryOp('le', 20, (a, b) => a <= b);
  jexl.addBinaryOp('gt', 20, (a, b) => a > b);
  jexl.addBinaryOp('ge', 20, (a, b) => a >= b);
  jexl.addBinaryOp('=~', 20, matches);
  jexl.addBinaryOp('!~', 20, (a, b) => !matches(a, b));
  jexl.addBinaryOp('=^', 20, (a, b) => typeof a === 'string' && typeof b === 'string' && a.startsWith(b));
  jexl.addBinaryOp('=$', 20, (a, b) => typeof a === 'string' && typeof b === 'string' && a.endsWith(b));
  // `and` / `or` short-circuit like `&&` / `||`: registered as on-demand operators, compiled natively below.
  const onDemand = jexl as unknown as {
    addBinaryOp(
      op: string,
      precedence: number,
      fn: (l: { eval(): Promise<unknown> }, r: { eval(): Promise<unknown> }) => unknown,
      manual: boolean,
    ): void;
  };
  onDemand.addBinaryOp('and', 10, (l, r) => l.eval().then((v) => (v ? r.eval() : v)), true);
  onDemand.addBinaryOp('or', 10, (l, r) => l.eval().then((v) => (v ? v : r.eval())), true);
  jexl.addUnaryOp('not', (v) => !v);
  jexl.addFunction('empty', (v) => {
    if (v === undefined || v === null) return true;
    if (typeof v === 'number' || typeof v === 'boolean') return false;
    return size(v) === 0;
  });
  jexl.addFunction('size', size);
  jexl.addTransforms({
    lower: (v) => (typeof v === 'string' ? v.toLowerCase() : v),
    upper: (v) => (typeof v === 'string' ? v.toUpperCase() : v),
    trim: (v) => (typeof v === 'string' ? v.trim() : v),
    length: size,
    string: (v) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)),
    number: (v) => (v === '' || v === null || v === undefined ? undefined : Number(v)),
    split: (v, sep = ',') => (typeof v === 'string' ? v.split(String(sep)) : v),
    join: (v, sep = ',') => (Array.isArray(v) ? v.join(String(sep)) : v),
    substring: (v, start: number, end?: number) => (typeof v === 'string' ? v.substring(start, end) : v),
    replace: (v, pattern: string, replacement = '') => {
      if (typeof v !== 'string') return v;
      const text = String(replacement);
      // `$&`, `$1`… as String.prototype.replace expands them, the match found by the linear-time engine.
      return cachedRegex(String(pattern)).replace(v, (match, groups) => expandSimple(text, match, groups.numbered));
    },
    default: (v, fallback) => (v === undefined || v === null || v === '' ? fallback : v),
  });
  return jexl;
}

/** Reads an identifier that is absent from the record: a flat dotted key, or the underscore form of a path. */
function alias(record: DataRecord, segments: readonly string[]): unknown {
  for (let n = segments.length; n >= 2; n--) {
    const key = segments.slice(0, n).join('.');
    if (hasOwn(record, key)) return walk(record[key], segments, n);
  }
  const root = segments[0]!;
  if (root.includes('_')) {
    const value = getPath(record, root.replaceAll('_', '.'));
    if (value !== undefined) return walk(value, segments, 1);
  }
  return undefined;
}

/** Member access as jexl does it: through null or undefined gives undefined, an array is read at index 0. */
function member(from: unknown, key: string): unknown {
  if (from === undefined || from === null) return undefined;
  const target = Array.isArray(from) ? from[0] : from;
  if (target === undefined || target === null) return undefined;
  return (target as Record<string, unknown>)[key];
}

function walk(value: unknown, segments: readonly string[], from: number): unknown {
  let cur = value;
  for (let i = from; i < segments.length; i++) cur = member(cur, segments[i]!);
  return cur;
}

/** The identifier chain `a.b.c` as segments, or undefined when the node is not a plain chain. */
function chain(ast: Ast): string[] | undefined {
  const out: string[] = [];
  let node: Ast | undefined = ast;
  while (node) {
    if (node.type !== 'Identifier' || node.relative) return undefined;
    out.unshift(node.value);
    node = node.from;
  }
  return out;
}

class Unsupported extends Error {}

function compileNode(jexl: Jexl, ast: Ast): Fn {
  const elements = (jexl as unknown as { _grammar: { elements: Record<string, GrammarElement> } })._grammar.elements;
  const pools = (
    jexl as unknown as { _grammar: Record<'functions' | 'transforms', Record<string, (...a: unknown[]) => unknown>> }
  )._grammar;
  switch (ast.type) {
    case 'Literal': {
      const value = ast.value;
      return () => value;
    }
    case 'Identifier': {
      const segments = chain(ast);
      if (segments) {
        const root = segments[0]!;
        // Records are plain data (their objects inherit from Object.prototype or nothing), and jexl refuses
        // Object.prototype's names as identifiers (its grammar lookup finds them): a defined value read from the
        // record is its own, and `in` tells an own undefined from an absent field. Both are checks of the record's
        // shape once optimized, where Object.hasOwn stays a call.
        if (segments.length === 1)
          return (r) => {
            const v = r[root];
            return v !== undefined || root in r ? v : alias(r, segments);
          };
        return (r) => {
          const v = r[root];
          return v !== undefined || root in r ? walk(v, segments, 1) : alias(r, segments);
        };
      }
      if (ast.relative || !ast.from) throw new Unsupported();
      const from = compileNode(jexl, ast.from);
      const key = ast.value;
      return (r) => member(from(r), key);
    }
    case 'BinaryExpression': {
      const left = compileNode(jexl, ast.left);
      const right = compileNode(jexl, ast.right);
      const op = ast.operator;
      if (op === '&&' || op === 'and') {
        return (r) => {
          const v = left(r);
          return v ? right(r) : v;
        };
      }
      if (op === '||' || op === 'or') {
        return (r) => {
          const v = left(r);
          return v ? v : right(r);
        };
      }
      const fn = elements[op]?.eval;
      if (!fn || elements[op]?.evalOnDemand) throw new Unsupported();
      return (r) => fn(left(r), right(r));
    }
    case 'UnaryExpression': {
      const right = compileNode(jexl, ast.right);
      const fn = elements[ast.operator]?.eval;
      if (!fn) throw new Unsupported();
      return (r) => fn(right(r));
    }
    case 'ConditionalExpression': {
      const test = compileNode(jexl, ast.test);
      const consequent = ast.consequent ? compileNode(jexl, ast.consequent) : undefined;
      const alternate = compileNode(jexl, ast.alternate);
      return (r) => {
        const t = test(r);
        if (t) return consequent ? consequent(r) : t;
        return alternate(r);
      };
    }
    case 'ArrayLiteral': {
      const items = ast.value.map((a) => compileNode(jexl, a));
      return (r) => items.map((f) => f(r));
    }
    case 'ObjectLiteral': {
      const entries = Object.entries(ast.value).map(([k, a]) => [k, compileNode(jexl, a)] as const);
      return (r) => {
        const o: Record<string, unknown> = {};
        for (const [k, f] of entries) o[k] = f(r);
        return o;
      };
    }
    case 'FunctionCall': {
      const fn = pools[ast.pool]?.[ast.name];
      if (!fn) throw new Error(`${ast.pool === 'transforms' ? 'transform' : 'function'} "${ast.name}" is not defined`);
      const args = (ast.args ?? []).map((a) => compileNode(jexl, a));
      return (r) => fn(...args.map((f) => f(r)));
    }
    default:
      throw new Unsupported();
  }
}

/** Root identifiers an expression reads, for building the `evalSync` context of absent ones. */
function roots(ast: Ast, into: Set<string[]>): void {
  const segments = chain(ast);
  if (segments) {
    into.add(segments);
    return;
  }
  for (const value of Object.values(ast)) {
    if (value && typeof value === 'object') {
      if (Array.isArray(value)) for (const v of value) roots(v as Ast, into);
      else if ('type' in value) roots(value as Ast, into);
      else for (const v of Object.values(value)) roots(v as Ast, into);
    }
  }
}

/** Expands `$$`, `$&` and `$1`…`$99` in a replacement, as `String.prototype.replace` does. */
function expandSimple(template: string, match: string, groups: readonly (string | undefined)[]): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$(\$|&|\d\d?)/g, (all, what: string) => {
    if (what === '$') return '$';
    if (what === '&') return match;
    let n = Number(what);
    if (n > groups.length && what.length === 2) {
      n = Number(what[0]);
      return n >= 1 && n <= groups.length ? (groups[n - 1] ?? '') + what[1] : all;
    }
    return n >= 1 && n <= groups.length ? (groups[n - 1] ?? '') : all;
  });
}

/**
 * The regular expressions written as literals in an expression: the right side of `=~` / `!~` (matched whole)
 * and the pattern of the `replace` transform, each with the operator or transform it belongs to, so validation
 * can compile them before any record is read.
 */
export function literalRegexes(jexl: Jexl, text: string): { pattern: string; where: string }[] {
  const found: { pattern: string; where: string }[] = [];
  const stack: unknown[] = [jexl.compile(text)._getAst()];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    const n = node as { type?: string; operator?: string; right?: unknown; name?: string; args?: unknown[] };
    const literal = (v: unknown) =>
      v && typeof v === 'object' && (v as { type?: string }).type === 'Literal'
        ? (v as { value: unknown }).value
        : undefined;
    if (n.type === 'BinaryExpression' && (n.operator === '=~' || n.operator === '!~')) {
      const value = literal(n.right);
      if (typeof value === 'string') found.push({ pattern: `^(?:${value})$`, where: n.operator });
    }
    if (n.type === 'Transform' && n.name === 'replace') {
      const value = literal(n.args?.[0]);
      if (typeof value === 'string') found.push({ pattern: value, where: '|replace' });
    }
    for (const child of Object.values(node)) if (child && typeof child === 'object') stack.push(child);
  }
  return found;
}

/** A compiled expression. */
export interface CompiledExpression {
  readonly text: string;
  /** True when every construct was compiled to closures (no `evalSync` per record). */
  readonly native: boolean;
  evaluate(record: DataRecord): unknown;
}

/** Parses and compiles an expression; throws with jexl's message when it does not parse or names no function. */
export function compileExpression(jexl: Jexl, text: string): CompiledExpression {
  const expression = jexl.compile(text);
  const ast = expression._getAst();
  try {
    const fn = compileNode(jexl, ast);
    return { text, native: true, evaluate: fn };
  } catch (error) {
    if (!(error instanceof Unsupported)) throw error;
  }
  const chains = new Set<string[]>();
  roots(ast, chains);
  const wanted = [...chains];
  return {
    text,
    native: false,
    evaluate(record) {
      let context: DataRecord = record;
      for (const segments of wanted) {
        const root = segments[0]!;
        if (hasOwn(record, root) || hasOwn(context, root)) continue;
        const value = alias(record, [root]) ?? aliasRoot(record, segments);
        if (value === undefined) continue;
        if (context === record) context = Object.create(record) as DataRecord;
        context[root] = value;
      }
      return expression.evalSync(context);
    },
  };
}

/** For `a.b` on a record with a flat `a.b` key: the nested view `{b: …}` of everything under `a.`. */
function aliasRoot(record: DataRecord, segments: readonly string[]): unknown {
  if (segments.length < 2) return undefined;
  const prefix = `${segments[0]}.`;
  let view: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    if (!key.startsWith(prefix)) continue;
    view ??= {};
    let cur = view;
    const parts = key.slice(prefix.length).split('.');
    for (let i = 0; i < parts.length - 1; i++) {
      const next = cur[parts[i]!];
      if (next === null || typeof next !== 'object') cur[parts[i]!] = {};
      cur = cur[parts[i]!] as Record<string, unknown>;
    }
    cur[parts[parts.length - 1]!] = record[key];
  }
  return view;
}
