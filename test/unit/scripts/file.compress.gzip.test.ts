import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileCompressGzip } from '../../../lib/scripts/file.compress.gzip.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('file.compress.gzip', () => {
  it('gzips every file under its name with .gz appended, as the export template declares it (no params)', async () => {
    // Prepare
    const csv = Buffer.from(`UID,MAIL\n${'u1,a@b.c\n'.repeat(50_000)}`);
    const files = [
      { name: 'GIGYA_TO_SFTP_20260102.csv', content: csv },
      { name: 'gigya.ok', content: '' },
    ];

    // Act
    const out = await runScript(fileCompressGzip, {}, { files });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['GIGYA_TO_SFTP_20260102.csv.gz', 'gigya.ok.gz']);
    expect(gunzipSync(out.files[0]!.content).equals(csv)).toBe(true);
    expect(out.files[0]!.content.length).toBeLessThan(csv.length / 20);
    expect(gunzipSync(out.files[1]!.content).length).toBe(0);
    expect(out.counters).toMatchObject({ filesIn: 2, filesOut: 2 });
  });

  it('compresses harder at level 9 than at level 1', async () => {
    // Prepare
    const content = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `row ${i % 977} ${i % 13}\n`).join(''));

    // Act
    const fast = await runScript(fileCompressGzip, { compressionLevel: 1 }, { files: [{ name: 'a', content }] });
    const small = await runScript(fileCompressGzip, { compressionLevel: 9 }, { files: [{ name: 'a', content }] });

    // Assess
    expect(small.files[0]!.content.length).toBeLessThan(fast.files[0]!.content.length);
    expect(gunzipSync(small.files[0]!.content).equals(content)).toBe(true);
  });

  it('refuses a compression level outside 1 to 9', async () => {
    // Act / Assess
    await expect(runScript(fileCompressGzip, { compressionLevel: 12 }, { files: [] })).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
    });
  });

  it('gives, in one call over a piece in memory, the name and bytes the script writes for it, at every level', async () => {
    // Prepare: empty, one byte, incompressible bytes over several of the stream's output buffers, and long text.
    const contents = [
      Buffer.alloc(0),
      Buffer.from('x'),
      randomBytes(200_000),
      Buffer.from(Array.from({ length: 60_000 }, (_, i) => `u${i},n${i % 997},${'y'.repeat(i % 31)}\n`).join('')),
    ];
    const piece = fileCompressGzip.lanes?.piece;

    for (let level = 1; level <= 9; level++) {
      const call = piece?.({ compressionLevel: level });
      const files = contents.map((content, i) => ({ name: `f${i}.csv`, content }));

      // Act
      const streamed = await runScript(fileCompressGzip, { compressionLevel: level }, { files });
      const called = files.map((f) => call?.({ name: f.name, data: f.content }));

      // Assess
      expect(called.map((f) => f?.name)).toEqual(streamed.files.map((f) => f.name));
      called.forEach((f, i) => {
        expect(Buffer.from(f?.data ?? []).equals(streamed.files[i]!.content), `level ${level}, file ${i}`).toBe(true);
      });
    }
  });
});
