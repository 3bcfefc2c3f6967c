/** Streaming NDJSON: batches of parsed records from a byte stream, without holding the stream in memory. */
import { isAscii, transcode } from 'node:buffer';
import { IdxError } from '../core/errors.ts';
import type { DataRecord } from '../core/script.ts';
import { DECODE_BYTES } from '../scripts/util/io.ts';

/** Records per batch handed to a script. */
export const BATCH_SIZE = 1000;

const NL = 0x0a;

const QUESTION_MARK = 0x3f;

/** Occurrences of `?` in `bytes`. */
function questionMarks(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(QUESTION_MARK); at !== -1; at = bytes.indexOf(QUESTION_MARK, at + 1)) n++;
  return n;
}

/**
 * Decodes whole lines of UTF-8, to the same text as `toString('utf8')`, faster when the text allows it. V8 decodes
 * UTF-8 one byte at a time in two passes, about 25 instructions a byte, a sixth of a laned export's work. Text
 * that is all ASCII is copied as it is; text whose characters all lie in Latin-1 (Western European names) is
 * converted by ICU into one byte a character, about 19 instructions a byte with the checks below, and copied. ICU
 * writes `?` for a character Latin-1 lacks and drops a byte-order mark, so its result is kept only when it holds
 * as many `?` as the input and encodes back to as many bytes; otherwise the text is decoded as UTF-8, and so is
 * the rest of the stream (text beyond Latin-1 would pay twice).
 */
export class LineDecoder {
  #latin1 = true;

  /** The text of `bytes`, which hold whole UTF-8 characters (they end on a line break). */
  decode(bytes: Buffer): string {
    if (isAscii(bytes)) return bytes.toString('latin1');
    if (this.#latin1) {
      try {
        const converted = transcode(bytes, 'utf8', 'latin1');
        const text = converted.toString('latin1');
        if (Buffer.byteLength(text, 'utf8') === bytes.length && questionMarks(converted) === questionMarks(bytes))
          return text;
      } catch {
        // Without ICU (a Node.js built with small or no ICU), or input ICU refuses: decoded as UTF-8 below.
      }
      this.#latin1 = false;
    }
    return bytes.toString('utf8');
  }
}

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
