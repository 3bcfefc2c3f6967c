/**
 * The export kernel: staged NDJSON records through `field.rename` steps, then `field.evaluate` steps of string
 * concatenations, into `file.format.dsv` rows with fixed columns, in one pass over the chunk's bytes. The scripts
 * parse every record into objects, move fields, build a string per value and encode the row back; here each value's
 * bytes are copied from the NDJSON line to the row, quoted as the formatter quotes them.
 *
 * What the steps do with a record is not written down here: it is read from the scripts themselves. The kernel
 * collects every path any of the steps reads or writes (rename sources and targets, the fields and operands of the
 * expressions, the underscore alias jexl reads for an absent identifier, the columns) into a tree, and a record's
 * *shape* is what it holds at each node of that tree: nothing, an object, a string, a number, true, false or null.
 * For each shape met, the real scripts run once on a probe record of that shape whose strings and numbers are
 * distinct markers, and where each marker lands in the row says which input value each column copies, and which
 * text surrounds it (an expression's literals). A second probe with other markers must give the same template, or
 * the shape is declined; so is a shape for which an operand of a concatenation is anything but a string (jexl's `+`
 * would add numbers or print `null` / `undefined`), or for which a step rejects the probe.
 *
 * Compiled only for (everything else does not compile, and the chunks run through the scripts):
 * - `field.rename`, any `fields`;
 * - `field.evaluate` with `language` "jexl" and expressions that are field references (names or dotted paths),
 *   string literals, or `+` of those;
 * - `file.format.dsv` as a lane runs it: explicit `columns`, no header, no byte-order mark, no `maxFileSize`,
 *   `createEmptyFile` false; `columnSeparator` one ASCII character other than a line break; `quoteCharacter` and
 *   `escapeCharacter` ASCII; `quoteFields` true or false; any `lineEnd`; `fileName` as rendered
 *   (`dsvFormatVersion` changes nothing);
 * - paths without quotes, empty segments, segments that are digits only (jexl would index a string) or names of
 *   Object, String, Number, Boolean or Array prototypes (read through the prototype, not the record); a path the
 *   output reads as a value must not lead further (a column `profile` beside `profile.email`: its value would be
 *   the object as JSON).
 *
 * A string with escapes on the tree is decoded by JSON.parse of that value alone, which gives the text JSON.parse of
 * the whole line gives there; when that text is well-formed UTF-16, its UTF-8 bytes are what the scripts write, and
 * the formatter's tests (ASCII characters, the first and last UTF-16 unit) read the same from them.
 *
 * Declined chunks (the whole chunk runs through the scripts): invalid UTF-8; a chunk that does not end with a line
 * break, or holds no record; a line that is not exactly one JSON object (whitespace outside strings, trailing
 * text, a syntax error); at a top level key, a dot or a single quote (flat keys the paths would also match);
 * duplicate keys on the tree; an array anywhere on the tree, or an object where the tree ends; a key written with
 * escapes in an object on the tree; a number on the tree that is not an integer of at most 15 digits as
 * `String(JSON.parse(text))` prints it (no `-0`, fraction or exponent); a string with escapes whose decoded text
 * is not well-formed UTF-16; values deeper than {@link MAX_DEPTH}; more than {@link MAX_SHAPES} shapes.
 *
 * Speed (the benchmark's pipeline (a), a million accounts): about 1 µs of one core per record, where the scripts
 * took about 3.7. Records of a stream mostly share their key order, so each key is compared (four bytes at a time)
 * with the one that came next in the record before, and hashed only when it differs; strings are read four bytes at
 * a time while no byte in them needs a closer look; each shape's row is written by a function compiled for its
 * columns, plain values copied four bytes at a time.
 */
import { isUtf8 } from 'node:buffer';
import { Writable } from 'node:stream';
import { type StepCounters, zeroCounters } from '../../../core/refs.ts';
import type { AnyScriptDefinition, DataRecord, ScriptContext, StepLogger, StepOutput } from '../../../core/script.ts';
import { cachedFunction } from '../../../scripts/util/compiled.ts';
import { DsvFormatter, isBlank } from '../../../scripts/util/dsv.ts';
import { unescapeControl } from '../../../scripts/util/io.ts';
import { compileExpression, createJexl } from '../../../scripts/util/jexl.ts';
import { NO_SERVICES } from '../drivers.ts';
import type { ChunkKernel, KernelCompiler, KernelInput, KernelOutput, KernelRun } from '../kernel.ts';
import { planLanes } from '../plan.ts';

/** Shapes of records probed per lane before the kernel declines chunks with new ones. */
const MAX_SHAPES = 256;
/** Slots of the table of recently met shapes (a power of two). */
const RECENT_SHAPES = 64;
/** Nesting of skipped values followed at most; deeper ones decline the chunk. */
const MAX_DEPTH = 512;

/** What a record holds at a node of the path tree. */
enum Kind {
  Absent = 0,
  Object = 1,
  String = 2,
  Number = 3,
  True = 4,
  False = 5,
  Null = 6,
}

/** A node of the tree of paths the steps read or write. */
interface PathNode {
  readonly index: number;
  readonly key: string;
  readonly keyBytes: Buffer;
  readonly children: PathNode[];
  /** A path ends here: its value is read or written as a whole. */
  end: boolean;
}

/** Names that a record's own keys do not stand for when the scripts read them (inherited, or jexl's indexing). */
function unsafeSegment(segment: string): boolean {
  return (
    segment === '' ||
    /^[0-9]+$/.test(segment) ||
    segment.includes("'") ||
    segment in Object.prototype ||
    segment in String.prototype ||
    segment in Number.prototype ||
    segment in Boolean.prototype ||
    segment in Array.prototype
  );
}

/** The tree of paths, nodes numbered in the order they were added (the root is 0). */
class PathTree {
  readonly nodes: PathNode[] = [];
  readonly root: PathNode;

  constructor() {
    this.root = this.#node('');
  }

  #node(key: string): PathNode {
    const node: PathNode = { index: this.nodes.length, key, keyBytes: Buffer.from(key), children: [], end: false };
    this.nodes.push(node);
    return node;
  }

  /** Adds a path given as segments; false when a segment cannot be followed exactly. */
  add(segments: readonly string[]): boolean {
    if (segments.length === 0 || segments.some(unsafeSegment)) return false;
    let node = this.root;
    for (const segment of segments) {
      let child = node.children.find((c) => c.key === segment);
      if (!child) {
        child = this.#node(segment);
        node.children.push(child);
      }
      node = child;
    }
    node.end = true;
    return true;
  }
}

/** The hash of a key's bytes, for the table of a node's children (see NdjsonDsvKernel.#child). */
function hashKey(bytes: Uint8Array): number {
  let h = 0;
  for (const b of bytes) h = (Math.imul(h, 31) + b) | 0;
  return h;
}

/** An expression as the kernel reads it: the paths of its operands, in order (literals are strings). */
type Operand = { readonly literal: string } | { readonly path: readonly string[] };

/** The operands of an expression that is a concatenation of field references and string literals, or undefined. */
function concatenation(ast: unknown): Operand[] | undefined {
  const node = ast as { type?: string; operator?: string; left?: unknown; right?: unknown; value?: unknown };
  if (node.type === 'Literal') return typeof node.value === 'string' ? [{ literal: node.value }] : undefined;
  if (node.type === 'BinaryExpression') {
    if (node.operator !== '+') return undefined;
    const left = concatenation(node.left);
    const right = concatenation(node.right);
    return left && right ? [...left, ...right] : undefined;
  }
  if (node.type === 'Identifier') {
    const segments: string[] = [];
    let at: { type?: string; value?: unknown; relative?: unknown; from?: unknown } | undefined = node;
    while (at) {
      if (at.type !== 'Identifier' || at.relative || typeof at.value !== 'string') return undefined;
      segments.unshift(at.value);
      at = at.from as typeof at;
    }
    return [{ path: segments }];
  }
  return undefined;
}

/** Characters the probe's dialect uses; the probe's literals and markers never hold them. */
const PROBE_SEPARATOR = '\u0001';
const PROBE_QUOTE = '\u0002';
const PROBE_LINE_END = '\u0003';
/** Marker of a string: the node's number between two NULs. */
const STRING_MARK = '\u0000';
/** Number markers: 13 digits, the node's number at the end; the two probes use two bases. */
const NUMBER_BASES = [9_100_000_000_000, 9_200_000_000_000] as const;
const STRING_OFFSETS = [0, 100_000] as const;

/** One piece of a column's text: a literal, or the value at a node. */
type Piece = { readonly text: string } | { readonly node: number; readonly number: boolean };

const SILENT: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A step output that keeps what a step emits, rejects and writes, synchronously. */
class ProbeOutput {
  readonly emitted: DataRecord[] = [];
  rejected = 0;
  readonly files: { name: string; parts: Buffer[] }[] = [];

  get output(): StepOutput {
    return {
      emit: (r) => this.emitted.push(r),
      reject: () => {
        this.rejected++;
      },
      drop: () => {
        this.rejected++;
      },
      flush: async () => undefined,
      createFile: (name) => {
        const file = { name, parts: [] as Buffer[] };
        this.files.push(file);
        return new Writable({
          write(chunk: Buffer, _encoding, callback) {
            file.parts.push(Buffer.from(chunk));
            callback();
          },
        });
      },
      delivered: () => undefined,
      deliveredRecords: () => undefined,
      remaining: Number.POSITIVE_INFINITY,
    } as StepOutput;
  }
}

/** The steps the kernel stands for, checked and with what it needs from their params. */
interface Compiled {
  readonly tree: PathTree;
  /** Index of the formatter. */
  readonly formatter: number;
  /** The concatenations of the evaluate steps, per step and field, to check their operands in a probe. */
  readonly operands: readonly (readonly { rule: unknown; expressions: readonly string[] }[])[];
  readonly separator: number;
  readonly quote: number;
  readonly escape: number;
  readonly quoteAll: boolean;
  readonly lineEnd: Buffer;
  readonly cell: DsvFormatter;
}

/** Checks the run's steps and params; undefined when the kernel does not reproduce them. */
function compileRun(run: KernelRun): Compiled | undefined {
  const { definitions, params } = run;
  const plan = planLanes(definitions, params);
  if (typeof plan === 'string' || plan.input.kind !== 'records') return undefined;
  const formatter = definitions.findIndex((d) => d.type === 'file.format.dsv');
  if (formatter < 0) return undefined;
  const tree = new PathTree();
  const path = (p: unknown) => typeof p === 'string' && tree.add(p.split('.'));
  const jexl = createJexl();
  const operands: { rule: unknown; expressions: string[] }[][] = [];
  let evaluating = false;
  for (let i = 0; i < formatter; i++) {
    const type = definitions[i]?.type;
    const p = params[i] as Record<string, unknown>;
    operands.push([]);
    if (type === 'field.rename' && !evaluating) {
      const fields = p.fields as { sourceField?: unknown; targetField?: unknown }[] | undefined;
      if (!Array.isArray(fields)) return undefined;
      for (const f of fields) if (!path(f.sourceField) || !path(f.targetField)) return undefined;
    } else if (type === 'field.evaluate') {
      evaluating = true;
      if (p.language !== undefined && p.language !== 'jexl') return undefined;
      const fields = p.fields as { field?: unknown; expression?: unknown }[] | undefined;
      if (!Array.isArray(fields)) return undefined;
      for (const f of fields) {
        if (!path(f.field) || typeof f.expression !== 'string') return undefined;
        let ast: unknown;
        try {
          ast = jexl.compile(f.expression)._getAst();
        } catch {
          return undefined;
        }
        const parts = concatenation(ast);
        if (!parts) return undefined;
        const expressions: string[] = [];
        for (const part of parts) {
          if ('literal' in part) {
            // biome-ignore lint/suspicious/noControlCharactersInRegex: the probe's own characters.
            if (/[\u0000-\u0003]/.test(part.literal)) return undefined;
            continue;
          }
          if (!tree.add(part.path)) return undefined;
          // An absent identifier is read as the path with every `_` turned into `.` (see jexl.ts).
          const root = part.path[0] as string;
          if (root.includes('_') && !tree.add([...root.split('_'), ...part.path.slice(1)])) return undefined;
          expressions.push(part.path.join('.'));
        }
        (operands[i] as { rule: unknown; expressions: string[] }[]).push({
          rule: f,
          expressions: parts.length > 1 ? expressions : [],
        });
      }
    } else return undefined;
  }
  const f = params[formatter] as Record<string, unknown>;
  const columns = f.columns as unknown[] | undefined;
  if (!Array.isArray(columns) || columns.length === 0 || !columns.every(path)) return undefined;
  if (f.writeHeader !== false || f.writeBom !== false || f.maxFileSize !== undefined || f.createEmptyFile !== false)
    return undefined;
  if (typeof f.quoteFields !== 'boolean' || typeof f.fileName !== 'string') return undefined;
  const separator = unescapeControl(String(f.columnSeparator ?? ','));
  const quote = String(f.quoteCharacter ?? '"');
  const escapeChar = f.escapeCharacter === undefined ? quote : String(f.escapeCharacter);
  const ascii = (s: string) => s.length === 1 && s.charCodeAt(0) < 0x80;
  if (!ascii(separator) || separator === '\n' || separator === '\r' || separator === quote) return undefined;
  if (!ascii(quote) || !ascii(escapeChar)) return undefined;
  // A path read or written as a whole must not lead further: its value would be an object the kernel skipped.
  if (tree.nodes.some((n) => n.end && n.children.length > 0)) return undefined;
  return {
    tree,
    formatter,
    operands,
    separator: separator.charCodeAt(0),
    quote: quote.charCodeAt(0),
    escape: escapeChar.charCodeAt(0),
    quoteAll: f.quoteFields,
    lineEnd: Buffer.from(unescapeControl(String(f.lineEnd ?? '\n'))),
    cell: new DsvFormatter({ separator, quote, escape: escapeChar, quoteAll: f.quoteFields }),
  };
}

/** Runs the kernel's steps on probe records, as the scripts would run them on records of one shape. */
class Prober {
  readonly #run: KernelRun;
  readonly #compiled: Compiled;
  readonly #probeParams: Record<string, unknown>;
  readonly #jexl = createJexl();
  /** The output file's name, as the formatter names it. */
  fileName: string | undefined;
  /** The formatter's columns. */
  readonly columns: number;

  constructor(run: KernelRun, compiled: Compiled) {
    this.#run = run;
    this.#compiled = compiled;
    this.#probeParams = {
      ...(run.params[compiled.formatter] as Record<string, unknown>),
      columnSeparator: PROBE_SEPARATOR,
      quoteCharacter: PROBE_QUOTE,
      escapeCharacter: PROBE_QUOTE,
      quoteFields: false,
      lineEnd: PROBE_LINE_END,
    };
    this.columns = ((run.params[compiled.formatter] as { columns: unknown[] }).columns ?? []).length;
  }

  /** The probe row of a record of the shape `kinds`, with the markers of probe 0 or 1. */
  row(kinds: Uint8Array, probe: 0 | 1): string | undefined {
    return this.#row(this.#record(kinds, probe));
  }

  #context(i: number): ScriptContext {
    return {
      job: this.#run.job,
      stepId: this.#run.steps[i]?.id ?? `step-${i + 1}`,
      log: SILENT,
      services: NO_SERVICES,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
    };
  }

  /** A probe record of the shape `kinds`, its markers numbered by `probe`. */
  #record(kinds: Uint8Array, probe: 0 | 1): DataRecord {
    const build = (node: PathNode): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (const c of node.children) {
        const kind = kinds[c.index] as Kind;
        if (kind === Kind.Absent) continue;
        o[c.key] =
          kind === Kind.Object
            ? build(c)
            : kind === Kind.String
              ? `${STRING_MARK}${c.index + STRING_OFFSETS[probe]}${STRING_MARK}`
              : kind === Kind.Number
                ? NUMBER_BASES[probe] + c.index
                : kind === Kind.True
                  ? true
                  : kind === Kind.False
                    ? false
                    : null;
      }
      return o;
    };
    return build(this.#compiled.tree.root);
  }

  /** The records a record step emits for `records`, or undefined when it does not pass each on as it is given. */
  #apply(
    definition: AnyScriptDefinition,
    params: Record<string, unknown>,
    i: number,
    records: DataRecord[],
  ): DataRecord[] | undefined {
    const out = new ProbeOutput();
    const instance = definition.create(params as never, this.#context(i));
    if (instance instanceof Promise) return undefined;
    const done = instance.records?.(records, out.output);
    if (done && typeof done.catch === 'function') done.catch(() => undefined);
    return out.rejected > 0 || out.emitted.length !== records.length ? undefined : out.emitted;
  }

  /** The probe row the steps make of a record, or undefined when a step does not pass it on as one record. */
  #row(record: DataRecord): string | undefined {
    const { definitions, params } = this.#run;
    const { formatter, operands } = this.#compiled;
    let records = [record];
    for (let i = 0; i < formatter; i++) {
      const definition = definitions[i] as AnyScriptDefinition;
      // Each concatenation must see its operands as strings: checked rule by rule on a copy of the record, each
      // rule applied by the script on its own, as the step applies them in order.
      if ((operands[i] ?? []).some((rule) => rule.expressions.length > 0)) {
        let copy = structuredClone(records[0] as DataRecord);
        for (const rule of operands[i] ?? []) {
          for (const text of rule.expressions) {
            if (typeof compileExpression(this.#jexl, text).evaluate(copy) !== 'string') return undefined;
          }
          const applied = this.#apply(
            definition,
            { ...(params[i] as Record<string, unknown>), fields: [rule.rule] },
            i,
            [copy],
          );
          if (!applied) return undefined;
          copy = applied[0] as DataRecord;
        }
      }
      const next = this.#apply(definition, params[i] as Record<string, unknown>, i, records);
      if (!next) return undefined;
      records = next;
    }
    const out = new ProbeOutput();
    const definition = this.#run.definitions[formatter] as AnyScriptDefinition;
    const instance = definition.create(this.#probeParams as never, this.#context(formatter));
    if (instance instanceof Promise) return undefined;
    // The formatter's row reaches the file before its first wait: both calls are through with it when they return.
    const written = instance.records?.(records, out.output);
    const ended = instance.end?.(out.output, { final: true });
    for (const p of [written, ended]) if (p instanceof Promise) p.catch(() => undefined);
    const file = out.files.length === 1 ? out.files[0] : undefined;
    if (!file) return undefined;
    this.fileName ??= file.name;
    if (file.name !== this.fileName) return undefined;
    return Buffer.concat(file.parts).toString();
  }
}

/** A probe's text for each column: its pieces, or null when the column is left empty (missing or null). */
function templateOf(cell: string, probe: 0 | 1, kinds: Uint8Array): Piece[] | null | undefined {
  if (cell === '') return null;
  let text = cell;
  if (cell.startsWith(PROBE_QUOTE)) {
    if (cell.length < 2 || !cell.endsWith(PROBE_QUOTE)) return undefined;
    text = cell.slice(1, -1);
    if (text.includes(PROBE_QUOTE)) return undefined;
  }
  const pieces: Piece[] = [];
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the markers are NUL-delimited on purpose.
  const markers = /\u0000([0-9]+)\u0000|9[12][0-9]{11}/g;
  let from = 0;
  for (let m = markers.exec(text); m; m = markers.exec(text)) {
    if (m.index > from) pieces.push({ text: text.slice(from, m.index) });
    from = m.index + m[0].length;
    if (m[1] !== undefined) {
      const node = Number(m[1]) - STRING_OFFSETS[probe];
      if (kinds[node] !== Kind.String) return undefined;
      pieces.push({ node, number: false });
    } else {
      // A number is copied only as a whole value: within a text, jexl's `+` would have printed or added it.
      const node = Number(m[0]) - NUMBER_BASES[probe];
      if (kinds[node] !== Kind.Number || m[0] !== text) return undefined;
      pieces.push({ node, number: true });
    }
  }
  if (from < text.length) pieces.push({ text: text.slice(from) });
  return pieces;
}

/** Bytes `x` with its top bit clear: ASCII. */
const ASCII_LIMIT = 0x80;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const NL = 0x0a;

/** True for the bytes of `literal` at `i`. */
function at(b: Uint8Array, i: number, literal: readonly number[]): boolean {
  for (let k = 0; k < literal.length; k++) if (b[i + k] !== literal[k]) return false;
  return true;
}
const TRUE = [...Buffer.from('true')];
const FALSE = [...Buffer.from('false')];
const NULL = [...Buffer.from('null')];

/** True for a byte that may follow `\` in a JSON string. */
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPES[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** Bytes that end the scan of a string: a quote, a backslash, a control character. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;
/** What the scan of a string finds in #scan: a stop, or a character that forces quotes in a cell. */
const SCAN_STOP = 1;
const SCAN_SPECIAL = 2;
/** And of a key: those, and the dot and single quote of a flat key. */
const KEY_STOP = new Uint8Array(STRING_STOP);
KEY_STOP[0x2e] = 1;
KEY_STOP[0x27] = 1;

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/**
 * The position after the JSON string opening at `i` (which holds a quote), or -1 when it is not valid JSON. Raw
 * control characters decline it; in a chunk that ends with a line break, that break stops every scan.
 */
function skipString(b: Uint8Array, i: number): number {
  i++;
  for (;;) {
    const c = b[i] as number;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[i + 1] as number;
      if (!ESCAPES[e]) return -1;
      if (e === 0x75) {
        if (
          !HEX[b[i + 2] as number] ||
          !HEX[b[i + 3] as number] ||
          !HEX[b[i + 4] as number] ||
          !HEX[b[i + 5] as number]
        )
          return -1;
        i += 6;
      } else i += 2;
      continue;
    }
    if (!(c >= 0x20)) return -1;
    i++;
  }
}

/** The position after the JSON number at `i`, or -1. */
function skipNumber(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** The first character of the UTF-8 text at `j`, as its first UTF-16 unit (an astral one is never blank). */
function unitAt(b: Uint8Array, j: number): number {
  const b0 = b[j] as number;
  if (b0 < ASCII_LIMIT) return b0;
  if (b0 < 0xe0) return ((b0 & 0x1f) << 6) | ((b[j + 1] as number) & 0x3f);
  if (b0 < 0xf0) return ((b0 & 0x0f) << 12) | (((b[j + 1] as number) & 0x3f) << 6) | ((b[j + 2] as number) & 0x3f);
  return 0x10000;
}

/** ASCII characters isBlank holds blank. */
const ASCII_BLANK = new Uint8Array(ASCII_LIMIT);
for (let c = 0; c < ASCII_LIMIT; c++) ASCII_BLANK[c] = isBlank(c) ? 1 : 0;

/**
 * Writes the UTF-8 text `src[s, e)` at `out[o]` as the formatter's cell of that text (DsvFormatter.cell): as it is,
 * unless the dialect quotes every value, or the text is empty, holds a character that forces quotes (`special`),
 * or has a blank (isBlank, over the first and last UTF-16 unit) at either end. Returns where the cell ends.
 */
function writeCell(
  out: Buffer,
  o: number,
  src: Buffer,
  s: number,
  e: number,
  special: Uint8Array,
  quote: number,
  escapeByte: number,
  quoteAll: boolean,
): number {
  const start = o;
  if (!quoteAll && s < e) {
    // Copied as it is while nothing forces quotes; written again quoted otherwise.
    let j = s;
    for (; j < e; j++) {
      const x = src[j] as number;
      if (special[x]) break;
      out[o++] = x;
    }
    if (j === e) {
      const first = src[s] as number;
      let blank = first < ASCII_LIMIT ? ASCII_BLANK[first] === 1 : isBlank(unitAt(src, s));
      if (!blank) {
        let last = e - 1;
        const end = src[last] as number;
        if (end < ASCII_LIMIT) blank = ASCII_BLANK[end] === 1;
        else {
          while (last > s && ((src[last] as number) & 0xc0) === 0x80) last--;
          blank = isBlank(unitAt(src, last));
        }
      }
      if (!blank) return o;
    }
  }
  o = start;
  out[o++] = quote;
  if (quote === escapeByte) {
    for (let j = s; j < e; j++) {
      const x = src[j] as number;
      if (x === quote) out[o++] = quote;
      out[o++] = x;
    }
  } else {
    for (let j = s; j < e; j++) {
      const x = src[j] as number;
      if (x === quote || x === escapeByte) out[o++] = escapeByte;
      out[o++] = x;
    }
  }
  out[o++] = quote;
  return o;
}

/** How a column of a shape's row is made. */
enum Make {
  Const = 0,
  Value = 1,
  Concat = 2,
}

/** A shape's columns, as the row writer reads them. */
interface RowPlan {
  readonly make: Uint8Array;
  readonly node: Int32Array;
  readonly bytes: readonly Buffer[];
  readonly pieces: readonly (readonly (Buffer | number)[])[];
  readonly fixedBytes: number;
  readonly copies: number;
  /** Writes the row at `out[o]` (see {@link rowWriter}); returns where it ends. */
  readonly write: RowWriter;
}

/** A shape's row writer: the row of the record just read, from its line `b` (and `decoded`) at `out[o]`. */
type RowWriter = (
  out: Buffer,
  o: number,
  b: Buffer,
  decoded: Buffer,
  outView: DataView<ArrayBufferLike>,
  view: DataView<ArrayBufferLike>,
) => number;

/** The kernel of a compiled run. */
class NdjsonDsvKernel implements ChunkKernel {
  readonly steps: number;
  readonly #compiled: Compiled;
  readonly #prober: Prober;
  /** Every node's key, one after the other, and where each starts and how long it is. */
  readonly #keys: Buffer;
  readonly #keyAt: Int32Array;
  readonly #keyLength: Int32Array;
  /** Each node's key followed by its closing quote as little-endian 32-bit words, the last one masked. */
  readonly #keyWords: Int32Array;
  readonly #keyWordAt: Int32Array;
  readonly #keyWordCount: Int32Array;
  readonly #lastMask: Int32Array;
  /** The chunk being read, for reading four bytes at a time. */
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** Each node's children by key hash: open addressing, `#mask[node] + 1` slots from `#base[node]`. */
  readonly #base: Int32Array;
  readonly #mask: Int32Array;
  readonly #slotHash: Int32Array;
  readonly #slotNode: Int32Array;
  /**
   * The child expected first in a node's object, and the one expected after each child: records of one stream
   * mostly list their keys in one order, so a key is mostly compared with one candidate and not hashed.
   */
  readonly #first: Int32Array;
  readonly #next: Int32Array;
  readonly #leaf: Uint8Array;
  /** Per record: what each node holds (four to a word, for comparing shapes), and where its value's bytes are. */
  readonly #kinds: Uint8Array;
  readonly #words: Uint32Array;
  /** Recently met shapes: their kinds' words, `#words.length` per slot, and their plans. */
  readonly #recentWords: Uint32Array;
  readonly #recentPlans: (RowPlan | undefined)[] = new Array(RECENT_SHAPES).fill(undefined);
  readonly #starts: Int32Array;
  readonly #ends: Int32Array;
  /** The node's string had escapes: its decoded bytes are in `#decoded`. */
  readonly #escaped: Uint8Array;
  /** The node's value holds none of the characters that force quotes (it may still be quoted for blanks). */
  readonly #plain: Uint8Array;
  /** Per byte of a string being read: 0 to go on, SCAN_SPECIAL for a character that forces quotes, else a stop. */
  readonly #scan = new Uint8Array(256);
  /** 1 when no character of a number's text forces quotes. */
  readonly #plainNumbers: number;
  /** The characters that force quotes and may stand in a string as they are, each repeated over a word (3 words). */
  readonly #specialWords: Int32Array;
  #decoded = Buffer.allocUnsafeSlow(4096);
  #decodedAt = 0;
  readonly #shapes = new Map<string, RowPlan | null>();
  #out = Buffer.allocUnsafeSlow(1 << 20);
  /** The output, for writing four bytes at a time (a value may be copied a word at a time past its end). */
  #outView: DataView<ArrayBufferLike> = new DataView(this.#out.buffer, this.#out.byteOffset, this.#out.byteLength);
  #o = 0;
  #joined = Buffer.allocUnsafeSlow(4096);
  readonly #special = new Uint8Array(256);
  readonly #stack = new Uint8Array(MAX_DEPTH);
  readonly #separator: number;
  readonly #quote: number;
  readonly #escape: number;
  readonly #quoteAll: boolean;
  readonly #lineEnd: Buffer;

  constructor(run: KernelRun, compiled: Compiled) {
    this.#compiled = compiled;
    this.#prober = new Prober(run, compiled);
    this.steps = compiled.formatter + 1;
    this.#separator = compiled.separator;
    this.#quote = compiled.quote;
    this.#escape = compiled.escape;
    this.#quoteAll = compiled.quoteAll;
    this.#lineEnd = compiled.lineEnd;
    const nodes = compiled.tree.nodes;
    const count = nodes.length;
    this.#keys = Buffer.concat(nodes.map((n) => n.keyBytes));
    this.#keyAt = new Int32Array(count);
    this.#keyLength = new Int32Array(count);
    let at = 0;
    for (const n of nodes) {
      this.#keyAt[n.index] = at;
      this.#keyLength[n.index] = n.keyBytes.length;
      at += n.keyBytes.length;
    }
    this.#keyWordAt = new Int32Array(count);
    this.#keyWordCount = new Int32Array(count);
    this.#lastMask = new Int32Array(count);
    const keyWords: number[] = [];
    for (const n of nodes) {
      const quoted = Buffer.concat([n.keyBytes, Buffer.from('"')]);
      const padded = Buffer.alloc(Math.ceil(quoted.length / 4) * 4);
      quoted.copy(padded);
      this.#keyWordAt[n.index] = keyWords.length;
      this.#keyWordCount[n.index] = padded.length / 4;
      const tail = quoted.length % 4;
      this.#lastMask[n.index] = tail === 0 ? -1 : (1 << (8 * tail)) - 1;
      for (let w = 0; w < padded.length; w += 4) keyWords.push(padded.readInt32LE(w));
    }
    this.#keyWords = Int32Array.from(keyWords);
    this.#base = new Int32Array(count);
    this.#mask = new Int32Array(count);
    let total = 0;
    for (const n of nodes) {
      let size = 4;
      while (size < n.children.length * 4) size *= 2;
      this.#base[n.index] = total;
      this.#mask[n.index] = size - 1;
      total += size;
    }
    this.#slotHash = new Int32Array(total);
    this.#slotNode = new Int32Array(total).fill(-1);
    for (const n of nodes) {
      const base = this.#base[n.index] as number;
      const mask = this.#mask[n.index] as number;
      for (const c of n.children) {
        const h = hashKey(c.keyBytes);
        let slot = h & mask;
        while ((this.#slotNode[base + slot] as number) >= 0) slot = (slot + 1) & mask;
        this.#slotHash[base + slot] = h;
        this.#slotNode[base + slot] = c.index;
      }
    }
    this.#first = new Int32Array(count).fill(-1);
    this.#next = new Int32Array(count).fill(-1);
    this.#leaf = new Uint8Array(nodes.map((n) => (n.children.length === 0 ? 1 : 0)));
    const words = Math.ceil(count / 4);
    this.#words = new Uint32Array(words);
    this.#kinds = new Uint8Array(this.#words.buffer);
    this.#recentWords = new Uint32Array(words * RECENT_SHAPES);
    this.#starts = new Int32Array(count);
    this.#ends = new Int32Array(count);
    this.#escaped = new Uint8Array(count);
    for (const c of [compiled.quote, compiled.escape, 0x0d, 0x0a, compiled.separator]) this.#special[c] = 1;
    this.#plain = new Uint8Array(count);
    for (let c = 0; c < 256; c++) this.#scan[c] = STRING_STOP[c] ? SCAN_STOP : this.#special[c] ? SCAN_SPECIAL : 0;
    this.#plainNumbers = [...'-0123456789'].some((c) => this.#special[c.charCodeAt(0)]) ? 0 : 1;
    const inStrings = [compiled.quote, compiled.escape, compiled.separator].filter((c) => !STRING_STOP[c]);
    // Three words whatever their number: a character repeated is tested twice, which changes nothing.
    const three = [0, 1, 2].map((k) => inStrings[k] ?? inStrings[0]);
    this.#specialWords = Int32Array.from(three.map((c) => (c === undefined ? 0x22222222 : Math.imul(c, 0x01010101))));
  }

  run(input: KernelInput): KernelOutput | undefined {
    const bytes = input.bytes;
    const n = bytes.length;
    if (n === 0 || bytes[n - 1] !== NL || !isUtf8(bytes)) return undefined;
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const kinds = this.#kinds;
    const words = this.#words;
    this.#o = 0;
    let records = 0;
    let s = 0;
    while (s < n) {
      if (b[s] === NL) {
        s++;
        continue;
      }
      for (let w = 0; w < words.length; w++) words[w] = 0;
      kinds[0] = Kind.Object;
      this.#decodedAt = 0;
      if (b[s] !== LBRACE) return undefined;
      const end = this.#object(b, s, 0, true);
      // The object is the whole line: a line break right after it (the chunk ends with one).
      if (end < 0 || b[end] !== NL) return undefined;
      const plan = this.#plan();
      if (!plan) return undefined;
      this.#row(b, plan, end - s);
      records++;
      s = end + 1;
    }
    const name = this.#prober.fileName;
    if (records === 0 || name === undefined) return undefined;
    // The chunk's own memory (not zeroed first: every byte is copied over), handed on while the next chunk is read.
    const data = Buffer.allocUnsafeSlow(this.#o);
    this.#out.copy(data, 0, 0, this.#o);
    const counters: StepCounters[] = [];
    for (let i = 0; i < this.steps; i++) counters.push({ ...zeroCounters(), recordsIn: records, recordsOut: records });
    return { file: { name, data }, counters };
  }

  /**
   * The plan of the record's shape; undefined when declined. Records of a stream alternate between a few shapes
   * (a field that is true in one record and false in the next is two shapes), so the shapes met are found again
   * through a small table indexed by a hash of the record's kinds, without building their key.
   */
  #plan(): RowPlan | undefined {
    const words = this.#words;
    const count = words.length;
    let h = 0;
    for (let i = 0; i < count; i++) h = (Math.imul(h, 0x9e3779b1) + (words[i] as number)) | 0;
    // Mixed, so that a difference in the last word reaches the top bits the slot is taken from.
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    const slot = (h ^ (h >>> 16)) & (RECENT_SHAPES - 1);
    const recent = this.#recentWords;
    const at = slot * count;
    const cached = this.#recentPlans[slot];
    if (cached) {
      let same = true;
      for (let i = 0; i < count; i++) {
        if (words[i] !== recent[at + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    const kinds = this.#kinds.subarray(0, this.#compiled.tree.nodes.length);
    const key = kinds.join('');
    let plan = this.#shapes.get(key);
    if (plan === undefined) {
      if (this.#shapes.size >= MAX_SHAPES) return undefined;
      plan = this.#probe(kinds) ?? null;
      this.#shapes.set(key, plan);
    }
    if (!plan) return undefined;
    recent.set(words, at);
    this.#recentPlans[slot] = plan;
    return plan;
  }

  /** Derives the plan of a shape from two probes through the scripts. */
  #probe(kinds: Uint8Array): RowPlan | undefined {
    const columns = this.#prober.columns;
    const templates: (Piece[] | null)[][] = [];
    for (const probe of [0, 1] as const) {
      let row: string | undefined;
      try {
        row = this.#prober.row(kinds, probe);
      } catch {
        return undefined;
      }
      if (row === undefined || !row.endsWith(PROBE_LINE_END)) return undefined;
      const cells = row.slice(0, -PROBE_LINE_END.length).split(PROBE_SEPARATOR);
      if (cells.length !== columns) return undefined;
      const template: (Piece[] | null)[] = [];
      for (const cell of cells) {
        const t = templateOf(cell, probe, kinds);
        if (t === undefined) return undefined;
        template.push(t);
      }
      templates.push(template);
    }
    if (JSON.stringify(templates[0]) !== JSON.stringify(templates[1])) return undefined;
    const formatter = this.#compiled.cell;
    const make = new Uint8Array(columns);
    const node = new Int32Array(columns);
    const bytes: Buffer[] = [];
    const pieces: (Buffer | number)[][] = [];
    let fixedBytes = this.#lineEnd.length;
    let copies = 0;
    (templates[0] as (Piece[] | null)[]).forEach((t, k) => {
      fixedBytes += 3;
      bytes.push(Buffer.alloc(0));
      pieces.push([]);
      if (t === null) return;
      if (t.every((p) => 'text' in p)) {
        const cell = Buffer.from(formatter.cell(t.map((p) => (p as { text: string }).text).join('')));
        fixedBytes += cell.length;
        bytes[k] = cell;
        return;
      }
      const parts = t.map((p) => ('text' in p ? Buffer.from(p.text) : p.node));
      for (const p of parts) {
        if (typeof p === 'number') copies++;
        else fixedBytes += 2 * p.length;
      }
      if (parts.length === 1) {
        make[k] = Make.Value;
        node[k] = parts[0] as number;
      } else {
        make[k] = Make.Concat;
        pieces[k] = parts;
      }
    });
    return { make, node, bytes, pieces, fixedBytes, copies, write: this.#rowWriter(make, node, bytes, pieces) };
  }

  /** The child of `node` whose key is `b[ks, ke)`, or -1. */
  #child(b: Buffer, ks: number, ke: number, node: number): number {
    let h = 0;
    for (let j = ks; j < ke; j++) h = (Math.imul(h, 31) + (b[j] as number)) | 0;
    const base = this.#base[node] as number;
    const mask = this.#mask[node] as number;
    let slot = h & mask;
    for (;;) {
      const found = this.#slotNode[base + slot] as number;
      if (found < 0) return -1;
      if (this.#slotHash[base + slot] === h && this.#keyIs(b, ks, ke, found)) return found;
      slot = (slot + 1) & mask;
    }
  }

  /** True when `b[ks, ke)` is the key of `node`. */
  #keyIs(b: Buffer, ks: number, ke: number, node: number): boolean {
    const length = this.#keyLength[node] as number;
    if (length !== ke - ks) return false;
    const keys = this.#keys;
    const at = this.#keyAt[node] as number;
    for (let k = 0; k < length; k++) if (keys[at + k] !== b[ks + k]) return false;
    return true;
  }

  /**
   * Reads the object at `i` (an opening brace) whose node is `node`; returns the position after it, or -1 when the
   * kernel does not take it.
   */
  #object(b: Buffer, i: number, node: number, top: boolean): number {
    i++;
    if (b[i] === RBRACE) return i + 1;
    const kinds = this.#kinds;
    const next = this.#next;
    let expected = this.#first[node] as number;
    let previous = -1;
    const scan = this.#scan;
    const [special0, special1, special2] = this.#specialWords as unknown as [number, number, number];
    const escaped = this.#escaped;
    const keys = this.#keys;
    const view = this.#view;
    const end = view.byteLength;
    const words = this.#keyWords;
    const keyWordAt = this.#keyWordAt;
    const keyWordCount = this.#keyWordCount;
    const lastMask = this.#lastMask;
    const keyAt = this.#keyAt;
    const keyLength = this.#keyLength;
    for (;;) {
      if (b[i] !== QUOTE) return -1;
      i++;
      const ks = i;
      let child = -1;
      // The key expected here, compared first: its bytes hold no quote, backslash, control character or dot, so
      // equal bytes followed by a quote are the whole key.
      if (expected >= 0) {
        // Four bytes at a time: the key and its closing quote as little-endian words, the last one masked.
        const at = keyWordAt[expected] as number;
        const count = keyWordCount[expected] as number;
        if (i + 4 * count <= end) {
          let k = 0;
          while (k < count - 1 && view.getInt32(i + 4 * k, true) === words[at + k]) k++;
          if (k === count - 1 && (view.getInt32(i + 4 * k, true) & (lastMask[expected] as number)) === words[at + k]) {
            child = expected;
            i += keyLength[expected] as number;
          }
        } else {
          const start = keyAt[expected] as number;
          const length = keyLength[expected] as number;
          let k = 0;
          while (k < length && keys[start + k] === b[i + k]) k++;
          if (k === length && b[i + k] === QUOTE) {
            child = expected;
            i += k;
          }
        }
      }
      let flat = false;
      if (child < 0) {
        for (;;) {
          const c = b[i] as number;
          if (!KEY_STOP[c]) {
            i++;
            continue;
          }
          if (c === QUOTE) break;
          // Escaped keys are not compared; control characters (the line break among them) end the scan.
          if (c === BACKSLASH || c < 0x20) return -1;
          flat = true;
          i++;
        }
        child = this.#child(b, ks, i, node);
      }
      i++;
      if (b[i] !== COLON) return -1;
      i++;
      if (child >= 0) {
        if (kinds[child] !== Kind.Absent) return -1;
        // The order of the keys is learnt for the next record.
        if (previous < 0) this.#first[node] = child;
        else next[previous] = child;
        previous = child;
        expected = next[child] as number;
        if (b[i] === QUOTE) {
          // A string without escapes, the most common value, read here; anything else in #value.
          const start = i + 1;
          let j = start;
          let plain = 1;
          // Four bytes at a time while none of them ends the string (a quote, a backslash, a control character),
          // noting one that forces quotes in a cell: exact tests for a byte of a given value, or below 0x20, in a
          // word (the bit tricks of "Bit Twiddling Hacks", haszero and hasless); the rest byte by byte.
          while (j + 4 <= end) {
            const x = view.getInt32(j, true);
            const q = x ^ 0x22222222;
            const e = x ^ 0x5c5c5c5c;
            if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((e - 0x01010101) & ~e)) & 0x80808080) break;
            const s0 = x ^ special0;
            const s1 = x ^ special1;
            const s2 = x ^ special2;
            if ((((s0 - 0x01010101) & ~s0) | ((s1 - 0x01010101) & ~s1) | ((s2 - 0x01010101) & ~s2)) & 0x80808080)
              plain = 0;
            j += 4;
          }
          for (;;) {
            const t = scan[b[j] as number];
            if (t === 0) j++;
            else if (t === SCAN_SPECIAL) {
              plain = 0;
              j++;
            } else break;
          }
          if (b[j] === QUOTE) {
            kinds[child] = Kind.String;
            escaped[child] = 0;
            this.#plain[child] = plain;
            this.#starts[child] = start;
            this.#ends[child] = j;
            i = j + 1;
          } else i = this.#value(b, i, child);
        } else i = this.#value(b, i, child);
      } else {
        // A top-level key with a dot or a quote would be matched as a flat key by the scripts' paths.
        if (top && flat) return -1;
        i = this.#skip(b, i);
      }
      if (i < 0) return -1;
      const c = b[i];
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === RBRACE) return i + 1;
      return -1;
    }
  }

  /** Reads the value at `i` of node `node`; the position after it, or -1. */
  #value(b: Buffer, i: number, node: number): number {
    const kinds = this.#kinds;
    const c = b[i] as number;
    if (c === QUOTE) {
      const s = i + 1;
      let j = s;
      let escaped = false;
      let plain = 1;
      const scan = this.#scan;
      for (;;) {
        const x = b[j] as number;
        const t = scan[x];
        if (t === 0) {
          j++;
          continue;
        }
        if (t === SCAN_SPECIAL) {
          plain = 0;
          j++;
          continue;
        }
        if (x === QUOTE) break;
        // An escape is checked by skipString below; a control character (the line break among them) ends the scan.
        if (x !== BACKSLASH || !((b[j + 1] as number) >= 0x20)) return -1;
        escaped = true;
        j += 2;
      }
      kinds[node] = Kind.String;
      if (!escaped) {
        this.#escaped[node] = 0;
        this.#plain[node] = plain;
        this.#starts[node] = s;
        this.#ends[node] = j;
        return j + 1;
      }
      const end = skipString(b, i);
      if (end < 0) return -1;
      return this.#decode(b, i, end, node);
    }
    if (c === LBRACE) {
      if (this.#leaf[node]) return -1;
      kinds[node] = Kind.Object;
      return this.#object(b, i, node, false);
    }
    if (c === 0x74) {
      kinds[node] = Kind.True;
      return at(b, i, TRUE) ? i + 4 : -1;
    }
    if (c === 0x66) {
      kinds[node] = Kind.False;
      return at(b, i, FALSE) ? i + 5 : -1;
    }
    if (c === 0x6e) {
      kinds[node] = Kind.Null;
      return at(b, i, NULL) ? i + 4 : -1;
    }
    // A number is taken as its text when that is what String(JSON.parse(text)) prints: an integer of at most 15
    // digits, exact in a double; not -0.
    let j = i;
    if (c === MINUS) j++;
    const d = j;
    if (b[j] === 0x30) {
      if (j !== i) return -1;
      j++;
    } else if (isDigit(b[j])) {
      while (isDigit(b[j])) j++;
      if (j - d > 15) return -1;
    } else return -1;
    const after = b[j] as number;
    if (after === 0x2e || after === 0x65 || after === 0x45 || isDigit(after)) return -1;
    kinds[node] = Kind.Number;
    this.#escaped[node] = 0;
    this.#plain[node] = this.#plainNumbers;
    this.#starts[node] = i;
    this.#ends[node] = j;
    return j;
  }

  /** Decodes a string with escapes through JSON.parse into `#decoded`; declined when not well-formed. */
  #decode(b: Buffer, from: number, end: number, node: number): number {
    const value = JSON.parse(b.toString('utf8', from, end)) as string;
    if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) return -1;
    const most = value.length * 3;
    if (this.#decodedAt + most > this.#decoded.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#decoded.length, this.#decodedAt + most));
      this.#decoded.copy(grown, 0, 0, this.#decodedAt);
      this.#decoded = grown;
    }
    const start = this.#decodedAt;
    this.#decodedAt += this.#decoded.write(value, start);
    this.#escaped[node] = 1;
    this.#plain[node] = 0;
    this.#starts[node] = start;
    this.#ends[node] = this.#decodedAt;
    return end;
  }

  /** Skips (and checks) any JSON value at `i`; the position after it, or -1. */
  #skip(b: Buffer, i: number): number {
    const stack = this.#stack;
    let depth = 0;
    for (;;) {
      const c = b[i] as number;
      if (c === QUOTE) i = skipString(b, i);
      else if (c === LBRACE || c === LBRACKET) {
        const close = c === LBRACE ? RBRACE : RBRACKET;
        i++;
        if (b[i] === close) i++;
        else {
          if (depth >= MAX_DEPTH) return -1;
          stack[depth++] = c;
          if (c === LBRACE) {
            if (b[i] !== QUOTE) return -1;
            i = skipString(b, i);
            if (i < 0 || b[i] !== COLON) return -1;
            i++;
          }
          continue;
        }
      } else if (c === 0x74) i = at(b, i, TRUE) ? i + 4 : -1;
      else if (c === 0x66) i = at(b, i, FALSE) ? i + 5 : -1;
      else if (c === 0x6e) i = at(b, i, NULL) ? i + 4 : -1;
      else i = skipNumber(b, i);
      if (i < 0) return -1;
      // After a value: the next one in its container, or the container's end.
      for (;;) {
        if (depth === 0) return i;
        const top = stack[depth - 1];
        const x = b[i];
        if (x === COMMA) {
          i++;
          if (top === LBRACE) {
            if (b[i] !== QUOTE) return -1;
            i = skipString(b, i);
            if (i < 0 || b[i] !== COLON) return -1;
            i++;
          }
          break;
        }
        if (x === (top === LBRACE ? RBRACE : RBRACKET)) {
          i++;
          depth--;
          continue;
        }
        return -1;
      }
    }
  }

  /** Makes room for `bytes` more bytes of output. */
  #room(bytes: number): void {
    if (this.#o + bytes <= this.#out.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#out.length, this.#o + bytes));
    this.#out.copy(grown, 0, 0, this.#o);
    this.#out = grown;
    this.#outView = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  /** Writes the row of the record just read. */
  #row(b: Buffer, plan: RowPlan, lineBytes: number): void {
    this.#room(plan.copies * 2 * lineBytes + plan.fixedBytes);
    this.#o = plan.write(this.#out, this.#o, b, this.#decoded, this.#outView, this.#view);
  }

  /**
   * Compiles the row writer of a shape: one function with the shape's columns written in (node numbers and
   * bytes, nothing from the dataflow's text), so a row costs no dispatch per column. A value without characters
   * that force quotes (`#plain`) and without blanks at its ends is copied as it is, four bytes at a time where the
   * chunk goes on for three bytes past it (the up to three bytes written past its end are within the row's room and
   * written over by what follows); any other goes through writeCell, a concatenation through #concat.
   */
  #rowWriter(
    make: Uint8Array,
    nodes: Int32Array,
    bytes: readonly Buffer[],
    pieces: readonly (readonly (Buffer | number)[])[],
  ): RowWriter {
    const lines: string[] = ['let s = 0, e = 0;'];
    const put = (data: Uint8Array) => {
      for (const x of data) lines.push(`out[o++] = ${x};`);
    };
    for (let k = 0; k < make.length; k++) {
      if (k > 0) lines.push(`out[o++] = ${this.#separator};`);
      const n = nodes[k] as number;
      if (make[k] === Make.Value) {
        lines.push(`s = starts[${n}]; e = ends[${n}];`);
        const cell = `o = cell(out, o, escaped[${n}] === 1 ? decoded : b, s, e);`;
        if (this.#quoteAll) lines.push(cell);
        else
          lines.push(
            `if (plain[${n}] === 1 && s < e && b[s] < ${ASCII_LIMIT} && b[e - 1] < ${ASCII_LIMIT} && blank[b[s]] === 0 && blank[b[e - 1]] === 0) { if (e + 3 <= n) { let j = s; for (; j < e; j += 4, o += 4) outView.setInt32(o, view.getInt32(j, true), true); o -= j - e; } else for (let j = s; j < e; j++) out[o++] = b[j]; }`,
            `else ${cell}`,
          );
      } else if (make[k] === Make.Concat) lines.push(`o = concat(out, o, b, ${k});`);
      else put(bytes[k] as Buffer);
    }
    put(this.#lineEnd);
    lines.push('return o;');
    const factory = cachedFunction<(...deps: unknown[]) => RowWriter>(
      ['starts', 'ends', 'plain', 'escaped', 'blank', 'cell', 'concat'],
      `return function row(out, o, b, decoded, outView, view) {\nconst n = b.length;\n${lines.join('\n')}\n};`,
    );
    const { quote, escape: escapeByte, quoteAll } = this.#compiled;
    const special = this.#special;
    return factory(
      this.#starts,
      this.#ends,
      this.#plain,
      this.#escaped,
      ASCII_BLANK,
      (out: Buffer, o: number, src: Buffer, s: number, e: number) =>
        writeCell(out, o, src, s, e, special, quote, escapeByte, quoteAll),
      (out: Buffer, o: number, b: Buffer, k: number) => this.#concat(out, o, b, pieces[k] as (Buffer | number)[]),
    );
  }

  /**
   * Writes the cell of a concatenation of `pieces` (literal bytes, or the values of nodes): copied straight to the
   * output, and written again through writeCell when a piece holds a character that forces quotes or the text is
   * empty or blank at an end.
   */
  #concat(out: Buffer, o: number, b: Buffer, pieces: readonly (Buffer | number)[]): number {
    const escaped = this.#escaped;
    const plainValues = this.#plain;
    const special = this.#special;
    const starts = this.#starts;
    const ends = this.#ends;
    const start = o;
    let plain = !this.#quoteAll;
    for (const p of pieces) {
      if (typeof p === 'number') {
        const src = escaped[p] ? this.#decoded : b;
        const to = ends[p] as number;
        if (plainValues[p] !== 1) plain = false;
        for (let x = starts[p] as number; x < to; x++) out[o++] = src[x] as number;
      } else {
        for (let x = 0; x < p.length; x++) {
          const c = p[x] as number;
          if (special[c]) plain = false;
          out[o++] = c;
        }
      }
    }
    if (plain && o > start) {
      const first = out[start] as number;
      const last = out[o - 1] as number;
      if (first < ASCII_LIMIT && last < ASCII_LIMIT && !ASCII_BLANK[first] && !ASCII_BLANK[last]) return o;
    }
    const length = o - start;
    if (this.#joined.length < length) this.#joined = Buffer.allocUnsafeSlow(2 * length);
    out.copy(this.#joined, 0, start, o);
    const { quote, escape: escapeByte, quoteAll } = this.#compiled;
    return writeCell(out, start, this.#joined, 0, length, special, quote, escapeByte, quoteAll);
  }
}

/** Compiles the export kernel for a run it reproduces (see the header). */
export const ndjsonDsvKernel: KernelCompiler = (run) => {
  const compiled = compileRun(run);
  return compiled ? new NdjsonDsvKernel(run, compiled) : undefined;
};
