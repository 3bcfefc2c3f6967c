import { describe, expect, it } from 'vitest';
import { fieldRemove } from '../../../lib/scripts/field.remove.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.remove', () => {
  it('drops what is left of the nested objects after a rename, as the export template does', async () => {
    // Prepare
    const records = [{ MAIL: 'a@b.c', profile: { nickname: 'x' }, data: {}, 'flat.key': 1, keep: true }];

    // Act
    const out = await runScript(fieldRemove, { fields: ['profile', 'data', 'flat.key', 'absent.path'] }, { records });

    // Assess
    expect(out.records).toEqual([{ MAIL: 'a@b.c', keep: true }]);
  });

  it('removes one nested field and keeps its parent', async () => {
    // Act
    const out = await runScript(
      fieldRemove,
      { fields: ['profile.email'] },
      { records: [{ profile: { email: 'a', age: 3 } }] },
    );

    // Assess
    expect(out.records).toEqual([{ profile: { age: 3 } }]);
  });
});
