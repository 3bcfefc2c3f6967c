/**
 * The limits of the uncompressing scripts (gzip, zip, LZO): how large a file may expand, and by how much relative to
 * its compressed size, so that a compression bomb fails the step with a coded error instead of filling the stage
 * or the Lambda's disk.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IdxError } from '../../core/errors.ts';
import type { InputFile } from '../../core/script.ts';
import { copyToFile } from './io.ts';

/** Bytes in a megabyte, as the size params count them. */
export const MB = 1024 * 1024;

/** Params shared by file.uncompress.gzip, file.uncompress.zip and file.uncompress.lzo. */
export const uncompressLimitParams = {
  maxOutputSize: {
    type: 'number',
    default: 10_240,
    minimum: 0.001,
    description:
      'Most megabytes one compressed file may expand to (for a zip, all its entries together); beyond, the step ' +
      'fails with IDX_UNCOMPRESS_LIMIT. 10 GB by default.',
  },
  maxRatio: {
    type: 'number',
    default: 200,
    minimum: 1,
    description:
      'Most times a file may expand relative to its compressed size, once it is past 100 MB (smaller files may ' +
      'compress far better and cost little); beyond, the step fails with IDX_UNCOMPRESS_LIMIT. Text and CSV ' +
      'exports compress 5 to 50 times; a compression bomb, a thousand times.',
  },
} as const;

/** The error of a file that expands beyond a limit: `what` says which and by how much. */
export function uncompressLimitError(
  fileName: string,
  entry: string | undefined,
  what: string,
  stepId: string,
): IdxError {
  return new IdxError(
    'IDX_UNCOMPRESS_LIMIT',
    `${fileName}${entry ? ` (entry "${entry}")` : ''} expands to ${what}: the step stops there`,
    { stepId, expected: 'a file within maxOutputSize and maxRatio', received: what },
  );
}

/**
 * Checks the bytes a decompressor gives out against the limits as they come, so a bomb stops early: pipe the
 * compressed bytes through `counted` and the output through `limited`. When a limit is passed, `limited` throws
 * and `error` keeps the error, which is what counts even when the pipeline ends with another (a stream closed
 * early by it).
 */
class ExpansionLimit {
  /** The limit error, once a limit was passed. */
  error: IdxError | undefined;
  #compressed = 0;

  constructor(
    readonly limits: { readonly maxOutputSize: number; readonly maxRatio: number },
    readonly fileName: string,
    readonly stepId: string,
  ) {}

  /** Counts the compressed bytes that pass (a pipeline stage). */
  readonly counted = (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> => this.#count(source);

  /** Passes the decompressed bytes on, failing as soon as they exceed a limit (a pipeline stage). */
  readonly limited = (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> => this.#limit(source);

  async *#count(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.#compressed += chunk.length;
      yield chunk;
    }
  }

  async *#limit(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const maxBytes = this.limits.maxOutputSize * MB;
    let bytes = 0;
    for await (const chunk of source) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        this.error = uncompressLimitError(
          this.fileName,
          undefined,
          `more than maxOutputSize (${this.limits.maxOutputSize} MB)`,
          this.stepId,
        );
        throw this.error;
      }
      if (bytes > 100 * MB && bytes > this.limits.maxRatio * this.#compressed) {
        this.error = uncompressLimitError(
          this.fileName,
          undefined,
          `${this.#compressed} bytes that expand to more than ${bytes}, more than maxRatio (${this.limits.maxRatio})`,
          this.stepId,
        );
        throw this.error;
      }
      yield chunk;
    }
  }
}

/**
 * Decompresses `file` into `target` through `decompress` (a transform stream or a function of the compressed
 * bytes), with the limits of `limits`: a limit passed fails with IDX_UNCOMPRESS_LIMIT, whatever error the pipeline
 * ends with; any other failure is thrown as it came, for the caller to name.
 */
export async function uncompressInto(
  file: InputFile,
  target: Writable,
  limits: { readonly maxOutputSize: number; readonly maxRatio: number },
  stepId: string,
  decompress: NodeJS.ReadWriteStream | ((source: AsyncIterable<Buffer>) => AsyncIterable<Buffer>),
): Promise<void> {
  const limit = new ExpansionLimit(limits, file.name, stepId);
  try {
    // pipeline takes either form of `decompress`; its typings only take one at a time.
    const middle = decompress as (source: AsyncIterable<Buffer>) => AsyncIterable<Buffer>;
    await pipeline(file.open(), limit.counted, middle, limit.limited, (source: AsyncIterable<Buffer>) =>
      copyToFile(source, target),
    );
  } catch (error) {
    throw limit.error ?? error;
  }
}
