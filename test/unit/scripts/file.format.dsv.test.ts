import { describe, expect, it } from 'vitest';
import { fileFormatDsv } from '../../../lib/scripts/file.format.dsv.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const text = (out: { files: { name: string; content: Buffer }[] }) =>
  out.files.map((f) => [f.name, f.content.toString('utf8')]);

describe('file.format.dsv', () => {
  it('writes the template export with every value quoted and ${now} in the name', async () => {
    // Prepare
    const params = { fileName: 'GIGYA_TO_SFTP_${now}.csv', columnSeparator: ',', quoteFields: true };
    const records = [
      { MAIL: 'a@b.c', NAME: 'Smith, "Jr"', AGE: 42, OK: true },
      { MAIL: 'd@e.f', NAME: '', AGE: null },
    ];

    // Act
    const out = await runScript(fileFormatDsv, params, { records });

    // Assess
    expect(text(out)).toEqual([
      [
        'GIGYA_TO_SFTP_20260102030405.csv',
        '"MAIL","NAME","AGE","OK"\n"a@b.c","Smith, ""Jr""","42","true"\n"d@e.f","",,\n',
      ],
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 2, recordsOut: 2, filesOut: 1 });
  });

  it('quotes only what needs it when quoteFields is false, with CRLF, a backslash escape and nested columns', async () => {
    // Prepare
    const params = {
      fileName: 'x.csv',
      quoteFields: false,
      escapeCharacter: '\\',
      lineEnd: '\\r\\n',
      columns: ['UID', 'profile.email', 'note', 'tags'],
    };
    const records = [
      { UID: 'u1', profile: { email: 'a@b.c' }, note: 'say "hi" \\o/', tags: ['x', 'y'], extra: 'ignored' },
      { UID: 'u2', profile: {}, note: ' padded ' },
    ];

    // Act
    const out = await runScript(fileFormatDsv, params, { records });

    // Assess
    expect(text(out)).toEqual([
      [
        'x.csv',
        'UID,profile.email,note,tags\r\nu1,a@b.c,"say \\"hi\\" \\\\o/","[\\"x\\",\\"y\\"]"\r\nu2,," padded ",\r\n',
      ],
    ]);
    expect(out.trace.join('\n')).not.toContain('extra');
  });

  it('takes the columns from the first record and reports fields that appear later instead of dropping them silently', async () => {
    // Prepare
    const records = [{ a: '1' }, { a: '2', b: 'late' }, { a: '3', b: 'again' }];

    // Act
    const out = await runScript(fileFormatDsv, { fileName: 'x.csv', quoteFields: false }, { records });

    // Assess
    expect(text(out)).toEqual([['x.csv', 'a\n1\n2\n3\n']]);
    expect(out.trace.filter((l) => l.includes('WARN'))).toEqual([
      expect.stringContaining('field "b" first appears in record 2'),
      expect.stringContaining('fields not written because they are not among the columns: b (2)'),
    ]);
  });

  it('writes rejected records with every field any of them has, header first, so no error row loses who it was', async () => {
    // Prepare: a malformed row first, then a contact without a UID, then an account Gigya did not know.
    const records = [
      { _raw: 'bad,row,,', C_EmailAddress: 'bad@example.com', _errorDetails: { code: 'IDX_DSV_COLUMNS' } },
      { C_EmailAddress: 'new@example.com', C_Gigya_UID1: '', _errorDetails: { code: 'IDX_UIDMAP_NO_MATCH' } },
      {
        UID: 'ghost',
        C_EmailAddress: 'ghost@example.com',
        data: { subscribed: true },
        _errorDetails: { code: 403005 },
      },
    ];

    // Act
    const out = await runScript(fileFormatDsv, { fileName: 'errors.csv', quoteFields: false }, { records });

    // Assess
    expect(text(out)).toEqual([
      [
        'errors.csv',
        [
          '_raw,C_EmailAddress,_errorDetails,C_Gigya_UID1,UID,data',
          '"bad,row,,",bad@example.com,"{""code"":""IDX_DSV_COLUMNS""}",,,',
          ',new@example.com,"{""code"":""IDX_UIDMAP_NO_MATCH""}","",,',
          ',ghost@example.com,"{""code"":403005}",,ghost,"{""subscribed"":true}"',
          '',
        ].join('\n'),
      ],
    ]);
    expect(out.trace.filter((l) => l.includes('WARN'))).toEqual([]);
  });

  it("takes every field of every record when columnsFrom says so, and the first record's when it says that", async () => {
    // Prepare
    const records = [{ a: 1 }, { b: 2, a: 3 }];
    const rejected = [
      { a: 1, _errorDetails: { code: 'X' } },
      { b: 2, _errorDetails: { code: 'Y' } },
    ];

    // Act
    const all = await runScript(
      fileFormatDsv,
      { fileName: 'x.csv', quoteFields: false, columnsFrom: 'allRecords' },
      { records },
    );
    const first = await runScript(
      fileFormatDsv,
      { fileName: 'x.csv', quoteFields: false, columnsFrom: 'firstRecord' },
      { records: rejected },
    );

    // Assess
    expect(text(all)).toEqual([['x.csv', 'a,b\n1,\n3,2\n']]);
    expect(text(first)).toEqual([['x.csv', 'a,_errorDetails\n1,"{""code"":""X""}"\n,"{""code"":""Y""}"\n']]);
  });

  it('splits the output into parts of at most maxFileSize MB, each with the header', async () => {
    // Prepare
    const value = 'x'.repeat(400 * 1024);
    const records = [{ v: value }, { v: value }, { v: value }];

    // Act
    const out = await runScript(
      fileFormatDsv,
      { fileName: 'big_${jobId}.csv', maxFileSize: 1, quoteFields: false },
      { records },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['big_job-test.csv', 'big_job-test_2.csv']);
    expect(out.files.map((f) => f.content.toString().split('\n').filter(Boolean).length)).toEqual([3, 2]);
    expect(out.files.every((f) => f.content.toString().startsWith('v\n'))).toBe(true);
    expect(out.files.every((f) => f.content.length <= 1024 * 1024)).toBe(true);
  });

  it('writes no file for no records unless createEmptyFile, then a header-only file', async () => {
    // Act
    const none = await runScript(fileFormatDsv, { fileName: 'x.csv' }, { records: [] });
    const empty = await runScript(
      fileFormatDsv,
      { fileName: 'x.csv', createEmptyFile: true, columns: ['UID', 'EMAIL'], quoteFields: false },
      { records: [] },
    );

    // Assess
    expect(none.files).toEqual([]);
    expect(text(empty)).toEqual([['x.csv', 'UID,EMAIL\n']]);
  });

  it('accepts the params of the toolkit error file, with a byte-order mark when asked', async () => {
    // Prepare
    const params = {
      fileName: 'Error_importFullAccount_${now}.csv',
      columnSeparator: ',',
      escapeCharacter: '\\',
      maxFileSize: 1,
      writeHeader: true,
      dsvFormatVersion: 'Standard',
      lineEnd: '\n',
      quoteFields: false,
      createEmptyFile: false,
      writeBom: true,
    };

    // Act
    const out = await runScript(fileFormatDsv, params, { records: [{ UID: 'u1', errorCode: 400006 }] });

    // Assess
    expect(out.files[0]!.name).toBe('Error_importFullAccount_20260102030405.csv');
    expect(out.files[0]!.content.toString('utf8')).toBe('\uFEFFUID,errorCode\nu1,400006\n');
  });

  it('refuses a missing fileName and a quote used as separator at validation', async () => {
    // Act / Assess
    await expect(runScript(fileFormatDsv, {}, { records: [] })).rejects.toMatchObject({ code: 'IDX_PARAM_MISSING' });
    await expect(
      runScript(fileFormatDsv, { fileName: 'x', columnSeparator: '"' }, { records: [] }),
    ).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
      location: { param: 'columnSeparator' },
    });
  });
});
