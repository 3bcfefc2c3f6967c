import { pipeline } from 'node:stream/promises';
import { constants, createGzip, gzipSync, type ZlibOptions } from 'node:zlib';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile } from './util/io.ts';

/**
 * zlib's options for a level. The stream and the one-call form share them, so both write the same bytes: deflate's
 * output depends on its input, level, window and memory level, not on how the input is handed in (no flush before
 * the end) nor on the size of the output buffers.
 */
function gzipOptions(level: number): ZlibOptions {
  return { level, memLevel: constants.Z_DEFAULT_MEMLEVEL, chunkSize: 64 * 1024 };
}

/** `file.compress.gzip`: gzips every file. */
export const fileCompressGzip = defineScript({
  type: 'file.compress.gzip',
  summary: 'Compresses every file with gzip; `x.csv` becomes `x.csv.gz`.',
  description:
    'Each input file becomes one gzip file named after it with `.gz` appended. Streaming: memory does not grow ' +
    'with the file size.',
  consumes: 'files',
  produces: 'files',
  readsOnce: true,
  // Concatenated gzip members are one valid gzip file, so a file compressed in pieces is still one gzip file.
  concatenates: true,
  // For the same reason each lane gzips its chunk's fragment into a member of its own (see LaneSupport.pieces).
  lanes: {
    pieces: true,
    piece: (params) => {
      const options = gzipOptions(params.compressionLevel);
      return (file) => ({ name: `${file.name}.gz`, data: gzipSync(file.data, options) });
    },
  },
  params: {
    compressionLevel: {
      type: 'integer',
      default: 6,
      minimum: 1,
      maximum: 9,
      description: 'zlib level: 1 is fastest, 9 smallest; 6 is the gzip command’s default.',
    },
  },
  create(params, ctx) {
    return {
      async file(file, out) {
        const name = `${file.name}.gz`;
        try {
          const target = out.createFile(name);
          await pipeline(
            file.open(),
            createGzip(gzipOptions(params.compressionLevel)),
            (source: AsyncIterable<Buffer>) => copyToFile(source, target),
          );
        } catch (error) {
          if (error instanceof IdxError) throw error;
          throw new IdxError('IDX_GZIP_FAILED', `cannot gzip ${file.name}: ${(error as Error).message}`, {
            stepId: ctx.stepId,
            cause: error,
          });
        }
        ctx.log.debug(`compressed ${file.name} (${file.size} bytes) into ${name}`);
      },
    };
  },
});
