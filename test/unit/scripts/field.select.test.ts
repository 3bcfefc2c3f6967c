import { describe, expect, it } from 'vitest';
import { fieldSelect } from '../../../lib/scripts/field.select.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.select', () => {
  it('keeps only the listed fields, as the Mailchimp inbound template selects UID and status', async () => {
    // Prepare
    const records = [{ UID: 'u1', status: true, merge_fields: { FNAME: 'A' }, email_address: 'a@b.c' }];

    // Act
    const out = await runScript(fieldSelect, { fields: ['UID', 'status'] }, { records });

    // Assess
    expect(out.records).toEqual([{ UID: 'u1', status: true }]);
    expect(out.counters).toMatchObject({ recordsIn: 1, recordsOut: 1 });
  });

  it('keeps nested values with their parents and flat dotted keys flat, in the order listed', async () => {
    // Prepare
    const records = [{ profile: { email: 'a@b.c', firstName: 'A' }, 'data.x': 1, UID: 'u1' }];

    // Act
    const out = await runScript(fieldSelect, { fields: ['UID', 'profile.email', 'data.x', 'absent'] }, { records });

    // Assess
    expect(out.records).toEqual([{ UID: 'u1', profile: { email: 'a@b.c' }, 'data.x': 1 }]);
    expect(Object.keys(out.records[0]!)).toEqual(['UID', 'profile', 'data.x']);
  });

  it('refuses an empty list of fields', async () => {
    // Act / Assess
    await expect(runScript(fieldSelect, { fields: [] }, { records: [] })).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
    });
  });
});
