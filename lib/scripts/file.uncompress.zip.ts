import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { MB, uncompressLimitError, uncompressLimitParams } from './util/uncompress-limits.ts';

/** The CRC-32 of an entry's content, read through once (the archive is on local disk). */
async function entryCrc(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<number> {
  let crc = 0;
  for await (const chunk of await zip.openReadStreamPromise(entry)) crc = crc32(chunk as Buffer, crc);
  return crc >>> 0;
}

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
    'would escape its folder (`../x`, `/etc/x`) fails the step with a message naming the archive and the entry. ' +
    'Each entry is checked against its CRC-32 before any of it is passed on (IDX_ZIP_CRC), and against the size ' +
    'limits before it is read (IDX_UNCOMPRESS_LIMIT): nothing of a corrupt archive reaches the next step.',
  consumes: 'files',
  produces: 'files',
  params: {
    keepPaths: {
      type: 'boolean',
      default: true,
      description: 'Keep the folders of entries in the file names (`in/x.csv`); false keeps the base name only.',
    },
    ...uncompressLimitParams,
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
          let total = 0;
          const maxBytes = params.maxOutputSize * MB;
          for (;;) {
            // An entry yauzl refuses (an unsafe name) fails while it is read, before it has a name of its own.
            entryName = '';
            const entry = await nextEntry(zip);
            if (!entry) break;
            entryName = entry.fileName;
            if (entry.fileName.endsWith('/')) continue;
            if (entry.isEncrypted()) throw new Error('the entry is encrypted');
            // Sizes are the entry's own declarations, which yauzl holds the content to as it reads it.
            total += entry.uncompressedSize;
            if (total > maxBytes) {
              throw uncompressLimitError(
                file.name,
                entry.fileName,
                `more than maxOutputSize (${params.maxOutputSize} MB)`,
                ctx.stepId,
              );
            }
            if (entry.uncompressedSize > 100 * MB && entry.uncompressedSize > params.maxRatio * entry.compressedSize) {
              throw uncompressLimitError(
                file.name,
                entry.fileName,
                `${entry.compressedSize} bytes that expand to ${entry.uncompressedSize}, more than maxRatio (${params.maxRatio})`,
                ctx.stepId,
              );
            }
            // yauzl does not check CRC-32: read the entry once to check it, so a corrupt entry passes nothing on.
            const crc = await entryCrc(zip, entry);
            if (crc !== entry.crc32 >>> 0) {
              throw new IdxError(
                'IDX_ZIP_CRC',
                `${file.name} (entry "${entry.fileName}") is corrupt: its content does not match its CRC-32`,
                {
                  stepId: ctx.stepId,
                  expected: `CRC-32 ${(entry.crc32 >>> 0).toString(16).padStart(8, '0')}`,
                  received: `CRC-32 ${crc.toString(16).padStart(8, '0')}`,
                },
              );
            }
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
