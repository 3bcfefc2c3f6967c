import { describe, expect, it } from 'vitest';
import { fileFormatAam } from '../../../lib/scripts/file.format.aam.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';

const text = (out: { files: { name: string; content: Buffer }[] }) =>
  out.files.map((f) => [f.name, f.content.toString('utf8')]);
/** The harness job's start, 2026-01-02T03:04:05Z, in UTC seconds. */
const START = 1767323045;

describe('file.format.aam', () => {
  it('writes <UID><TAB>"key"="value",… per user, in a file named ftp_dpm_<dpid>_<UTC seconds>.sync', async () => {
    // Prepare
    const records = [
      { UID: 'u1', gender: 'm', age: 32, education: [{ school: 'MIT', degree: 'BSc' }, { school: 'ENS' }] },
      { UID: 'u2', industry: 'Retail', followersCount: 0, relationshipStatus: null },
    ];

    // Act
    const out = await runScript(fileFormatAam, { dpid: '478' }, { records });

    // Assess
    expect(text(out)).toEqual([
      [
        `ftp_dpm_478_${START}.sync`,
        'u1\t"gender"="m","age"="32","education.school"="MIT","education.school"="ENS","education.degree"="BSc"\n' +
          'u2\t"industry"="Retail","followersCount"="0"\n',
      ],
    ]);
  });

  it('names an overwrite file .overwrite, adds the target data owner for device IDs, or takes fileName', async () => {
    // Prepare
    const records = [{ UID: 'u1', a: 'b' }];

    // Act
    const overwrite = await runScript(fileFormatAam, { dpid: '478', fileType: 'overwrite' }, { records });
    const device = await runScript(fileFormatAam, { dpid: '20914', targetDpid: '478' }, { records });
    const named = await runScript(fileFormatAam, { dpid: '478', fileName: 'aam_${unix}.sync' }, { records });

    // Assess
    expect(overwrite.files[0]?.name).toBe(`ftp_dpm_478_${START}.overwrite`);
    expect(device.files[0]?.name).toBe(`ftp_dpm_20914_478_${START}.sync`);
    expect(named.files[0]?.name).toBe(`aam_${START}.sync`);
  });

  it('replaces quotes, commas, tabs and line breaks inside keys and values by a space', async () => {
    // Act
    const out = await runScript(fileFormatAam, { dpid: '1' }, { records: [{ UID: 'u1', 'a"b': 'x,y\tz\n"q"' }] });

    // Assess
    expect(text(out)[0]?.[1]).toBe('u1\t"a b"="x y z  q "\n');
    expect(out.trace.join('\n')).toContain('2 trait key(s) or value(s)');
  });

  it('rejects a record without UID or whose UID holds ":" or %3A, and drops one with no trait', async () => {
    // Prepare
    const records = [{ UID: 'ok', a: 1 }, { a: 1 }, { UID: 'x:y', a: 1 }, { UID: 'x%3ay', a: 1 }, { UID: 'bare' }];

    // Act
    const out = await runScript(fileFormatAam, { dpid: '1' }, { records });

    // Assess
    expect(text(out)[0]?.[1]).toBe('ok\t"a"="1"\n');
    expect(out.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual([
      'IDX_FORMAT_USER_ID',
      'IDX_FORMAT_USER_ID',
      'IDX_FORMAT_USER_ID',
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 5, recordsRejected: 3, recordsDropped: 1 });
  });

  it('fails a dpid that is not a number, as a template placeholder left in place, with IDX_PARAM_VALUE', async () => {
    // Act / Assess
    await expect(runScript(fileFormatAam, { dpid: '...' }, { records: [{ UID: 'u' }] })).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
      location: { param: 'dpid' },
    });
  });

  it('writes no file for no record unless createEmptyFile, since AAM marks empty files invalid', async () => {
    // Act
    const none = await runScript(fileFormatAam, { dpid: '1' }, { records: [] });
    const empty = await runScript(fileFormatAam, { dpid: '1', createEmptyFile: true }, { records: [] });

    // Assess
    expect(none.files).toEqual([]);
    expect(text(empty)).toEqual([[`ftp_dpm_1_${START}.sync`, '']]);
  });

  it('writes the same file across invocations of a 1 ms budget as in one', async () => {
    // Prepare
    const records = Array.from({ length: 2_500 }, (_, i) => ({ UID: `u${i}`, age: 20 + (i % 50), tags: ['a', 'b'] }));

    // Act
    const whole = await runScript(fileFormatAam, { dpid: '9' }, { records });
    const sliced = await runScriptSliced(fileFormatAam, { dpid: '9' }, { records, slice: 400 });

    // Assess
    expect(sliced.invocations).toBe(7);
    expect(text(sliced)).toEqual(text(whole));
  });
});

describe('file.format.aam with maxFileSize', () => {
  const records = Array.from({ length: 3_000 }, (_, i) => ({ UID: `u${i}`, age: 20 + (i % 50), city: 'Lyon' }));
  const params = { dpid: '478', maxFileSize: 0.02 };

  it('splits into files of at most maxFileSize, each named with AAM’s split number', async () => {
    // Act
    const out = await runScript(fileFormatAam, params, { records });

    // Assess
    expect(out.files.length).toBeGreaterThan(3);
    expect(out.files.map((f) => f.name)).toEqual(out.files.map((_, i) => `ftp_dpm_478_${START}.sync.${i + 1}`));
    expect(out.files.every((f) => f.content.length <= 0.02 * 1024 * 1024)).toBe(true);
    const lines = Buffer.concat(out.files.map((f) => f.content))
      .toString('utf8')
      .split('\n')
      .filter(Boolean);
    expect(lines.map((l) => l.split('\t')[0])).toEqual(records.map((r) => r.UID));
  });

  it('splits at the same lines across invocations of a 1 ms budget as in one', async () => {
    // Act
    const whole = await runScript(fileFormatAam, params, { records });
    const sliced = await runScriptSliced(fileFormatAam, params, { records, slice: 170 });

    // Assess
    expect(sliced.invocations).toBe(18);
    expect(text(sliced)).toEqual(text(whole));
  });
});
