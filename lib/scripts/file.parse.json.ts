import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import { decodeText, INVALID_MARK, RecordLimitReached } from './util/io.ts';
import { InexactNumberError, JsonDepthError, parseExact } from './util/json-exact.ts';
import { type JsonLayout, JsonScanError, JsonValueScanner } from './util/json-scan.ts';

/** The default of the `maxLineLength` param. */
const DEFAULT_MAX_LINE = 64 * 1024 * 1024;

/** Text for the error path: a character that stood for invalid bytes is written as U+FFFD. */
function shown(text: string): string {
  return text.includes(INVALID_MARK) ? text.replaceAll(INVALID_MARK, '\uFFFD') : text;
}

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
    maxLineLength: {
      type: 'integer',
      default: DEFAULT_MAX_LINE,
      minimum: 1,
      description:
        'Longest JSON Lines line or array element, in characters (64 Mi by default). A longer one is not kept in ' +
        'memory: it goes to the error path as IDX_JSON_TOO_LONG with its first 10,000 characters in `_raw`, and ' +
        'the file is read on. Time stays linear in the file size.',
    },
    maxDepth: {
      type: 'integer',
      default: 1000,
      minimum: 1,
      maximum: 4000,
      description:
        'Deepest nesting of objects and arrays in one record. A deeper record goes to the error path as ' +
        'IDX_JSON_DEPTH (records are written and walked recursively by later steps, which a record nested ' +
        '100,000 deep would overflow).',
    },
    exactNumbers: {
      type: 'string',
      enum: ['string', 'reject'],
      default: 'string',
      description:
        'What a number that a double cannot hold exactly becomes (`12345678901234567890`, `1e400`, ' +
        '`1.0000000000000001`): "string" keeps it as written, as a string (`"12345678901234567890"`); "reject" ' +
        'sends its record to the error path as IDX_JSON_NUMBER. Other numbers are numbers.',
    },
    invalidCharacters: {
      type: 'string',
      enum: ['reject', 'replace'],
      default: 'reject',
      description:
        'What bytes that are not valid UTF-8 do: "reject" sends their line or element to the error path as ' +
        'IDX_CHARSET_INVALID (in `_raw` they show as U+FFFD); "replace" keeps it with U+FFFD in their place, and ' +
        'a warning in the trace counts them.',
    },
  },
  create(params, ctx) {
    const marking = params.invalidCharacters !== 'replace';
    const exact = { maxDepth: params.maxDepth, numbers: params.exactNumbers };
    return {
      async file(file, out) {
        let emitted = 0;
        let rejected = 0;
        let unflushed = 0;
        /** Invalid byte sequences found so far (texts are checked for their marks only once there are some). */
        let invalid = 0;
        // Past the job's record limit the file is read no further (see RecordLimitReached).
        const room = () => {
          if (out.remaining <= 0) throw new RecordLimitReached();
        };
        let limited = false;
        /**
         * Parses one value's text, or rejects it with the reason (`where` and `label` name it): invalid bytes,
         * nesting too deep, an inexact number with exactNumbers "reject", or a syntax error when `syntax` has a
         * code for it; a syntax error without one is thrown (JSON Lines may still be pretty-printed JSON).
         */
        const parse = (
          text: string,
          where: Record<string, unknown>,
          label: string,
          syntax: 'IDX_JSON_LINE' | 'IDX_JSON_VALUE' | undefined,
        ): { value: unknown } | undefined => {
          const refuse = (
            code: 'IDX_CHARSET_INVALID' | 'IDX_JSON_DEPTH' | 'IDX_JSON_NUMBER' | 'IDX_JSON_LINE' | 'IDX_JSON_VALUE',
            message: string,
          ) => {
            room();
            rejected++;
            out.reject(
              { _raw: shown(text.slice(0, MAX_RAW)) },
              { code, message: `${file.name} ${label}: ${message}`, fileName: file.name, ...where },
            );
            return undefined;
          };
          if (invalid && text.includes(INVALID_MARK))
            return refuse('IDX_CHARSET_INVALID', 'bytes that are not valid UTF-8');
          try {
            return { value: parseExact(text, exact) };
          } catch (error) {
            if (error instanceof JsonDepthError) return refuse('IDX_JSON_DEPTH', error.message);
            if (error instanceof InexactNumberError) return refuse('IDX_JSON_NUMBER', error.message);
            if (!syntax) throw error;
            return refuse(syntax, (error as Error).message);
          }
        };
        const tooLong = (head: string, where: Record<string, unknown>, label: string) => {
          room();
          rejected++;
          out.reject(
            { _raw: shown(head.slice(0, MAX_RAW)) },
            {
              code: 'IDX_JSON_TOO_LONG',
              message: `${file.name} ${label}: longer than ${params.maxLineLength} characters (the step's maxLineLength)`,
              fileName: file.name,
              ...where,
            },
          );
        };
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
        const text = new ReplayableText(
          decodeText(file.open(), 'utf-8', file.name, {
            invalid: marking ? 'mark' : 'replace',
            onInvalid: (n) => {
              invalid += n;
            },
          }),
        );
        // Arrays and pretty-printed files: values are cut out by the scanner and parsed one by one.
        const scanned = async (layout: JsonLayout, label: string) => {
          const values: [string, number][] = [];
          const scanner = new JsonValueScanner(layout, (text, index) => values.push([text, index]), {
            maxValueChars: params.maxLineLength,
            onTooLong: (head, index) => tooLong(head, { index }, `${label} ${index}`),
          });
          const drain = async () => {
            for (const [text, index] of values) {
              const parsed = parse(text, { index }, `${label} ${index}`, 'IDX_JSON_VALUE');
              if (parsed) await take(parsed.value, { index }, `${label} ${index}`);
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
            else if (first !== '' && !(await readLines(text, params.maxLineLength, parse, take, tooLong))) {
              await scanned({ kind: 'values' }, 'value');
            }
          }
        } catch (error) {
          if (!(error instanceof RecordLimitReached)) throw error;
          limited = true;
        } finally {
          await text.close();
        }
        if (invalid && !marking) {
          ctx.log.warn(`${file.name}: ${invalid} invalid byte sequence(s) in UTF-8 replaced with U+FFFD`);
          out.replacedCharacters?.(invalid);
        }
        ctx.log.info(
          `${file.name}: ${emitted} record(s) read, ${rejected} rejected${limited ? "; the job's record limit stopped reading" : ''}`,
        );
      },
    };
  },
});

/** The first {@link MAX_RAW} characters of `parts` then `last`, without joining them all. */
function headOf(parts: readonly string[], last: string): string {
  let head = '';
  for (const part of [...parts, last]) {
    head += part.slice(0, MAX_RAW - head.length);
    if (head.length >= MAX_RAW) break;
  }
  return head;
}

/**
 * Reads JSON Lines. Returns false, before anything is emitted, when the first line is not JSON on its own (the
 * file is then pretty-printed JSON, read another way, from the text kept); settles the text once a line is read.
 * A line is gathered from its pieces once, when its end arrives (linear time); a line longer than `maxLine` is not
 * kept but rejected, and the file read on after it.
 */
async function readLines(
  source: ReplayableText,
  maxLine: number,
  parse: (
    text: string,
    where: Record<string, unknown>,
    label: string,
    syntax: 'IDX_JSON_LINE' | undefined,
  ) => { value: unknown } | undefined,
  take: (value: unknown, where: Record<string, unknown>, label: string) => Promise<void>,
  tooLong: (head: string, where: Record<string, unknown>, label: string) => void,
): Promise<boolean> {
  let parts: string[] = [];
  let length = 0;
  /** The start of a line too long to keep, while the rest of it is skipped. */
  let head: string | undefined;
  let line = 0;
  let seen = false;
  const one = async (text: string): Promise<boolean> => {
    line++;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return true;
    let parsed: { value: unknown } | undefined;
    try {
      parsed = parse(trimmed, { line }, `line ${line}`, seen ? 'IDX_JSON_LINE' : undefined);
    } catch {
      // The first line is not JSON on its own: the file is read as pretty-printed JSON instead.
      return false;
    }
    if (!seen) source.settle();
    seen = true;
    if (parsed) await take(parsed.value, { line }, `line ${line}`);
    return true;
  };
  const skipped = () => {
    line++;
    if (!seen) source.settle();
    seen = true;
    tooLong(head ?? '', { line }, `line ${line}`);
    head = undefined;
  };
  for await (const chunk of source.read()) {
    let start = 0;
    let nl = chunk.indexOf('\n');
    while (nl !== -1) {
      if (head !== undefined) skipped();
      else if (length + nl - start > maxLine) {
        head = headOf(parts, chunk.slice(start, start + MAX_RAW));
        skipped();
      } else {
        const text = parts.length ? parts.join('') + chunk.slice(start, nl) : chunk.slice(start, nl);
        // The pieces can go while the joined line is parsed.
        parts = [];
        if (!(await one(text))) return false;
      }
      parts = [];
      length = 0;
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (head !== undefined || start >= chunk.length) continue;
    parts.push(start === 0 ? chunk : chunk.slice(start));
    length += chunk.length - start;
    if (length > maxLine) {
      // Too long to keep: its start is kept for the error path, the rest is skipped up to its line break.
      head = headOf(parts, '');
      parts = [];
      length = 0;
      if (!seen) source.settle();
    }
  }
  if (head !== undefined) {
    skipped();
    return true;
  }
  if (!parts.length) return true;
  const last = parts.join('');
  parts = [];
  return one(last);
}
