import { describe, expect, it } from 'vitest';
import { fieldCopy } from '../../../lib/scripts/field.copy.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.copy', () => {
  it('copies values to flat and nested targets and leaves the source in place', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.email', targetField: 'EMAIL' },
        { sourceField: 'UID', targetField: 'data.externalId' },
        { sourceField: 'absent', targetField: 'never' },
      ],
    };

    // Act
    const out = await runScript(fieldCopy, params, { records: [{ UID: 'u1', profile: { email: 'a@b.c' } }] });

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', profile: { email: 'a@b.c' }, EMAIL: 'a@b.c', data: { externalId: 'u1' } },
    ]);
  });

  it('copies objects deeply so that a later change to the copy leaves the source alone', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile', targetField: 'backup' },
        { sourceField: 'UID', targetField: 'backup.email' },
      ],
    };

    // Act
    const out = await runScript(fieldCopy, params, { records: [{ UID: 'u1', profile: { email: 'a@b.c' } }] });

    // Assess
    expect(out.records).toEqual([{ UID: 'u1', profile: { email: 'a@b.c' }, backup: { email: 'u1' } }]);
  });
});
