import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { StepCounters } from '../../../lib/core/refs.ts';
import type { AnyScriptDefinition, JobContext } from '../../../lib/core/script.ts';
import type { ScriptDriver } from '../../../lib/engine/drive.ts';
import { createRun } from '../../../lib/engine/lanes/drivers.ts';
import { compileKernel, type KernelInput, type KernelRun } from '../../../lib/engine/lanes/kernel.ts';
import { compileDsvNdjson, type DsvNdjsonKernel } from '../../../lib/engine/lanes/kernels/dsv-ndjson.ts';
import { MemoryRecords } from '../../../lib/engine/lanes/output-memory.ts';
import type { LaneStep } from '../../../lib/engine/lanes/plan.ts';
import { resolveParams } from '../../../lib/engine/resolve.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { testJob } from '../../../lib/testing/harness.ts';
import { seededRandom } from '../../support/random.ts';

const registry = defaultRegistry();
const JOB: JobContext = testJob({ id: 'job-1', dataflowId: 'kernel' });

type Rename = readonly [string, string];

/** The lane's view of parse → renames, params resolved as the main thread resolves them. */
async function laneRun(parse: Record<string, unknown>, renames: readonly Rename[][], job = JOB): Promise<KernelRun> {
  const raw = [
    { type: 'file.parse.dsv', params: parse },
    ...renames.map((fields) => ({
      type: 'field.rename',
      params: { fields: fields.map(([sourceField, targetField]) => ({ sourceField, targetField })) },
    })),
  ];
  const definitions = raw.map((s) => registry.require(s.type));
  const steps: LaneStep[] = [];
  for (const [i, s] of raw.entries()) {
    const id = `step-${i + 1}`;
    const spec = (definitions[i] as AnyScriptDefinition).params;
    steps.push({ id, type: s.type, params: await resolveParams(spec, s.params, job, new LocalSecretResolver({}), id) });
  }
  return { definitions, steps, params: steps.map((s) => s.params), job };
}

/** What the scripts make of a chunk: records, rejected records, counters (durationMs aside), or the error. */
interface Reference {
  readonly records: string;
  readonly rejected: number;
  readonly counters: StepCounters[];
  readonly error?: unknown;
}

async function scripts(run: KernelRun, input: KernelInput): Promise<Reference> {
  const records = new MemoryRecords();
  const rejected = run.steps.map(() => new MemoryRecords());
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const chain = await createRun(run.definitions, run.steps, run.params, run.job, { records, rejected }, () => log);
  const file = input.file ?? { name: 'in.csv', size: input.bytes.length };
  let error: unknown;
  try {
    await (chain.drivers[0] as ScriptDriver).file({
      ...file,
      firstLine: input.firstLine - 1,
      open: () => Readable.from([Buffer.from(input.bytes)]),
    });
    await chain.finish();
  } catch (e) {
    error = e;
  }
  const bytes = records.bytes();
  return {
    records: bytes ? Buffer.from(bytes).toString('utf8') : '',
    rejected: rejected.reduce((n, r) => n + r.count, 0),
    counters: chain.drivers.map((d) => ({ ...d.counters, durationMs: 0 })),
    ...(error ? { error } : {}),
  };
}

/** The kernel's answer for a chunk, its header's template derived first. */
async function kernelOf(kernel: DsvNdjsonKernel, input: KernelInput) {
  await kernel.prepare(input);
  const made = kernel.run(input);
  if (!made) return undefined;
  return {
    records: made.records ? Buffer.from(made.records.data).toString('utf8') : '',
    count: made.records?.count ?? 0,
    counters: made.counters.map((c) => ({ ...c, durationMs: 0 })),
  };
}

/** A dialect: the parser's params and how a generated cell is written in it. */
interface Dialect {
  readonly name: string;
  readonly sep: string;
  readonly quote: string;
  /** The escape character, when it is not the quote doubled. */
  readonly escape?: string;
}

const DIALECTS: readonly Dialect[] = [
  { name: 'comma', sep: ',', quote: '"' },
  { name: 'semicolon', sep: ';', quote: '"' },
  { name: 'tab', sep: '\t', quote: '"' },
  { name: 'pipe, single quote', sep: '|', quote: "'" },
  { name: 'comma, backslash escape', sep: ',', quote: '"', escape: '\\' },
];

const paramsOf = (d: Dialect): Record<string, unknown> => ({
  columnSeparator: d.sep === '\t' ? '\\t' : d.sep,
  quoteCharacter: d.quote,
  ...(d.escape ? { escapeCharacter: d.escape } : {}),
});

/** Pieces of hostile values: every kind of text a cell may hold. */
const PIECES = [
  'plain',
  'Zoë',
  '€uro',
  '😀',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\\',
  '\\\\',
  '"',
  "'",
  ',',
  ';',
  '|',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '\u0000',
  '\u0001',
  '\u0008',
  '\u000c',
  '\u001f',
  '\u007f',
  ' ',
  'x.y',
  '{"a":1}',
  '12',
];

/** A cell of a row as written in a dialect: empty, quoted empty, or a value quoted when it must be (or at random). */
function writeCell(value: string, d: Dialect, next: () => number, emptyQuoted: boolean): string {
  if (value === '') return emptyQuoted ? d.quote + d.quote : '';
  const special = [d.sep, d.quote, d.escape ?? d.quote, '\n', '\r'].some((c) => value.includes(c));
  if (!special && next() < 0.7) return value;
  const inner = d.escape
    ? [...value].map((c) => (c === d.quote || c === d.escape ? d.escape + c : c)).join('')
    : value.split(d.quote).join(d.quote + d.quote);
  return d.quote + inner + d.quote;
}

/** A value built from hostile pieces, empty at times. */
function value(next: () => number): string {
  const r = next();
  if (r < 0.12) return '';
  let text = '';
  const n = 1 + Math.floor(next() * 4);
  for (let i = 0; i < n; i++) text += PIECES[Math.floor(next() * PIECES.length)];
  return text;
}

/** What may go wrong in a chunk: nothing, or a row the scripts reject, or text the kernel does not read. */
type Flaw =
  | 'none'
  | 'short row'
  | 'long row'
  | 'unclosed quote at the end'
  | 'text after a closing quote'
  | 'invalid UTF-8'
  | 'over-long row'
  | 'quote inside an unquoted cell'
  | 'lone CR line end'
  | 'unquoted empty cell under omit';

/** Flaws after which the scripts reject a row: the kernel must decline those chunks. */
const REJECTED: ReadonlySet<Flaw> = new Set([
  'short row',
  'long row',
  'unclosed quote at the end',
  'text after a closing quote',
  'invalid UTF-8',
  'over-long row',
]);

/** A chunk: the header, then rows of hostile values (blank lines between, LF or CRLF ends), with one flaw. */
function chunk(
  header: string,
  width: number,
  d: Dialect,
  next: () => number,
  flaw: Flaw,
  omit: boolean,
  count = 1 + Math.floor(next() * 12),
): Buffer {
  const rows: Buffer[] = [Buffer.from(header)];
  const flawAt = Math.floor(next() * count);
  for (let r = 0; r < count; r++) {
    const cells = Array.from({ length: width }, () => writeCell(value(next), d, next, omit || next() < 0.5));
    let end = next() < 0.3 ? '\r\n' : '\n';
    if (r === flawAt) {
      if (flaw === 'short row') cells.pop();
      if (flaw === 'long row') cells.push('extra');
      if (flaw === 'text after a closing quote') cells[0] = `${d.quote}a${d.quote}b`;
      if (flaw === 'quote inside an unquoted cell') cells[0] = `a${d.quote}b`;
      if (flaw === 'lone CR line end') end = '\r';
      if (flaw === 'unquoted empty cell under omit') cells[0] = '';
      if (flaw === 'over-long row') cells[0] = 'o'.repeat(300);
    }
    let row = Buffer.from(cells.join(d.sep) + (r === count - 1 && next() < 0.3 ? '' : end));
    if (r === flawAt && flaw === 'invalid UTF-8') row = Buffer.concat([Buffer.from([0xff, 0xc3]), row]);
    if (r === flawAt && flaw === 'unclosed quote at the end') {
      rows.push(row, Buffer.from(`${d.quote}never closed${d.sep}x\n`));
      break;
    }
    rows.push(row);
    if (next() < 0.15) rows.push(Buffer.from(next() < 0.5 ? '\n' : '\r\n'));
  }
  return Buffer.concat(rows);
}

/** A configuration of the steps: header names, renames and parse params. */
interface Layout {
  readonly name: string;
  readonly header: readonly string[];
  readonly renames: Rename[][];
  readonly parse?: Record<string, unknown>;
}

const LAYOUTS: readonly Layout[] = [
  {
    name: 'dotted Gigya columns renamed flat',
    header: ['UID', 'profile.firstName', 'profile.email', 'data.tier'],
    renames: [
      [
        ['profile.firstName', 'C_FirstName'],
        ['profile.email', 'C_Email'],
      ],
    ],
  },
  {
    name: 'Object.prototype names, a rename onto an existing field and of a missing one',
    header: ['__proto__', 'constructor', 'toString', 'a'],
    renames: [
      [
        ['a', 'toString'],
        ['missing', 'nowhere'],
      ],
    ],
    parse: { addFilename: true },
  },
  {
    name: 'nested targets and chained renames, empty cells as null',
    header: ['id', 'x', 'y'],
    renames: [
      [['x', 'profile.x']],
      [
        ['y', 'z'],
        ['z', 'w'],
      ],
    ],
    parse: { emptyValue: 'null' },
  },
  {
    name: 'repeated names renamed',
    header: ['email', 'email', 'name', 'email_2'],
    renames: [[['email_3', 'third']]],
    parse: { duplicateHeaders: 'rename' },
  },
  {
    name: 'names given in columns, the header row read and ignored, a rename through a text field',
    header: ['h1', 'h2', 'h3'],
    renames: [[['b', 'a.nested']]],
    parse: { columns: ['a', 'b', 'c'] },
  },
  {
    name: 'repeated names, the first kept',
    header: ['a', 'b', 'a'],
    renames: [],
    parse: { duplicateHeaders: 'first' },
  },
  { name: 'repeated names, the last kept', header: ['a', 'a', 'b'], renames: [], parse: { duplicateHeaders: 'last' } },
  {
    name: 'empty cells left out',
    header: ['id', 'name', 'city'],
    renames: [[['name', 'Name']]],
    parse: { emptyValue: 'omit' },
  },
];

const FLAWS: readonly Flaw[] = [
  'none',
  'none',
  'none',
  ...REJECTED,
  'quote inside an unquoted cell',
  'lone CR line end',
];

describe('the DSV → NDJSON import kernel', () => {
  it('gives exactly the records and counters of the scripts for every chunk it takes, over hostile rows in five dialects', async () => {
    // Prepare
    const next = seededRandom(18);
    const cases: { label: string; flaw: Flaw; reference: Reference; taken: Awaited<ReturnType<typeof kernelOf>> }[] =
      [];

    // Act
    for (const d of DIALECTS) {
      for (const layout of LAYOUTS) {
        const omit = layout.parse?.emptyValue === 'omit';
        const run = await laneRun({ ...paramsOf(d), maxLineLength: 200, ...layout.parse }, layout.renames);
        const kernel = compileDsvNdjson(run);
        if (!kernel) throw new Error(`no kernel for ${layout.name} in ${d.name}`);
        const header = `${layout.header.join(d.sep)}${next() < 0.5 ? '\r\n' : '\n'}`;
        const flaws = omit ? [...FLAWS, 'unquoted empty cell under omit' as const] : FLAWS;
        for (let n = 0; n < 4 * flaws.length; n++) {
          const flaw = flaws[n % flaws.length] as Flaw;
          const bytes = chunk(header, layout.header.length, d, next, flaw, omit);
          const input: KernelInput = { bytes, firstLine: 2 + n * 20, file: { name: `in-${n}.csv`, size: 9000 + n } };
          const reference = await scripts(run, input);
          const taken = await kernelOf(kernel, input);
          cases.push({ label: `${d.name} / ${layout.name} / ${flaw} #${n}`, flaw, reference, taken });
        }
      }
    }

    // Assess
    for (const c of cases) {
      if (c.taken) {
        expect(c.reference.error, c.label).toBeUndefined();
        expect(c.reference.rejected, c.label).toBe(0);
        expect(c.taken.records, c.label).toBe(c.reference.records);
        expect(c.taken.count, c.label).toBe(c.reference.counters[c.reference.counters.length - 1]?.recordsOut);
        expect(c.taken.counters, c.label).toEqual(c.reference.counters);
      }
      if (REJECTED.has(c.flaw)) expect(c.taken, c.label).toBeUndefined();
      if (c.flaw === 'none') expect(c.taken, c.label).toBeDefined();
    }
    expect(cases.filter((c) => c.taken).length).toBeGreaterThan(cases.length / 4);
  });

  it('declines every chunk of a header that names a column twice under duplicateHeaders "error"', async () => {
    // Prepare
    const run = await laneRun({}, [[['a', 'b']]]);
    const kernel = compileDsvNdjson(run);
    const input: KernelInput = { bytes: Buffer.from('a,a\n1,2\n'), firstLine: 2, file: { name: 'in.csv', size: 8 } };

    // Act
    const reference = await scripts(run, input);
    const ready = await kernel?.prepare(input);
    const made = kernel?.run(input);

    // Assess
    expect(reference.error).toMatchObject({ code: 'IDX_DSV_HEADER_DUPLICATE' });
    expect(ready).toBe(false);
    expect(made).toBeUndefined();
  });

  it.each(DIALECTS.map((d) => [d.name, d] as const))(
    'takes a chunk of hostile rows larger than its first output memory and than a parser slice (%s), with a byte-order mark before the header',
    async (_name, d) => {
      // Prepare: 20,000 rows, more than two of the slices of 128 Ki characters the parser reads at once.
      const run = await laneRun(paramsOf(d), [[['profile.email', 'C_Email']]]);
      const kernel = compileDsvNdjson(run);
      const bytes = Buffer.concat([
        Buffer.from('\ufeff'),
        chunk(['UID', 'name', 'profile.email'].join(d.sep) + '\r\n', 3, d, seededRandom(7), 'none', false, 20_000),
      ]);
      const input: KernelInput = { bytes, firstLine: 2, file: { name: 'big.csv', size: bytes.length } };

      // Act
      const reference = await scripts(run, input);
      const taken = kernel ? await kernelOf(kernel, input) : undefined;

      // Assess
      expect(bytes.toString('utf8').length).toBeGreaterThan(2 * 128 * 1024);
      expect(reference.rejected).toBe(0);
      expect(taken?.count).toBe(20_000);
      expect(taken?.records).toBe(reference.records);
      expect(taken?.counters).toEqual(reference.counters);
    },
  );

  it('declines the chunk that meets a new header, and takes the next once the template is derived', async () => {
    // Prepare
    const kernel = compileDsvNdjson(await laneRun({}, []));
    const input: KernelInput = { bytes: Buffer.from('a,b\n1,2\n'), firstLine: 2, file: { name: 'in.csv', size: 8 } };

    // Act
    const first = kernel?.run(input);
    await kernel?.prepare(input);
    const second = kernel?.run(input);

    // Assess
    expect(first).toBeUndefined();
    expect(second?.records?.count).toBe(1);
  });

  it('is the kernel compileKernel picks for the benchmark import, and compiles for nothing else', async () => {
    // Prepare
    const renames: Rename[][] = [[['profile.firstName', 'C_FirstName']]];
    const plain = await laneRun({ columnSeparator: ',', fileCharset: 'UTF-8', inferTypes: false }, renames);
    const refused = await Promise.all([
      laneRun({ inferTypes: true }, renames),
      laneRun({ fileCharset: 'ISO-8859-1' }, renames),
      laneRun({ hasHeader: false, columns: ['a'] }, renames),
      laneRun({ columnSeparator: '::' }, renames),
      laneRun({}, renames, { ...JOB, test: true, limit: 10 }),
    ]);
    const evaluate = {
      ...plain,
      definitions: [...plain.definitions, registry.require('field.remove')],
      steps: [...plain.steps, { id: 'remove', type: 'field.remove', params: { fields: ['x'] } }],
      params: [...plain.params, { fields: ['x'] }],
    };

    // Act
    const picked = compileKernel(plain);
    const others = [...refused, evaluate].map((run) => compileKernel(run));

    // Assess
    expect(picked?.steps).toBe(2);
    expect(others).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});
