import { describe, expect, it } from 'vitest';
import { runScript } from '../../../lib/engine/harness.ts';
import { fieldRename } from '../../../lib/scripts/field.rename.ts';

describe('field.rename', () => {
  it('moves nested fields to flat columns and flat columns into nested paths', async () => {
    // Prepare
    const params = {
      fields: [
        { sourceField: 'profile.email', targetField: 'MAIL' },
        { sourceField: 'EVENING_ABC', targetField: 'data.newslettersEvening.abc' },
      ],
    };
    const records = [{ UID: 'u1', profile: { email: 'a@b.c', firstName: 'A' }, EVENING_ABC: 'true' }];

    // Act
    const out = await runScript(fieldRename, params, { records });

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', profile: { firstName: 'A' }, MAIL: 'a@b.c', data: { newslettersEvening: { abc: 'true' } } },
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 1, recordsOut: 1, recordsRejected: 0 });
  });

  it('leaves a record unchanged when the source field is absent', async () => {
    // Prepare
    const params = { fields: [{ sourceField: 'profile.likes', targetField: 'LIKES' }] };

    // Act
    const out = await runScript(fieldRename, params, { records: [{ UID: 'u1' }] });

    // Assess
    expect(out.records).toEqual([{ UID: 'u1' }]);
  });

  it('writes a single-quoted target as one flat key, as the Epsilon template names its JSON columns', async () => {
    // Prepare
    const params = { fields: [{ sourceField: 'profile.gender', targetField: "'profile.gender'" }] };

    // Act
    const out = await runScript(fieldRename, params, { records: [{ profile: { gender: 'f' } }] });

    // Assess
    expect(out.records).toEqual([{ profile: {}, 'profile.gender': 'f' }]);
  });

  it('refuses params without fields with a coded error', async () => {
    // Act / Assess
    await expect(runScript(fieldRename, {}, { records: [] })).rejects.toMatchObject({ code: 'IDX_PARAM_MISSING' });
  });
});
