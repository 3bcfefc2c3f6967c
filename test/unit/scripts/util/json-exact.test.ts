import { describe, expect, it } from 'vitest';
import { InexactNumberError, isInexact, JsonDepthError, parseExact } from '../../../../lib/scripts/util/json-exact.ts';

const keep = { maxDepth: 1000, numbers: 'string' as const };

describe('isInexact', () => {
  it.each([
    ['12345678901234567890', true],
    ['9007199254740993', true],
    ['9007199254740992', false],
    ['1e400', true],
    ['-1e400', true],
    ['1e-400', true],
    ['0.1', false],
    ['0.30000000000000004', false],
    ['1.0000000000000001', true],
    ['1.50', false],
    ['1e2', false],
    ['0', false],
    ['-0.0', false],
  ])('tells whether %s survives a double: %s', (text, inexact) => {
    // Act / Assess
    expect(isInexact(text)).toBe(inexact);
  });
});

describe('parseExact', () => {
  it('keeps inexact numbers as their digits and leaves numbers in strings and exact numbers alone', () => {
    // Prepare
    const text =
      '{"a":12345678901234567890,"b":"x\\\\","c":"\\"12345678901234567890","d":[1e400,2.5],"e":9007199254740992}';

    // Act
    const value = parseExact(text, keep);

    // Assess
    expect(value).toEqual({
      a: '12345678901234567890',
      b: 'x\\',
      c: '"12345678901234567890',
      d: ['1e400', 2.5],
      e: 9007199254740992,
    });
  });

  it('refuses an inexact number when asked to, naming it', () => {
    // Act / Assess
    expect(() => parseExact('{"a":[1,12345678901234567890]}', { maxDepth: 10, numbers: 'reject' })).toThrow(
      InexactNumberError,
    );
  });

  it('refuses a value nested deeper than the limit without recursing, brackets inside strings not counted', () => {
    // Prepare
    const padding = ' '.repeat(100);
    const inStrings = `{"a":"[[[[[[[[[[","b":"\\"{{{{{{{{{{"}${padding}`;

    // Act / Assess
    expect(() => parseExact(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, keep)).toThrow(JsonDepthError);
    expect(() => parseExact(`[[[1]]]${padding}`, { maxDepth: 2, numbers: 'string' })).toThrow(JsonDepthError);
    expect(parseExact(inStrings, { maxDepth: 2, numbers: 'string' })).toEqual({ a: '[[[[[[[[[[', b: '"{{{{{{{{{{' });
  });
});
