/**
 * The import kernel: a chunk of a delimiter-separated file (its header row, then whole rows) through
 * `file.parse.dsv` and any number of `field.rename` steps, to the NDJSON records the last rename stages.
 *
 * The records of file.parse.dsv are flat and their shape is decided by the header alone (every value is text, or
 * null for an empty cell when asked): the NDJSON line of a row is a template, literal bytes with one slot per cell
 * written. The template is not written by hand: the first time a header is met (with `addFilename`, a header in a
 * file of that name, which the records carry), the real scripts run over probe rows whose cells are distinct markers
 * (private-use characters; a header or file name that holds any of U+E000–U+E1FF gets no template), and where
 * each marker lands in their output gives the template. It is used only once a second run of the scripts over other
 * probes (quoted markers, unquoted and quoted empty cells, and with `emptyValue: "null"` each column empty on its
 * own) gives exactly what the template renders, with the counters it predicts. The lane awaits that derivation
 * (`prepare`) before it runs the chunk that meets a new header; `run` alone declines a chunk whose header has none
 * yet, and starts one.
 *
 * At run time a byte scanner cuts the rows into cells the way the parser reads them (cells quoted or not, doubled
 * quotes or the escape character, separators and line breaks inside quotes, LF and CRLF row ends, blank lines
 * skipped) and writes each row's template with each cell JSON-escaped exactly as JSON.stringify escapes it
 * (`"`, `\`, control characters as `\b \f \n \r \t` or `\u00xx`; DEL, U+2028/U+2029 and other non-ASCII as they
 * are).
 *
 * What it compiles for (anything else runs as scripts):
 * - file.parse.dsv with `hasHeader: true`, `inferTypes: false`, `fileCharset` UTF-8, a separator, quote and escape
 *   of one ASCII character each (three distinct characters, or quote and escape the same); `columns`,
 *   `duplicateHeaders` (every mode: "error" never gives a template), `addFilename`, `invalidCharacters` (only valid
 *   UTF-8 is taken, where both modes read the same) and `emptyValue` as the probes show them ("omit" only for
 *   chunks without an unquoted empty cell, where no field is left out); `maxLineLength` as a limit (below).
 * - then `field.rename` steps only, with any `fields` the probes reproduce; the last step stages the records.
 * - no record limit (test runs): each chunk's scripts would count the limit on their own.
 *
 * A chunk is declined (the scripts then give the rows they reject their coded errors) when anything in it is not
 * proven identical: invalid UTF-8, a header row that is blank, quoted, holds a CR or is 64 KiB or longer, a row
 * whose cell count differs from the header's, a quote that is not closed or is followed by text, a quote inside an
 * unquoted cell, a CR that does not end a line with its LF (outside quotes), an unquoted empty cell under
 * `emptyValue: "omit"`, or a row of `maxLineLength` bytes or more (or of 64 KiB or more, where the parser keeps a
 * row in pieces). A byte-order mark before the header is skipped, as the decoder skips it.
 *
 * Counters are the drivers': the parser's one file in with the file's size, a record out per row; each rename's
 * records in and out; the rest as the probes left them (`durationMs` is 0).
 */
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import type { StepCounters } from '../../../core/refs.ts';
import type { SplitSyntax, StepLogger } from '../../../core/script.ts';
import { DEFAULT_MAX_ROW_CHARS } from '../../../scripts/util/dsv.ts';
import type { ScriptDriver } from '../../drive.ts';
import { createRun } from '../drivers.ts';
import type { ChunkKernel, KernelInput, KernelOutput, KernelRun } from '../kernel.ts';
import { MemoryRecords } from '../output-memory.ts';

/** The params of file.parse.dsv this kernel knows; a chunk of a step with any other runs as scripts. */
const PARSE_PARAMS = new Set([
  'columnSeparator',
  'quoteCharacter',
  'escapeCharacter',
  'fileCharset',
  'hasHeader',
  'columns',
  'inferTypes',
  'addFilename',
  'maxLineLength',
  'duplicateHeaders',
  'invalidCharacters',
  'emptyValue',
]);
const RENAME_PARAMS = new Set(['fields']);

/** Rows the parser reads from text it holds whole; a longer one it keeps in pieces (LONG_ROW in util/dsv.ts). */
const WHOLE_ROW_BYTES = 65_536;
/** Headers a kernel keeps templates for (a lane meets one per file layout, or per file with addFilename). */
const MAX_HEADERS = 32;

const LF = 10;
const CR = 13;

/** A row's NDJSON: literal 0, the cell of column `slots[0]`, literal 1, … the last literal (with `\n`). */
interface Template {
  /** The literals end to end; literal `s` is `literals[at[s]]` up to `literals[at[s + 1]]`. */
  readonly literals: Uint8Array;
  readonly at: Int32Array;
  readonly slots: Int32Array;
  /** The most slots any one column fills (for the room a row may take). */
  readonly maxRepeat: number;
  /** Cells per row. */
  readonly width: number;
  /** Each step's counters after a chunk of `rows` rows of a file of `size` bytes. */
  counters(rows: number, size: number): StepCounters[];
}

/** The dialect and limits the scanner follows. */
interface Dialect {
  readonly sep: number;
  readonly quote: number;
  readonly escape: number;
  readonly doubled: boolean;
  /** What an unquoted empty cell is written as: "" or null, or the chunk is declined ("omit"). */
  readonly empty: 'string' | 'null' | 'omit';
  /** Rows of this many bytes or more (line break included) are declined. */
  readonly rowLimit: number;
  /** The class of each byte outside quotes (see {@link classesOf}). */
  readonly classes: Uint8Array;
}

/** Byte classes of the scanner, outside quotes. */
const PLAIN = 0;
const SEPARATOR = 1;
const LINE_FEED = 2;
const CARRIAGE_RETURN = 3;
const QUOTE = 4;
/** A byte JSON.stringify escapes (`"`, `\`, control characters). */
const ESCAPED_BYTE = 5;

/** One table lookup per byte instead of a comparison with each special byte. */
function classesOf(sep: number, quote: number): Uint8Array {
  const classes = new Uint8Array(256);
  for (let b = 0; b < 128; b++) if (ESCAPES[b]) classes[b] = ESCAPED_BYTE;
  classes[sep] = SEPARATOR;
  classes[LF] = LINE_FEED;
  classes[CR] = CARRIAGE_RETURN;
  classes[quote] = QUOTE;
  return classes;
}

/** `\` + what JSON.stringify writes for each ASCII byte that it escapes (from JSON.stringify itself). */
const ESCAPES: (Uint8Array | undefined)[] = Array.from({ length: 128 }, (_, b) => {
  const written = JSON.stringify(String.fromCharCode(b)).slice(1, -1);
  return written.length > 1 ? new Uint8Array(Buffer.from(written, 'latin1')) : undefined;
});
/** 1 for a byte JSON.stringify escapes. */
const ESCAPED = Uint8Array.from({ length: 256 }, (_, b) => (b < 128 && ESCAPES[b] ? 1 : 0));

/** The kernel, whose {@link ChunkKernel.prepare} derives the template of the input's header (once). */
export interface DsvNdjsonKernel extends ChunkKernel {
  /** True when chunks with the input's header can be taken. */
  prepare(input: KernelInput): Promise<boolean>;
}

/** Compiles the import kernel, or undefined when the run or its params are outside what it reproduces. */
export function compileDsvNdjson(run: KernelRun): DsvNdjsonKernel | undefined {
  const { definitions, params, job } = run;
  const [first, ...rest] = definitions;
  const parse = params[0];
  if (first?.type !== 'file.parse.dsv' || !parse) return undefined;
  if (!rest.every((d) => d.type === 'field.rename')) return undefined;
  if (job.limit !== undefined) return undefined;
  if (!Object.keys(parse).every((k) => PARSE_PARAMS.has(k))) return undefined;
  if (!params.slice(1).every((p) => Object.keys(p).every((k) => RENAME_PARAMS.has(k)))) return undefined;
  const charset = typeof parse.fileCharset === 'string' ? parse.fileCharset.toLowerCase() : undefined;
  if (charset !== 'utf-8' && charset !== 'utf8') return undefined;
  if (parse.hasHeader !== true || (parse.inferTypes !== false && parse.inferTypes !== undefined)) return undefined;
  const syntax = first.lanes?.split?.(parse as never) as SplitSyntax | undefined;
  if (!syntax) return undefined;
  const one = (s: string) => (s.length === 1 && s.charCodeAt(0) < 128 ? s.charCodeAt(0) : -1);
  const sep = one(syntax.separator);
  const quote = one(syntax.quote);
  const esc = one(syntax.escape);
  if (sep < 0 || quote < 0 || esc < 0 || sep === LF || sep === CR || quote === LF || quote === CR) return undefined;
  if (esc === LF || esc === CR || sep === quote || sep === esc) return undefined;
  const maxRow = typeof parse.maxLineLength === 'number' ? parse.maxLineLength : DEFAULT_MAX_ROW_CHARS;
  const dialect: Dialect = {
    sep,
    quote,
    escape: esc,
    doubled: quote === esc,
    empty: parse.emptyValue === 'omit' ? 'omit' : parse.emptyValue === 'null' ? 'null' : 'string',
    rowLimit: Math.min(maxRow, WHOLE_ROW_BYTES),
    classes: classesOf(sep, quote),
  };
  const fileNamed = Boolean(parse.addFilename);
  const templates = new Map<string, Template | null>();
  const deriving = new Map<string, Promise<boolean>>();
  let scratch: Buffer = Buffer.allocUnsafeSlow(256 * 1024);

  /** The header row's end (after its LF) and the key of its template, or undefined when it is not one we read. */
  const headerOf = (input: KernelInput): { end: number; key: string } | undefined => {
    const { bytes, file } = input;
    if (!file) return undefined;
    const at = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    const lf = bytes.indexOf(LF, at);
    if (lf === -1 || lf - at >= WHOLE_ROW_BYTES) return undefined;
    const textEnd = lf > at && bytes[lf - 1] === CR ? lf - 1 : lf;
    if (textEnd === at) return undefined;
    for (let i = at; i < textEnd; i++) {
      const b = bytes[i];
      if (b === quote || b === CR) return undefined;
    }
    const header = Buffer.from(bytes.buffer, bytes.byteOffset, lf + 1);
    // The file's name is in the records only through addFilename.
    return { end: lf + 1, key: `${fileNamed ? file.name : ''}\u0000${header.toString('latin1')}` };
  };

  const prepare = (input: KernelInput): Promise<boolean> => {
    const header = headerOf(input);
    if (!header || !input.file) return Promise.resolve(false);
    const known = templates.get(header.key);
    if (known !== undefined) return Promise.resolve(known !== null);
    const pending = deriving.get(header.key);
    if (pending) return pending;
    if (deriving.size >= MAX_HEADERS) return Promise.resolve(false);
    // The header seen longest ago makes room (a lane reading many files named into their records).
    if (templates.size >= MAX_HEADERS) templates.delete(templates.keys().next().value as string);
    const headerBytes = Buffer.from(input.bytes.subarray(0, header.end));
    const derived = deriveTemplate(run, dialect, headerBytes, input.file)
      .catch(() => undefined)
      .then((template) => {
        templates.set(header.key, template ?? null);
        deriving.delete(header.key);
        return template !== undefined;
      });
    deriving.set(header.key, derived);
    return derived;
  };

  return {
    steps: definitions.length,
    prepare,
    run(input: KernelInput): KernelOutput | undefined {
      const header = headerOf(input);
      if (!header || !input.file) return undefined;
      const template = templates.get(header.key);
      if (!template) {
        if (template === undefined) void prepare(input);
        return undefined;
      }
      if (!isUtf8(input.bytes)) return undefined;
      const written = writeRows(input.bytes, header.end, template, dialect, scratch);
      if (!written) return undefined;
      scratch = written.buffer;
      // The scratch memory is the next chunk's: the records leave in memory of their own.
      const data = new Uint8Array(written.length);
      data.set(written.buffer.subarray(0, written.length));
      return {
        ...(written.rows > 0 ? { records: { data, count: written.rows } } : {}),
        counters: template.counters(written.rows, input.file.size),
      };
    },
  };
}

/** How a cell is written: copied as it is, copied with JSON escapes, also undoing quote escapes, or `null`. */
const COPY = 0;
const ESCAPE = 1;
const UNDO = 2;
const NULL_CELL = 3;

/**
 * Cuts the rows of `src` from `from` into cells and writes each row's template into `out` (grown when needed).
 * Returns the memory written, the bytes written and the rows, or undefined when a row is not one the kernel reads.
 */
function writeRows(
  src: Uint8Array,
  from: number,
  template: Template,
  dialect: Dialect,
  initial: Buffer,
): { buffer: Buffer; length: number; rows: number } | undefined {
  const { quote: q, escape: e, doubled, rowLimit, classes } = dialect;
  const omit = dialect.empty === 'omit';
  const emptyKind = dialect.empty === 'null' ? NULL_CELL : COPY;
  const { literals, at, slots, width, maxRepeat } = template;
  const slotCount = slots.length;
  const n = src.length;
  const starts = new Int32Array(width);
  const ends = new Int32Array(width);
  const kinds = new Uint8Array(width);
  let out = initial;
  let o = 0;
  let rows = 0;
  let i = from;
  while (i < n) {
    const rowStart = i;
    // A blank line (LF or CRLF) is skipped, as the parser skips it.
    if (src[i] === LF) {
      i++;
      continue;
    }
    if (src[i] === CR && i + 1 < n && src[i + 1] === LF) {
      i += 2;
      continue;
    }
    let k = 0;
    let rowEnd = -1;
    while (rowEnd === -1) {
      if (k >= width) return undefined;
      if (i < n && src[i] === q) {
        let j = i + 1;
        let kind = COPY;
        let close = -1;
        while (j < n) {
          const b = src[j] as number;
          if (b === q) {
            if (doubled && j + 1 < n && src[j + 1] === q) {
              kind = UNDO;
              j += 2;
              continue;
            }
            close = j;
            break;
          }
          if (!doubled && b === e) {
            if (j + 1 >= n) return undefined;
            const next = src[j + 1];
            kind = UNDO;
            j += next === q || next === e ? 2 : 1;
            continue;
          }
          if (kind === COPY && ESCAPED[b] === 1) kind = ESCAPE;
          j++;
        }
        if (close === -1) return undefined;
        starts[k] = i + 1;
        ends[k] = close;
        kinds[k] = kind;
        k++;
        i = close + 1;
        if (i >= n) rowEnd = n;
        else {
          const c = classes[src[i] as number];
          if (c === SEPARATOR) i++;
          else if (c === LINE_FEED) rowEnd = i + 1;
          else if (c === CARRIAGE_RETURN && i + 1 < n && src[i + 1] === LF) rowEnd = i + 2;
          else return undefined;
        }
        continue;
      }
      let j = i;
      let kind = COPY;
      let c = PLAIN;
      while (j < n) {
        c = classes[src[j] as number] as number;
        if (c === PLAIN) j++;
        else if (c === ESCAPED_BYTE) {
          kind = ESCAPE;
          j++;
        } else break;
      }
      if (j === i) {
        if (omit) return undefined;
        kind = emptyKind;
      }
      starts[k] = i;
      ends[k] = j;
      kinds[k] = kind;
      k++;
      if (j >= n) rowEnd = n;
      else if (c === SEPARATOR) i = j + 1;
      else if (c === LINE_FEED) rowEnd = j + 1;
      else if (c === CARRIAGE_RETURN && j + 1 < n && src[j + 1] === LF) rowEnd = j + 2;
      // A quote inside an unquoted cell, or a CR that does not end the line.
      else return undefined;
    }
    if (k !== width || rowEnd - rowStart >= rowLimit) return undefined;
    i = rowEnd;
    // Room for the row: literals, quotes or null for each slot, and each cell's bytes escaped (at most 6 each).
    const room = literals.length + 4 * slotCount + 6 * (rowEnd - rowStart) * maxRepeat;
    if (o + room > out.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, o + room));
      out.copy(grown, 0, 0, o);
      out = grown;
    }
    let l = 0;
    for (let s = 0; s < slotCount; s++) {
      const litEnd = at[s + 1] as number;
      while (l < litEnd) out[o++] = literals[l++] as number;
      const cell = slots[s] as number;
      const start = starts[cell] as number;
      const end = ends[cell] as number;
      const kind = kinds[cell];
      if (kind === COPY) {
        out[o++] = 34;
        for (let p = start; p < end; p++) out[o++] = src[p] as number;
        out[o++] = 34;
      } else if (kind === NULL_CELL) {
        out[o++] = 110; // null
        out[o++] = 117;
        out[o++] = 108;
        out[o++] = 108;
      } else {
        out[o++] = 34;
        o = escapeCell(src, start, end, kind === UNDO, dialect, out, o);
        out[o++] = 34;
      }
    }
    const litEnd = literals.length;
    while (l < litEnd) out[o++] = literals[l++] as number;
    rows++;
  }
  return { buffer: out, length: o, rows };
}

/**
 * Writes the bytes of a cell JSON-escaped into `out` at `o`; with `undo`, a doubled quote or the escape before a
 * quote or itself (the only pairs the scan let through) first becomes the character it stands for. Returns the
 * end of what it wrote.
 */
function escapeCell(
  src: Uint8Array,
  start: number,
  end: number,
  undo: boolean,
  dialect: Dialect,
  out: Buffer,
  o: number,
): number {
  const { quote: q, escape: e, doubled } = dialect;
  for (let p = start; p < end; p++) {
    let b = src[p] as number;
    if (undo && (doubled ? b === q : b === e) && p + 1 < end) {
      const next = src[p + 1] as number;
      if (doubled || next === q || next === e) {
        b = next;
        p++;
      }
    }
    if (ESCAPED[b] === 0) out[o++] = b;
    else {
      const esc = ESCAPES[b] as Uint8Array;
      for (let x = 0; x < esc.length; x++) out[o++] = esc[x] as number;
    }
  }
  return o;
}

/** The marker of a probe cell: private-use characters, which JSON.stringify writes as they are. */
function marker(row: number, column: number): string {
  const two = (v: number) => String.fromCharCode(0xe100 + (v >> 8), 0xe100 + (v & 255));
  return `\ue000${two(column)}${two(row)}\ue001`;
}
const MARKER = /"\ue000([\ue100-\ue1ff]{2})([\ue100-\ue1ff]{2})\ue001"/g;
const PRIVATE = /[\ue000-\ue1ff]/;

/** A probe cell: a value, written quoted or not, or an empty cell (unquoted: the parser's empty value). */
type ProbeCell = { readonly text: string; readonly quoted: boolean };

/** What the scripts gave for a probe file. */
interface ProbeRun {
  readonly lines: string[];
  readonly counters: StepCounters[];
}

/** Runs the real steps over a probe file; undefined when anything was rejected or warned about. */
async function runProbe(run: KernelRun, name: string, size: number, data: Buffer): Promise<ProbeRun | undefined> {
  const records = new MemoryRecords();
  const rejected = run.steps.map(() => new MemoryRecords());
  let warned = false;
  const log: StepLogger = {
    debug() {},
    info() {},
    warn() {
      warned = true;
    },
    error() {
      warned = true;
    },
  };
  const chain = await createRun(run.definitions, run.steps, run.params, run.job, { records, rejected }, () => log);
  try {
    await (chain.drivers[0] as ScriptDriver).file({ name, size, firstLine: 1, open: () => Readable.from([data]) });
    await chain.finish();
  } finally {
    for (const d of chain.drivers) await d.instance.close?.();
  }
  const rejects = rejected.map((r) => r.bytes());
  const out = records.bytes();
  if (warned || rejects.some((r) => r !== undefined)) return undefined;
  const text = out ? Buffer.from(out).toString('utf8') : '';
  return {
    lines: text
      ? text
          .slice(0, -1)
          .split('\n')
          .map((l) => `${l}\n`)
      : [],
    counters: chain.drivers.map((d) => ({ ...d.counters, durationMs: 0 })),
  };
}

/**
 * Derives the template of a header from the real steps (see the file's header), or undefined when the probes do
 * not bear it out.
 */
async function deriveTemplate(
  run: KernelRun,
  dialect: Dialect,
  header: Buffer,
  file: { readonly name: string; readonly size: number },
): Promise<Template | undefined> {
  const headerText = header.toString('utf8');
  if (PRIVATE.test(headerText) || PRIVATE.test(file.name)) return undefined;
  const columns = run.params[0]?.columns;
  const width = Array.isArray(columns) ? columns.length : splitHeader(header, dialect);
  if (width === 0) return undefined;
  const q = String.fromCharCode(dialect.quote);
  const sep = String.fromCharCode(dialect.sep);
  const csv = (rows: readonly (readonly ProbeCell[])[]) =>
    Buffer.concat([
      header,
      Buffer.from(rows.map((r) => `${r.map((c) => (c.quoted ? q + c.text + q : c.text)).join(sep)}\n`).join('')),
    ]);
  const markers = (row: number, quoted: boolean) =>
    Array.from({ length: width }, (_, c) => ({ text: marker(row, c), quoted }));

  // The template, from the first of two rows of markers; the second must render as the scripts wrote it.
  const first = await runProbe(run, file.name, file.size, csv([markers(0, false), markers(1, false)]));
  if (first?.lines.length !== 2) return undefined;
  const literals: string[] = [];
  const slots: number[] = [];
  let at = 0;
  for (const m of (first.lines[0] as string).matchAll(MARKER)) {
    const code = (s: string) => ((s.charCodeAt(0) - 0xe100) << 8) | (s.charCodeAt(1) - 0xe100);
    const column = code(m[1] as string);
    if (code(m[2] as string) !== 0 || column >= width) return undefined;
    literals.push((first.lines[0] as string).slice(at, m.index));
    slots.push(column);
    at = m.index + m[0].length;
  }
  literals.push((first.lines[0] as string).slice(at));
  if (literals.some((l) => PRIVATE.test(l))) return undefined;
  const render = (cells: readonly (string | null)[]) =>
    literals.map((l, s) => (s < slots.length ? l + JSON.stringify(cells[slots[s] as number]) : l)).join('');
  const markerTexts = (row: number) => Array.from({ length: width }, (_, c) => marker(row, c));
  if (first.lines[1] !== render(markerTexts(1))) return undefined;

  // The second probe: quoted markers, then empty cells unquoted and quoted, and with null each column empty alone.
  const unquotedEmpty = dialect.empty === 'null' ? null : '';
  const probe: (readonly ProbeCell[])[] = [markers(2, true)];
  const expected: (string | null)[][] = [markerTexts(2)];
  if (dialect.empty !== 'omit') {
    probe.push(Array.from({ length: width }, () => ({ text: '', quoted: false })));
    expected.push(Array.from({ length: width }, () => unquotedEmpty));
  }
  probe.push(Array.from({ length: width }, () => ({ text: '', quoted: true })));
  expected.push(Array.from({ length: width }, () => ''));
  if (dialect.empty === 'null') {
    for (let c = 0; c < width; c++) {
      probe.push(markers(3 + c, false).map((cell, i) => (i === c ? { text: '', quoted: false } : cell)));
      expected.push(markerTexts(3 + c).map((text, i) => (i === c ? null : text)));
    }
  }
  const second = await runProbe(run, file.name, file.size + 1, csv(probe));
  if (!second || second.lines.length !== expected.length) return undefined;
  if (!expected.every((cells, r) => second.lines[r] === render(cells))) return undefined;

  // Counters: those of both probes as the template predicts them.
  const base = first.counters;
  const counters = (rows: number, size: number): StepCounters[] =>
    base.map((c, i) =>
      i === 0 ? { ...c, bytesIn: size, recordsOut: rows } : { ...c, recordsIn: rows, recordsOut: rows },
    );
  const same = (a: readonly StepCounters[], b: readonly StepCounters[]) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(counters(2, file.size), first.counters)) return undefined;
  if (!same(counters(expected.length, file.size + 1), second.counters)) return undefined;

  const encoded = literals.map((l) => Buffer.from(l, 'utf8'));
  const offsets = new Int32Array(encoded.length + 1);
  encoded.forEach((l, i) => {
    offsets[i + 1] = (offsets[i] as number) + l.length;
  });
  const repeats = new Map<number, number>();
  for (const s of slots) repeats.set(s, (repeats.get(s) ?? 0) + 1);
  return {
    literals: new Uint8Array(Buffer.concat(encoded)),
    at: offsets,
    slots: Int32Array.from(slots),
    maxRepeat: Math.max(1, ...repeats.values()),
    width,
    counters,
  };
}

/** Cells of a header row without quotes: separators plus one. */
function splitHeader(header: Buffer, dialect: Dialect): number {
  let cells = 1;
  for (const b of header) if (b === dialect.sep) cells++;
  return cells;
}
