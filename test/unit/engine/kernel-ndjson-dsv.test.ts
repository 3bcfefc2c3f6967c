import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { StepCounters } from '../../../lib/core/refs.ts';
import type { AnyScriptDefinition, JobContext } from '../../../lib/core/script.ts';
import { createRun } from '../../../lib/engine/lanes/drivers.ts';
import type { ChunkKernel, KernelOutput } from '../../../lib/engine/lanes/kernel.ts';
import { ndjsonDsvKernel } from '../../../lib/engine/lanes/kernels/ndjson-dsv.ts';
import { MemoryFiles, MemoryRecords } from '../../../lib/engine/lanes/output-memory.ts';
import { type LaneStep, planLanes } from '../../../lib/engine/lanes/plan.ts';
import { ndjsonBatches } from '../../../lib/engine/ndjson.ts';
import { resolveParams } from '../../../lib/engine/resolve.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { testJob } from '../../../lib/testing/harness.ts';

const registry = defaultRegistry();
const JOB: JobContext = testJob({ id: 'job-1', dataflowId: 'kernel' });
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/** A step as a dataflow author writes it. */
interface Step {
  readonly type: string;
  readonly params: Record<string, unknown>;
}

/** A laned run as the lane runs it: resolved params, the formatter's body params in place of its own. */
interface LaneRun {
  readonly definitions: AnyScriptDefinition[];
  readonly steps: LaneStep[];
  readonly params: Record<string, unknown>[];
}

async function laneRun(steps: readonly Step[]): Promise<LaneRun> {
  const definitions = steps.map((s) => registry.require(s.type));
  const resolved: LaneStep[] = [];
  for (const [i, s] of steps.entries()) {
    const id = `step-${i + 1}`;
    const params = await resolveParams(
      (definitions[i] as AnyScriptDefinition).params,
      s.params,
      JOB,
      new LocalSecretResolver({}),
      id,
    );
    resolved.push({ id, type: s.type, params });
  }
  const params = resolved.map((s) => s.params);
  const plan = planLanes(definitions, params);
  if (typeof plan === 'string') throw new Error(plan);
  const at = plan.formatter ?? definitions.length - 1;
  const body = (definitions[at] as AnyScriptDefinition).lanes?.fragments?.(params[at] as never)?.body;
  return {
    definitions,
    steps: resolved,
    params: params.map((p, i) => (i === at ? (body as Record<string, unknown>) : p)),
  };
}

/** What the scripts make of a chunk: the file's bytes and each step's counters, or the error they raise. */
async function scriptsOn(
  run: LaneRun,
  chunk: Buffer,
): Promise<{ file?: Buffer; counters: StepCounters[] } | { error: unknown }> {
  const files = new MemoryFiles();
  const chain = await createRun(
    run.definitions,
    run.steps,
    run.params,
    JOB,
    { records: new MemoryRecords(), rejected: run.steps.map(() => new MemoryRecords()), files },
    () => SILENT,
  );
  try {
    for await (const batch of ndjsonBatches(Readable.from([chunk]), 'chunk')) await chain.drivers[0]?.push(batch);
    await chain.finish();
  } catch (error) {
    return { error };
  }
  const taken = files.take();
  return {
    ...(taken[0] ? { file: Buffer.from(taken[0].data) } : {}),
    counters: chain.drivers.map((d) => d.counters),
  };
}

const counts = (cs: readonly StepCounters[]) => cs.map(({ durationMs: _d, ...rest }) => rest);

/** A seeded generator (mulberry32): failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Strings the formatter must quote, escape or keep apart, and text of every UTF-8 length. */
const HOSTILE_STRINGS = [
  'plain',
  'Zoë',
  'say "hi"',
  'a,b',
  'a;b',
  'a\tb',
  'a|b',
  'line\nbreak',
  'cr\rhere',
  'crlf\r\n',
  '\u00a0lead',
  'trail\u00a0',
  '\u2000lead',
  'trail\u2000',
  ' space ',
  '',
  '€uro',
  '😀 smile',
  'end 😀',
  'back\\slash',
  'sep\u2028line',
  'ünïcödé 中文',
  "o'neil",
  '\uFEFFbom',
  'bom\uFEFF',
  '\u3000ideographic\u3000',
  '\u0085nel',
  // Long enough to be read four bytes at a time, with the character that forces quotes in each position of a word.
  'New York, NY',
  'abc,defghijk',
  'ab;cdefghijk',
  'abcd|efghijk',
  "abcdefg'hijk",
  'abcdefghij-k',
];

/** A JSON value as text, and whether the kernel must decline a chunk holding it at a place the output reads. */
type Gen = (r: () => number) => { text: string; take: boolean };
const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;

const stringValue: Gen = (r) => ({ text: JSON.stringify(pick(r, HOSTILE_STRINGS)), take: true });
/** Values written with escapes the kernel decodes (a lone surrogate it declines). */
const escapedValue: Gen = (r) =>
  pick(r, [
    { text: '"caf\\u00e9"', take: true },
    { text: '"\\ud83d\\ude00 x"', take: true },
    { text: '"\\/slash\\b\\f"', take: true },
    { text: '"\\u2028lead and trail\\u2000"', take: true },
    { text: '"lone \\ud800"', take: false },
  ]);
const scalarValue: Gen = (r) =>
  pick(r, [
    { text: '0', take: true },
    { text: '-1', take: true },
    { text: '123456789012345', take: true },
    { text: 'true', take: true },
    { text: 'false', take: true },
    { text: 'null', take: true },
    { text: '1.5', take: false },
    { text: '1e21', take: false },
    { text: '-0', take: false },
    { text: '9007199254740993', take: false },
    { text: '{"x":1}', take: false },
    { text: '[1,2]', take: false },
  ]);
/** Any valid JSON, for fields the output does not read. */
const anyValue: Gen = (r) => ({
  text: pick(r, [
    '{"a":[1,{"b":"c\\"d"}],"e":null}',
    '[[],{},"x",1.5e-3,-0,true]',
    '"esc \\n \\u2028"',
    '1e21',
    '-0',
    '9007199254740993',
    '{}',
    '[]',
  ]),
  take: true,
});

/** Field values: a string mostly, sometimes any of the hostile cases. */
const referenced: Gen = (r) => {
  const x = r();
  return x < 0.7 ? stringValue(r) : x < 0.8 ? escapedValue(r) : scalarValue(r);
};
/** An operand of the concatenation: anything but a string declines (jexl's `+` would print or add it). */
const operand: Gen = (r) => {
  const x = r();
  if (x < 0.8) return stringValue(r);
  if (x < 0.9) return escapedValue(r);
  const v = scalarValue(r);
  return { text: v.text, take: false };
};

/** A record line, and whether the kernel must take it. */
function record(r: () => number, i: number): { line: string; take: boolean } {
  const entries: [string, { text: string; take: boolean } | undefined][] = [];
  let take = true;
  // A missing operand of the concatenation declines too (jexl's `+` would print "undefined").
  const field = (gen: Gen, missing = 0.1) => {
    if (r() < missing) {
      if (gen === operand) take = false;
      return undefined;
    }
    const v = gen(r);
    take &&= v.take;
    return v;
  };
  const object = (items: [string, { text: string; take: boolean } | undefined][]) =>
    `{${items
      .filter((e) => e[1])
      .map(([k, v]) => `${JSON.stringify(k)}:${v?.text}`)
      .join(',')}}`;
  entries.push(['UID', { text: JSON.stringify(`uid-${i}`), take: true }]);
  const profile: [string, { text: string; take: boolean } | undefined][] = [
    ['firstName', field(operand)],
    ['lastName', field(operand)],
    ['email', field(referenced)],
    ['birthYear', field(referenced)],
    ['extra', field(anyValue, 0.5)],
  ];
  if (r() < 0.03) {
    // A duplicate key on a path the output reads.
    profile.push(['email', { text: '"dup@example.com"', take: true }]);
    take = false;
  }
  entries.push(['profile', { text: object(profile), take: true }]);
  entries.push([
    'data',
    {
      text: object([
        ['subscribed', field(referenced)],
        ['tier', field(referenced)],
      ]),
      take: true,
    },
  ]);
  entries.push(['created', field(referenced)]);
  entries.push(['tags', field(anyValue, 0.5)]);
  entries.push(['notes', field(anyValue, 0.5)]);
  // A rename target already in the record: renaming over it is read from the scripts too.
  if (r() < 0.05) entries.push(['C_Email', { text: '"old@example.com"', take: true }]);
  if (r() < 0.03) {
    // A duplicate key the output does not read.
    entries.push(['notes', { text: '"again"', take: true }]);
  }
  return { line: object(entries), take };
}

/** Lines the scripts reject or the kernel declines as a whole. */
const BAD_LINES = ['{"UID":"u","profile":{"firstName":"a"', '[1,2]', '42', ' {"UID":"x"}', '{"UID":"x"} '];

/** A chunk of `n` lines: plain ones only (the kernel must take it), or with hostile records or bad lines. */
function chunk(r: () => number, n: number, plain: boolean): { bytes: Buffer; take: boolean } {
  const lines: string[] = [];
  let take = true;
  for (let i = 0; i < n; i++) {
    if (r() < 0.1) lines.push('');
    if (!plain && r() < 0.05) {
      lines.push(pick(r, BAD_LINES));
      take = false;
      continue;
    }
    let rec = record(r, i);
    // A plain chunk holds only records the kernel takes (hostile strings, escapes, nulls, missing fields).
    while (plain && !rec.take) rec = record(r, i);
    take &&= rec.take;
    lines.push(rec.line);
  }
  return { bytes: Buffer.from(`${lines.join('\n')}\n`), take };
}

const exportSteps = (dialect: Record<string, unknown>): Step[] => [
  {
    type: 'field.rename',
    params: {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'C_FirstName' },
        { sourceField: 'profile.lastName', targetField: 'C_LastName' },
        { sourceField: 'profile.email', targetField: 'C_Email' },
        { sourceField: 'profile.birthYear', targetField: 'C_BirthYear' },
      ],
    },
  },
  {
    type: 'field.rename',
    params: {
      fields: [
        { sourceField: 'data.subscribed', targetField: 'C_Subscribed' },
        { sourceField: 'data.tier', targetField: 'C_Tier' },
      ],
    },
  },
  {
    type: 'field.evaluate',
    params: {
      language: 'jexl',
      fields: [
        { field: 'C_FullName', expression: 'C_FirstName + " " + C_LastName' },
        { field: 'C_Label', expression: '"<" + C_FullName + ">"' },
      ],
    },
  },
  {
    type: 'file.format.dsv',
    params: {
      fileName: 'export_${now:yyyyMMdd}.csv',
      columns: [
        'UID',
        'C_FirstName',
        'C_LastName',
        'C_Email',
        'C_BirthYear',
        'C_Subscribed',
        'C_Tier',
        'created',
        'C_FullName',
        'C_Label',
        'absent',
      ],
      ...dialect,
    },
  },
];

const DIALECTS: Record<string, unknown>[] = [
  { quoteFields: false },
  { columnSeparator: ';', quoteFields: true },
  { columnSeparator: '\\t', quoteFields: false, escapeCharacter: '\\' },
  { columnSeparator: '|', quoteFields: false, lineEnd: '\\r\\n' },
  { columnSeparator: ',', quoteFields: true, escapeCharacter: '\\', lineEnd: '\r\n' },
  { quoteCharacter: "'", escapeCharacter: '\\', quoteFields: false },
  { columnSeparator: '-', quoteFields: false },
];

/** Runs the kernel on a chunk and the scripts on the same chunk; returns what the kernel made of it. */
async function compare(kernel: ChunkKernel, run: LaneRun, bytes: Buffer): Promise<KernelOutput | undefined> {
  const made = kernel.run({ bytes, firstLine: 1 });
  const reference = await scriptsOn(run, bytes);
  if (made) {
    expect('error' in reference).toBe(false);
    if ('error' in reference) return made;
    expect(Buffer.from(made.file?.data ?? []).toString()).toBe(reference.file?.toString());
    expect(made.file?.name).toBe('export_20260102.csv');
    expect(counts(made.counters)).toEqual(counts(reference.counters));
  }
  return made;
}

describe('ndjsonDsvKernel', () => {
  it.each(DIALECTS)('writes the rows the scripts write for every chunk it takes, with dialect %j', async (dialect) => {
    // Prepare
    const run = await laneRun(exportSteps(dialect));
    const kernel = ndjsonDsvKernel({ ...run, job: JOB });
    const r = random(0x5eed + JSON.stringify(dialect).length);
    const chunks = Array.from({ length: 40 }, (_, i) => chunk(r, 1 + Math.floor(r() * 25), i % 2 === 0));

    // Act
    const results: { take: boolean; took: boolean }[] = [];
    for (const c of chunks)
      results.push({ take: c.take, took: (await compare(kernel as ChunkKernel, run, c.bytes)) !== undefined });

    // Assess
    expect(kernel?.steps).toBe(4);
    expect(results.filter((x) => x.take).length).toBeGreaterThan(15);
    expect(results.filter((x) => !x.take).length).toBeGreaterThan(5);
    expect(results.map((x) => x.took)).toEqual(results.map((x) => x.take));
  });

  it('writes the rows the scripts write through chained renames and nested targets', async () => {
    // Prepare: renames that touch each other's paths run one at a time in field.rename.
    const steps = exportSteps({ columnSeparator: ';' });
    (steps[0] as Step).params.fields = [
      { sourceField: 'profile.firstName', targetField: 'C_FirstName' },
      { sourceField: 'profile.lastName', targetField: 'contact.last' },
      { sourceField: 'contact.last', targetField: 'C_LastName' },
      { sourceField: 'profile.email', targetField: 'contact.mail.address' },
    ];
    ((steps[3] as Step).params.columns as string[]).push('contact.mail.address');
    const run = await laneRun(steps);
    const kernel = ndjsonDsvKernel({ ...run, job: JOB }) as ChunkKernel;
    const r = random(0xc4a1);
    const chunks = Array.from({ length: 20 }, () => chunk(r, 1 + Math.floor(r() * 25), true));

    // Act
    const taken: boolean[] = [];
    for (const c of chunks) taken.push((await compare(kernel, run, c.bytes)) !== undefined);

    // Assess
    expect(taken).toEqual(chunks.map(() => true));
  });

  it("takes a chunk with a byte changed only where its rows are still the scripts' rows", async () => {
    // Prepare: plain chunks, each with one byte replaced by a character that matters to JSON or CSV.
    const run = await laneRun(exportSteps({ quoteFields: false }));
    const kernel = ndjsonDsvKernel({ ...run, job: JOB }) as ChunkKernel;
    const r = random(0xb17e);
    const bytes = [...'{}[]",:\\ \n\r\t0-9.eEtfnu\u0000'].map((c) => c.charCodeAt(0)).concat([0x80, 0xc3, 0xff]);
    const mutated = Array.from({ length: 150 }, () => {
      const c = Buffer.from(chunk(r, 1 + Math.floor(r() * 4), true).bytes);
      c[Math.floor(r() * (c.length - 1))] = pick(r, bytes);
      return c;
    });

    // Act
    let taken = 0;
    for (const c of mutated) if ((await compare(kernel, run, c)) !== undefined) taken++;

    // Assess: some mutations leave valid records (a letter in a value), most do not.
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(mutated.length);
  });

  it('declines a chunk that does not end with a line break, has no record, or is not UTF-8', async () => {
    // Prepare
    const run = await laneRun(exportSteps({}));
    const kernel = ndjsonDsvKernel({ ...run, job: JOB }) as ChunkKernel;
    const chunks = [
      Buffer.from('{"UID":"a"}'),
      Buffer.from('\n\n'),
      Buffer.from([...Buffer.from('{"UID":"'), 0xff, ...Buffer.from('"}\n')]),
    ];

    // Act
    const made = chunks.map((bytes) => kernel.run({ bytes, firstLine: 1 }));

    // Assess
    expect(made).toEqual([undefined, undefined, undefined]);
  });

  it('stands for the steps up to the formatter, leaving gzip after it to the scripts', async () => {
    // Prepare
    const run = await laneRun([...exportSteps({}), { type: 'file.compress.gzip', params: {} }]);

    // Act
    const kernel = ndjsonDsvKernel({ ...run, job: JOB });

    // Assess
    expect(kernel?.steps).toBe(4);
  });

  it.each([
    ['an expression other than a concatenation', { expression: 'C_FirstName ? C_FirstName : "x"' }, undefined],
    ['a number literal in a concatenation', { expression: 'C_FirstName + 1' }, undefined],
    ['a quoted flat path', undefined, { columns: ["'profile.email'"] }],
    ['a column read through a prototype', undefined, { columns: ['constructor'] }],
    ['a column that is the parent of another path', undefined, { columns: ['UID', 'profile'] }],
    ['a separator of two characters', undefined, { columnSeparator: '||' }],
  ])('does not compile for %s', async (_what, evaluate, dsv) => {
    // Prepare
    const steps = exportSteps(dsv ?? {});
    const e = steps[2] as Step;
    if (evaluate) (e.params.fields as { expression: string }[])[0] = { field: 'C_FullName', ...evaluate } as never;
    const run = await laneRun(steps);

    // Act
    const kernel = ndjsonDsvKernel({ ...run, job: JOB });

    // Assess
    expect(kernel).toBeUndefined();
  });
});
