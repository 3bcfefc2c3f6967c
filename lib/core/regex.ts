/**
 * Regular expressions written in dataflows, run in a linear-time engine (RE2, as WebAssembly): a pattern such as
 * `(a+)+$` that backtracks exponentially in JavaScript's engine answers at once, whatever the text. Patterns keep
 * JavaScript syntax where RE2 supports it (classes, groups, named groups, `\p{…}`, `\x` escapes, and the Java
 * identity escapes such as `\-`); constructs RE2 cannot run in linear time (backreferences, lookaround, atomic
 * groups, possessive quantifiers) are refused with {@link RegexUnsupportedError}, which names the construct.
 *
 * re2-wasm reports match positions in code points rather than UTF-16 units, so positions are converted here before
 * text is cut; only {@link LinearRegex.test} and {@link LinearRegex.replace} are offered, the two uses dataflows have.
 */
import { RE2 } from 're2-wasm';

/** A pattern uses a construct the linear-time engine cannot run. */
export class RegexUnsupportedError extends Error {
  constructor(
    /** The construct, in words, e.g. `a backreference (\1)`. */
    readonly construct: string,
  ) {
    super(`${construct} is not supported: regular expressions run in a linear-time engine (RE2)`);
  }
}

/** Constructs refused, found outside character classes: the text that opens them, and their name. */
const UNSUPPORTED: readonly (readonly [RegExp, string])[] = [
  [/^\(\?<=/, 'a lookbehind (?<=…)'],
  [/^\(\?<!/, 'a negative lookbehind (?<!…)'],
  [/^\(\?=/, 'a lookahead (?=…)'],
  [/^\(\?!/, 'a negative lookahead (?!…)'],
  [/^\(\?>/, 'an atomic group (?>…)'],
  [/^\\[1-9]/, 'a backreference (\\1 … \\9)'],
  [/^\\k</, 'a named backreference (\\k<name>)'],
];

/** The first construct of `source` that RE2 cannot run, named, or undefined. */
export function unsupportedConstruct(source: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      if (!inClass) {
        const rest = source.slice(i, i + 3);
        for (const [re, name] of UNSUPPORTED) if (re.test(rest)) return name;
      }
      i++;
      // `\p{L}`, `\u{…}`: the braces belong to the escape, not to a quantifier.
      if (source[i + 1] === '{' && /[pPux]/.test(source[i] ?? '')) {
        const close = source.indexOf('}', i);
        if (close !== -1) i = close;
      }
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      // A `]` right after `[` or `[^` is a literal in Java; JavaScript reads `[]` as an empty class.
      continue;
    }
    if (c === '(') {
      const rest = source.slice(i, i + 4);
      for (const [re, name] of UNSUPPORTED) if (re.test(rest)) return name;
    }
    if ((c === '+' || c === '*' || c === '?' || c === '}') && source[i + 1] === '+' && i > 0) {
      return 'a possessive quantifier (e.g. a++)';
    }
  }
  return undefined;
}

/** Groups of one match: numbered (index 0 is group 1) and named. */
export interface RegexGroups {
  readonly numbered: readonly (string | undefined)[];
  readonly named: Readonly<Record<string, string>> | undefined;
}

/** True when `text` holds a surrogate pair, the only case where code points and UTF-16 positions differ. */
const SURROGATE = /[\uD800-\uDFFF]/;

/** A compiled pattern; see the module comment. */
export class LinearRegex {
  readonly #re: RE2;
  readonly source: string;

  /**
   * Compiles `source`. Throws {@link RegexUnsupportedError} for a construct RE2 cannot run and a SyntaxError for
   * a pattern that does not compile.
   */
  constructor(source: string, options: { readonly ignoreCase?: boolean } = {}) {
    const construct = unsupportedConstruct(source);
    if (construct) throw new RegexUnsupportedError(construct);
    this.source = source;
    this.#re = new RE2(source, `g${options.ignoreCase ? 'i' : ''}u`);
  }

  /** True when the pattern matches somewhere in `text`. */
  test(text: string): boolean {
    this.#re.lastIndex = 0;
    return this.#re.test(text);
  }

  /**
   * Replaces every match with what `replacer` returns for it, left to right, as `String.prototype.replace` with
   * a global regular expression does (after an empty match the search goes on one character further).
   */
  replace(text: string, replacer: (match: string, groups: RegexGroups) => string): string {
    const re = this.#re;
    const astral = SURROGATE.test(text);
    const total = astral ? codePoints(text, 0, text.length) : text.length;
    // Positions come in code points and grow: one walker turns them into UTF-16 positions.
    let walkCp = 0;
    let walkAt = 0;
    const toUnits = (target: number): number => {
      if (!astral) return target;
      while (walkCp < target && walkAt < text.length) {
        const code = text.charCodeAt(walkAt);
        walkAt += code >= 0xd800 && code <= 0xdbff && isLow(text.charCodeAt(walkAt + 1)) ? 2 : 1;
        walkCp++;
      }
      return walkAt;
    };
    let out = '';
    let done = 0;
    re.lastIndex = 0;
    for (;;) {
      const m = re.exec(text);
      if (!m) break;
      const match = m[0] ?? '';
      const start = toUnits(m.index);
      out += text.slice(done, start) + replacer(match, { numbered: m.slice(1), named: m.groups });
      done = start + match.length;
      let next = m.index + (astral ? codePoints(match, 0, match.length) : match.length);
      // After an empty match the search goes on one character further, or the same match comes back forever.
      if (match === '') next++;
      if (next > total) break;
      re.lastIndex = next;
    }
    re.lastIndex = 0;
    return out + text.slice(done);
  }
}

/** Code points of `text` between two UTF-16 positions (a lone surrogate counts as one). */
function codePoints(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < to) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Compiled patterns kept by {@link cachedRegex}, for patterns known only at run time. */
const CACHE = new Map<string, LinearRegex>();
const CACHE_SIZE = 256;

/** A compiled pattern, compiled once for the process (the last {@link CACHE_SIZE} kept). */
export function cachedRegex(source: string): LinearRegex {
  let re = CACHE.get(source);
  if (re) return re;
  re = new LinearRegex(source);
  if (CACHE.size >= CACHE_SIZE) CACHE.delete(CACHE.keys().next().value as string);
  CACHE.set(source, re);
  return re;
}

function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Why a pattern cannot be used, as a validation problem would say it; undefined when it compiles. */
export function regexProblem(
  source: string,
): { code: 'IDX_REGEX_UNSUPPORTED' | 'IDX_REGEX_INVALID'; message: string } | undefined {
  try {
    new LinearRegex(source);
    return undefined;
  } catch (error) {
    if (error instanceof RegexUnsupportedError) return { code: 'IDX_REGEX_UNSUPPORTED', message: error.message };
    return { code: 'IDX_REGEX_INVALID', message: (error as Error).message };
  }
}
