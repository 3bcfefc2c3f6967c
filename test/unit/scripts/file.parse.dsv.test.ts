import { describe, expect, it } from 'vitest';
import { fileParseDsv } from '../../../lib/scripts/file.parse.dsv.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const parse = (params: Record<string, unknown>, content: string | Buffer, name = 'in.csv') =>
  runScript(fileParseDsv, params, { files: [{ name, content }] });

describe('file.parse.dsv', () => {
  it('reads the header row as field names and quoted values with separators, quotes and line breaks', async () => {
    // Prepare
    const csv =
      'UID,profile.firstName,note\r\n' +
      'u1,Anna,"a, b"\r\n' +
      'u2,"Ben ""the"" Bold","two\r\nlines"\r\n' +
      '\r\n' +
      'u3,,""\r\n';

    // Act
    const out = await parse({ columnSeparator: ',' }, csv);

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', 'profile.firstName': 'Anna', note: 'a, b' },
      { UID: 'u2', 'profile.firstName': 'Ben "the" Bold', note: 'two\r\nlines' },
      { UID: 'u3', 'profile.firstName': '', note: '' },
    ]);
    expect(out.rejected).toEqual([]);
    expect(out.counters).toMatchObject({ filesIn: 1, recordsOut: 3, recordsRejected: 0 });
  });

  it('rejects a row with the wrong column count (keeping its cells under their column names) and an unbalanced quote with file and line, and reads on', async () => {
    // Prepare
    const csv = ['a,b', '1,2', '3', '"4,5', '6,7', '8,"x"y', '9,10'].join('\n');

    // Act
    const out = await parse({}, csv, 'accounts.csv');

    // Assess
    expect(out.records).toEqual([
      { a: '1', b: '2' },
      { a: '6', b: '7' },
      { a: '9', b: '10' },
    ]);
    expect(out.rejected).toEqual([
      {
        a: '3',
        _raw: '3',
        _errorDetails: {
          code: 'IDX_DSV_COLUMNS',
          message: 'accounts.csv line 3: 1 column(s) where the header has 2',
          fileName: 'accounts.csv',
          line: 3,
          expected: '2 columns',
          received: '1 columns',
          stepId: 'file.parse.dsv',
        },
      },
      {
        _raw: '"4,5',
        _errorDetails: {
          code: 'IDX_DSV_QUOTE',
          message: 'accounts.csv line 4: unbalanced quote: the quoted value in column 1 is not closed on its line',
          fileName: 'accounts.csv',
          line: 4,
          stepId: 'file.parse.dsv',
        },
      },
      {
        _raw: '8,"x"y',
        _errorDetails: {
          code: 'IDX_DSV_QUOTE',
          message: 'accounts.csv line 6: unexpected text after the closing quote of column 2',
          fileName: 'accounts.csv',
          line: 6,
          stepId: 'file.parse.dsv',
        },
      },
    ]);
    expect(out.counters).toMatchObject({ recordsOut: 3, recordsRejected: 3 });
  });

  it('rejects a quote that is never closed at the end of the file without losing the rows before it', async () => {
    // Prepare
    const csv = 'a,b\n1,2\n3,"open\n5,6\n';

    // Act
    const out = await parse({}, csv, 'x.csv');

    // Assess
    expect(out.records).toEqual([
      { a: '1', b: '2' },
      { a: '5', b: '6' },
    ]);
    expect(out.rejected.map((r) => [r._raw, (r._errorDetails as { line: number }).line])).toEqual([['3,"open', 3]]);
    expect((out.rejected[0]!._errorDetails as { message: string }).message).toBe(
      'x.csv line 3: the quoted value opened on line 3 is never closed',
    );
  });

  it('counts line numbers across quoted line breaks', async () => {
    // Prepare
    const csv = 'a,b\n"x\ny\nz",1\n2\n';

    // Act
    const out = await parse({}, csv);

    // Assess
    expect(out.records).toEqual([{ a: 'x\ny\nz', b: '1' }]);
    expect((out.rejected[0]!._errorDetails as { line: number }).line).toBe(5);
  });

  it('reads Latin-1, UTF-8 with a byte-order mark, and picks either with auto-detect', async () => {
    // Prepare
    const latin1 = Buffer.from('name;city\nJosé;Zürich\n', 'latin1');
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('name;city\nJosé;Zürich 🚀\n')]);

    // Act
    const a = await parse({ columnSeparator: ';', fileCharset: 'ISO-8859-1' }, latin1);
    const b = await parse({ columnSeparator: ';', fileCharset: 'UTF-8' }, bom);
    const c = await parse({ columnSeparator: ';', fileCharset: 'auto-detect' }, latin1);
    const d = await parse({ columnSeparator: ';', fileCharset: 'auto-detect' }, bom);

    // Assess
    expect(a.records).toEqual([{ name: 'José', city: 'Zürich' }]);
    expect(b.records).toEqual([{ name: 'José', city: 'Zürich 🚀' }]);
    expect(c.records).toEqual(a.records);
    expect(d.records).toEqual(b.records);
  });

  it('infers numbers and booleans only when asked, keeping leading zeros and huge integers as text', async () => {
    // Prepare
    const csv = 'zip,n,f,ok,id,t\n00123,42,-1.5,TRUE,12345678901234567890,true story\n';

    // Act
    const typed = await parse({ inferTypes: true }, csv);
    const plain = await parse({ inferTypes: false }, csv);

    // Assess
    expect(typed.records).toEqual([
      { zip: '00123', n: 42, f: -1.5, ok: true, id: '12345678901234567890', t: 'true story' },
    ]);
    expect(plain.records).toEqual([
      { zip: '00123', n: '42', f: '-1.5', ok: 'TRUE', id: '12345678901234567890', t: 'true story' },
    ]);
  });

  it('adds the file name, and keeps empty apart from missing with emptyValue "omit"', async () => {
    // Prepare
    const csv = 'a,b,c\n"",,x\n';

    // Act
    const out = await parse({ addFilename: true, emptyValue: 'omit' }, csv, 'in/2026.csv');
    const nulls = await parse({ emptyValue: 'null' }, csv);

    // Assess
    expect(out.records).toEqual([{ a: '', c: 'x', _fileName: 'in/2026.csv' }]);
    expect(nulls.records).toEqual([{ a: '', b: null, c: 'x' }]);
  });

  it('reads tab-separated files without a header using the given columns, and backslash escapes', async () => {
    // Prepare
    const tsv = 'u1\t"say \\"hi\\" \\\\ bye"\nu2\tplain\n';

    // Act
    const out = await parse(
      { columnSeparator: '\\t', hasHeader: false, columns: ['UID', 'msg'], escapeCharacter: '\\' },
      tsv,
    );

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', msg: 'say "hi" \\ bye' },
      { UID: 'u2', msg: 'plain' },
    ]);
  });

  it('keeps a __proto__ column as an ordinary field, never as the record prototype', async () => {
    // Act
    const out = await parse({}, '__proto__,a\n{"polluted":1},x\n');

    // Assess
    expect(out.records).toEqual([JSON.parse('{"__proto__":"{\\"polluted\\":1}","a":"x"}')]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts the params of the IdentitySync toolkit import templates', async () => {
    // Prepare
    const params = { columnSeparator: ',', fileCharset: 'UTF-8', inferTypes: false, addFilename: false };

    // Act
    const out = await parse(params, 'UID,profile.email\nu1,a@b.c\n');

    // Assess
    expect(out.records).toEqual([{ UID: 'u1', 'profile.email': 'a@b.c' }]);
  });

  it("stops reading at the job's record limit, counts a rejected row against it, and opens no further file", async () => {
    // Prepare
    const big = ['a,b', '1,2', '3', ...Array.from({ length: 10_000 }, (_, i) => `${i},x`)].join('\n');
    const files = [
      { name: 'one.csv', content: big },
      { name: 'two.csv', content: 'a,b\n5,6\n' },
    ];

    // Act
    const out = await runScript(fileParseDsv, {}, { files, job: { test: true, limit: 3 } });

    // Assess
    expect(out.records).toEqual([
      { a: '1', b: '2' },
      { a: '0', b: 'x' },
    ]);
    expect(out.rejected.map((r) => r._raw)).toEqual(['3']);
    expect(out.counters).toMatchObject({ filesIn: 1, recordsOut: 2, recordsRejected: 1 });
    expect(out.skipped).toEqual([
      { name: 'two.csv', reason: "not read: the job's record limit was reached before it" },
    ]);
    expect(out.trace.join('\n')).toContain(
      "one.csv: 2 record(s) read, 1 row(s) rejected; the job's record limit stopped reading at line 5",
    );
  });

  it('refuses an unknown character set and a missing header without columns at validation', async () => {
    // Act / Assess
    await expect(parse({ fileCharset: 'EBCDIC' }, 'a\n1\n')).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
      location: { param: 'fileCharset' },
    });
    await expect(parse({ hasHeader: false }, 'a\n1\n')).rejects.toMatchObject({ code: 'IDX_PARAM_MISSING' });
    await expect(parse({ columnSeparator: '"' }, 'a\n1\n')).rejects.toMatchObject({ code: 'IDX_PARAM_VALUE' });
  });

  it('fails the file on a repeated column name unless duplicateHeaders says how to read it', async () => {
    // Prepare
    const csv = 'id,email,email,name,email_2\n1,a@x,b@x,Ann,c@x\n';

    // Act
    const failed = parse({}, csv);
    const renamed = await parse({ duplicateHeaders: 'rename' }, csv);
    const first = await parse({ duplicateHeaders: 'first' }, csv);
    const last = await parse({ duplicateHeaders: 'last' }, csv);

    // Assess
    await expect(failed).rejects.toMatchObject({
      code: 'IDX_DSV_HEADER_DUPLICATE',
      message: expect.stringContaining('"email"'),
      location: { param: 'duplicateHeaders' },
    });
    expect(renamed.records).toEqual([{ id: '1', email: 'a@x', email_3: 'b@x', name: 'Ann', email_2: 'c@x' }]);
    expect(first.records).toEqual([{ id: '1', email: 'a@x', name: 'Ann', email_2: 'c@x' }]);
    expect(last.records).toEqual([{ id: '1', email: 'b@x', name: 'Ann', email_2: 'c@x' }]);
  });

  it('rejects a row holding bytes that are not valid UTF-8, and reads on', async () => {
    // Prepare: an overlong encoding, a stray continuation byte and a sequence cut by the end of the file.
    const csv = Buffer.concat([
      Buffer.from('id,name\n1,Zoë\n2,a'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('b\n4,c'),
      Buffer.from([0x80]),
      Buffer.from('\n5,e'),
      Buffer.from([0xe2, 0x82]),
    ]);

    // Act
    const out = await parse({}, csv);
    const real = await parse({}, 'id,name\n3,\uFFFD real\n');

    // Assess
    expect(out.records).toEqual([{ id: '1', name: 'Zoë' }]);
    expect(real.records).toEqual([{ id: '3', name: '\uFFFD real' }]);
    expect(out.rejected.map((r) => [r._raw, (r._errorDetails as { code: string; line: number }).code])).toEqual([
      ['2,a\uFFFD\uFFFDb', 'IDX_CHARSET_INVALID'],
      ['4,c\uFFFD', 'IDX_CHARSET_INVALID'],
      ['5,e\uFFFD', 'IDX_CHARSET_INVALID'],
    ]);
    expect(out.counters).toMatchObject({ recordsOut: 1, recordsRejected: 3 });
  });

  it('keeps such rows with U+FFFD when invalidCharacters is "replace", with a warning and a counter', async () => {
    // Prepare
    const csv = Buffer.concat([Buffer.from('id,name\n1,a'), Buffer.from([0xff]), Buffer.from('b\n')]);

    // Act
    const out = await parse({ invalidCharacters: 'replace' }, csv);

    // Assess
    expect(out.records).toEqual([{ id: '1', name: 'a\uFFFDb' }]);
    expect(out.counters.charactersReplaced).toBe(1);
    expect(out.trace.join('\n')).toMatch(/1 invalid byte sequence\(s\) in UTF-8 replaced with U\+FFFD/);
  });

  it('rejects a row longer than maxLineLength with its start in _raw, and reads on', async () => {
    // Prepare
    const csv = `id,name\n1,a\n2,${'x'.repeat(5000)}\n3,c\n`;

    // Act
    const out = await parse({ maxLineLength: 1000 }, csv);

    // Assess
    expect(out.records).toEqual([
      { id: '1', name: 'a' },
      { id: '3', name: 'c' },
    ]);
    expect(out.rejected).toHaveLength(1);
    expect(out.rejected[0]).toMatchObject({
      _raw: expect.stringMatching(/^2,x{998}/),
      _errorDetails: { code: 'IDX_DSV_ROW_TOO_LONG', line: 3 },
    });
  });

  it('fails the file when its header row is longer than maxLineLength or wider than 16,384 columns', async () => {
    // Act / Assess
    await expect(parse({ maxLineLength: 100 }, `${'h'.repeat(500)}\n1\n`)).rejects.toMatchObject({
      code: 'IDX_DSV_ROW_TOO_LONG',
    });
    await expect(
      parse({}, `${Array.from({ length: 20_000 }, (_, i) => `c${i}`).join(',')}\n1\n`),
    ).rejects.toMatchObject({
      code: 'IDX_DSV_HEADER_TOO_WIDE',
    });
  });

  it('rejects a row of far more cells than the header without splitting them all', async () => {
    // Prepare
    const csv = `a,b\n${Array.from({ length: 100_000 }, () => '1').join(',')}\n2,3\n`;

    // Act
    const out = await parse({}, csv);

    // Assess
    expect(out.records).toEqual([{ a: '2', b: '3' }]);
    expect(out.rejected[0]).toMatchObject({
      a: '1',
      b: '1',
      _errorDetails: { code: 'IDX_DSV_COLUMNS', received: '100000 columns' },
    });
  });

  it('rejects a UTF-16 row holding a lone surrogate, and keeps a U+FFFD the file really writes', async () => {
    // Prepare
    const le = (text: string) => Buffer.from(text, 'utf16le');
    const lone = Buffer.concat([le('id,name\n1,a'), Buffer.from([0x00, 0xd8]), le('b\n2,ok\n')]);
    const real = le('id,name\n1,\uFFFD\n');

    // Act
    const out = await parse({ fileCharset: 'UTF-16LE' }, lone);
    const kept = await parse({ fileCharset: 'UTF-16LE' }, real);

    // Assess
    expect(out.records).toEqual([{ id: '2', name: 'ok' }]);
    expect(out.rejected[0]).toMatchObject({
      _raw: '1,a\uFFFDb',
      _errorDetails: { code: 'IDX_CHARSET_INVALID', line: 2 },
    });
    expect(kept.records).toEqual([{ id: '1', name: '\uFFFD' }]);
  });
});
