import { describe, expect, it } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import type { DataRecord } from '../../../lib/core/script.ts';
import { ndjsonBatches } from '../../../lib/engine/ndjson.ts';
import { LineDecoder } from '../../../lib/scripts/util/io.ts';

/** The bytes of `text`, arriving in pieces of `size` bytes (cutting UTF-8 characters anywhere). */
async function* pieces(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function batches(stream: AsyncIterable<Buffer | string>, size?: number, firstLine?: number) {
  const out: DataRecord[][] = [];
  for await (const batch of ndjsonBatches(stream, 'records.ndjson', size, firstLine)) out.push(batch);
  return out;
}

const records: DataRecord[] = Array.from({ length: 3000 }, (_, i) => ({
  UID: `u${i}`,
  name: ['Zoë', 'عربي', '名前', '🙂 emoji', 'plain'][i % 5],
  n: i,
  nested: { ok: i % 2 === 0, list: [i, `${i}`] },
}));
const text = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;

describe('ndjsonBatches', () => {
  it.each([1, 2, 3, 7, 1000, 70_000, 300_000, 10_000_000])(
    'reads every record whatever size the chunks are (%i bytes)',
    async (size) => {
      // Prepare
      const stream = pieces(text, size);
      // Act
      const out = await batches(stream);
      // Assess
      expect(out.flat()).toEqual(records);
      expect(out.map((b) => b.length)).toEqual([1000, 1000, 1000]);
    },
  );

  it('gives batches of exactly the size asked, the last one holding the rest', async () => {
    // Prepare
    const stream = pieces(text, 200_000);
    // Act
    const out = await batches(stream, 700);
    // Assess
    expect(out.map((b) => b.length)).toEqual([700, 700, 700, 700, 200]);
  });

  it('reads a line longer than the pieces it decodes, arriving in many chunks', async () => {
    // Prepare
    const long = { UID: 'long', text: 'é'.repeat(300_000) };
    const input = `{"a":1}\n${JSON.stringify(long)}\n{"a":2}`;
    // Act
    const out = await batches(pieces(input, 5000));
    // Assess
    expect(out.flat()).toEqual([{ a: 1 }, long, { a: 2 }]);
  });

  it('skips blank lines and reads a last line without a newline', async () => {
    // Prepare
    const input = '\n{"a":1}\n\n\n{"a":2}\r\n{"a":3}  ';
    // Act
    const out = await batches(pieces(input, 4));
    // Assess
    expect(out.flat()).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('reads text chunks as well as bytes', async () => {
    // Prepare
    async function* strings() {
      yield '{"a":"Zo';
      yield 'ë"}\n{"a":2}\n';
    }
    // Act
    const out = await batches(strings());
    // Assess
    expect(out.flat()).toEqual([{ a: 'Zoë' }, { a: 2 }]);
  });

  it('names the record that is not JSON by its number, counted from the first line given', async () => {
    // Prepare
    const input = '{"a":1}\n\n{"a":2}\n{"a":\n{"a":4}\n';
    // Act
    const failure = await batches(pieces(input, 3), undefined, 41).catch((e: unknown) => e);
    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_STAGE_CORRUPT');
    expect((failure as IdxError).message).toMatch(/^staged record 43 of records\.ndjson is not JSON: /);
  });

  it('yields nothing for an empty stream', async () => {
    // Prepare
    const stream = pieces('', 10);
    // Act
    const out = await batches(stream);
    // Assess
    expect(out).toEqual([]);
  });
});

describe('LineDecoder', () => {
  const texts = [
    'plain ascii\n',
    'Júlia Müller, São Paulo, ÿ\n',
    'a question? and an é?\n',
    'euro € sign\n',
    'emoji 😀 and ü\n',
    'byte-order mark \uFEFF inside é\n',
    'Ā just past Latin-1\n',
    'control \u0000\u0001 and \u0080\u009f é\n',
  ];

  it.each(texts)('decodes to what toString gives: %j', (text) => {
    // Prepare
    const bytes = Buffer.from(text);

    // Act
    const decoded = new LineDecoder().decode(bytes);

    // Assess
    expect(decoded).toBe(text);
  });

  it('decodes broken UTF-8 as toString does, with replacement characters', () => {
    // Prepare: a lead byte without its continuation, a byte never valid, an overlong NUL, an encoded surrogate.
    const bytes = Buffer.from([0x61, 0xc3, 0x28, 0x62, 0xff, 0x0a, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x0a]);

    // Act
    const decoded = new LineDecoder().decode(bytes);

    // Assess
    expect(decoded).toBe(bytes.toString('utf8'));
  });

  it('keeps decoding right after text beyond Latin-1 has been seen', () => {
    // Prepare
    const decoder = new LineDecoder();
    const lines = ['é first\n', '€ beyond\n', 'é after\n', 'ascii\n'];

    // Act
    const decoded = lines.map((line) => decoder.decode(Buffer.from(line)));

    // Assess
    expect(decoded).toEqual(lines);
  });
});
