import { describe, expect, it } from 'vitest';
import { fieldArrayJoin } from '../../../lib/scripts/field.array.join.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.array.join', () => {
  it('joins an array into one text value with the separator', async () => {
    // Prepare
    const records = [{ loginIDs: { emails: ['a@x.com', 'b@y.com'] } }, { loginIDs: { emails: [] } }, { loginIDs: {} }];

    // Act
    const out = await runScript(fieldArrayJoin, { field: 'loginIDs.emails', separator: ';' }, { records });

    // Assess
    expect(out.records).toEqual([
      { loginIDs: { emails: 'a@x.com;b@y.com' } },
      { loginIDs: { emails: '' } },
      { loginIDs: {} },
    ]);
  });

  it('writes to another field, objects as JSON and null as an empty element, leaving non-arrays alone', async () => {
    // Prepare
    const records = [{ v: [1, null, { a: 1 }, true] }, { v: 'already text' }];

    // Act
    const out = await runScript(fieldArrayJoin, { field: 'v', targetField: 'V_TEXT' }, { records });

    // Assess
    expect(out.records).toEqual([{ v: [1, null, { a: 1 }, true], V_TEXT: '1,,{"a":1},true' }, { v: 'already text' }]);
  });
});
