import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';
import { MB, uncompressLimitError, uncompressLimitParams } from './util/uncompress-limits.ts';

/** Counts the bytes that pass. */
function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      t.bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/** The name of a file once its gzip layer is removed. */
export function gunzippedName(name: string): string {
  if (/\.tgz$/i.test(name)) return `${name.slice(0, -4)}.tar`;
  const m = /\.(gz|gzip)$/i.exec(name);
  return m ? name.slice(0, -m[0].length) : name;
}

/** `file.uncompress.gzip`: gunzips every file. */
export const fileUncompressGzip = defineScript({
  type: 'file.uncompress.gzip',
  summary: 'Decompresses every gzip file; `x.csv.gz` becomes `x.csv`.',
  description:
    'The `.gz` or `.gzip` suffix is removed from the name (`.tgz` becomes `.tar`); a name without it is kept. ' +
    'Files made of several gzip members (concatenated, as parallel compressors write them) are read whole. A file ' +
    'that is not gzip, or is truncated, fails the step with a message naming it. Streaming: memory does not grow ' +
    'with the file size. A file that expands beyond maxOutputSize, or past 100 MB by more than maxRatio times ' +
    'its compressed size, fails the step with IDX_UNCOMPRESS_LIMIT as soon as it does.',
  consumes: 'files',
  produces: 'files',
  params: { ...uncompressLimitParams },
  create(params, ctx) {
    return {
      async file(file, out) {
        const name = gunzippedName(file.name);
        /** A limit passed: the pipeline may end with another error (a stream closed early), this one counts. */
        let limit: IdxError | undefined;
        try {
          const target = out.createFile(name);
          const compressed = counter();
          const maxBytes = params.maxOutputSize * MB;
          /** Checks the bytes out against the limits as they come, so a bomb stops early. */
          async function* limited(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
            let bytes = 0;
            for await (const chunk of source) {
              bytes += chunk.length;
              if (bytes > maxBytes) {
                limit = uncompressLimitError(
                  file.name,
                  undefined,
                  `more than maxOutputSize (${params.maxOutputSize} MB)`,
                  ctx.stepId,
                );
                throw limit;
              }
              if (bytes > 100 * MB && bytes > params.maxRatio * compressed.bytes) {
                limit = uncompressLimitError(
                  file.name,
                  undefined,
                  `${compressed.bytes} bytes that expand to more than ${bytes}, more than maxRatio (${params.maxRatio})`,
                  ctx.stepId,
                );
                throw limit;
              }
              yield chunk;
            }
          }
          await pipeline(
            file.open(),
            compressed,
            createGunzip({ chunkSize: 256 * 1024 }),
            limited,
            (source: AsyncIterable<Buffer>) => copyToFile(source, target),
          );
        } catch (error) {
          if (limit) throw limit;
          if (error instanceof IdxError) throw error;
          const e = error as NodeJS.ErrnoException;
          throw new IdxError('IDX_GZIP_CORRUPT', `${file.name} is not a readable gzip file: ${e.message}`, {
            stepId: ctx.stepId,
            expected: 'gzip data (it starts with the bytes 1f 8b)',
            received: e.code ?? 'unreadable data',
            cause: error,
          });
        }
        ctx.log.debug(`decompressed ${file.name} into ${name}`);
      },
    };
  },
});
