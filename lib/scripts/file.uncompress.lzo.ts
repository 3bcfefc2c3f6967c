import { lzopDecompress } from '../connectors/lzo/lzop.ts';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { uncompressInto, uncompressLimitParams } from './util/uncompress-limits.ts';

/** The codes of the lzop reader, whose errors get the file's name and the step. */
const LZO_CODES: ReadonlySet<string> = new Set(['IDX_LZO_CORRUPT', 'IDX_LZO_CHECKSUM', 'IDX_LZO_UNSUPPORTED']);

/** The name of a file once its lzop layer is removed. */
export function unlzopName(name: string): string {
  if (/\.tzo$/i.test(name)) return `${name.slice(0, -4)}.tar`;
  return /\.lzo$/i.test(name) ? name.slice(0, -4) : name;
}

/** `file.uncompress.lzo`: decompresses every lzop `.lzo` file. */
export const fileUncompressLzo = defineScript({
  type: 'file.uncompress.lzo',
  summary: 'Decompresses every LZO file in the lzop format; `x.csv.lzo` becomes `x.csv`.',
  description:
    'Reads the `.lzo` files of the lzop tool and of Hadoop’s LZO codec, whatever their level (LZO1X-1 of ' +
    '`lzop -1` to `-6`, LZO1X-999 of `lzop -7` to `-9`, stored blocks), files written one after the other ' +
    'included, and verifies every checksum the file carries (Adler-32 or CRC-32, of the header, the data and ' +
    'the compressed bytes) before the block’s data is passed on. The `.lzo` suffix is removed from the name ' +
    '(`.tzo` becomes `.tar`); a name without it is kept. Hadoop index files (`*.lzo.index`) that come with them ' +
    'are not LZO data: they are left out, and the trace says so. A file that is not lzop data, is truncated, or ' +
    'has a corrupt block fails the step with IDX_LZO_CORRUPT, a checksum that does not match with ' +
    'IDX_LZO_CHECKSUM, another compression method or an lzop filter with IDX_LZO_UNSUPPORTED; a block may hold ' +
    'at most 64 MiB (Hadoop’s limit; lzop writes 256 KiB). A file that expands beyond maxOutputSize, or past ' +
    '100 MB by more than maxRatio times its compressed size, fails the step with IDX_UNCOMPRESS_LIMIT as soon as ' +
    'it does. Streaming: memory holds one block. See docs/lzo.md.',
  consumes: 'files',
  produces: 'files',
  readsOnce: true,
  params: { ...uncompressLimitParams },
  create(params, ctx) {
    return {
      async file(file, out) {
        if (/\.lzo\.index$/i.test(file.name)) {
          // Reading it is not needed; consuming it keeps a stream that was handed over from waiting.
          for await (const _ of file.open());
          ctx.log.info(`${file.name} is a Hadoop LZO index, not LZO data: left out`);
          return;
        }
        const name = unlzopName(file.name);
        try {
          await uncompressInto(file, out.createFile(name), params, ctx.stepId, (source) => lzopDecompress(source));
        } catch (error) {
          if (error instanceof IdxError && LZO_CODES.has(error.code)) {
            throw new IdxError(error.code, `${file.name}: ${error.message}`, {
              stepId: ctx.stepId,
              ...(error.expected === undefined ? {} : { expected: error.expected }),
              ...(error.received === undefined ? {} : { received: error.received }),
            });
          }
          if (error instanceof IdxError) throw error;
          throw new IdxError(
            'IDX_LZO_CORRUPT',
            `${file.name} is not a readable lzop file: ${(error as Error).message}`,
            {
              stepId: ctx.stepId,
              expected: 'lzop data',
              received: 'unreadable data',
              cause: error,
            },
          );
        }
        ctx.log.debug(`decompressed ${file.name} into ${name}`);
      },
    };
  },
});
