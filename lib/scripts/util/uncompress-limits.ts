/**
 * The limits of the uncompressing scripts (gzip, zip): how large a file may expand, and by how much relative to
 * its compressed size, so that a compression bomb fails the step with a coded error instead of filling the stage
 * or the Lambda's disk.
 */
import { IdxError } from '../../core/errors.ts';

/** Bytes in a megabyte, as the size params count them. */
export const MB = 1024 * 1024;

/** Params shared by file.uncompress.gzip and file.uncompress.zip. */
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
