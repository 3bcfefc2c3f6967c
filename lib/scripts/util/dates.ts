/**
 * Strict date parsing for field.date.format: a value either matches the declared format exactly and names a
 * real instant, or it is refused. Nothing is guessed. Times without a zone are UTC, as everything in a job is.
 */

/** The named formats besides Java-style patterns. */
export const NAMED_FORMATS = ['iso', 'epochMillis', 'epochSeconds'] as const;

const PATTERN_LETTERS = new Set(['y', 'M', 'd', 'H', 'h', 'm', 's', 'S', 'a']);

/** A pattern split into letter runs and literal text. */
type Token = { readonly letter: string; readonly width: number } | { readonly text: string };

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === "'") {
      const end = pattern.indexOf("'", i + 1);
      const stop = end === -1 ? pattern.length : end;
      tokens.push({ text: stop === i + 1 ? "'" : pattern.slice(i + 1, stop) });
      i = stop + 1;
    } else if (/[A-Za-z]/.test(ch)) {
      let j = i;
      while (pattern[j] === ch) j++;
      tokens.push({ letter: ch === 'Y' ? 'y' : ch, width: j - i });
      i = j;
    } else {
      tokens.push({ text: ch });
      i++;
    }
  }
  return tokens;
}

/** Returns the first unsupported pattern letter, or undefined when the pattern is usable. */
export function checkDatePattern(pattern: string): string | undefined {
  if ((NAMED_FORMATS as readonly string[]).includes(pattern)) return undefined;
  for (const t of tokenize(pattern)) if ('letter' in t && !PATTERN_LETTERS.has(t.letter)) return t.letter;
  return undefined;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A parser for one format: epoch milliseconds, or undefined when the value does not match. */
export type DateParser = (value: unknown) => number | undefined;

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Years below 100 are not shifted to 19xx by Date.UTC when set this way.
  date.setUTCFullYear(y);
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mo - 1) return undefined;
  return date.getTime();
}

function parseIso(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = ISO.exec(value);
  if (!m) return undefined;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const base = utc(
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    ms,
  );
  if (base === undefined) return undefined;
  const zone = m[8];
  if (!zone || zone === 'Z') return base;
  const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  const offset = (Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000;
  return z[1] === '+' ? base - offset : base + offset;
}

function parseEpoch(unitMs: number): DateParser {
  return (value) => {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)
          ? Number(value)
          : Number.NaN;
    if (!Number.isFinite(n)) return undefined;
    const ms = Math.round(n * unitMs);
    return Math.abs(ms) <= 8.64e15 ? ms : undefined;
  };
}

/** Builds a parser for a named format or a Java-style pattern (y M d H h m s S a, 'quoted text'). */
export function dateParser(format: string): DateParser {
  if (format === 'iso') return parseIso;
  if (format === 'epochMillis') return parseEpoch(1);
  if (format === 'epochSeconds') return parseEpoch(1000);
  const fields: string[] = [];
  let source = '^';
  for (const t of tokenize(format)) {
    if ('text' in t) {
      source += escapeRegex(t.text);
      continue;
    }
    fields.push(t.letter + (t.letter === 'y' && t.width === 2 ? '2' : ''));
    if (t.letter === 'a') source += '(AM|PM|am|pm)';
    else if (t.letter === 'y') source += t.width === 2 ? '(\\d{2})' : '(\\d{4})';
    else if (t.letter === 'S') source += `(\\d{${t.width}})`;
    else source += t.width === 1 ? '(\\d{1,2})' : `(\\d{${t.width}})`;
  }
  const re = new RegExp(`${source}$`);
  return (value) => {
    if (typeof value !== 'string') return undefined;
    const m = re.exec(value);
    if (!m) return undefined;
    let y = 1970;
    let mo = 1;
    let d = 1;
    let h = 0;
    let h12: number | undefined;
    let pm: boolean | undefined;
    let mi = 0;
    let s = 0;
    let ms = 0;
    fields.forEach((f, i) => {
      const text = m[i + 1]!;
      const n = Number(text);
      switch (f) {
        case 'y':
          y = n;
          break;
        case 'y2':
          // Two-digit years map to 1970–2069.
          y = n < 70 ? 2000 + n : 1900 + n;
          break;
        case 'M':
          mo = n;
          break;
        case 'd':
          d = n;
          break;
        case 'H':
          h = n;
          break;
        case 'h':
          h12 = n;
          break;
        case 'a':
          pm = text.toUpperCase() === 'PM';
          break;
        case 'm':
          mi = n;
          break;
        case 's':
          s = n;
          break;
        case 'S':
          ms = Number(text.slice(0, 3).padEnd(3, '0'));
          break;
      }
    });
    if (h12 !== undefined) {
      if (h12 < 1 || h12 > 12) return undefined;
      h = (h12 % 12) + (pm ? 12 : 0);
    }
    return utc(y, mo, d, h, mi, s, ms);
  };
}
