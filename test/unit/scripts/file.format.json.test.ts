import { describe, expect, it } from 'vitest';
import { fileFormatJson } from '../../../lib/scripts/file.format.json.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const text = (out: { files: { name: string; content: Buffer }[] }) =>
  out.files.map((f) => [f.name, f.content.toString()]);

describe('file.format.json', () => {
  it('writes one JSON array, one record per line, named with ${now}', async () => {
    // Prepare
    const records = [
      { UID: 'u1', profile: { email: 'a@b.c' } },
      { UID: 'u2', tags: ['x'] },
    ];

    // Act
    const out = await runScript(fileFormatJson, { fileName: 'gigya-${now}.json' }, { records });

    // Assess
    expect(text(out)).toEqual([
      ['gigya-20260102030405.json', '[\n{"UID":"u1","profile":{"email":"a@b.c"}},\n{"UID":"u2","tags":["x"]}\n]\n'],
    ]);
    expect(JSON.parse(out.files[0]!.content.toString())).toEqual(records);
  });

  it('wraps the array under wrapField, or writes JSON Lines', async () => {
    // Prepare
    const records = [{ a: 1 }, { b: 2 }];

    // Act
    const wrapped = await runScript(fileFormatJson, { fileName: 'w.json', wrapField: 'accounts' }, { records });
    const lines = await runScript(fileFormatJson, { fileName: 'l.jsonl', format: 'jsonLines' }, { records });

    // Assess
    expect(JSON.parse(wrapped.files[0]!.content.toString())).toEqual({ accounts: records });
    expect(text(lines)).toEqual([['l.jsonl', '{"a":1}\n{"b":2}\n']]);
  });

  it('splits into complete documents of at most maxFileSize MB', async () => {
    // Prepare
    const records = Array.from({ length: 3 }, (_, i) => ({ i, v: 'x'.repeat(400 * 1024) }));

    // Act
    const out = await runScript(fileFormatJson, { fileName: 'big.json', maxFileSize: 1 }, { records });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['big.json', 'big_2.json']);
    expect(out.files.map((f) => (JSON.parse(f.content.toString()) as { i: number }[]).map((r) => r.i))).toEqual([
      [0, 1],
      [2],
    ]);
    expect(out.files.every((f) => f.content.length <= 1024 * 1024)).toBe(true);
  });

  it('writes an empty document only when createEmptyFile is set', async () => {
    // Act
    const none = await runScript(
      fileFormatJson,
      { fileName: 'x.json', createEmptyFile: false, maxFileSize: 5000 },
      { records: [] },
    );
    const empty = await runScript(
      fileFormatJson,
      { fileName: 'x.json', createEmptyFile: true, wrapField: 'a' },
      { records: [] },
    );

    // Assess
    expect(none.files).toEqual([]);
    expect(JSON.parse(empty.files[0]!.content.toString())).toEqual({ a: [] });
  });
});
