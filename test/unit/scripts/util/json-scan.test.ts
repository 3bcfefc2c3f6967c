import { describe, expect, it } from 'vitest';
import { type JsonLayout, JsonValueScanner } from '../../../../lib/scripts/util/json-scan.ts';
import { seededRandom } from '../../../support/random.ts';

function scan(layout: JsonLayout, text: string, piece: () => number): unknown[] {
  const values: unknown[] = [];
  const scanner = new JsonValueScanner(layout, (t) => values.push(JSON.parse(t)));
  for (let at = 0; at < text.length; ) {
    const n = Math.max(1, piece());
    scanner.push(text.slice(at, at + n));
    at += n;
  }
  scanner.end();
  return values;
}

describe('JSON value scanner', () => {
  it('cuts the same values as JSON.parse sees, whatever the chunking, for random documents', () => {
    // Prepare
    const next = seededRandom(3);
    const atoms = ['a', '\\', '"', '{', '}', '[', ']', ',', ':', ' ', 'é', '🚀', '\n'];
    const text = () =>
      Array.from({ length: Math.floor(next() * 6) }, () => atoms[Math.floor(next() * atoms.length)]).join('');
    const value = (depth: number): unknown => {
      const r = next();
      if (depth > 2 || r < 0.3) return text();
      if (r < 0.4) return Math.floor(next() * 1000) - 500;
      if (r < 0.45) return null;
      if (r < 0.75) return Object.fromEntries(Array.from({ length: 3 }, () => [text(), value(depth + 1)]));
      return [value(depth + 1), value(depth + 1)];
    };

    for (let round = 0; round < 200; round++) {
      const items = Array.from({ length: Math.floor(next() * 15) }, () => value(0));
      // Act
      const array = scan({ kind: 'array' }, JSON.stringify(items, null, round % 2 ? 2 : undefined), () =>
        Math.floor(next() * 9),
      );
      const wrapped = scan({ kind: 'wrapped', key: 'data' }, JSON.stringify({ x: ['"]'], data: items, z: 1 }), () =>
        Math.floor(next() * 9),
      );
      const values = scan({ kind: 'values' }, items.map((v) => JSON.stringify(v, null, 1)).join('\n'), () =>
        Math.floor(next() * 9),
      );

      // Assess
      expect(array).toEqual(items);
      expect(wrapped).toEqual(items);
      expect(values).toEqual(items);
    }
  });

  it('reports text that is not JSON punctuation between values, and a cut document, with the offset', () => {
    // Act / Assess
    expect(() => scan({ kind: 'array' }, '[1 2]', () => 100)).toThrow(
      '"," or "]" was expected after an array element at character 3',
    );
    expect(() => scan({ kind: 'array' }, '[1,{"a":2}', () => 100)).toThrow(
      'the JSON text ends before its last value or bracket is closed',
    );
    expect(() => scan({ kind: 'wrapped', key: 'a' }, '{"a": 1}', () => 100)).toThrow(
      'property "a" does not hold an array',
    );
  });
});
