import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript, type StepOutput } from '../core/script.ts';
import { decodeText, RecordLimitReached } from './util/io.ts';
import { type JsonLayout, JsonScanError, JsonValueScanner } from './util/json-scan.ts';

/** Records emitted between two waits for the stage (backpressure). */
const FLUSH_EVERY = 2000;
/** Rejected lines keep at most this much of their text. */
const MAX_RAW = 10_000;

function isRecord(value: unknown): value is DataRecord {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The decoded text of one file, read once, with what was read kept until the layout is settled, so that a reader
 * that took the file for JSON Lines can hand it to the scanner from the first character. Only the head of a file
 * is ever kept: the white space before its first character, and its first line.
 */
class ReplayableText {
  readonly #source: AsyncIterator<string>;
  #kept: string[] | undefined = [];

  constructor(source: AsyncIterable<string>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** The text from the start: what was kept, then the rest of the file (kept as well until {@link settle}). */
  read(): AsyncIterable<string> {
    const replay = [...(this.#kept ?? [])];
    const next = (): Promise<IteratorResult<string>> => {
      const again = replay.shift();
      if (again !== undefined) return Promise.resolve({ done: false, value: again });
      const keep = this.#kept;
      // Once settled, the source's own results pass through untouched.
      if (!keep) return this.#source.next();
      return this.#source.next().then((r) => {
        if (!r.done) keep.push(r.value);
        return r;
      });
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  /** The layout is known: nothing more is kept. */
  settle(): void {
    this.#kept = undefined;
  }

  /** The text from the start, the layout being known: {@link read}, keeping nothing more. */
  rest(): AsyncIterable<string> {
    const text = this.read();
    this.settle();
    return text;
  }

  /** The first character that is not a byte-order mark or white space ('' for an empty file). */
  async firstChar(): Promise<string> {
    for await (const text of this.read()) {
      const m = /[^\s\uFEFF]/.exec(text);
      if (m) return m[0];
    }
    return '';
  }

  /** Stops reading the file (closes it when it was not read to the end). */
  async close(): Promise<void> {
    await this.#source.return?.();
  }
}

/** `file.parse.json`: reads JSON files (an array, a wrapped array, or JSON Lines) into records. */
export const fileParseJson = defineScript({
  type: 'file.parse.json',
  summary: 'Reads JSON files into records: a top-level array, an array wrapped in an object, or JSON Lines.',
  description:
    'The layout is recognised per file: a file that starts with `[` is an array whose elements are the ' +
    'records; otherwise it is JSON Lines (one object per line) or, when its first line is not a complete JSON ' +
    'value, a sequence of pretty-printed objects. With wrapField the records are the array under that property ' +
    '(`{"accounts": […]}`, as file.format.json writes it). Files are streamed: a 1 GB array never sits in ' +
    'memory. A JSON Lines line that is not JSON, and any element that is not an object, goes to the error ' +
    'path with the file name and line or index; the rest is read on. Text between the elements of an array ' +
    'that is not JSON (a missing comma, an unclosed bracket) fails the step, naming the file and position, ' +
    'since nothing after it can be trusted.',
  consumes: 'files',
  produces: 'records',
  readsOnce: true,
  params: {
    addFilename: {
      type: 'boolean',
      default: false,
      description: 'Add the source file name to every record, in the field `_fileName`.',
    },
    wrapField: {
      type: 'string',
      description: 'Read the array under this top-level property instead of a top-level array.',
      examples: ['accounts'],
    },
  },
  create(params, ctx) {
    return {
      async file(file, out) {
        let emitted = 0;
        let rejected = 0;
        let unflushed = 0;
        // Past the job's record limit the file is read no further (see RecordLimitReached).
        const room = () => {
          if (out.remaining <= 0) throw new RecordLimitReached();
        };
        let limited = false;
        const take = async (value: unknown, where: Record<string, unknown>, label: string) => {
          room();
          if (!isRecord(value)) {
            rejected++;
            out.reject(
              { _value: value },
              {
                code: 'IDX_JSON_NOT_OBJECT',
                message: `${file.name} ${label}: ${Array.isArray(value) ? 'an array' : typeof value}, not an object`,
                fileName: file.name,
                ...where,
              },
            );
            return;
          }
          if (params.addFilename) value._fileName = file.name;
          out.emit(value);
          emitted++;
          if (++unflushed >= FLUSH_EVERY) {
            unflushed = 0;
            await out.flush();
          }
        };
        // The file is opened once (a gunzip before may stream it in): its head is kept until the layout is known.
        const text = new ReplayableText(decodeText(file.open(), 'utf-8', file.name));
        // Arrays and pretty-printed files: values are cut out by the scanner and parsed one by one.
        const scanned = async (layout: JsonLayout, label: string) => {
          const values: [string, number][] = [];
          const scanner = new JsonValueScanner(layout, (text, index) => values.push([text, index]));
          const drain = async () => {
            for (const [text, index] of values) {
              let value: unknown;
              try {
                value = JSON.parse(text);
              } catch (error) {
                room();
                rejected++;
                out.reject(
                  { _raw: text.slice(0, MAX_RAW) },
                  {
                    code: 'IDX_JSON_VALUE',
                    message: `${file.name} ${label} ${index}: ${(error as Error).message}`,
                    fileName: file.name,
                    index,
                  },
                );
                continue;
              }
              await take(value, { index }, `${label} ${index}`);
            }
            values.length = 0;
          };
          try {
            for await (const piece of text.rest()) {
              scanner.push(piece);
              await drain();
            }
            scanner.end();
            await drain();
          } catch (error) {
            if (!(error instanceof JsonScanError)) throw error;
            throw new IdxError('IDX_JSON_INVALID', `${file.name} is not valid JSON: ${error.message}`, {
              stepId: ctx.stepId,
              expected:
                layout.kind === 'array'
                  ? 'a JSON array'
                  : layout.kind === 'wrapped'
                    ? `an object with "${layout.key}": [...]`
                    : 'JSON values',
            });
          }
          if (layout.kind === 'wrapped' && !scanner.found && scanner.started) {
            ctx.log.warn(`${file.name}: no property "${layout.key}" in the top-level object; no record read`);
          }
        };

        try {
          if (params.wrapField !== undefined) {
            await scanned({ kind: 'wrapped', key: params.wrapField }, 'element');
          } else {
            const first = await text.firstChar();
            if (first === '[') await scanned({ kind: 'array' }, 'element');
            else if (
              first !== '' &&
              !(await readLines(file.name, text, take, (record, error) => {
                room();
                rejected++;
                out.reject(record, error);
              }))
            ) {
              await scanned({ kind: 'values' }, 'value');
            }
          }
        } catch (error) {
          if (!(error instanceof RecordLimitReached)) throw error;
          limited = true;
        } finally {
          await text.close();
        }
        ctx.log.info(
          `${file.name}: ${emitted} record(s) read, ${rejected} rejected${limited ? "; the job's record limit stopped reading" : ''}`,
        );
      },
    };
  },
});

/**
 * Reads JSON Lines. Returns false, before anything is emitted, when the first line is not JSON on its own (the
 * file is then pretty-printed JSON, read another way, from the text kept); settles the text once a line is read.
 */
async function readLines(
  fileName: string,
  source: ReplayableText,
  take: (value: unknown, where: Record<string, unknown>, label: string) => Promise<void>,
  reject: StepOutput['reject'],
): Promise<boolean> {
  let rest = '';
  let line = 0;
  let seen = false;
  const one = async (text: string): Promise<boolean> => {
    line++;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return true;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      if (!seen) return false;
      reject(
        { _raw: trimmed.slice(0, MAX_RAW) },
        {
          code: 'IDX_JSON_LINE',
          message: `${fileName} line ${line}: ${(error as Error).message}`,
          fileName,
          line,
        },
      );
      return true;
    }
    if (!seen) source.settle();
    seen = true;
    await take(value, { line }, `line ${line}`);
    return true;
  };
  for await (const chunk of source.read()) {
    const text = rest + chunk;
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      if (!(await one(text.slice(start, nl)))) return false;
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    rest = text.slice(start);
  }
  return !rest || (await one(rest));
}
