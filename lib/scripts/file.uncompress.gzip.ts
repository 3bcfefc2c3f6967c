import { createGunzip } from 'node:zlib';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { uncompressInto, uncompressLimitParams } from './util/uncompress-limits.ts';

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
        try {
          await uncompressInto(file, out.createFile(name), params, ctx.stepId, createGunzip({ chunkSize: 256 * 1024 }));
        } catch (error) {
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
