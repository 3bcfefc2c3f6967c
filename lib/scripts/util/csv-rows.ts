/**
 * The rows of a comma-separated UTF-8 stream (RFC 4180 quoting), one at a time, with the line each starts on:
 * for files a platform writes or reads in its own fixed dialect (Acoustic's import, export and error files), where
 * no dataflow params choose the dialect. Memory holds one chunk's rows at most.
 */
import type { Readable } from 'node:stream';
import { type DsvCell, DsvFormatter, DsvParser, type DsvProblem } from './dsv.ts';
import { decodeText } from './io.ts';

/** A row of a CSV stream. */
export interface CsvRow {
  readonly cells: readonly string[];
  /** The line the row starts on (1-based; the header is line 1). */
  readonly line: number;
  /** Set when the row could not be read (an unclosed quote); `cells` is then empty. */
  readonly problem?: DsvProblem;
}

/** The dialect of the files this module reads and writes: comma-separated, quoted with `"`, doubled to escape. */
export const CSV_SYNTAX = { separator: ',', quote: '"', escape: '"' } as const;

/**
 * Yields the rows of a CSV stream, malformed ones with their problem; blank lines are skipped. `firstLine` is the
 * line the stream starts on, for a piece of a larger file (split.ts cuts them on row boundaries).
 */
export async function* csvRows(
  stream: Readable | AsyncIterable<Buffer | string>,
  where: string,
  firstLine = 1,
): AsyncGenerator<CsvRow> {
  let ready: CsvRow[] = [];
  const parser = new DsvParser(
    CSV_SYNTAX,
    {
      row: (cells: DsvCell[], line: number) => ready.push({ cells: cells.map((c) => c ?? ''), line }),
      malformed: (problem) => ready.push({ cells: [], line: problem.line, problem }),
    },
    { firstLine },
  );
  for await (const text of decodeText(stream, 'utf-8', where)) {
    parser.push(text);
    if (ready.length) {
      const rows = ready;
      ready = [];
      yield* rows;
    }
  }
  parser.end();
  yield* ready;
}

const FORMATTER = new DsvFormatter({ ...CSV_SYNTAX, quoteAll: false });

/** One CSV line (no line break) of text cells, quoted where they must be (an empty cell as `""`). */
export function csvLine(cells: readonly string[]): string {
  return cells.map((c) => FORMATTER.cell(c)).join(',');
}
