import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { fileCompressZip } from '../../../lib/scripts/file.compress.zip.ts';
import { runScript } from '../../../lib/testing/harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'idx-zip-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The entries of a zip archive as name → content, read with an independent reader. */
async function entries(content: Buffer): Promise<Record<string, string>> {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.zip`);
  writeFileSync(path, content);
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  const out: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          out[entry.fileName] = Buffer.concat(chunks).toString();
          zip.readEntry();
        });
      });
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  zip.close();
  return out;
}

describe('file.compress.zip', () => {
  it('zips each file into its own archive named after it', async () => {
    // Prepare
    const csv = `UID,MAIL\n${'u1,a@b.c\n'.repeat(10_000)}`;

    // Act
    const out = await runScript(
      fileCompressZip,
      {},
      {
        files: [
          { name: 'out/a.csv', content: csv },
          { name: 'gigya.ok', content: '' },
        ],
      },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['out/a.csv.zip', 'gigya.ok.zip']);
    expect(await entries(out.files[0]!.content)).toEqual({ 'a.csv': csv });
    expect(await entries(out.files[1]!.content)).toEqual({ 'gigya.ok': '' });
    expect(out.files[0]!.content.length).toBeLessThan(csv.length / 20);
  });

  it('puts every file into one archive with fileName, keeping sub-folders, the same bytes on a retry', async () => {
    // Prepare
    const files = [
      { name: 'x.csv', content: 'a,b\n1,2\n' },
      { name: 'success/y.json', content: '[]' },
    ];

    // Act
    const first = await runScript(fileCompressZip, { fileName: 'bundle_${now}.zip', compressionLevel: 9 }, { files });
    const again = await runScript(fileCompressZip, { fileName: 'bundle_${now}.zip', compressionLevel: 9 }, { files });

    // Assess
    expect(first.files.map((f) => f.name)).toEqual(['bundle_20260102030405.zip']);
    expect(await entries(first.files[0]!.content)).toEqual({ 'x.csv': 'a,b\n1,2\n', 'success/y.json': '[]' });
    expect(again.files[0]!.content.equals(first.files[0]!.content)).toBe(true);
  });
});
