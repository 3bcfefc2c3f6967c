import { describe, expect, it } from 'vitest';
import { fileFormatKrux } from '../../../lib/scripts/file.format.krux.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';

const text = (out: { files: { name: string; content: Buffer }[] }) =>
  out.files.map((f) => [f.name, f.content.toString('utf8')]);

describe('file.format.krux', () => {
  it('writes one line per user: the id, a caret, then attribute:value pairs, several values comma-separated', async () => {
    // Prepare
    const records = [
      { id: 'User1234', gender: 'male', age: '18-24', interest: ['fishing', 'boating'] },
      { id: 'User4567', g_gender: 'f', g_age: 31, profile: {}, empty: '', none: null },
      { id: 'u3', likes: [{ name: 'Jazz', category: 'Music' }, { name: 'Chess' }], profile: { city: 'Lyon' } },
    ];

    // Act
    const out = await runScript(fileFormatKrux, { fileName: 'Gigya_Krux_M6.csv' }, { records });

    // Assess
    expect(text(out)).toEqual([
      [
        'Gigya_Krux_M6.csv',
        'User1234^gender:male;age:18-24;interest:fishing,boating\n' +
          'User4567^g_gender:f;g_age:31\n' +
          'u3^likes.name:Jazz,Chess;likes.category:Music;profile.city:Lyon\n',
      ],
    ]);
  });

  it('replaces the separators inside names and values by a space, and says how many it changed', async () => {
    // Prepare
    const records = [{ id: 'u1', 'a:b': 'x^y;z,w', when: '2026-01-02T03:04', note: 'line\nbreak' }];

    // Act
    const out = await runScript(fileFormatKrux, { fileName: 'k.csv' }, { records });

    // Assess
    expect(text(out)[0]?.[1]).toBe('u1^a b:x y z w;when:2026-01-02T03 04;note:line break\n');
    expect(out.trace.join('\n')).toContain('4 attribute name(s) or value(s)');
  });

  it('rejects a record without an id, with an id holding a caret, or with a value of 255 characters', async () => {
    // Prepare
    const records = [
      { id: 'ok', a: 1 },
      { UID: 'no-id', a: 1 },
      { id: 'a^b', a: 1 },
      { id: 'long', a: 'x'.repeat(255) },
      { id: { nested: true } },
    ];

    // Act
    const out = await runScript(fileFormatKrux, { fileName: 'k.csv' }, { records });

    // Assess
    expect(text(out)).toEqual([['k.csv', 'ok^a:1\n']]);
    expect(out.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual([
      'IDX_FORMAT_USER_ID',
      'IDX_FORMAT_USER_ID',
      'IDX_FORMAT_VALUE',
      'IDX_FORMAT_USER_ID',
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 5, recordsRejected: 4 });
  });

  it('takes the user ID from idField, and writes a user without attributes as an empty list', async () => {
    // Act
    const out = await runScript(fileFormatKrux, { fileName: 'k.csv', idField: 'UID' }, { records: [{ UID: 'u9' }] });

    // Assess
    expect(text(out)).toEqual([['k.csv', 'u9^\n']]);
  });

  it('writes an empty file for no record only with createEmptyFile, as the Krux template sets it', async () => {
    // Act
    const none = await runScript(fileFormatKrux, { fileName: 'k.csv' }, { records: [] });
    const empty = await runScript(fileFormatKrux, { fileName: 'k.csv', createEmptyFile: true }, { records: [] });

    // Assess
    expect(none.files).toEqual([]);
    expect(text(empty)).toEqual([['k.csv', '']]);
  });

  it('writes the same file across invocations of a 1 ms budget as in one', async () => {
    // Prepare
    const records = Array.from({ length: 2_500 }, (_, i) => ({
      id: `u${i}`,
      g_age: 20 + (i % 50),
      n: i % 3 ? 'x' : '',
    }));
    const params = { fileName: 'k.csv', createEmptyFile: true };

    // Act
    const whole = await runScript(fileFormatKrux, params, { records });
    const sliced = await runScriptSliced(fileFormatKrux, params, { records, slice: 300 });

    // Assess
    expect(sliced.invocations).toBe(9);
    expect(text(sliced)).toEqual(text(whole));
    expect(text(whole)[0]?.[1]?.split('\n')).toHaveLength(2_501);
  });
});
