/**
 * Checks on the text of one JSON value before it is parsed: how deep it nests, and which of its numbers a double
 * cannot hold exactly. `JSON.parse` would turn `12345678901234567890` into `12345678901234567000` and `1e400`
 * into `Infinity` (written back as `null`) without a word; such numbers are found here, in one pass over the
 * text outside strings, and either kept exactly as text or refused. Most values skip the pass: it runs only when a
 * cheap test finds a run of 16 digits, a three-digit exponent, or more characters than the depth limit.
 */

/** A JSON number that a double cannot hold exactly. */
export class InexactNumberError extends Error {
  constructor(readonly number: string) {
    super(`the number ${number.length > 40 ? `${number.slice(0, 40)}…` : number} cannot be held exactly as a double`);
  }
}

/** A JSON value nested deeper than allowed. */
export class JsonDepthError extends Error {
  constructor(readonly maxDepth: number) {
    super(`the value is nested deeper than ${maxDepth} levels`);
  }
}

/** What may make a number inexact: 16 significant digits or more, or an exponent of three digits. */
const CANDIDATE = /[0-9.]{16}|[eE][+-]?[0-9]{3}/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** The decimal value of a number's text as digits without leading or trailing zeros and a power of ten. */
function normalize(text: string): string {
  let t = text.startsWith('-') ? text.slice(1) : text;
  let exp = 0;
  const e = t.search(/[eE]/);
  if (e !== -1) {
    exp = Number(t.slice(e + 1));
    t = t.slice(0, e);
  }
  const dot = t.indexOf('.');
  const int = dot === -1 ? t : t.slice(0, dot);
  let digits = int + (dot === -1 ? '' : t.slice(dot + 1));
  exp += int.length;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  digits = digits.slice(lead);
  exp -= lead;
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  return digits === '' ? '0' : `${digits}e${exp}`;
}

/** True when the quote at `at` is escaped: preceded by an odd number of backslashes. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === 92) n++;
  return n % 2 === 1;
}

/** True when the double nearest to a JSON number's text, written back, is not the same number. */
export function isInexact(text: string): boolean {
  const n = Number(text);
  if (!Number.isFinite(n)) return true;
  return normalize(text) !== normalize(String(n));
}

/**
 * Parses the text of one JSON value. With `numbers` "string" a number a double cannot hold exactly becomes a
 * string of its digits as written; with "reject" it throws {@link InexactNumberError}. A value nested deeper than
 * `maxDepth` throws {@link JsonDepthError} before it is parsed (records are later written and walked recursively).
 * Syntax errors are JSON.parse's own.
 */
export function parseExact(text: string, options: { maxDepth: number; numbers: 'string' | 'reject' }): unknown {
  const numbers = CANDIDATE.test(text);
  // Each level takes two characters at least (`[` and `]`): a shorter text cannot nest too deep.
  if (!numbers && text.length <= 2 * options.maxDepth) return JSON.parse(text);
  const inexact: [number, number][] = [];
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A string: to its closing quote (one not escaped by an odd run of backslashes), found natively.
      let close = text.indexOf('"', i + 1);
      while (close !== -1 && escaped(text, close)) close = text.indexOf('"', close + 1);
      if (close === -1) break;
      i = close;
    } else if (c === 123 || c === 91) {
      if (++depth > options.maxDepth) throw new JsonDepthError(options.maxDepth);
    } else if (c === 125 || c === 93) depth--;
    else if (numbers && (c === 45 || (c >= 48 && c <= 57))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) continue;
      const end = i + m[0].length;
      if (m[0].length >= 16 || /[eE][+-]?[0-9]{3}/.test(m[0])) {
        if (isInexact(m[0])) {
          if (options.numbers === 'reject') throw new InexactNumberError(m[0]);
          inexact.push([i, end]);
        }
      }
      i = end - 1;
    }
  }
  if (!inexact.length) return JSON.parse(text);
  let out = '';
  let at = 0;
  for (const [start, end] of inexact) {
    out += `${text.slice(at, start)}"${text.slice(start, end)}"`;
    at = end;
  }
  return JSON.parse(out + text.slice(at));
}
