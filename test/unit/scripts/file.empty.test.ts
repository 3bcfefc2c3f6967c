import { describe, expect, it } from 'vitest';
import { fileEmpty } from '../../../lib/scripts/file.empty.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('file.empty', () => {
  it('writes the gigya.ok marker once all records have arrived', async () => {
    // Act
    const out = await runScript(fileEmpty, { fileName: 'gigya.ok' }, { records: [{ a: 1 }, { a: 2 }] });

    // Assess
    expect(out.files.map((f) => [f.name, f.content.length])).toEqual([['gigya.ok', 0]]);
    expect(out.counters).toMatchObject({ recordsIn: 2, filesOut: 1 });
  });

  it('writes the marker with its content and placeholders also when no record arrives', async () => {
    // Act
    const out = await runScript(
      fileEmpty,
      { fileName: 'done_${now:yyyyMMdd}.txt', content: 'job ${jobId}\n' },
      { records: [] },
    );

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([['done_20260102.txt', 'job job-test\n']]);
  });
});
