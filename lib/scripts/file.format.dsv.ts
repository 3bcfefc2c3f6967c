import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type DataRecord, defineScript, type StepOutput } from '../core/script.ts';
import { cachedFunction, cachedValue } from './util/compiled.ts';
import { checkDsvSyntax, DsvFormatter, isBlank } from './util/dsv.ts';
import { CoalescingWriter, unescapeControl } from './util/io.ts';
import { partName } from './util/parts.ts';
import { getPath } from './util/paths.ts';

/** Bytes in one MB as `maxFileSize` counts them. */
const MB = 1024 * 1024;
/** New field names reported in the trace as they appear; all are counted in the summary. */
const MAX_REPORTED = 20;
/** Distinct unknown field names tracked; a flood of dynamic keys must not grow memory. */
const MAX_TRACKED = 1000;

/**
 * Compiles the row of a column list into one function with the column names written in (named property reads
 * instead of reads by a variable key, several times faster per record). Names enter the source only through
 * JSON.stringify, so any text is a safe string literal. When the formatter allows it, a row whose values are all
 * plain (text, numbers or booleans; no text empty or with blanks at its ends) is checked for characters that
 * force quotes with one test over all its values, and written as is when there are none; any other row is
 * written cell by cell. A plain row is joined from an array of its values, which builds one flat string, where
 * adding the values one by one would build a chain of partial strings to flatten for the test (about 15 % less
 * time a row, measured on the benchmark's fifteen columns).
 */
function compileRow(
  columns: readonly string[],
  formatter: DsvFormatter,
  separator: string,
  lineEnd: string,
): (record: DataRecord) => string {
  const q = (text: string) => JSON.stringify(text);
  const reads = columns.map((c, i) =>
    c.includes('.') || c.startsWith("'") ? `v${i} = getPath(r, ${q(c)})` : `v${i} = r[${q(c)}]`,
  );
  const join = (parts: string[]) => [...parts.flatMap((p, i) => (i ? [q(separator), p] : [p])), q(lineEnd)].join(' + ');
  const slow = `return ${join(columns.map((_, i) => `fmt.cell(v${i})`))};`;
  // Numbers and booleans never need quotes unless the separator is a character their text can hold.
  const scalars = !/[0-9a-zA-Z.+-]/.test(separator);
  const fast = formatter.quoting
    ? [
        'let c = 0;',
        'plain: {',
        ...columns.map(
          (_, i) =>
            // A character between 33 and 159 is never blank: most values skip the call.
            `  if (typeof v${i} === 'string') { if (v${i}.length === 0 || v${i}.indexOf(sep) !== -1) break plain; c = v${i}.charCodeAt(0); if ((c < 33 || c > 159) && blank(c)) break plain; c = v${i}.charCodeAt(v${i}.length - 1); if ((c < 33 || c > 159) && blank(c)) break plain; } else if (${scalars ? `typeof v${i} !== 'number' && typeof v${i} !== 'boolean'` : 'true'}) break plain;`,
        ),
        `  const line = [${columns.map((_, i) => `v${i}`).join(', ')}].join(sep);`,
        '  if (quoting.test(line)) break plain;',
        `  return line + ${q(lineEnd)};`,
        '}',
      ]
    : [];
  const body = `return function row(r) {\nconst ${reads.join(', ')};\n${fast.join('\n')}\n${slow}\n};`;
  return cachedFunction<
    (
      f: DsvFormatter,
      g: typeof getPath,
      b: typeof isBlank,
      q: RegExp | undefined,
      s: string,
    ) => (r: DataRecord) => string
  >(['fmt', 'getPath', 'blank', 'quoting', 'sep'], body)(formatter, getPath, isBlank, formatter.quoting, separator);
}

/**
 * Records held on local disk as JSON lines until the columns are known (`columnsFrom: allRecords`): memory stays
 * flat whatever their number. The file is created on the first record and removed once read back.
 */
class Spool {
  readonly #path = join(tmpdir(), `idx-dsv-${process.pid}-${randomBytes(6).toString('hex')}.ndjson`);
  #writer: CoalescingWriter | undefined;

  async add(record: DataRecord): Promise<void> {
    this.#writer ??= new CoalescingWriter(createWriteStream(this.#path));
    if (this.#writer.add(`${JSON.stringify(record)}\n`)) await this.#writer.spill();
  }

  async *records(): AsyncGenerator<DataRecord> {
    if (!this.#writer) return;
    await this.#writer.end();
    const lines = createInterface({ input: createReadStream(this.#path), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) if (line !== '') yield JSON.parse(line) as DataRecord;
  }

  async remove(): Promise<void> {
    this.#writer?.target.destroy();
    this.#writer = undefined;
    await rm(this.#path, { force: true });
  }
}

/** The dialect of a file: what the formatter and the row function are built from. */
interface Dialect {
  readonly separator: string;
  readonly lineEnd: string;
  readonly quote: string;
  readonly escape: string;
  readonly quoteAll: boolean;
}

/** The formatter of a dialect, one per dialect in this process (see cachedValue). */
function formatterFor(d: Dialect): DsvFormatter {
  return cachedValue(`file.format.dsv\u0000${JSON.stringify(d)}`, () => new DsvFormatter({ ...d }));
}

/** The row function of a column list in a dialect, one per both in this process (see cachedValue). */
function rowFor(columns: readonly string[], d: Dialect): (record: DataRecord) => string {
  return cachedValue(`file.format.dsv\u0000${JSON.stringify([d, columns])}`, () =>
    compileRow(columns, formatterFor(d), d.separator, d.lineEnd),
  );
}

/** What the formatter keeps from one invocation of its step to the next. */
interface DsvState {
  /** The columns, when known (from the params or the first record). */
  readonly columns?: string[];
  /** Files started so far. */
  readonly parts: number;
  readonly written: number;
  /** The file left open: its bytes and rows so far (for maxFileSize). */
  readonly part?: { readonly bytes: number; readonly rows: number };
}

/** `file.format.dsv`: writes records as a CSV or other delimiter-separated file. */
export const fileFormatDsv = defineScript({
  type: 'file.format.dsv',
  summary: 'Writes the records as a CSV (or any delimiter-separated) file, one row per record.',
  description:
    'Columns come from `columns` or, without it, as `columnsFrom` says: from the field names of the first record ' +
    'in their order (a field that appears only in later records is not written, and each such name is reported ' +
    'in the job trace with the number of records that had it, never dropped silently), or from every field of ' +
    'every record. Records rejected by another step (reaching this one over an `error` edge, with their ' +
    '`_errorDetails`) get every field by default, so each error row keeps who it was. Values that are objects or arrays are ' +
    'written as JSON. An empty string is written as `""` and a missing or null value as nothing, so the two stay ' +
    'apart. Output is streamed in large chunks; memory does not grow with the number of records.',
  consumes: 'records',
  produces: 'files',
  params: {
    fileName: {
      type: 'string',
      required: true,
      description:
        'Name of the file; placeholders such as ${now}, ${now:yyyyMMdd} and ${jobId} are rendered, and a path ' +
        '(`exports/x.csv`) makes a sub-folder. When maxFileSize splits the output, the first file keeps this ' +
        'name and the next ones get `_2`, `_3`, … before the extension (`x.csv`, `x_2.csv`, `x_3.csv`).',
      examples: ['GIGYA_TO_SFTP_${now}.csv', 'export_${now:yyyyMMdd}.csv'],
    },
    columnSeparator: {
      type: 'string',
      default: ',',
      description: 'The text between two columns. The escapes "\\t" (tab) and "\\n", "\\r" may be written as text.',
      examples: [',', ';', '|', '\t'],
    },
    quoteFields: {
      type: 'boolean',
      default: true,
      description:
        'Wrap every value (and header) in quotes. When false, only values that need it are quoted: those holding ' +
        'the separator, a quote, the escape character, a line break, or leading/trailing blanks, and empty ' +
        'strings; so the file can always be read back.',
    },
    quoteCharacter: {
      type: 'string',
      default: '"',
      description: 'The quote character.',
    },
    escapeCharacter: {
      type: 'string',
      description:
        'How a quote is written inside a quoted value. By default it is the quote character itself, i.e. the ' +
        'quote is doubled (`""`, RFC 4180); with `\\\\` a quote is written `\\"` and a backslash `\\\\`.',
      examples: ['"', '\\'],
    },
    writeHeader: {
      type: 'boolean',
      default: true,
      description: 'Write the column names as the first row (of every part when the output is split).',
    },
    lineEnd: {
      type: 'string',
      default: '\n',
      description: 'Line break after each row: "\\n" (LF) or "\\r\\n" (CRLF); the escapes may be written as text.',
      examples: ['\n', '\r\n'],
    },
    columns: {
      type: 'array',
      description:
        'The columns in order, as field names or dotted paths into nested records (`profile.email`). Fields not ' +
        'listed are not written (deliberately, so not reported). Default: the fields of the first record.',
      items: { type: 'string', description: 'A field name or dotted path.' },
    },
    columnsFrom: {
      type: 'string',
      enum: ['firstRecord', 'allRecords'],
      description:
        'Without `columns`: `firstRecord` takes the fields of the first record and streams each row as it comes; ' +
        '`allRecords` takes every field any record has, in the order they first appear, and holds the rows in a ' +
        'temporary file until the last record arrives, so the header that comes first names them all. Default: ' +
        '`allRecords` for rejected records (the first record carries `_errorDetails`), else `firstRecord`.',
    },
    maxFileSize: {
      type: 'number',
      minimum: 0.001,
      description:
        'Largest size of one file in MB (1 MB = 1,048,576 bytes, counted before any compression). When the next ' +
        'row would pass it, the file is closed and a new part is started (see fileName for the part names); a ' +
        'part always holds at least one row. Default: no limit.',
      examples: [1, 10],
    },
    createEmptyFile: {
      type: 'boolean',
      default: false,
      description:
        'Write a file even when no record arrives (just the header when the columns are known from `columns`). ' +
        'When false, no record means no file.',
    },
    writeBom: {
      type: 'boolean',
      default: false,
      description: 'Start the file with a UTF-8 byte-order mark (spreadsheet programs then detect UTF-8).',
    },
    dsvFormatVersion: {
      type: 'string',
      default: 'Standard',
      description:
        'Accepted for compatibility with dataflows exported from IdentitySync, where "Standard" is the value ' +
        'seen; the output is always the dialect the other params describe.',
    },
  },
  lanes: {
    // With fixed columns and no size limit, rows are formatted independently: the header and the byte-order
    // mark are what a file has once.
    fragments: (params) =>
      params.columns && params.maxFileSize === undefined
        ? {
            head: { ...params, createEmptyFile: true },
            body: { ...params, writeHeader: false, writeBom: false, createEmptyFile: false },
            emptyFile: params.createEmptyFile,
          }
        : undefined,
  },
  check(params) {
    return checkDsvSyntax(params);
  },
  create(params, ctx) {
    const separator = unescapeControl(params.columnSeparator);
    const lineEnd = unescapeControl(params.lineEnd);
    const quote = params.quoteCharacter;
    // Shared by every start of the step with this dialect: a laned step starts again for every chunk.
    const dialect: Dialect = {
      separator,
      lineEnd,
      quote,
      escape: params.escapeCharacter ?? quote,
      quoteAll: params.quoteFields,
    };
    const formatter = formatterFor(dialect);
    const maxBytes = params.maxFileSize === undefined ? 0 : Math.floor(params.maxFileSize * MB);
    const explicit = params.columns !== undefined;
    let columns: string[] | undefined = params.columns ? [...params.columns] : undefined;
    let row = columns ? rowFor(columns, dialect) : undefined;
    let known = new Set(columns);
    const unknown = new Map<string, number>();
    let part: { writer: CoalescingWriter; bytes: number; rows: number } | undefined;
    let parts = 0;
    let written = 0;
    // The step's previous invocation: the columns it found and the file it left open, which this one continues.
    const kept = ctx.continuation as DsvState | undefined;
    let pending = kept?.part;
    if (kept) {
      parts = kept.parts;
      written = kept.written;
      if (kept.columns) {
        columns = kept.columns;
        row = rowFor(
          explicit ? columns : columns.map((c) => (c.includes('.') || c.startsWith("'") ? `'${c}'` : c)),
          dialect,
        );
        known = new Set(columns);
      }
    }

    const header = (cols: readonly string[]) => cols.map((c) => formatter.cell(c)).join(separator) + lineEnd;

    const open = (out: StepOutput) => {
      parts++;
      const writer = new CoalescingWriter(out.createFile(partName(params.fileName, parts)));
      let bytes = 0;
      if (params.writeBom) {
        writer.add('\uFEFF');
        bytes += 3;
      }
      if (params.writeHeader && columns?.length) {
        const text = header(columns);
        writer.add(text);
        bytes += Buffer.byteLength(text);
      }
      return { writer, bytes, rows: 0 };
    };
    /** The next piece of the file the previous invocation left open: same name, no header again. */
    const reopen = (out: StepOutput, at: { bytes: number; rows: number }) => ({
      writer: new CoalescingWriter(out.createFile(partName(params.fileName, parts))),
      bytes: at.bytes,
      rows: at.rows,
    });

    /** Writes one row, starting a new part when `maxFileSize` says so. */
    /** Adds a row to an open part; true when a chunk is due and `part.writer.spill()` should be awaited. */
    const append = (to: NonNullable<typeof part>, line: string): boolean => {
      to.rows++;
      written++;
      return to.writer.add(line);
    };
    const write = async (line: string, out: StepOutput) => {
      if (!part && pending) {
        part = reopen(out, pending);
        pending = undefined;
      }
      if (!part) part = open(out);
      if (maxBytes) {
        const bytes = Buffer.byteLength(line);
        if (part.rows > 0 && part.bytes + bytes > maxBytes) {
          await part.writer.end();
          part = open(out);
        }
        part.bytes += bytes;
      }
      if (append(part, line)) await part.writer.spill();
    };
    // The first record's own keys are read as flat names, even when they hold dots.
    const flat = (names: readonly string[]) => names.map((c) => (c.includes('.') || c.startsWith("'") ? `'${c}'` : c));
    /** Every record's fields, in order of first appearance, while the rows wait in a spool file. */
    let union: { fields: Set<string>; spool: Spool; beyond: number } | undefined;

    const noteUnknown = (record: DataRecord, index: number) => {
      for (const key in record) {
        if (known.has(key)) continue;
        const seen = unknown.get(key);
        if (seen === undefined) {
          if (unknown.size < MAX_REPORTED) {
            ctx.log.warn(
              `field "${key}" first appears in record ${index + 1}, after the columns were set from the first record; it is not written`,
            );
          }
          if (unknown.size < MAX_TRACKED) unknown.set(key, 1);
        } else unknown.set(key, seen + 1);
      }
    };

    return {
      async records(batch, out) {
        for (const record of batch) {
          if (!columns && !union) {
            const all =
              params.columnsFrom === 'allRecords' || (params.columnsFrom === undefined && '_errorDetails' in record);
            if (all) union = { fields: new Set(), spool: new Spool(), beyond: 0 };
          }
          if (union) {
            for (const key in record) {
              if (union.fields.has(key)) continue;
              if (union.fields.size < MAX_TRACKED) union.fields.add(key);
              else union.beyond++;
            }
            await union.spool.add(record);
            continue;
          }
          if (!columns || !row) {
            columns = Object.keys(record);
            row = rowFor(flat(columns), dialect);
            known = new Set(columns);
          } else if (!explicit) noteUnknown(record, written);
          if (part && !maxBytes) {
            // The common case without an await per row: the file is open and has no size limit.
            if (append(part, row(record))) await part.writer.spill();
          } else await write(row(record), out);
        }
      },
      async end(out, { final }) {
        if (union) {
          // The rows waited for the union of every record's fields. A spool lives only as long as one invocation:
          // when the input goes on in the next one, this invocation's rows are written with the fields found so
          // far, which the next invocation keeps as its columns (a later field is then reported, not written).
          const spooled = union;
          union = undefined;
          columns = [...spooled.fields];
          row = rowFor(flat(columns), dialect);
          known = new Set(columns);
          if (spooled.beyond)
            ctx.log.warn(`${spooled.beyond} field name(s) beyond the first ${MAX_TRACKED} are not written as columns`);
          try {
            for await (const record of spooled.spool.records()) await write(row(record), out);
          } finally {
            await spooled.spool.remove();
          }
        }
        if (final && parts === 0 && params.createEmptyFile) part = open(out);
        const left = part ?? pending;
        if (part) {
          const last = part;
          part = undefined;
          await last.writer.end();
        }
        if (!final) {
          const state: DsvState = {
            ...(columns ? { columns } : {}),
            parts,
            written,
            ...(left ? { part: { bytes: left.bytes, rows: left.rows } } : {}),
          };
          return { continuation: state };
        }
        if (unknown.size) {
          const list = [...unknown].map(([k, n]) => `${k} (${n})`).join(', ');
          ctx.log.warn(`fields not written because they are not among the columns: ${list}`);
        }
        ctx.log.info(`${written} record(s) written to ${parts} file(s)`);
        return undefined;
      },
      async close() {
        // A step that failed half-way must not leave a stream open, nor its spool file behind.
        if (part) part.writer.target.destroy();
        await union?.spool.remove();
      },
    };
  },
});
