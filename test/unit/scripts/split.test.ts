import { describe, expect, it } from 'vitest';
import type { SplitSyntax } from '../../../lib/core/script.ts';
import { type DsvCell, DsvParser } from '../../../lib/scripts/util/dsv.ts';
import { countLines, dsvChunks, ndjsonChunks, type SplitItem } from '../../../lib/scripts/util/split.ts';

/** The bytes of `text`, arriving in pieces of `size` bytes (cutting UTF-8 characters anywhere). */
async function* pieces(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect(
  items: AsyncIterable<SplitItem>,
): Promise<{ chunks: { text: string; firstLine: number }[]; rest?: { text: string; firstLine: number } }> {
  const chunks: { text: string; firstLine: number }[] = [];
  for await (const item of items) {
    if (item.kind === 'chunk') chunks.push({ text: item.chunk.data.toString(), firstLine: item.chunk.firstLine });
    else {
      const parts: Buffer[] = [];
      for await (const p of item.rest.data) parts.push(p);
      return { chunks, rest: { text: Buffer.concat(parts).toString(), firstLine: item.rest.firstLine } };
    }
  }
  return { chunks };
}

/** Rows as the DSV parser reads a text: cells and the line each starts on, plus problems. */
function parse(text: string, syntax: SplitSyntax, firstLine = 1): string[] {
  const out: string[] = [];
  const parser = new DsvParser(
    syntax,
    {
      row(cells: DsvCell[], line: number) {
        out.push(`${line}:${JSON.stringify(cells)}`);
      },
      malformed(problem) {
        out.push(`${problem.line}:!${problem.code}`);
      },
    },
    { firstLine },
  );
  parser.push(text);
  parser.end();
  return out;
}

const CSV: SplitSyntax = { separator: ',', quote: '"', escape: '"', header: true };

/** A CSV with the hard cases: quoted separators, doubled quotes, line breaks inside quotes, CRLF, emoji. */
function nastyCsv(rows: number, lineEnd = '\n'): string {
  const lines = ['id,"na,me",note'];
  for (let i = 0; i < rows; i++) {
    const note =
      i % 7 === 0
        ? `"multi${lineEnd}line ""quoted"" ${i}"`
        : i % 5 === 0
          ? '"a,b"'
          : i % 3 === 0
            ? '""'
            : `plain 😀 ${i}`;
    lines.push(`${i},"Ünïcode ${i}",${note}`);
  }
  return `${lines.join(lineEnd)}${lineEnd}`;
}

describe('ndjsonChunks', () => {
  it('cuts NDJSON on line ends, keeps every byte in order and numbers each chunk by its first line', async () => {
    // Prepare
    const lines = Array.from({ length: 500 }, (_, i) =>
      JSON.stringify({ i, name: `ñame ${i}`, text: 'x'.repeat(i % 37) }),
    );
    const text = `${lines.join('\n')}\n`;

    // Act
    const chunks: { text: string; firstLine: number }[] = [];
    for await (const c of ndjsonChunks(pieces(text, 97), 1000))
      chunks.push({ text: c.data.toString(), firstLine: c.firstLine });

    // Assess
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    let line = 1;
    for (const c of chunks) {
      expect(c.text.endsWith('\n')).toBe(true);
      expect(c.firstLine).toBe(line);
      line += countLines(Buffer.from(c.text));
    }
  });

  it('cuts a piece larger than the target into several chunks, and gives a longer line a chunk of its own', async () => {
    // Prepare
    const long = `{"text":"${'é'.repeat(3000)}"}`;
    const text = `${['{"a":1}', '{"a":2}', long, '{"a":3}', '{"a":4}', '{"a":5}'].join('\n')}\n`;

    // Act
    const whole: string[] = [];
    for await (const c of ndjsonChunks(pieces(text, 1 << 20), 20)) whole.push(c.data.toString());
    const small: string[] = [];
    for await (const c of ndjsonChunks(pieces(text, 7), 20)) small.push(c.data.toString());

    // Assess
    const expected = ['{"a":1}\n{"a":2}\n', `${long}\n`, '{"a":3}\n{"a":4}\n', '{"a":5}\n'];
    expect(whole).toEqual(expected);
    expect(small).toEqual(expected);
  });

  it('hands on a last line without a line feed as the final chunk', async () => {
    // Prepare
    const text = '{"a":1}\n{"a":2}';

    // Act
    const chunks: string[] = [];
    for await (const c of ndjsonChunks(pieces(text, 3), 4)) chunks.push(c.data.toString());

    // Assess
    expect(chunks).toEqual(['{"a":1}\n', '{"a":2}']);
  });
});

describe('dsvChunks', () => {
  const cases: { name: string; text: string; syntax: SplitSyntax }[] = [
    { name: 'LF', text: nastyCsv(300), syntax: CSV },
    { name: 'CRLF', text: nastyCsv(300, '\r\n'), syntax: CSV },
    { name: 'a byte-order mark', text: `\uFEFF${nastyCsv(120)}`, syntax: CSV },
    { name: 'no header row', text: nastyCsv(120).split('\n').slice(1).join('\n'), syntax: { ...CSV, header: false } },
    {
      name: 'a separator of two characters',
      text: nastyCsv(150).replaceAll(',', '||'),
      syntax: { ...CSV, separator: '||' },
    },
    {
      name: 'backslash escapes',
      text: ['a;b', ...Array.from({ length: 200 }, (_, i) => `${i};"x \\" y\\\\ \n${i}"`)].join('\n'),
      syntax: { separator: ';', quote: '"', escape: '\\', header: true },
    },
  ];

  for (const c of cases) {
    it(`cuts on row boundaries only, so each chunk parses to the same rows and lines as the whole file (${c.name})`, async () => {
      // Prepare
      const expected = parse(c.text, c.syntax);

      for (const [piece, target] of [
        [7, 64],
        [1000, 300],
        [64, 1],
      ] as const) {
        // Act
        let header: Buffer = Buffer.alloc(0);
        let headerLines = 0;
        const { chunks, rest } = await collect(
          dsvChunks(
            pieces(c.text, piece),
            c.syntax,
            (h, lines) => {
              header = h;
              headerLines = lines;
            },
            target,
            1 << 20,
          ),
        );

        // Assess
        expect(rest).toBeUndefined();
        expect(chunks.length).toBeGreaterThan(3);
        expect(header.toString() + chunks.map((k) => k.text).join('')).toBe(c.text);
        const rows = chunks.flatMap((k, i) => {
          const text = header.toString() + k.text;
          const parsed = parse(text, c.syntax, k.firstLine - headerLines);
          // The header row is repeated before every chunk; keep it once.
          return c.syntax.header && i > 0 ? parsed.slice(1) : parsed;
        });
        expect(rows).toEqual(expected);
      }
    });
  }

  it('hands on the rest of the file uncut where a quote sits inside an unquoted cell', async () => {
    // Prepare
    const rows = Array.from({ length: 50 }, (_, i) => (i === 20 ? `${i},5'11" tall,x` : `${i},name ${i},x`));
    const text = `id,name,n\n${rows.join('\n')}\n`;

    // Act
    const { chunks, rest } = await collect(dsvChunks(pieces(text, 16), CSV, () => undefined, 40));

    // Assess
    expect(rest).toBeDefined();
    const header = 'id,name,n\n';
    expect(header + chunks.map((k) => k.text).join('') + rest?.text).toBe(text);
    const before = chunks.map((k) => k.text).join('');
    expect(rest?.firstLine).toBe(2 + countLines(Buffer.from(before)));
    expect(before).not.toContain('5\'11"');
  });

  it('hands on the rest uncut when a quote never closes within the limit', async () => {
    // Prepare
    const text = `a,b\n1,2\n3,"never closed\n${'4,5\n'.repeat(200)}`;

    // Act
    const { chunks, rest } = await collect(dsvChunks(pieces(text, 50), CSV, () => undefined, 16, 256));

    // Assess
    expect(chunks.map((k) => k.text).join('') + rest?.text).toBe(text.slice('a,b\n'.length));
    expect(rest?.text).toContain('3,"never closed');
    expect(chunks.map((k) => k.text).join('')).not.toContain('never');
  });

  it('gives a header-only file to the header and no chunk', async () => {
    // Prepare
    let header = '';

    // Act
    const { chunks, rest } = await collect(
      dsvChunks(
        pieces('id,name\n', 3),
        CSV,
        (h) => {
          header = h.toString();
        },
        8,
      ),
    );

    // Assess
    expect(header).toBe('id,name\n');
    expect(chunks).toEqual([]);
    expect(rest).toBeUndefined();
  });
});
