import { lzoIndex, lzopCompress } from '../connectors/lzo/lzop.ts';
import { IdxError } from '../core/errors.ts';
import { defineScript } from '../core/script.ts';
import { copyToFile, endWritable, writeChunk } from './util/io.ts';

/** `file.compress.lzo`: compresses every file into an lzop `.lzo` file, optionally with its Hadoop index. */
export const fileCompressLzo = defineScript({
  type: 'file.compress.lzo',
  summary: 'Compresses every file with LZO in the lzop format; `x.csv` becomes `x.csv.lzo` (and `x.csv.lzo.index`).',
  description:
    'Each input file becomes one `.lzo` file as the lzop tool writes it, which `lzop -d` and Hadoop’s LZO codec ' +
    '(and so Krux) read: a header with the file’s name and the job’s start time, then blocks of 256 KiB of data ' +
    '(the largest lzop reads) compressed with LZO1X, each with Adler-32 checksums of its data and of its ' +
    'compressed bytes, a block that does not shrink stored as it is. With createIndexFile the Hadoop index ' +
    '`<name>.lzo.index` follows each file: the byte offset of every block as a big-endian 64-bit number, which ' +
    'lets Hadoop split the file between readers (an empty file has an empty index). Streaming: memory holds one ' +
    'block, plus the index’s 8 bytes per block (32 KB a GB) until it is written after its file. See docs/lzo.md.',
  consumes: 'files',
  produces: 'files',
  readsOnce: true,
  params: {
    createIndexFile: {
      type: 'boolean',
      default: false,
      description: 'Also write the Hadoop LZO index `<name>.lzo.index` of each file, as Krux asks.',
    },
  },
  create(params, ctx) {
    return {
      async file(file, out) {
        const name = `${file.name}.lzo`;
        const offsets: number[] = [];
        try {
          const compressed = lzopCompress(file.open(), {
            name: file.name,
            mtime: new Date(ctx.job.startTime),
            onBlock: (offset) => offsets.push(offset),
          });
          await copyToFile(compressed, out.createFile(name));
          if (params.createIndexFile) {
            const index = out.createFile(`${name}.index`);
            await writeChunk(index, lzoIndex(offsets));
            await endWritable(index);
          }
        } catch (error) {
          if (error instanceof IdxError) throw error;
          throw new IdxError('IDX_LZO_FAILED', `cannot compress ${file.name} with LZO: ${(error as Error).message}`, {
            stepId: ctx.stepId,
            cause: error,
          });
        }
        ctx.log.debug(`compressed ${file.name} (${file.size} bytes) into ${name} (${offsets.length} blocks)`);
      },
    };
  },
});
