import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { fileUncompressZip } from '../../../lib/scripts/file.uncompress.zip.ts';
import { runScript } from '../../../lib/testing/harness.ts';

/** Builds an archive with an independent writer. */
async function zipOf(entries: Record<string, string>, folders: string[] = []): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const f of folders) zip.addEmptyDirectory(f);
  for (const [name, content] of Object.entries(entries)) zip.addBuffer(Buffer.from(content), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('file.uncompress.zip', () => {
  it('extracts every file of every archive, keeping folders in the names and skipping folder entries', async () => {
    // Prepare
    const big = 'row\n'.repeat(50_000);
    const files = [
      { name: 'a.zip', content: await zipOf({ 'accounts.csv': big, 'in/b.csv': 'x' }, ['in/']) },
      { name: 'b.zip', content: await zipOf({ 'c.json': '[]' }) },
    ];

    // Act
    const out = await runScript(fileUncompressZip, {}, { files });

    // Assess
    expect(out.files.map((f) => [f.name, f.content.length])).toEqual([
      ['accounts.csv', big.length],
      ['in/b.csv', 1],
      ['c.json', 2],
    ]);
    expect(out.files[0]!.content.toString()).toBe(big);
  });

  it('keeps base names only when keepPaths is false', async () => {
    // Act
    const out = await runScript(
      fileUncompressZip,
      { keepPaths: false },
      { files: [{ name: 'a.zip', content: await zipOf({ 'deep/er/x.csv': 'x' }) }] },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['x.csv']);
  });

  it('fails with the archive named when it is not a zip', async () => {
    // Act / Assess
    await expect(
      runScript(fileUncompressZip, {}, { files: [{ name: 'fake.zip', content: 'not a zip at all' }] }),
    ).rejects.toMatchObject({
      code: 'IDX_ZIP_CORRUPT',
      message: expect.stringContaining('fake.zip'),
    });
  });

  it('fails with IDX_ZIP_CRC and passes nothing on when a stored entry has a flipped byte', async () => {
    // Prepare: a STORED (uncompressed) entry, so the flipped byte reaches the content unnoticed by inflate.
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('id,email\n1,a@example.com\n'), 'accounts.csv', { compress: false });
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream as Readable) chunks.push(c as Buffer);
    const archive = Buffer.concat(chunks);
    const at = archive.indexOf('a@example.com');
    archive[at] = 'b'.charCodeAt(0);

    // Act
    const run = runScript(fileUncompressZip, {}, { files: [{ name: 'bad.zip', content: archive }] });

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_ZIP_CRC', message: expect.stringContaining('accounts.csv') });
  });

  it('fails with IDX_UNCOMPRESS_LIMIT before reading an entry larger than maxOutputSize', async () => {
    // Prepare
    const files = [{ name: 'a.zip', content: await zipOf({ 'big.csv': 'x'.repeat(20_000) }) }];

    // Act
    const run = runScript(fileUncompressZip, { maxOutputSize: 0.01 }, { files });

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_UNCOMPRESS_LIMIT',
      message: expect.stringContaining('big.csv'),
    });
  });
});
