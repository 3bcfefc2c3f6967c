import { describe, expect, it } from 'vitest';
import { fieldMove } from '../../../lib/scripts/field.move.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const keys = (out: { records: Record<string, unknown>[] }) => out.records.map((r) => Object.keys(r));

describe('field.move', () => {
  it('moves the listed fields, in the order listed, right after the anchor field', async () => {
    // Prepare
    const records = [{ a: 1, b: 2, c: 3, d: 4, e: 5 }];

    // Act
    const out = await runScript(fieldMove, { fields: ['e', 'c'], after: 'a' }, { records });

    // Assess
    expect(keys(out)).toEqual([['a', 'e', 'c', 'b', 'd']]);
    expect(out.records[0]).toEqual({ a: 1, b: 2, c: 3, d: 4, e: 5 });
  });

  it('moves to the front without an anchor and to the end when the anchor is absent', async () => {
    // Prepare
    const records = [{ a: 1, b: 2, c: 3 }];

    // Act
    const front = await runScript(fieldMove, { fields: ['c', 'missing'] }, { records });
    const end = await runScript(fieldMove, { fields: ['a'], after: 'nope' }, { records });

    // Assess
    expect(keys(front)).toEqual([['c', 'a', 'b']]);
    expect(keys(end)).toEqual([['b', 'c', 'a']]);
  });
});
