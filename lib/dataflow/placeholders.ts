/**
 * `${...}` placeholders in params: `${now}`, `${now:yyyyMMdd}`, `${now-1h}`, `${now+2D:yyMMdd}`, `${unix}`,
 * `${jobId}`, `${dataflowId}`, `${apiKey}` and `${secret:NAME}`. `{{mustache}}` text is not ours and is left
 * as written.
 *
 * Decisions where IdentitySync is silent (reference Q12): `${now}` without a pattern renders the job start as
 * `yyyyMMddHHmmss` (UTC, sortable, safe in file names); `Y` is read as `y` (calendar year) and `D` in an offset
 * means days; `${unix}` is epoch seconds. Params declared with `timeFormat: 'epochMillis'` (Gigya `where`)
 * render `${now±x}` as epoch milliseconds, the unit of Gigya's timestamp fields.
 */

import { SECRET_NAME, secretReferences } from '../core/secrets.ts';

/** A parsed placeholder. */
export type Placeholder =
  | { readonly kind: 'now'; readonly offsetMs: number; readonly pattern?: string; readonly raw: string }
  | { readonly kind: 'unix'; readonly offsetMs: number; readonly raw: string }
  | { readonly kind: 'var'; readonly name: 'jobId' | 'dataflowId' | 'apiKey'; readonly raw: string }
  | { readonly kind: 'secret'; readonly name: string; readonly raw: string };

/** A problem in a placeholder. */
export interface PlaceholderProblem {
  readonly code: 'IDX_PLACEHOLDER_UNKNOWN' | 'IDX_PLACEHOLDER_PATTERN';
  readonly raw: string;
  readonly message: string;
  readonly expected: string;
}

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const TIME = /^(now|unix)(?:([+-])(\d+)([yMwdDhHms]))?(?::(.+))?$/;
const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  H: 3_600_000,
  d: 86_400_000,
  D: 86_400_000,
  w: 7 * 86_400_000,
};
const VARS = new Set(['jobId', 'dataflowId', 'apiKey']);

/** Parses one placeholder body (the text between `${` and `}`). */
export function parsePlaceholder(body: string): Placeholder | PlaceholderProblem {
  const raw = `\${${body}}`;
  if (body.startsWith('secret:')) {
    const name = body.slice('secret:'.length);
    if (SECRET_NAME.test(name)) return { kind: 'secret', name, raw };
    return {
      code: 'IDX_PLACEHOLDER_UNKNOWN',
      raw,
      message: `secret reference ${raw} has an invalid name`,
      expected: 'a name of letters, digits and _+=.@/-',
    };
  }
  if (VARS.has(body)) return { kind: 'var', name: body as 'jobId' | 'dataflowId' | 'apiKey', raw };
  const m = TIME.exec(body);
  if (m) {
    const [, name, sign, amount, unit, pattern] = m;
    let offsetMs = 0;
    if (sign && amount && unit) {
      // Months and years are calendar units; they are applied on the date, approximated here only for sorting.
      offsetMs = (sign === '-' ? -1 : 1) * Number(amount) * (UNIT_MS[unit] ?? calendarMs(unit));
    }
    if (name === 'unix') {
      if (pattern !== undefined) {
        return { code: 'IDX_PLACEHOLDER_PATTERN', raw, message: `${raw}: unix takes no pattern`, expected: '${unix}' };
      }
      return { kind: 'unix', offsetMs, raw };
    }
    if (pattern !== undefined) {
      const bad = checkPattern(pattern);
      if (bad) {
        return {
          code: 'IDX_PLACEHOLDER_PATTERN',
          raw,
          message: `${raw}: date pattern letter "${bad}" is not supported`,
          expected: "pattern letters y Y M d H h m s S a, other text quoted with '",
        };
      }
      return { kind: 'now', offsetMs, pattern, raw };
    }
    return { kind: 'now', offsetMs, raw };
  }
  return {
    code: 'IDX_PLACEHOLDER_UNKNOWN',
    raw,
    message: `unknown placeholder ${raw}`,
    expected: '${now}, ${now:<pattern>}, ${now-1h}, ${unix}, ${jobId}, ${dataflowId}, ${apiKey} or ${secret:NAME}',
  };
}

function calendarMs(unit: string): number {
  return unit === 'M' ? 30 * 86_400_000 : 365 * 86_400_000;
}

/** Every placeholder in a text, parsed, with problems in place of bad ones. */
export function placeholdersIn(text: string): (Placeholder | PlaceholderProblem)[] {
  const out: (Placeholder | PlaceholderProblem)[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) out.push(parsePlaceholder(m[1] ?? ''));
  return out;
}

/** True when a parse result is a problem. */
export function isProblem(p: Placeholder | PlaceholderProblem): p is PlaceholderProblem {
  return 'code' in p;
}

/** The names of the secrets a text refers to. */
export const secretNames: (text: string) => string[] = secretReferences;

/** Whether a whole value is exactly one secret reference. */
export function isSecretReference(value: string): boolean {
  const m = /^\$\{secret:([^}]*)\}$/.exec(value);
  return m !== null && SECRET_NAME.test(m[1] ?? '');
}

/** Values the job knows when it renders placeholders. */
export interface PlaceholderValues {
  /** The job start. */
  readonly now: Date;
  readonly jobId: string;
  readonly dataflowId: string;
  readonly apiKey?: string;
}

/**
 * Renders every placeholder but secrets in a text. Secrets are left in place: they are resolved separately and
 * only where a script reads them, so they never reach logs through rendered params.
 */
export function renderPlaceholders(
  text: string,
  values: PlaceholderValues,
  timeFormat: 'compact' | 'epochMillis' | 'iso' = 'compact',
): string {
  if (!text.includes('${')) return text;
  return text.replace(PLACEHOLDER, (raw, body: string) => {
    const p = parsePlaceholder(body);
    if (isProblem(p)) return raw;
    switch (p.kind) {
      case 'secret':
        return raw;
      case 'var':
        return p.name === 'apiKey' ? (values.apiKey ?? '') : values[p.name];
      case 'unix':
        return String(Math.floor(shift(values.now, p.raw).getTime() / 1000));
      case 'now': {
        const at = shift(values.now, p.raw);
        if (p.pattern) return formatDate(at, p.pattern);
        if (timeFormat === 'epochMillis') return String(at.getTime());
        if (timeFormat === 'iso') return at.toISOString();
        return formatDate(at, 'yyyyMMddHHmmss');
      }
    }
  });
}

/** Applies the offset of a time placeholder with calendar arithmetic for months and years. */
function shift(now: Date, raw: string): Date {
  const m = /^\$\{(?:now|unix)([+-])(\d+)([yMwdDhHms])/.exec(raw);
  if (!m) return now;
  const sign = m[1] === '-' ? -1 : 1;
  const n = Number(m[2]) * sign;
  const d = new Date(now.getTime());
  switch (m[3]) {
    case 'y':
      d.setUTCFullYear(d.getUTCFullYear() + n);
      return d;
    case 'M':
      d.setUTCMonth(d.getUTCMonth() + n);
      return d;
    default:
      return new Date(now.getTime() + n * (UNIT_MS[m[3] ?? 's'] ?? 0));
  }
}

const PATTERN_LETTERS = new Set(['y', 'Y', 'M', 'd', 'H', 'h', 'm', 's', 'S', 'a']);

/** Returns the first unsupported letter of a Java-style date pattern, or undefined. */
function checkPattern(pattern: string): string | undefined {
  let quoted = false;
  for (const ch of pattern) {
    if (ch === "'") quoted = !quoted;
    else if (!quoted && /[A-Za-z]/.test(ch) && !PATTERN_LETTERS.has(ch)) return ch;
  }
  return undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Formats a date in UTC with a Java-style pattern (yyyy yy MM M dd d HH H hh h mm m ss s SSS a, 'text'). */
export function formatDate(date: Date, pattern: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i] as string;
    if (ch === "'") {
      const end = pattern.indexOf("'", i + 1);
      const stop = end === -1 ? pattern.length : end;
      out += stop === i + 1 ? "'" : pattern.slice(i + 1, stop);
      i = stop + 1;
      continue;
    }
    if (!/[A-Za-z]/.test(ch)) {
      out += ch;
      i++;
      continue;
    }
    let j = i;
    while (pattern[j] === ch) j++;
    const n = j - i;
    i = j;
    switch (ch) {
      case 'y':
      case 'Y': {
        const y = date.getUTCFullYear();
        out += n === 2 ? pad(y % 100, 2) : pad(y, n);
        break;
      }
      case 'M':
        out += pad(date.getUTCMonth() + 1, n);
        break;
      case 'd':
        out += pad(date.getUTCDate(), n);
        break;
      case 'H':
        out += pad(date.getUTCHours(), n);
        break;
      case 'h':
        out += pad(date.getUTCHours() % 12 || 12, n);
        break;
      case 'm':
        out += pad(date.getUTCMinutes(), n);
        break;
      case 's':
        out += pad(date.getUTCSeconds(), n);
        break;
      case 'S':
        out += pad(date.getUTCMilliseconds(), 3).slice(0, n).padEnd(n, '0');
        break;
      case 'a':
        out += date.getUTCHours() < 12 ? 'AM' : 'PM';
        break;
      default:
        out += ch.repeat(n);
    }
  }
  return out;
}

/**
 * True for a value a template left blank: empty, elided (`...`) or a `{{mustache}}` placeholder. Templates ship
 * credentials and hosts this way; such a value means "not set", not a plaintext secret.
 */
export function isBlankTemplateValue(value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.trim();
  return v === '' || /^\.+$/.test(v) || /^\{\{.*\}\}$/.test(v);
}
