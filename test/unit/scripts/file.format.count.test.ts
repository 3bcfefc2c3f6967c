import { describe, expect, it } from 'vitest';
import { fileFormatCount } from '../../../lib/scripts/file.format.count.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('file.format.count', () => {
  it('writes the number of records received across batches', async () => {
    // Prepare
    const records = Array.from({ length: 2500 }, (_, i) => ({ i }));

    // Act
    const out = await runScript(fileFormatCount, { fileName: 'export_${now}.count' }, { records, batchSize: 1000 });

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([['export_20260102030405.count', '2500\n']]);
  });

  it('writes 0 with a prefix and CRLF when nothing arrives', async () => {
    // Act
    const out = await runScript(
      fileFormatCount,
      { fileName: 'c.txt', prefix: 'records=', lineEnd: '\\r\\n' },
      { records: [] },
    );

    // Assess
    expect(out.files[0]!.content.toString()).toBe('records=0\r\n');
  });
});
