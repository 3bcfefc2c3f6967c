import { describe, expect, it } from 'vitest';
import { fileCompressLzo } from '../../../lib/scripts/file.compress.lzo.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { indexOffsets, lzopBlockOffsets, lzopDecompress } from '../../support/lzop.ts';

const csv = Buffer.from(
  `UID,MAIL\n${Array.from({ length: 40_000 }, (_, i) => `uid-${i},user${i % 500}@example.com`).join('\n')}\n`,
);
const files = [
  { name: 'exports/Gigya_Krux_M6.csv', content: csv },
  { name: 'empty.csv', content: '' },
];

describe('file.compress.lzo', () => {
  it('writes x.lzo files that lzop restores, each followed by the index of its blocks', async () => {
    // Act
    const out = await runScript(fileCompressLzo, { createIndexFile: true }, { files });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual([
      'exports/Gigya_Krux_M6.csv.lzo',
      'exports/Gigya_Krux_M6.csv.lzo.index',
      'empty.csv.lzo',
      'empty.csv.lzo.index',
    ]);
    const [lzo, index, empty, emptyIndex] = out.files.map((f) => f.content) as Buffer[];
    expect(lzopDecompress(lzo as Buffer).equals(csv)).toBe(true);
    expect(indexOffsets(index as Buffer)).toEqual(lzopBlockOffsets(lzo as Buffer));
    expect(indexOffsets(index as Buffer).length).toBeGreaterThan(1);
    expect(lzopDecompress(empty as Buffer).length).toBe(0);
    expect((emptyIndex as Buffer).length).toBe(0);
    expect(out.counters).toMatchObject({ filesIn: 2, filesOut: 4 });
  });

  it('writes no index by default, as the template’s createIndexFile is false unless set', async () => {
    // Act
    const out = await runScript(fileCompressLzo, {}, { files });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['exports/Gigya_Krux_M6.csv.lzo', 'empty.csv.lzo']);
  });

  it('writes the same bytes when each file comes in an invocation of its own (a 1 ms budget)', async () => {
    // Act
    const whole = await runScript(fileCompressLzo, { createIndexFile: true }, { files });
    const sliced = await runScriptSliced(fileCompressLzo, { createIndexFile: true }, { files });

    // Assess
    expect(sliced.invocations).toBe(2);
    expect(sliced.files).toEqual(whole.files);
  });
});
