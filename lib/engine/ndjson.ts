/** Streaming NDJSON: batches of parsed records from a byte stream, without holding the stream in memory. */
import { StringDecoder } from 'node:string_decoder';
import { IdxError } from '../errors.ts';
import type { DataRecord } from '../scripts/types.ts';

/** Records per batch handed to a script. */
export const BATCH_SIZE = 1000;

/** Parses NDJSON from a stream of bytes into batches of records. */
export async function* ndjsonBatches(
  stream: AsyncIterable<Buffer | string>,
  where: string,
  batchSize = BATCH_SIZE,
  firstLine = 1,
): AsyncGenerator<DataRecord[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let batch: DataRecord[] = [];
  let line = firstLine - 1;
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
  for await (const chunk of stream) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      if (nl > start) batch.push(parse(text.slice(start, nl)));
      start = nl + 1;
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
      nl = text.indexOf('\n', start);
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.trim()) batch.push(parse(rest));
  if (batch.length) yield batch;
}
