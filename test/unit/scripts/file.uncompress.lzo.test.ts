import { describe, expect, it } from 'vitest';
import { fileUncompressLzo, unlzopName } from '../../../lib/scripts/file.uncompress.lzo.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { lzopCompress } from '../../support/lzop.ts';

const csv = Buffer.from(
  `UID,MAIL\n${Array.from({ length: 30_000 }, (_, i) => `uid-${i},user${i % 700}@example.com`).join('\n')}\n`,
);

describe('file.uncompress.lzo', () => {
  it('decompresses what lzop -9 and lzop -1 write, removing .lzo from the names', async () => {
    // Prepare
    const files = [
      { name: 'in/accounts.csv.lzo', content: lzopCompress(csv, ['-9']) },
      { name: 'fast.csv.LZO', content: lzopCompress(csv, ['-1']) },
    ];

    // Act
    const out = await runScript(fileUncompressLzo, {}, { files });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['in/accounts.csv', 'fast.csv']);
    expect(out.files.every((f) => f.content.equals(csv))).toBe(true);
  });

  it('leaves Hadoop index files out, saying so in the trace', async () => {
    // Prepare
    const files = [
      { name: 'k.csv.lzo', content: lzopCompress(csv) },
      { name: 'k.csv.lzo.index', content: Buffer.alloc(16) },
    ];

    // Act
    const out = await runScript(fileUncompressLzo, {}, { files });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['k.csv']);
    expect(out.trace.join('\n')).toContain('k.csv.lzo.index is a Hadoop LZO index');
  });

  it('fails a truncated file with IDX_LZO_CORRUPT naming the file and the step', async () => {
    // Prepare
    const lzo = lzopCompress(csv);
    const files = [{ name: 'cut.csv.lzo', content: lzo.subarray(0, lzo.length - 100) }];

    // Act / Assess
    await expect(runScript(fileUncompressLzo, {}, { files, stepId: 'unlzo' })).rejects.toMatchObject({
      code: 'IDX_LZO_CORRUPT',
      message: expect.stringContaining('cut.csv.lzo: the lzop file is truncated'),
      location: { stepId: 'unlzo' },
    });
  });

  it('stops a file that expands beyond maxOutputSize with IDX_UNCOMPRESS_LIMIT', async () => {
    // Prepare
    const files = [{ name: 'big.lzo', content: lzopCompress(Buffer.alloc(3 * 1024 * 1024, 0x30)) }];

    // Act / Assess
    await expect(runScript(fileUncompressLzo, { maxOutputSize: 1 }, { files })).rejects.toMatchObject({
      code: 'IDX_UNCOMPRESS_LIMIT',
    });
  });

  it('gives the same files when each comes in an invocation of its own (a 1 ms budget)', async () => {
    // Prepare
    const files = [
      { name: 'a.csv.lzo', content: lzopCompress(csv, ['-9']) },
      { name: 'b.tzo', content: lzopCompress(Buffer.from('tar bytes')) },
    ];

    // Act
    const whole = await runScript(fileUncompressLzo, {}, { files });
    const sliced = await runScriptSliced(fileUncompressLzo, {}, { files });

    // Assess
    expect(sliced.invocations).toBe(2);
    expect(sliced.files).toEqual(whole.files);
    expect(unlzopName('b.tzo')).toBe('b.tar');
  });
});
