import { type DataRecord, defineScript } from '../core/script.ts';
import { cachedFunction } from './util/compiled.ts';
import { checkDsvSyntax, type DsvCell, DsvParser, inferCell } from './util/dsv.ts';
import {
  CHARSET_NAMES,
  decodeText,
  isKnownCharset,
  keepsLineFeeds,
  RecordLimitReached,
  unescapeControl,
} from './util/io.ts';

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
    return {
      async file(file, out) {
        let names: string[] | undefined = params.hasHeader ? undefined : params.columns;
        // Empty cells left out ("omit") change a record's shape, so only the other modes use the compiled record.
        const compiled = params.emptyValue !== 'omit';
        let make = names && compiled ? compileRecord(names, infer) : undefined;
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
            row(cells: DsvCell[], line: number, start: number, end: number) {
              if (!expectHeader && out.remaining <= 0) {
                stoppedAt = line;
                throw new RecordLimitReached();
              }
              if (expectHeader) {
                expectHeader = false;
                names = params.columns ?? cells.map((c) => c ?? '');
                if (compiled) make = compileRecord(names, infer);
                const dup = names.filter((n, i) => names!.indexOf(n) !== i);
                if (dup.length) {
                  ctx.log.warn(
                    `${file.name}: repeated column names ${JSON.stringify([...new Set(dup)])}; the last one wins`,
                  );
                }
                return;
              }
              const cols = names!;
              if (cells.length !== cols.length) {
                rejected++;
                const known: DataRecord = {};
                for (let c = 0; c < Math.min(cells.length, cols.length); c++) {
                  const name = cols[c]!;
                  if (name !== '__proto__' && name !== '_raw' && cells[c] !== undefined) known[name] = cells[c];
                }
                out.reject(
                  { ...known, _raw: parser.raw(start, end) },
                  {
                    code: 'IDX_DSV_COLUMNS',
                    message: `${file.name} line ${line}: ${cells.length} column(s) where the header has ${cols.length}`,
                    fileName: file.name,
                    line,
                    expected: `${cols.length} columns`,
                    received: `${cells.length} columns`,
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
                if (v === undefined) continue;
                const name = cols[c]!;
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
              if (out.remaining <= 0) {
                stoppedAt = problem.line;
                throw new RecordLimitReached();
              }
              rejected++;
              out.reject(
                { _raw: problem.raw },
                {
                  code: problem.code,
                  message: `${file.name} line ${problem.line}: ${problem.message}`,
                  fileName: file.name,
                  line: problem.line,
                },
              );
            },
          },
          { unquotedEmpty, firstLine: file.firstLine ?? 1 },
        );
        try {
          for await (const text of decodeText(file.open(), params.fileCharset, `file ${file.name}`)) {
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
        ctx.log.info(
          `${file.name}: ${emitted} record(s) read, ${rejected} row(s) rejected${stoppedAt === undefined ? '' : `; the job's record limit stopped reading at line ${stoppedAt}`}`,
        );
      },
    };
  },
});
