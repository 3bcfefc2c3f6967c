import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import { cachedFunction } from './util/compiled.ts';
import {
  checkDsvSyntax,
  DEFAULT_MAX_COLUMNS,
  DEFAULT_MAX_ROW_CHARS,
  type DsvCell,
  DsvParser,
  inferCell,
} from './util/dsv.ts';
import {
  CHARSET_NAMES,
  decodeText,
  INVALID_MARK,
  isKnownCharset,
  keepsLineFeeds,
  RecordLimitReached,
  unescapeControl,
} from './util/io.ts';

/**
 * The names a header becomes under `duplicateHeaders`, or undefined when it has no repeated name. `rename` keeps
 * the first of each name and numbers the others (`email`, `email_2`, …, skipping names the header already has);
 * `first` and `last` give the repeated columns no name (their cells are left out), except the one kept.
 */
export function resolveHeader(
  names: readonly string[],
  mode: 'error' | 'rename' | 'first' | 'last',
): { names: (string | undefined)[]; repeated: string[] } | undefined {
  const seen = new Map<string, number[]>();
  names.forEach((n, i) => {
    const at = seen.get(n);
    if (at) at.push(i);
    else seen.set(n, [i]);
  });
  const repeated = [...seen].filter(([, at]) => at.length > 1).map(([n]) => n);
  if (!repeated.length) return undefined;
  const out: (string | undefined)[] = [...names];
  if (mode === 'error') return { names: out, repeated };
  const taken = new Set(names);
  for (const name of repeated) {
    const at = seen.get(name)!;
    if (mode === 'rename') {
      let k = 2;
      for (const i of at.slice(1)) {
        while (taken.has(`${name}_${k}`)) k++;
        out[i] = `${name}_${k}`;
        taken.add(out[i]!);
      }
    } else {
      const keep = mode === 'first' ? at[0] : at[at.length - 1];
      for (const i of at) if (i !== keep) out[i] = undefined;
    }
  }
  return { names: out, repeated };
}

/** Text for the error path: a character that stood for invalid bytes is written as U+FFFD. */
function shown(text: string): string {
  return text.includes(INVALID_MARK) ? text.replaceAll(INVALID_MARK, '\uFFFD') : text;
}

/**
 * Compiles the record of a header into one object literal with the names written in: building a record becomes
 * one allocation of a fixed shape instead of a property store per column by a variable key. Names enter the
 * source only through JSON.stringify (`__proto__` as a computed key, so it stays an own field).
 */
function compileRecord(
  names: readonly string[],
  infer: boolean,
): (cells: DsvCell[], fileName: string | undefined) => DataRecord {
  const q = (text: string) => JSON.stringify(text);
  const props = names.map((n, i) => `${n === '__proto__' ? `[${q(n)}]` : q(n)}: ${infer ? `v(c[${i}])` : `c[${i}]`}`);
  const body = `return function record(c, fileName) { return fileName === undefined ? { ${props.join(', ')} } : { ${[...props, '"_fileName": fileName'].join(', ')} }; };`;
  const v = (x: DsvCell) => (typeof x === 'string' && x !== '' ? inferCell(x) : x);
  return cachedFunction<(v: (x: DsvCell) => unknown) => (cells: DsvCell[], fileName: string | undefined) => DataRecord>(
    ['v'],
    body,
  )(v);
}

/** A bounded excerpt of raw text for an error message. */
function showRaw(text: string): string {
  return JSON.stringify(shown(text.slice(0, 200)));
}

/** Records emitted between two waits for the stage (backpressure), about one engine batch. */
const FLUSH_EVERY = 1000;
/**
 * Text handed to the parser at once. A read can bring megabytes; parsing it in slices lets the records go on
 * (and die young) every thousand or so, instead of thousands of them surviving to be copied by the collector.
 */
const SLICE_CHARS = 128 * 1024;

/** `file.parse.dsv`: reads CSV and other delimiter-separated files into records. */
export const fileParseDsv = defineScript({
  type: 'file.parse.dsv',
  summary: 'Reads CSV or other delimiter-separated files into records, one record per row.',
  description:
    'The header row gives the field names; a dotted header such as `profile.firstName` stays one flat field ' +
    '(follow with field.rename or record.evaluate to nest it). Values are text unless inferTypes is on. Quoted ' +
    'values may hold separators, quotes and line breaks; blank lines are skipped; rows may end with LF or CRLF ' +
    '(a file whose first line break is a lone CR uses CR). A malformed row (a quote that is never closed or is ' +
    'followed by text, or a column count that differs from the header) goes to the error path as ' +
    '`{"_raw": "<the row as written>"}` with the file name and line number in `_errorDetails`; the rest of the ' +
    'file is read on. A row with more or fewer cells than the header also keeps its cells under the names of the ' +
    'columns they stand in (as far as both go), so an error file can still say whose row it was; after a ' +
    'misplaced separator, later cells stand under the wrong names. Files are streamed: memory does not grow with ' +
    'the file.',
  consumes: 'files',
  produces: 'records',
  readsOnce: true,
  params: {
    columnSeparator: {
      type: 'string',
      default: ',',
      description: 'The text between two columns. The escapes "\\t" (tab) and "\\n", "\\r" may be written as text.',
      examples: [',', ';', '|', '\t'],
    },
    quoteCharacter: {
      type: 'string',
      default: '"',
      description: 'The character that wraps a value holding separators, quotes or line breaks.',
    },
    escapeCharacter: {
      type: 'string',
      description:
        'How a quote is written inside a quoted value. By default it is the quote character itself, i.e. the ' +
        'quote is doubled (`""`, RFC 4180); `\\` means ' +
        '`\\"`, and then `\\\\` stands for one backslash (a backslash before any other character is kept as is).',
    },
    fileCharset: {
      type: 'string',
      default: 'UTF-8',
      description:
        'Character set of the files: UTF-8 (with or without byte-order mark), ISO-8859-1 / Latin-1 (read as ' +
        'windows-1252, its superset), UTF-16LE/BE, or "auto-detect": a byte-order mark decides, otherwise the ' +
        'first 64 KB are checked and the file is read as UTF-8 when they are valid UTF-8, else as windows-1252.',
      examples: CHARSET_NAMES,
    },
    hasHeader: {
      type: 'boolean',
      default: true,
      description: 'The first row holds the column names. Without it, give the names in `columns`.',
    },
    columns: {
      type: 'array',
      description:
        'Field names for the columns, in file order. With hasHeader the header row is then read and ignored; ' +
        'without hasHeader these names are required.',
      items: { type: 'string', description: 'A field name.' },
    },
    inferTypes: {
      type: 'boolean',
      default: false,
      description:
        'Turn values that are unambiguously numbers (`42`, `-1.5`, `1e3`; not `007`, not integers beyond 2^53) ' +
        'into numbers and `true`/`false` (any case) into booleans; everything else stays text.',
    },
    addFilename: {
      type: 'boolean',
      default: false,
      description: 'Add the source file name to every record, in the field `_fileName`.',
    },
    maxLineLength: {
      type: 'integer',
      default: DEFAULT_MAX_ROW_CHARS,
      minimum: 1,
      description:
        'Longest row, in characters (64 Mi by default). A longer row is not kept in memory: it goes to the error ' +
        'path as IDX_DSV_ROW_TOO_LONG with its first 10,000 characters in `_raw`, and the file is read on from ' +
        'the row after it (a header row that long fails the step). Time stays linear in the file size.',
    },
    duplicateHeaders: {
      type: 'string',
      enum: ['error', 'rename', 'first', 'last'],
      default: 'error',
      description:
        'What a header naming one column twice (`email,email`) does: "error" fails the step with ' +
        'IDX_DSV_HEADER_DUPLICATE, nothing read from the file; "rename" keeps the first and numbers the others ' +
        '(`email`, `email_2`); "first" or "last" keeps that column\'s value and leaves the others out.',
    },
    invalidCharacters: {
      type: 'string',
      enum: ['reject', 'replace'],
      default: 'reject',
      description:
        'What bytes that are not valid in the character set (invalid UTF-8, lone surrogates in UTF-16; every ' +
        'byte is valid in the single-byte sets) do: "reject" sends their row to the error path as IDX_CHARSET_INVALID (in `_raw` they show as ' +
        'U+FFFD); "replace" keeps the row with U+FFFD in their place, and a warning in the trace counts them.',
    },
    emptyValue: {
      type: 'string',
      enum: ['emptyString', 'omit', 'null'],
      default: 'emptyString',
      description:
        'What an unquoted empty cell (`a,,c`) becomes: an empty string, no field at all ("omit"), or null. A ' +
        'quoted empty cell (`""`) is always an empty string, so files written by file.format.dsv (which writes an ' +
        'empty string as `""` and a missing value as nothing) read back exactly with "omit".',
    },
  },
  lanes: {
    // Cutting needs to know where rows end from the bytes: a charset must be fixed and keep line feeds as one
    // byte (UTF-16 does not; auto-detect could decide differently for each chunk).
    split: (params) =>
      keepsLineFeeds(params.fileCharset)
        ? {
            separator: unescapeControl(params.columnSeparator),
            quote: params.quoteCharacter,
            escape: params.escapeCharacter ?? params.quoteCharacter,
            header: params.hasHeader,
          }
        : undefined,
  },
  check(params) {
    const problems = checkDsvSyntax(params);
    const charset = params.fileCharset ?? 'UTF-8';
    if (!isKnownCharset(charset)) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: 'fileCharset',
        message: `unknown character set "${charset}"`,
        expected: CHARSET_NAMES.join(', '),
        received: JSON.stringify(charset),
      });
    }
    if (params.hasHeader === false && !params.columns?.length) {
      problems.push({
        code: 'IDX_PARAM_MISSING',
        path: 'columns',
        message: 'without a header row the column names must be given in "columns"',
        expected: 'an array of field names',
        received: 'nothing',
      });
    }
    return problems;
  },
  create(params, ctx) {
    const syntax = {
      separator: unescapeControl(params.columnSeparator),
      quote: params.quoteCharacter,
      escape: params.escapeCharacter ?? params.quoteCharacter,
    };
    const unquotedEmpty = params.emptyValue === 'omit' ? undefined : params.emptyValue === 'null' ? null : '';
    const infer = params.inferTypes;
    const marking = params.invalidCharacters !== 'replace';
    return {
      async file(file, out) {
        let names: (string | undefined)[] | undefined = params.hasHeader ? undefined : params.columns;
        // Empty cells left out ("omit") and columns without a name change a record's shape, so only the other
        // cases use the compiled record.
        let compiled = params.emptyValue !== 'omit';
        let make = names && compiled ? compileRecord(names as string[], infer) : undefined;
        /** Invalid bytes found so far in the file (rows are checked for their marks only once there are some). */
        let invalid = 0;
        const fileName = params.addFilename ? file.name : undefined;
        let expectHeader = params.hasHeader;
        let emitted = 0;
        let rejected = 0;
        let unflushed = 0;
        /** The line at which the job's record limit stopped the file (see StepOutput.remaining). */
        let stoppedAt: number | undefined;
        const parser = new DsvParser(
          syntax,
          {
            row(cells: DsvCell[], line: number, start: number, end: number, columns?: number) {
              if (!expectHeader && out.remaining <= 0) {
                stoppedAt = line;
                throw new RecordLimitReached();
              }
              if (invalid && cells.some((c) => typeof c === 'string' && c.includes(INVALID_MARK))) {
                if (expectHeader) {
                  throw new IdxError(
                    'IDX_CHARSET_INVALID',
                    `${file.name}: the header row holds bytes that are not valid ${params.fileCharset}`,
                    {
                      stepId: ctx.stepId,
                      param: 'fileCharset',
                      expected: `text in ${params.fileCharset}`,
                      received: showRaw(parser.raw(start, end)),
                    },
                  );
                }
                rejected++;
                out.reject(
                  { _raw: shown(parser.raw(start, end)) },
                  {
                    code: 'IDX_CHARSET_INVALID',
                    message: `${file.name} line ${line}: bytes that are not valid ${params.fileCharset}`,
                    fileName: file.name,
                    line,
                    expected: `text in ${params.fileCharset}`,
                    received: 'invalid bytes (shown as U+FFFD in _raw)',
                  },
                );
                return;
              }
              if (expectHeader) {
                expectHeader = false;
                if (columns !== undefined) {
                  throw new IdxError(
                    'IDX_DSV_HEADER_TOO_WIDE',
                    `${file.name}: the header row has ${columns} columns, more than ${DEFAULT_MAX_COLUMNS}`,
                    {
                      stepId: ctx.stepId,
                      expected: `at most ${DEFAULT_MAX_COLUMNS} columns`,
                      received: `${columns} columns`,
                    },
                  );
                }
                const header = params.columns ?? cells.map((c) => c ?? '');
                const resolved = resolveHeader(header, params.duplicateHeaders);
                if (resolved && params.duplicateHeaders === 'error') {
                  throw new IdxError(
                    'IDX_DSV_HEADER_DUPLICATE',
                    `${file.name}: the header names ${resolved.repeated.map((n) => JSON.stringify(n)).join(', ')} more than once`,
                    {
                      stepId: ctx.stepId,
                      param: 'duplicateHeaders',
                      expected: 'each column named once, or duplicateHeaders "rename", "first" or "last"',
                      received: showRaw(resolved.repeated.join(', ')),
                    },
                  );
                }
                names = resolved ? resolved.names : header;
                if (resolved && params.duplicateHeaders !== 'rename') compiled = false;
                if (compiled) make = compileRecord(names as string[], infer);
                parser.maxColumns = names.length;
                return;
              }
              const cols = names!;
              const count = columns ?? cells.length;
              if (count !== cols.length) {
                rejected++;
                const known: DataRecord = {};
                for (let c = 0; c < Math.min(cells.length, cols.length); c++) {
                  const name = cols[c];
                  if (name === undefined || name === '__proto__' || name === '_raw' || cells[c] === undefined) continue;
                  known[name] = cells[c];
                }
                out.reject(
                  { ...known, _raw: shown(parser.raw(start, end)) },
                  {
                    code: 'IDX_DSV_COLUMNS',
                    message: `${file.name} line ${line}: ${count} column(s) where the header has ${cols.length}`,
                    fileName: file.name,
                    line,
                    expected: `${cols.length} columns`,
                    received: `${count} columns`,
                  },
                );
                return;
              }
              if (make) {
                out.emit(make(cells, fileName));
                emitted++;
                unflushed++;
                return;
              }
              const record: DataRecord = {};
              for (let c = 0; c < cols.length; c++) {
                const v = cells[c];
                const name = cols[c];
                if (v === undefined || name === undefined) continue;
                const value = infer && typeof v === 'string' && v !== '' ? inferCell(v) : v;
                if (name === '__proto__')
                  Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
                else record[name] = value;
              }
              if (params.addFilename) record._fileName = file.name;
              out.emit(record);
              emitted++;
              unflushed++;
            },
            malformed(problem) {
              if (expectHeader) {
                // Without its header nothing in the file can be named.
                throw new IdxError(problem.code, `${file.name}: the header row cannot be read: ${problem.message}`, {
                  stepId: ctx.stepId,
                  received: showRaw(problem.raw),
                });
              }
              if (out.remaining <= 0) {
                stoppedAt = problem.line;
                throw new RecordLimitReached();
              }
              rejected++;
              out.reject(
                { _raw: shown(problem.raw) },
                {
                  code: problem.code,
                  message: `${file.name} line ${problem.line}: ${problem.message}`,
                  fileName: file.name,
                  line: problem.line,
                },
              );
            },
          },
          { unquotedEmpty, firstLine: file.firstLine ?? 1, maxRowChars: params.maxLineLength },
        );
        const decoded = decodeText(file.open(), params.fileCharset, `file ${file.name}`, {
          invalid: marking ? 'mark' : 'replace',
          onInvalid: (n) => {
            invalid += n;
          },
        });
        try {
          for await (const text of decoded) {
            for (let at = 0; at < text.length; at += SLICE_CHARS) {
              parser.push(at === 0 && text.length <= SLICE_CHARS ? text : text.slice(at, at + SLICE_CHARS));
              if (unflushed >= FLUSH_EVERY) {
                unflushed = 0;
                await out.flush();
              }
            }
          }
          parser.end();
        } catch (error) {
          if (!(error instanceof RecordLimitReached)) throw error;
        }
        if (invalid && !marking) {
          ctx.log.warn(
            `${file.name}: ${invalid} invalid byte sequence(s) in ${params.fileCharset} replaced with U+FFFD`,
          );
          out.replacedCharacters?.(invalid);
        }
        ctx.log.info(
          `${file.name}: ${emitted} record(s) read, ${rejected} row(s) rejected${stoppedAt === undefined ? '' : `; the job's record limit stopped reading at line ${stoppedAt}`}`,
        );
      },
    };
  },
});
