import { describe, expect, it } from 'vitest';
import { LinearRegex, RegexUnsupportedError, regexProblem, unsupportedConstruct } from '../../../lib/core/regex.ts';

/** What `String.prototype.replace` gives with a global unicode regex, each match written as `<match|groups>`. */
function jsReplace(pattern: string, text: string): string {
  return text.replace(new RegExp(pattern, 'gu'), (match: string, ...rest: unknown[]) => {
    const groups = rest.slice(
      0,
      rest.findIndex((x) => typeof x === 'number'),
    );
    return `<${match}|${groups.join(',')}>`;
  });
}

describe('LinearRegex', () => {
  it('answers the catastrophic-backtracking pattern (a+)+$ against 27 a and a ! at once', () => {
    // Prepare
    const re = new LinearRegex('^(?:(a+)+$)$');
    const name = `${'a'.repeat(27)}!`;

    // Act
    const started = process.hrtime.bigint();
    const matched = re.test(name);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    // Assess: JavaScript's engine takes seconds here, doubling per character.
    expect(matched).toBe(false);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it.each([
    ['.', '😀x'],
    ['x', '😀x😀x'],
    ['[😀]', 'a😀b😀'],
    ['a*', 'baac'],
    ['', 'abc'],
    ['x*', '😀x😀'],
    ['(\\d)(\\d)?', 'a1b22'],
    ['(?<y>\\d+)', 'ab12'],
    ['\\p{L}+', 'Zoë 😀 Zürich'],
  ])('replaces /%s/ in %j exactly as JavaScript does, astral characters included', (pattern, text) => {
    // Act
    const replaced = new LinearRegex(pattern).replace(text, (m, g) => `<${m}|${g.numbered.join(',')}>`);

    // Assess
    expect(replaced).toBe(jsReplace(pattern, text));
  });

  it('keeps the Java identity escapes such as \\- and \\/ that JavaScript unicode mode refuses', () => {
    // Act / Assess
    expect(new LinearRegex('[a\\-z]\\/').test('-/')).toBe(true);
  });
});

describe('unsupportedConstruct', () => {
  it.each([
    ['(a)\\1', 'a backreference'],
    ['(?<n>a)\\k<n>', 'a named backreference'],
    ['(?=a)b', 'a lookahead'],
    ['a(?!b)', 'a negative lookahead'],
    ['(?<=a)b', 'a lookbehind'],
    ['(?<!a)b', 'a negative lookbehind'],
    ['(?>a)', 'an atomic group'],
    ['a++', 'a possessive quantifier'],
  ])('names the construct of %s', (pattern, construct) => {
    // Act
    const named = unsupportedConstruct(pattern);

    // Assess
    expect(named).toContain(construct);
    expect(() => new LinearRegex(pattern)).toThrow(RegexUnsupportedError);
  });

  it('ignores the same characters inside a class or escaped', () => {
    // Act / Assess
    expect([unsupportedConstruct('[(?=]'), unsupportedConstruct('\\\\1'), unsupportedConstruct('[\\1]')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('regexProblem', () => {
  it('tells an unsupported construct from a pattern that does not compile', () => {
    // Act / Assess
    expect(regexProblem('(a)\\1')?.code).toBe('IDX_REGEX_UNSUPPORTED');
    expect(regexProblem('(')?.code).toBe('IDX_REGEX_INVALID');
    expect(regexProblem('a|b')).toBeUndefined();
  });
});
