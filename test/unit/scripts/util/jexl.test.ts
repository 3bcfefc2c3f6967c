import { describe, expect, it } from 'vitest';
import { compileExpression, createJexl } from '../../../../lib/scripts/util/jexl.ts';

describe('compiled JEXL', () => {
  const jexl = createJexl();
  const record = {
    s: 'subscribed',
    n: 7,
    z: 0,
    empty: '',
    nul: null,
    list: [{ v: 1 }, { v: 2 }],
    tags: ['a', 'b'],
    nested: { a: { b: 'deep' }, arr: [{ c: 3 }] },
    flag: true,
  };
  const expressions = [
    "s eq 'subscribed' ? true : false",
    "s ne 'x' && n gt 5",
    'n + 3 * 2 - z / 1',
    'n % 4 == 3 || nul',
    'empty || "fallback"',
    'nul ?: "elvis"',
    'nested.a.b + "!"',
    'nested.arr.c',
    'nested.missing.deeper',
    'list.v',
    '!flag',
    'not flag or n lt 10',
    '"b" in tags',
    "s =~ 'sub.*'",
    "s =^ 'sub' and s =$ 'bed'",
    '[n, s, {k: n}]',
    'tags|join("-")|upper',
    'size(tags) + size(s)',
    'empty(empty) && !empty(tags)',
    'n ge 7 ? (n le 7 ? "seven" : "big") : "small"',
    'n ^ 2 // 3',
    'unknownField',
  ];

  it.each(expressions)('gives what jexl evalSync gives: %s', (text) => {
    // Prepare
    const compiled = compileExpression(jexl, text);

    // Act
    const ours = compiled.evaluate(record);
    const theirs = jexl.evalSync(text, record);

    // Assess
    expect(ours).toEqual(theirs);
    expect(compiled.native).toBe(true);
  });

  it('falls back to evalSync for filters and still reads aliased fields', () => {
    // Prepare
    const compiled = compileExpression(jexl, 'list[.v > 1].v + data_x');

    // Act
    const value = compiled.evaluate({ ...record, data: { x: 10 } });

    // Assess
    expect(compiled.native).toBe(false);
    expect(value).toBe(12);
  });

  it('reads a field whose value is undefined as the field, not through its alias', () => {
    // Prepare
    const compiled = compileExpression(jexl, 'x_y');

    // Act
    const values = [
      compiled.evaluate({ x: { y: 'via alias' } }),
      compiled.evaluate({ x_y: undefined, x: { y: 'not read' } }),
      compiled.evaluate(Object.assign(Object.create(null), { x_y: 'no prototype' })),
    ];

    // Assess
    expect(values).toEqual(['via alias', undefined, 'no prototype']);
  });

  it("refuses Object.prototype's names as identifiers, so a record's inherited members are never read", () => {
    // Act / Assess
    for (const name of Object.getOwnPropertyNames(Object.prototype)) {
      expect(() => compileExpression(jexl, name), name).toThrow('unexpected in expression');
    }
  });

  it('refuses an expression that does not parse or names an unknown function', () => {
    // Act / Assess
    expect(() => compileExpression(jexl, 'a +')).toThrow(/Unexpected end of expression/);
    expect(() => compileExpression(jexl, 'a|nope')).toThrow('transform "nope" is not defined');
    expect(() => compileExpression(jexl, 'nope(a)')).toThrow('function "nope" is not defined');
  });
});
