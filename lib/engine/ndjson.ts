/** Streaming NDJSON: batches of parsed records from a byte stream, without holding the stream in memory. */
import { IdxError } from '../core/errors.ts';
import type { DataRecord } from '../core/script.ts';
import { DECODE_BYTES, LineDecoder } from '../scripts/util/io.ts';

/** Records per batch handed to a script. */
export const BATCH_SIZE = 1000;

const NL = 0x0a;

/**
 * Parses NDJSON from a stream of bytes into batches of records. Lines are found in the bytes (a newline byte
 * never occurs inside a UTF-8 sequence), so only whole lines are decoded and a character cut between two chunks
 * needs no decoder state; the bytes of a line that a chunk leaves unfinished wait for the next one. Blank lines
 * are skipped; line numbers count the records, from `firstLine`.
 */
export async function* ndjsonBatches(
  stream: AsyncIterable<Buffer | string>,
  where: string,
  batchSize = BATCH_SIZE,
  firstLine = 1,
): AsyncGenerator<DataRecord[]> {
  let batch: DataRecord[] = [];
  let line = firstLine - 1;
  /** Bytes of the line that is not finished yet, in the order they came. */
  let carried: Buffer[] = [];
  const decoder = new LineDecoder();
  const parse = (text: string): DataRecord => {
    line++;
    try {
      return JSON.parse(text) as DataRecord;
    } catch (error) {
      throw new IdxError(
        'IDX_STAGE_CORRUPT',
        `staged record ${line} of ${where} is not JSON: ${(error as Error).message}`,
      );
    }
  };
  /**
   * Parses the lines of `text` (which ends with a newline or is the stream's last line) into the batch, yielding
   * each batch as it fills.
   */
  function* lines(text: string): Generator<DataRecord[]> {
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      if (nl > start) {
        batch.push(parse(text.slice(start, nl)));
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length && text.slice(start).trim()) batch.push(parse(text.slice(start)));
  }
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let from = 0;
    if (carried.length) {
      const nl = bytes.indexOf(NL);
      if (nl === -1) {
        carried.push(bytes);
        continue;
      }
      carried.push(bytes.subarray(0, nl + 1));
      yield* lines(decoder.decode(Buffer.concat(carried)));
      carried = [];
      from = nl + 1;
    }
    const last = bytes.lastIndexOf(NL);
    while (from <= last) {
      let end = last + 1;
      if (end - from > DECODE_BYTES) {
        end = bytes.lastIndexOf(NL, from + DECODE_BYTES - 1) + 1;
        // One line longer than a piece: it is decoded whole.
        if (end <= from) end = bytes.indexOf(NL, from + DECODE_BYTES) + 1;
      }
      yield* lines(decoder.decode(bytes.subarray(from, end)));
      from = end;
    }
    // A chunk's unfinished line is copied, so the chunk itself need not stay in memory until it ends.
    if (from < bytes.length) carried.push(Buffer.from(bytes.subarray(from)));
  }
  if (carried.length) yield* lines(decoder.decode(Buffer.concat(carried)));
  if (batch.length) yield batch;
}
