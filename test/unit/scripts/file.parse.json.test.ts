import { describe, expect, it } from 'vitest';
import { fileParseJson } from '../../../lib/scripts/file.parse.json.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const parse = (params: Record<string, unknown>, files: { name: string; content: string | Buffer }[]) =>
  runScript(fileParseJson, params, { files });

describe('file.parse.json', () => {
  it('reads an array, JSON Lines and pretty-printed objects, adding the file name when asked', async () => {
    // Prepare
    const files = [
      {
        name: 'accounts.json',
        content: '\uFEFF [\n {"UID":"u1","profile":{"email":"a@b.c"}},\n {"UID":"u2","s":"]}\\"["}\n]',
      },
      { name: 'more.jsonl', content: '{"UID":"u3"}\r\n\n{"UID":"u4"}' },
      { name: 'pretty.json', content: '{\n  "UID": "u5"\n}\n{\n  "UID": "u6"\n}\n' },
      { name: 'empty.json', content: '  \n' },
    ];

    // Act
    const out = await parse({ addFilename: true }, files);

    // Assess
    expect(out.records).toEqual([
      { UID: 'u1', profile: { email: 'a@b.c' }, _fileName: 'accounts.json' },
      { UID: 'u2', s: ']}"[', _fileName: 'accounts.json' },
      { UID: 'u3', _fileName: 'more.jsonl' },
      { UID: 'u4', _fileName: 'more.jsonl' },
      { UID: 'u5', _fileName: 'pretty.json' },
      { UID: 'u6', _fileName: 'pretty.json' },
    ]);
  });

  it('reads the array under wrapField, as file.format.json writes it', async () => {
    // Act
    const out = await parse({ wrapField: 'accounts' }, [
      { name: 'w.json', content: '{"meta":{"accounts":[0]},"accounts":[{"a":1},{"a":2}],"after":true}' },
    ]);

    // Assess
    expect(out.records).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('rejects lines and elements that are not JSON objects with file and position, and reads on', async () => {
    // Prepare
    const files = [
      { name: 'a.jsonl', content: '{"a":1}\n{"a":\n{"a":3}\n[1]\n' },
      { name: 'b.json', content: '[{"b":1}, 42, {"b":tru}, {"b":2}]' },
    ];

    // Act
    const out = await parse({}, files);

    // Assess
    expect(out.records).toEqual([{ a: 1 }, { a: 3 }, { b: 1 }, { b: 2 }]);
    expect(
      out.rejected.map((r) => [
        (r._errorDetails as { code: string }).code,
        (r._errorDetails as { message: string }).message,
      ]),
    ).toEqual([
      ['IDX_JSON_LINE', expect.stringMatching(/^a\.jsonl line 2: /)],
      ['IDX_JSON_NOT_OBJECT', 'a.jsonl line 4: an array, not an object'],
      ['IDX_JSON_NOT_OBJECT', 'b.json element 1: number, not an object'],
      ['IDX_JSON_VALUE', expect.stringMatching(/^b\.json element 2: /)],
    ]);
  });

  it('fails with the file name when an array is cut short', async () => {
    // Act / Assess
    await expect(parse({}, [{ name: 'cut.json', content: '[{"a":1},{"a":' }])).rejects.toMatchObject({
      code: 'IDX_JSON_INVALID',
      message: expect.stringContaining('cut.json is not valid JSON'),
    });
  });

  it('reads a large array element by element', async () => {
    // Prepare
    const records = Array.from({ length: 20_000 }, (_, i) => ({
      UID: `u${i}`,
      profile: { firstName: 'Zoë 🚀', n: i },
    }));

    // Act
    const out = await parse({}, [{ name: 'big.json', content: Buffer.from(JSON.stringify(records)) }]);

    // Assess
    expect(out.records).toEqual(records);
  });

  it('reads each file in one pass, even when its head spans several decoded pieces', async () => {
    // Prepare: white space and first lines longer than a decoded piece (64 KiB), so the layout is known only
    // after several pieces, which the reader then reads again from memory (the harness opens a file once).
    const blank = ' \n'.repeat(50_000);
    const long = 'x'.repeat(150_000);
    const files = [
      { name: 'pretty.json', content: `${blank}{\n  "UID": "p1",\n  "long": "${long}"\n}\n{ "UID": "p2" }\n` },
      { name: 'lines.jsonl', content: `${blank}{"UID":"l1","long":"${long}"}\n{"UID":"l2"}\n` },
      { name: 'array.json', content: `${blank}[{"UID":"a1","long":"${long}"},{"UID":"a2"}]` },
    ];

    // Act
    const out = await parse({}, files);

    // Assess
    expect(out.records).toEqual([
      { UID: 'p1', long },
      { UID: 'p2' },
      { UID: 'l1', long },
      { UID: 'l2' },
      { UID: 'a1', long },
      { UID: 'a2' },
    ]);
    expect(out.rejected).toEqual([]);
  });

  it('keeps numbers a double cannot hold exactly as their digits, as strings, in lines and arrays', async () => {
    // Prepare
    const files = [
      {
        name: 'a.jsonl',
        content: '{"id":12345678901234567890,"big":1e400,"tiny":1e-400,"ok":0.1,"max":9007199254740992}\n',
      },
      { name: 'b.json', content: '[{"id":-9007199254740993,"f":1.0000000000000001,"s":"12345678901234567890"}]' },
    ];

    // Act
    const out = await parse({}, files);

    // Assess
    expect(out.records).toEqual([
      { id: '12345678901234567890', big: '1e400', tiny: '1e-400', ok: 0.1, max: 9007199254740992 },
      { id: '-9007199254740993', f: '1.0000000000000001', s: '12345678901234567890' },
    ]);
  });

  it('rejects a record with such a number when exactNumbers is "reject"', async () => {
    // Act
    const out = await parse({ exactNumbers: 'reject' }, [
      { name: 'a.jsonl', content: '{"id":1}\n{"id":12345678901234567890}\n{"id":3}\n' },
    ]);

    // Assess
    expect(out.records).toEqual([{ id: 1 }, { id: 3 }]);
    expect(out.rejected[0]).toMatchObject({ _errorDetails: { code: 'IDX_JSON_NUMBER', line: 2 } });
  });

  it('rejects a line nested deeper than maxDepth without a stack overflow, and reads on', async () => {
    // Prepare
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const files = [
      { name: 'a.jsonl', content: `{"id":1}\n${deep}\n{"id":3}\n` },
      { name: 'b.json', content: `[{"id":4},${deep},{"id":5}]` },
    ];

    // Act
    const out = await parse({}, files);

    // Assess
    expect(out.records).toEqual([{ id: 1 }, { id: 3 }, { id: 4 }, { id: 5 }]);
    expect(out.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual([
      'IDX_JSON_DEPTH',
      'IDX_JSON_DEPTH',
    ]);
  });

  it('rejects a line or element longer than maxLineLength with its start in _raw, and reads on', async () => {
    // Prepare
    const long = `{"v":"${'x'.repeat(5000)}"}`;
    const files = [
      { name: 'a.jsonl', content: `${long}\n{"id":2}\n${long}\n{"id":4}\n${long}` },
      { name: 'b.json', content: `[{"id":5},${long},{"id":7}]` },
    ];

    // Act
    const out = await parse({ maxLineLength: 1000 }, files);

    // Assess
    expect(out.records).toEqual([{ id: 2 }, { id: 4 }, { id: 5 }, { id: 7 }]);
    expect(
      out.rejected.map((r) => [(r._errorDetails as { code: string }).code, (r._raw as string).slice(0, 8)]),
    ).toEqual([
      ['IDX_JSON_TOO_LONG', '{"v":"xx'],
      ['IDX_JSON_TOO_LONG', '{"v":"xx'],
      ['IDX_JSON_TOO_LONG', '{"v":"xx'],
      ['IDX_JSON_TOO_LONG', '{"v":"xx'],
    ]);
    expect(out.counters).toMatchObject({ recordsOut: 4, recordsRejected: 4 });
  });

  it('rejects a line holding bytes that are not valid UTF-8, or keeps it with U+FFFD and a counter when asked', async () => {
    // Prepare
    const content = Buffer.concat([
      Buffer.from('{"id":1}\n{"n":"a'),
      Buffer.from([0xff]),
      Buffer.from('"}\n{"id":3}\n'),
    ]);

    // Act
    const rejecting = await parse({}, [{ name: 'a.jsonl', content }]);
    const replacing = await parse({ invalidCharacters: 'replace' }, [{ name: 'a.jsonl', content }]);

    // Assess
    expect(rejecting.records).toEqual([{ id: 1 }, { id: 3 }]);
    expect(rejecting.rejected[0]).toMatchObject({
      _raw: '{"n":"a\uFFFD"}',
      _errorDetails: { code: 'IDX_CHARSET_INVALID', line: 2 },
    });
    expect(replacing.records).toEqual([{ id: 1 }, { n: 'a\uFFFD' }, { id: 3 }]);
    expect(replacing.counters.charactersReplaced).toBe(1);
  });

  it("stops reading JSON Lines and arrays at the job's record limit, without taking the unread rest for invalid JSON", async () => {
    // Prepare
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i })).join('\n');
    const array = `[${Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i })).join(',')}]`;

    // Act
    const fromLines = await runScript(
      fileParseJson,
      {},
      { files: [{ name: 'a.jsonl', content: lines }], job: { limit: 2 } },
    );
    const fromArray = await runScript(
      fileParseJson,
      {},
      { files: [{ name: 'a.json', content: array }], job: { limit: 2 } },
    );

    // Assess
    for (const out of [fromLines, fromArray]) {
      expect(out.records).toEqual([{ i: 0 }, { i: 1 }]);
      expect(out.counters).toMatchObject({ recordsOut: 2, recordsRejected: 0 });
      expect(out.trace.join('\n')).toContain("2 record(s) read, 0 rejected; the job's record limit stopped reading");
    }
  });
});
