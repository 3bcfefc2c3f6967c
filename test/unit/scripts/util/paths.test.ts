import { describe, expect, it } from 'vitest';
import { deletePath, getPath, hasPath, setPath } from '../../../../lib/scripts/util/paths.ts';

describe('dotted paths', () => {
  it('reads nested values, and a literal dotted key first', () => {
    // Prepare
    const record = { profile: { email: 'nested' }, 'profile.email': 'flat', data: { a: { b: 0 } } };

    // Act / Assess
    expect(getPath(record, 'profile.email')).toBe('flat');
    expect(getPath(record, 'data.a.b')).toBe(0);
    expect(getPath(record, 'data.x.y')).toBeUndefined();
    expect(hasPath(record, 'data.a.b')).toBe(true);
    expect(hasPath(record, 'data.a.c')).toBe(false);
  });

  it('treats a single-quoted path as one literal key', () => {
    // Prepare
    const record: Record<string, unknown> = {};

    // Act
    setPath(record, "'a.b'", 1);

    // Assess
    expect(record).toEqual({ 'a.b': 1 });
    expect(getPath(record, "'a.b'")).toBe(1);
    expect(deletePath(record, "'a.b'")).toBe(true);
    expect(record).toEqual({});
  });

  it('does not see inherited properties as fields nor let __proto__ change a prototype', () => {
    // Prepare
    const record: Record<string, unknown> = { a: {} };

    // Act
    setPath(record, '__proto__.polluted', 'yes');
    setPath(record, 'a.__proto__', 'x');

    // Assess
    expect(getPath({}, 'toString')).toBeUndefined();
    expect(hasPath({}, 'constructor')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(JSON.stringify(record)).toBe('{"a":{"__proto__":"x"},"__proto__":{"polluted":"yes"}}');
  });
});
