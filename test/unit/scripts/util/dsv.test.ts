import { parse as csvParse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { DataRecord } from '../../../../lib/core/script.ts';
import { fileFormatDsv } from '../../../../lib/scripts/file.format.dsv.ts';
import { fileParseDsv } from '../../../../lib/scripts/file.parse.dsv.ts';
import { type DsvCell, DsvParser } from '../../../../lib/scripts/util/dsv.ts';
import { runScript } from '../../../../lib/testing/harness.ts';
import { seededRandom } from '../../../support/random.ts';

/** Values that break naive CSV code. */
const NASTY = [
  'plain',
  'with,comma',
  'with;semicolon',
  'with\ttab',
  'with|pipe',
  'say "hi"',
  '"',
  '""',
  '"quoted at both ends"',
  'line\nbreak',
  'carriage\rreturn',
  'crlf\r\nend',
  '\n',
  '\r\n\r\n',
  ' leading',
  'trailing ',
  '  both  ',
  '\ttabbed\t',
  '',
  'emoji 🚀 👩‍👩‍👧 🇫🇷',
  'עברית RTL مرحبا بالعالم',
  '\u200Fright-to-left mark',
  '\uFEFFbyte-order mark inside',
  'back\\slash',
  'back\\"slash quote',
  '\\',
  "it's",
  'NULL',
  'null',
  '0',
  '007',
  '=SUM(A1)',
  'x'.repeat(1024 * 1024),
];

interface Dialect {
  readonly name: string;
  readonly format: Record<string, unknown>;
  readonly parse: Record<string, unknown>;
  readonly csvParse: Record<string, unknown>;
}

const DIALECTS: Dialect[] = [
  {
    name: 'comma, every value quoted, LF',
    format: {},
    parse: {},
    csvParse: { delimiter: ',' },
  },
  {
    name: 'comma, minimal quoting, CRLF',
    format: { quoteFields: false, lineEnd: '\r\n' },
    parse: {},
    csvParse: { delimiter: ',' },
  },
  {
    name: 'semicolon, minimal quoting, backslash escape',
    format: { columnSeparator: ';', quoteFields: false, escapeCharacter: '\\' },
    parse: { columnSeparator: ';', escapeCharacter: '\\' },
    csvParse: { delimiter: ';', escape: '\\' },
  },
  {
    name: 'tab, every value quoted, byte-order mark',
    format: { columnSeparator: '\\t', writeBom: true },
    parse: { columnSeparator: '\\t' },
    csvParse: { delimiter: '\t' },
  },
  {
    name: 'pipe, minimal quoting, backslash escape, CRLF, byte-order mark',
    format: { columnSeparator: '|', quoteFields: false, escapeCharacter: '\\', lineEnd: '\r\n', writeBom: true },
    parse: { columnSeparator: '|', escapeCharacter: '\\' },
    csvParse: { delimiter: '|', escape: '\\' },
  },
];

/** The corpus records: every nasty value in every column position, with empty and missing values. */
function corpusRecords(): DataRecord[] {
  const records: DataRecord[] = [{ id: 'r0', v: 'first', w: 'has every column', x: '' }];
  NASTY.forEach((value, i) => {
    const record: DataRecord = { id: `r${i + 1}`, v: value, w: NASTY[(i + 7) % NASTY.length]!.slice(0, 100) };
    if (i % 3 === 0) record.x = value.slice(0, 50);
    if (i % 4 === 1) delete record.w;
    records.push(record);
  });
  const next = seededRandom(7);
  const alphabet = ['a', 'Z', ' ', ',', ';', '|', '\t', '"', "'", '\\', '\n', '\r', 'é', '🚀', 'ש', '\uFEFF'];
  for (let i = 0; i < 200; i++) {
    const cell = () => {
      const n = Math.floor(next() * 12);
      let s = '';
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(next() * alphabet.length)];
      return s;
    };
    const record: DataRecord = { id: `f${i}`, v: cell(), w: cell() };
    if (next() < 0.5) record.x = cell();
    records.push(record);
  }
  return records;
}

async function format(records: DataRecord[], dialect: Dialect): Promise<Buffer> {
  const out = await runScript(fileFormatDsv, { fileName: 'corpus.csv', ...dialect.format }, { records });
  expect(out.files).toHaveLength(1);
  return out.files[0]!.content;
}

async function parse(content: Buffer | string, params: Record<string, unknown>): Promise<DataRecord[]> {
  const out = await runScript(fileParseDsv, params, { files: [{ name: 'corpus.csv', content }] });
  expect(out.rejected).toEqual([]);
  return out.records;
}

/** Feeds text to the parser in pieces of the given sizes and collects rows. */
function parseInPieces(text: string, sizes: () => number, separator = ','): { rows: DsvCell[][]; lines: number[] } {
  const rows: DsvCell[][] = [];
  const lines: number[] = [];
  const parser = new DsvParser(
    { separator, quote: '"', escape: '"' },
    {
      row(cells, line) {
        rows.push(cells);
        lines.push(line);
      },
      malformed(problem) {
        throw new Error(`unexpected malformed row: ${problem.message}`);
      },
    },
  );
  let at = 0;
  while (at < text.length) {
    const n = Math.max(1, sizes());
    parser.push(text.slice(at, at + n));
    at += n;
  }
  parser.end();
  return { rows, lines };
}

describe('DSV corpus', () => {
  const records = corpusRecords();

  for (const dialect of DIALECTS) {
    it(`round-trips every nasty value: parse(format(x)) = x (${dialect.name})`, async () => {
      // Act
      const file = await format(records, dialect);
      const back = await parse(file, { ...dialect.parse, emptyValue: 'omit' });

      // Assess
      expect(back.length).toBe(records.length);
      for (const [i, record] of back.entries()) expect(record).toEqual(records[i]);
    });

    it(`agrees with csv-parse on the formatted file (${dialect.name})`, async () => {
      // Prepare
      const file = await format(records, dialect);

      // Act
      const ours = await parse(file, dialect.parse);
      const theirs = csvParse(file, {
        columns: true,
        bom: true,
        skip_empty_lines: true,
        ...dialect.csvParse,
      }) as DataRecord[];

      // Assess
      expect(ours.length).toBe(theirs.length);
      for (const [i, record] of ours.entries()) expect(record).toEqual(theirs[i]);
    });
  }

  it('agrees with csv-parse on hand-written files: spreadsheet export, no final line break, blank lines', async () => {
    // Prepare
    const files = [
      '\uFEFFName,City,Note\r\n"Müller, Jörg",Zürich,"He said ""Grüezi""\r\nand left"\r\nAna,São Paulo,\r\n',
      'a,b\n1,2\n\n\n3,4',
      'a,b\n"",x\n" ",\n',
      'h\n"only one column"\nplain\n',
    ];

    for (const file of files) {
      // Act
      const ours = await parse(file, {});
      const theirs = csvParse(file, { columns: true, bom: true, skip_empty_lines: true }) as DataRecord[];

      // Assess
      expect(ours).toEqual(theirs);
    }
  });

  it('reads the same rows and line numbers however the text is cut into chunks', () => {
    // Prepare
    const text = `a,b\n"x,""y""\r\nz",1\r\n\n"${'q'.repeat(200_000)}",2\nplain,"3"\n"last","no break"`;
    const whole = parseInPieces(text, () => text.length);
    const next = seededRandom(11);

    // Act
    const ones = parseInPieces(text, () => 1);
    const small = parseInPieces(text, () => Math.floor(next() * 7));
    const mixed = parseInPieces(text, () => Math.floor(next() * 70_000));

    // Assess
    expect(whole.rows).toEqual([
      ['a', 'b'],
      ['x,"y"\r\nz', '1'],
      ['q'.repeat(200_000), '2'],
      ['plain', '3'],
      ['last', 'no break'],
    ]);
    expect(whole.lines).toEqual([1, 2, 5, 6, 7]);
    for (const run of [ones, small, mixed]) {
      expect(run.rows).toEqual(whole.rows);
      expect(run.lines).toEqual(whole.lines);
    }
  });

  it('reads files whose line breaks are a lone CR', () => {
    // Act
    const { rows } = parseInPieces('a,b\r1,"x\ry"\r2,3\r', () => 3);

    // Assess
    expect(rows).toEqual([
      ['a', 'b'],
      ['1', 'x\ry'],
      ['2', '3'],
    ]);
  });
});

describe('DsvParser limits', () => {
  /** Feeds `text` in pieces of `size` characters to a parser with the given row limit; collects rows and problems. */
  function run(text: string, size: number, maxRowChars: number, maxColumns?: number) {
    const rows: { cells: DsvCell[]; line: number; columns?: number }[] = [];
    const problems: { code: string; line: number; raw: string }[] = [];
    const parser = new DsvParser(
      { separator: ',', quote: '"', escape: '"' },
      {
        row(cells, line, _start, _end, columns) {
          rows.push(columns === undefined ? { cells, line } : { cells: cells.slice(0, 3), line, columns });
        },
        malformed(problem) {
          problems.push({ code: problem.code, line: problem.line, raw: problem.raw.slice(0, 5) });
        },
      },
      { maxRowChars, ...(maxColumns === undefined ? {} : { maxColumns }) },
    );
    for (let at = 0; at < text.length; at += size) parser.push(text.slice(at, at + size));
    parser.end();
    return { rows, problems };
  }

  it.each([1, 7, 64, 100_000])(
    'rejects a row longer than the limit and reads on from the row after it, in pieces of %i characters',
    (size) => {
      // Prepare: the long row holds a quoted value with line breaks, which must not end it early.
      const long = `2,"${'x'.repeat(300)}\n${'y'.repeat(300)}"`;
      const text = `a,b\n1,one\n${long}\n3,three\n`;

      // Act
      const { rows, problems } = run(text, size, 100);

      // Assess
      expect(rows).toEqual([
        { cells: ['a', 'b'], line: 1 },
        { cells: ['1', 'one'], line: 2 },
        { cells: ['3', 'three'], line: 5 },
      ]);
      expect(problems).toEqual([{ code: 'IDX_DSV_ROW_TOO_LONG', line: 3, raw: '2,"xx' }]);
    },
  );

  it.each([3, 1000])('rejects a text with no line break at all once it passes the limit (pieces of %i)', (size) => {
    // Act
    const { rows, problems } = run('z'.repeat(5000), size, 100);

    // Assess
    expect(rows).toEqual([]);
    expect(problems).toEqual([{ code: 'IDX_DSV_ROW_TOO_LONG', line: 1, raw: 'zzzzz' }]);
  });

  it('says so when an over-long row opens a quote that never closes, rather than failing the file', () => {
    // Act
    const { rows, problems } = run(`a\n"${'q'.repeat(500)}\nb\n`, 50, 100);

    // Assess
    expect(rows).toEqual([{ cells: ['a'], line: 1 }]);
    expect(problems.map((p) => [p.code, p.line])).toEqual([
      ['IDX_DSV_ROW_TOO_LONG', 2],
      ['IDX_DSV_QUOTE', 2],
    ]);
  });

  it('skips an unclosed quote longer than the limit on a line of its own to the next line break', () => {
    // Act: the whole text at once, the quote's line break in the same piece.
    const { rows, problems } = run(`a\n"${'q'.repeat(500)}\nb\n`, 100_000, 100);

    // Assess
    expect(rows).toEqual([
      { cells: ['a'], line: 1 },
      { cells: ['b'], line: 3 },
    ]);
    expect(problems.map((p) => p.code)).toEqual(['IDX_DSV_QUOTE']);
  });

  it('splits no more than maxColumns + 1 cells out of a row, and reports its real count', () => {
    // Act
    const plain = run(`${Array.from({ length: 1000 }, (_, i) => i).join(',')}\n`, 100_000, 100_000, 2);
    const quoted = run(`${Array.from({ length: 1000 }, (_, i) => `"${i}"`).join(',')}\n`, 100_000, 100_000, 2);

    // Assess
    expect(plain.rows).toEqual([{ cells: ['0', '1', '2'], line: 1, columns: 1000 }]);
    expect(quoted.rows).toEqual([{ cells: ['0', '1', '2'], line: 1, columns: 1000 }]);
  });

  it.each([1000, 65_537, 300_000])(
    'reads a row of 200,000 characters kept in pieces of %i, quotes and line breaks inside, and the rows around it',
    (size) => {
      // Prepare
      const value = `${'ab""c'.repeat(20_000)}\n${'x'.repeat(100_000)}`;
      const text = `a,b\n1,"${value}"\n2,two\n`;

      // Act
      const small = run(text, size, 150_000);
      const large = run(text, size, 1_000_000);

      // Assess
      expect(large.problems).toEqual([]);
      expect(large.rows).toEqual([
        { cells: ['a', 'b'], line: 1 },
        { cells: ['1', value.replaceAll('""', '"')], line: 2 },
        { cells: ['2', 'two'], line: 4 },
      ]);
      expect(small.rows).toEqual([
        { cells: ['a', 'b'], line: 1 },
        { cells: ['2', 'two'], line: 4 },
      ]);
      expect(small.problems).toEqual([{ code: 'IDX_DSV_ROW_TOO_LONG', line: 2, raw: '1,"ab' }]);
    },
  );
});
