import { describe, expect, it } from 'vitest';
import { fieldDateFormat } from '../../../lib/scripts/field.date.format.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('field.date.format', () => {
  it('converts ISO timestamps, epochs and patterns, in UTC', async () => {
    // Prepare
    const params = {
      fields: [
        { field: 'created', inputFormat: 'iso', outputFormat: 'dd/MM/yyyy HH:mm' },
        { field: 'lastLogin', inputFormat: 'epochMillis', outputFormat: 'iso' },
        { field: 'birth', inputFormat: 'dd.MM.yy', outputFormat: 'yyyy-MM-dd', targetField: 'BIRTH' },
        { field: 'seen', inputFormat: "yyyy-MM-dd'T'hh:mm a", outputFormat: 'epochSeconds' },
      ],
    };
    const records = [
      {
        created: '2024-03-01T23:30:00+02:00',
        lastLogin: 1700000000000,
        birth: '29.02.24',
        seen: '2024-01-02T01:05 PM',
      },
    ];

    // Act
    const out = await runScript(fieldDateFormat, params, { records });

    // Assess
    expect(out.records).toEqual([
      {
        created: '01/03/2024 21:30',
        lastLogin: '2023-11-14T22:13:20.000Z',
        birth: '29.02.24',
        BIRTH: '2024-02-29',
        seen: 1704200700,
      },
    ]);
  });

  it('rejects a record whose date does not match or does not exist, unchanged, and leaves empty values alone', async () => {
    // Prepare
    const params = { fields: [{ field: 'd', inputFormat: 'dd/MM/yyyy', outputFormat: 'yyyy-MM-dd' }] };
    const records = [{ d: '31/02/2024' }, { d: '2024-02-01' }, { d: '' }, { d: null }, {}, { d: '01/02/2024' }];

    // Act
    const out = await runScript(fieldDateFormat, params, { records });

    // Assess
    expect(out.records).toEqual([{ d: '' }, { d: null }, {}, { d: '2024-02-01' }]);
    expect(out.rejected.map((r) => [r.d, (r._errorDetails as { message: string }).message])).toEqual([
      ['31/02/2024', 'field "d": "31/02/2024" is not a date in the format "dd/MM/yyyy"'],
      ['2024-02-01', 'field "d": "2024-02-01" is not a date in the format "dd/MM/yyyy"'],
    ]);
  });

  it('refuses a pattern letter it does not know at validation', async () => {
    // Act / Assess
    await expect(
      runScript(fieldDateFormat, { fields: [{ field: 'd', outputFormat: 'EEE, d MMM yyyy' }] }, { records: [] }),
    ).rejects.toMatchObject({ code: 'IDX_DATE_PATTERN' });
  });
});
