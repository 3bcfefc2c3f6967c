import { describe, expect, it } from 'vitest';
import { fieldArrayExtract } from '../../../lib/scripts/field.array.extract.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.array.extract', () => {
  it('makes one record per achievement with the UID and a key, as the game mechanics template does', async () => {
    // Prepare
    const params = { field: 'achievements', propagationFields: ['UID'], generateKey: true };
    const records = [
      {
        UID: 'u1',
        achievements: [
          { id: 'a', level: 1 },
          { id: 'b', level: 2, UID: 'ignored' },
        ],
      },
      { UID: 'u2', achievements: [] },
      { UID: 'u3' },
      { UID: 'u4', achievements: 'broken' },
    ];

    // Act
    const out = await runScript(fieldArrayExtract, params, { records });

    // Assess
    expect(out.records).toEqual([
      { id: 'a', level: 1, UID: 'u1', _key: 'u1_0' },
      { id: 'b', level: 2, UID: 'u1', _key: 'u1_1' },
    ]);
    expect(out.rejected).toEqual([
      {
        UID: 'u4',
        achievements: 'broken',
        _errorDetails: {
          code: 'IDX_NOT_AN_ARRAY',
          message: 'field "achievements" holds a string, not an array',
          field: 'achievements',
          stepId: 'field.array.extract',
        },
      },
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 4, recordsOut: 2, recordsDropped: 2, recordsRejected: 1 });
  });

  it('wraps text elements under the last part of the field name and copies nested parent fields', async () => {
    // Prepare
    const params = { field: 'loginIDs.emails', propagationFields: ['profile.country'] };

    // Act
    const out = await runScript(fieldArrayExtract, params, {
      records: [{ loginIDs: { emails: ['a@x', 'b@y'] }, profile: { country: 'FR' } }],
    });

    // Assess
    expect(out.records).toEqual([
      { emails: 'a@x', profile: { country: 'FR' } },
      { emails: 'b@y', profile: { country: 'FR' } },
    ]);
  });
});
