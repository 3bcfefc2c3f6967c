import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileUncompressGzip } from '../../../lib/scripts/file.uncompress.gzip.ts';
import { runScript } from '../../../lib/testing/harness.ts';

describe('file.uncompress.gzip', () => {
  it('decompresses each file and drops the .gz suffix', async () => {
    // Prepare
    const csv = Buffer.from('UID,MAIL\nu1,a@b.c\n');
    const files = [
      { name: 'in/accounts.csv.gz', content: gzipSync(csv) },
      { name: 'bundle.tgz', content: gzipSync('tar') },
      { name: 'plain-name', content: gzipSync('x') },
    ];

    // Act
    const out = await runScript(fileUncompressGzip, {}, { files });

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([
      ['in/accounts.csv', csv.toString()],
      ['bundle.tar', 'tar'],
      ['plain-name', 'x'],
    ]);
  });

  it('reads a file made of several gzip members whole', async () => {
    // Prepare
    const content = Buffer.concat([gzipSync('part one\n'), gzipSync('part two\n')]);

    // Act
    const out = await runScript(fileUncompressGzip, {}, { files: [{ name: 'x.gz', content }] });

    // Assess
    expect(out.files[0]!.content.toString()).toBe('part one\npart two\n');
  });

  it('fails with a coded error naming a file that is not gzip or is truncated', async () => {
    // Prepare
    const truncated = gzipSync(Buffer.alloc(100_000, 'a')).subarray(0, 40);

    // Act / Assess
    await expect(
      runScript(fileUncompressGzip, {}, { files: [{ name: 'accounts.csv.gz', content: 'UID,MAIL\n' }] }),
    ).rejects.toMatchObject({ code: 'IDX_GZIP_CORRUPT', message: expect.stringContaining('accounts.csv.gz') });
    await expect(
      runScript(fileUncompressGzip, {}, { files: [{ name: 'cut.gz', content: truncated }] }),
    ).rejects.toMatchObject({
      code: 'IDX_GZIP_CORRUPT',
      message: expect.stringContaining('cut.gz'),
    });
  });

  it('stops a compression bomb with IDX_UNCOMPRESS_LIMIT once it expands past maxRatio', async () => {
    // Prepare: 120 gzip members of 1 MB of zeros each, about 1 KB apiece (a ratio of about 1000).
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    const bomb = Buffer.concat(Array.from({ length: 120 }, () => member));

    // Act
    const run = runScript(fileUncompressGzip, {}, { files: [{ name: 'bomb.csv.gz', content: bomb }] });

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_UNCOMPRESS_LIMIT',
      message: expect.stringContaining('maxRatio'),
    });
  });

  it('stops a file that expands beyond maxOutputSize', async () => {
    // Act
    const run = runScript(
      fileUncompressGzip,
      { maxOutputSize: 0.5 },
      { files: [{ name: 'a.csv.gz', content: gzipSync(Buffer.alloc(1024 * 1024, 'x')) }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_UNCOMPRESS_LIMIT',
      message: expect.stringContaining('maxOutputSize'),
    });
  });
});
