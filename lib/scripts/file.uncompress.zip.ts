import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';

/** The next entry of an archive opened with lazyEntries, or undefined after the last. */
function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const done = (value: yauzl.Entry | undefined, error?: unknown) => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
      if (error) reject(error);
      else resolve(value);
    };
    const onEntry = (entry: yauzl.Entry) => done(entry);
    const onEnd = () => done(undefined);
    const onError = (error: unknown) => done(undefined, error);
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/** `file.uncompress.zip`: extracts the files of zip archives. */
export const fileUncompressZip = defineScript({
  type: 'file.uncompress.zip',
  summary:
    'Extracts every file of each zip archive as a file of its own (folders inside the archive are kept in the names).',
  description:
    'A zip archive keeps its table of contents at its end, so each archive is first copied to local temporary ' +
    'disk (the Lambda /tmp, up to its configured size), then its files are streamed out one by one; the copy is ' +
    'removed afterwards. Folder entries are skipped. An archive that is corrupt, encrypted, or holds a name that ' +
    'would escape its folder (`../x`, `/etc/x`) fails the step with a message naming the archive and the entry.',
  consumes: 'files',
  produces: 'files',
  params: {
    keepPaths: {
      type: 'boolean',
      default: true,
      description: 'Keep the folders of entries in the file names (`in/x.csv`); false keeps the base name only.',
    },
  },
  create(params, ctx) {
    return {
      async file(file, out) {
        const dir = await mkdtemp(join(tmpdir(), 'idx-unzip-'));
        const local = join(dir, 'archive.zip');
        let zip: yauzl.ZipFile | undefined;
        let entryName = '';
        try {
          await pipeline(file.open(), createWriteStream(local));
          zip = await yauzl.openPromise(local, { lazyEntries: true, autoClose: false, strictFileNames: true });
          let count = 0;
          for (;;) {
            // An entry yauzl refuses (an unsafe name) fails while it is read, before it has a name of its own.
            entryName = '';
            const entry = await nextEntry(zip);
            if (!entry) break;
            entryName = entry.fileName;
            if (entry.fileName.endsWith('/')) continue;
            if (entry.isEncrypted()) throw new Error('the entry is encrypted');
            const name = params.keepPaths ? entry.fileName : entry.fileName.slice(entry.fileName.lastIndexOf('/') + 1);
            await copyToFile(await zip.openReadStreamPromise(entry), out.createFile(name));
            count++;
          }
          ctx.log.debug(`extracted ${count} file(s) from ${file.name}`);
        } catch (error) {
          if (error instanceof IdxError) throw error;
          throw new IdxError(
            'IDX_ZIP_CORRUPT',
            `${file.name}${entryName ? ` (entry "${entryName}")` : ''} cannot be extracted: ${(error as Error).message}`,
            { stepId: ctx.stepId, cause: error },
          );
        } finally {
          zip?.close();
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  },
});
