import { describe, expect, it } from 'vitest';
import { fieldAdd } from '../../../lib/scripts/field.add.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.add', () => {
  it('adds the job id and a constant as the toolkit import template does', async () => {
    // Prepare
    const params = {
      fields: [
        { field: 'data.idxImportId', value: '${jobId}' },
        { field: 'data.injectValue', value: '{{injectValue}}' },
        { field: 'importedOn', value: '${now:yyyy-MM-dd}' },
      ],
    };

    // Act
    const out = await runScript(fieldAdd, params, { records: [{ UID: 'u1', data: { x: 1 } }], job: { id: 'job-42' } });

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', data: { x: 1, idxImportId: 'job-42', injectValue: '{{injectValue}}' }, importedOn: '2026-01-02' },
    ]);
  });

  it('stores numbers, booleans and JSON when typed, overwriting what was there', async () => {
    // Prepare
    const params = {
      fields: [
        { field: 'n', value: '42', type: 'number' },
        { field: 'ok', value: 'true', type: 'boolean' },
        { field: 'tags', value: '["a","b"]', type: 'json' },
      ],
    };

    // Act
    const out = await runScript(fieldAdd, params, { records: [{ n: 'old' }, {}] });

    // Assess
    expect(out.records).toEqual([
      { n: 42, ok: true, tags: ['a', 'b'] },
      { n: 42, ok: true, tags: ['a', 'b'] },
    ]);
    out.records[0]!.tags = [];
    expect(out.records[1]!.tags).toEqual(['a', 'b']);
  });

  it('refuses a typed value that is not of its type at validation', async () => {
    // Act / Assess
    await expect(
      runScript(fieldAdd, { fields: [{ field: 'n', value: 'many', type: 'number' }] }, { records: [] }),
    ).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
      location: { param: 'fields[0].value' },
    });
  });
});
