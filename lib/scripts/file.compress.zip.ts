import type { Readable } from 'node:stream';
import yazl from 'yazl';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';

/** The last part of a logical file name. */
function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1) || name;
}

/** `file.compress.zip`: puts files into zip archives. */
export const fileCompressZip = defineScript({
  type: 'file.compress.zip',
  summary: 'Zips every file into `<name>.zip`, or all files into one archive when fileName is given.',
  description:
    'Without fileName, each file becomes an archive named after it with `.zip` appended, holding that one file ' +
    'under its base name. With fileName, every file of the step goes into that one archive under its full ' +
    'logical name (sub-folders kept). Entries are dated with the job start, so a retried step writes the same ' +
    'bytes. Large files use ZIP64 automatically. Streaming: memory does not grow with the file sizes.',
  consumes: 'files',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      description:
        'Name of one archive that receives every file; placeholders are rendered. Default: one archive per file.',
      examples: ['export_${now}.zip'],
    },
    compressionLevel: {
      type: 'integer',
      default: 6,
      minimum: 0,
      maximum: 9,
      description: 'Deflate level: 0 stores without compressing, 1 is fastest, 9 smallest.',
    },
  },
  // One archive for every file is one stream: its step takes its whole input in one invocation.
  wholeInput: (params) => params.fileName !== undefined,
  create(params, ctx) {
    const mtime = new Date(ctx.job.startTime);
    const entryOptions = { mtime, compress: params.compressionLevel > 0, compressionLevel: params.compressionLevel };
    let shared: { zip: yazl.ZipFile; written: Promise<void> } | undefined;
    const fail = (name: string, error: unknown) =>
      error instanceof IdxError
        ? error
        : new IdxError('IDX_ZIP_FAILED', `cannot zip ${name}: ${(error as Error).message}`, {
            stepId: ctx.stepId,
            cause: error,
          });
    return {
      async file(file, out) {
        if (params.fileName === undefined) {
          const zip = new yazl.ZipFile();
          const written = copyToFile(zip.outputStream as Readable, out.createFile(`${file.name}.zip`));
          zip.addReadStream(file.open(), baseName(file.name), entryOptions);
          zip.end();
          try {
            await written;
          } catch (error) {
            throw fail(file.name, error);
          }
          return;
        }
        if (!shared) {
          const zip = new yazl.ZipFile();
          shared = { zip, written: copyToFile(zip.outputStream as Readable, out.createFile(params.fileName)) };
          shared.written.catch(() => undefined);
        }
        // Opened only when the archive reaches this entry, so at most one input stream is open at a time.
        shared.zip.addReadStreamLazy(file.name, entryOptions, (cb) => cb(null, file.open()));
      },
      async end() {
        if (!shared) return;
        shared.zip.end();
        try {
          await shared.written;
        } catch (error) {
          throw fail(params.fileName ?? 'the archive', error);
        }
      },
    };
  },
});
