/**
 * The subset of Eloqua's export filter language the Eloqua emulator evaluates (Oracle, "Filtering" and
 * "Eloqua Expression Language"): comparisons `'<EML>' <op> '<value>'` with both sides in single quotes, the
 * operators `= != < <= > >= ~` (`~` as SQL Server's LIKE, `%` and `_` wildcards), `AND`, `OR`, `NOT`,
 * parentheses, and at most one `EXISTS('{{ContactList[id]}}')`; at most 1000 characters. Values that read as
 * dates (`yyyy-MM-dd[ HH:mm:ss[.SSS]]`) are compared as instants, at whole seconds; others as text,
 * case-insensitively (not confirmed: Oracle does not say how text comparisons treat case).
 */

/** A parsed filter: a predicate over a contact's statement values and list memberships. */
export type Filter = (value: (statement: string) => string, inList: (listId: number) => boolean) => boolean;

/** A filter Eloqua would refuse, with the reason. */
export class FilterError extends Error {}

/** The longest filter Eloqua accepts. */
export const MAX_FILTER_LENGTH = 1000;

type Token =
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'op'; readonly v: string }
  | { readonly t: 'word'; readonly v: string }
  | { readonly t: '(' | ')' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new FilterError(`unterminated quoted value at ${i}`);
      tokens.push({ t: 'str', v: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '(' || c === ')') {
      tokens.push({ t: c });
      i++;
    } else {
      const op = /^(<=|>=|!=|=|<|>|~)/.exec(text.slice(i))?.[1];
      if (op) {
        tokens.push({ t: 'op', v: op });
        i += op.length;
        continue;
      }
      const word = /^[A-Za-z]+/.exec(text.slice(i))?.[0];
      if (!word) throw new FilterError(`unexpected "${c}" at ${i}`);
      tokens.push({ t: 'word', v: word.toUpperCase() });
      i += word.length;
    }
  }
  return tokens;
}

const DATE = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?)?Z?$/;

/** A date value as epoch seconds, or undefined when it is not one. */
function dateSeconds(value: string): number | undefined {
  const m = DATE.exec(value.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}Z`);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

function like(value: string, pattern: string): boolean {
  const re = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/%/g, '.*')
    .replace(/_/g, '.');
  return new RegExp(`^${re}$`, 'is').test(value);
}

function compare(left: string, op: string, right: string): boolean {
  if (op === '~') return like(left, right);
  const a = dateSeconds(left);
  const b = dateSeconds(right);
  const order =
    a !== undefined && b !== undefined
      ? Math.sign(a - b)
      : left.toLowerCase() < right.toLowerCase()
        ? -1
        : left.toLowerCase() > right.toLowerCase()
          ? 1
          : 0;
  switch (op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    default:
      return order >= 0;
  }
}

/**
 * Parses a filter; `known` says whether an EML statement names something the emulator has. Throws
 * {@link FilterError} with the reason when Eloqua would refuse it.
 */
export function parseFilter(text: string, known: (statement: string) => boolean): Filter {
  if (text.length > MAX_FILTER_LENGTH) throw new FilterError(`longer than ${MAX_FILTER_LENGTH} characters`);
  const tokens = tokenize(text);
  let at = 0;
  let exists = 0;
  const peek = () => tokens[at];
  const take = () => tokens[at++];
  const expr = (): Filter => {
    let left = term();
    while (peek()?.t === 'word' && (peek() as { v: string }).v === 'OR') {
      take();
      const l = left;
      const r = term();
      left = (v, i) => l(v, i) || r(v, i);
    }
    return left;
  };
  const term = (): Filter => {
    let left = factor();
    while (peek()?.t === 'word' && (peek() as { v: string }).v === 'AND') {
      take();
      const l = left;
      const r = factor();
      left = (v, i) => l(v, i) && r(v, i);
    }
    return left;
  };
  const factor = (): Filter => {
    const token = take();
    if (!token) throw new FilterError('the filter ends too early');
    if (token.t === 'word' && token.v === 'NOT') {
      const inner = factor();
      return (v, i) => !inner(v, i);
    }
    if (token.t === '(') {
      const inner = expr();
      if (take()?.t !== ')') throw new FilterError('a parenthesis is not closed');
      return inner;
    }
    if (token.t === 'word' && token.v === 'EXISTS') {
      if (++exists > 1) throw new FilterError('only one EXISTS may appear in a filter');
      const open = take();
      const list = take();
      const close = take();
      const id = list?.t === 'str' ? /^\{\{ContactList\[(\d+)\]\}\}$/.exec(list.v)?.[1] : undefined;
      if (open?.t !== '(' || close?.t !== ')' || id === undefined)
        throw new FilterError("EXISTS takes one '{{ContactList[id]}}'");
      const listId = Number(id);
      return (_v, inList) => inList(listId);
    }
    if (token.t === 'str') {
      const op = take();
      const right = take();
      if (op?.t !== 'op' || right?.t !== 'str')
        throw new FilterError(`a comparison needs '<field>' <operator> '<value>' after '${token.v}'`);
      if (!known(token.v)) throw new FilterError(`'${token.v}' is not a field of contacts`);
      const statement = token.v;
      const operator = op.v;
      const value = right.v;
      return (v) => compare(v(statement), operator, value);
    }
    throw new FilterError(`unexpected ${token.t === 'word' || token.t === 'op' ? token.v : token.t}`);
  };
  const filter = expr();
  if (at !== tokens.length) throw new FilterError('text follows the end of the filter');
  return filter;
}
