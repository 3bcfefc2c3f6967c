import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import type { StepCounters } from '../../../lib/core/refs.ts';
import type { AnyScriptDefinition, JobContext } from '../../../lib/core/script.ts';
import { createDrivers } from '../../../lib/engine/lanes/drivers.ts';
import { type LaneStep, planLanes } from '../../../lib/engine/lanes/plan.ts';
import { Lanes } from '../../../lib/engine/lanes/pool.ts';
import { ndjsonBatches } from '../../../lib/engine/ndjson.ts';
import type { FileSink, RecordSink } from '../../../lib/engine/output.ts';
import { resolveParams } from '../../../lib/engine/resolve.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { buildLaneWorker } from '../../../lib/infra/lane-worker-build.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { accountLines } from '../../support/accounts.ts';

const WORKER = new URL('../../../bin/lane-worker.js', import.meta.url);
const registry = defaultRegistry();
const JOB: JobContext = {
  id: 'job-1',
  dataflowId: 'lanes',
  startTime: '2026-01-02T03:04:05.000Z',
  test: false,
  fullExtract: false,
  logLevel: 'info',
  attempt: 1,
};

/** A step as a dataflow author writes it. */
interface Step {
  readonly type: string;
  readonly params: Record<string, unknown>;
}

class BytesSink implements RecordSink {
  readonly parts: Buffer[] = [];
  count = 0;
  async write(chunk: string | Uint8Array, count: number): Promise<void> {
    this.parts.push(Buffer.from(chunk));
    this.count += count;
  }
  get text(): string {
    return Buffer.concat(this.parts).toString();
  }
}

class FilesSink implements FileSink {
  readonly files = new Map<string, Buffer[]>();
  create(name: string): Writable {
    const parts: Buffer[] = [];
    this.files.set(name, parts);
    return new Writable({
      write(chunk: Buffer, _e, callback) {
        parts.push(chunk);
        callback();
      },
    });
  }
  bytes(): Record<string, Buffer> {
    return Object.fromEntries([...this.files].map(([name, parts]) => [name, Buffer.concat(parts)]));
  }
  text(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.bytes()).map(([name, data]) => [name, data.toString()]));
  }
}

interface RunOutput {
  readonly records: string;
  readonly rejected: string;
  readonly files: Record<string, string>;
  /** The files' bytes, for binary ones. */
  readonly bytes: Record<string, Buffer>;
  readonly counters: StepCounters[];
}

async function prepare(steps: readonly Step[]): Promise<{ definitions: AnyScriptDefinition[]; resolved: LaneStep[] }> {
  const definitions = steps.map((s) => registry.require(s.type));
  const secrets = new LocalSecretResolver({});
  const resolved: LaneStep[] = [];
  for (const [i, s] of steps.entries()) {
    const id = `step-${i + 1}`;
    const params = await resolveParams((definitions[i] as AnyScriptDefinition).params, s.params, JOB, secrets, id);
    resolved.push({ id, type: s.type, params });
  }
  return { definitions, resolved };
}

type Input = { readonly ndjson: string } | { readonly file: { readonly name: string; readonly text: string } };

const fileOf = (f: { name: string; text: string }) => ({
  name: f.name,
  size: Buffer.byteLength(f.text),
  open: () => Readable.from([Buffer.from(f.text)]),
});

/** The steps on the main thread, one after the other: what lanes must reproduce. */
async function runInOne(steps: readonly Step[], input: Input): Promise<RunOutput> {
  const { definitions, resolved } = await prepare(steps);
  const records = new BytesSink();
  const rejected = new BytesSink();
  const files = new FilesSink();
  const drivers = await createDrivers(
    definitions,
    resolved,
    resolved.map((s) => s.params),
    JOB,
    { records, rejected, files },
    () => ({ debug() {}, info() {}, warn() {}, error() {} }),
  );
  const head = drivers[0];
  if (!head) throw new Error('no steps');
  if ('ndjson' in input) {
    for await (const batch of ndjsonBatches(Readable.from([Buffer.from(input.ndjson)]), 'input'))
      await head.push(batch);
  } else await head.file(fileOf(input.file));
  for (const d of drivers) await d.finish();
  return {
    records: records.text,
    rejected: rejected.text,
    files: files.text(),
    bytes: files.bytes(),
    counters: drivers.map((d) => d.counters),
  };
}

/** The steps in lanes. */
async function runInLanes(
  steps: readonly Step[],
  input: Input,
  count = 2,
  chunkBytes = 2048,
  worker: string | URL = WORKER,
  kernels = true,
): Promise<RunOutput> {
  const { definitions, resolved } = await prepare(steps);
  const plan = planLanes(
    definitions,
    resolved.map((s) => s.params),
  );
  if (typeof plan === 'string') throw new Error(plan);
  const records = new BytesSink();
  const rejected = new BytesSink();
  const files = new FilesSink();
  const warnings: string[] = [];
  const lanes = new Lanes({
    worker,
    count,
    steps: resolved,
    definitions,
    plan,
    job: JOB,
    sinks: { records, rejected, files },
    logs: resolved.map(() => ({ debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} })),
    chunkBytes,
    kernels,
  });
  try {
    if ('ndjson' in input) await lanes.records(Readable.from([Buffer.from(input.ndjson)]));
    else await lanes.file(fileOf(input.file));
    const counters = await lanes.finish();
    return { records: records.text, rejected: rejected.text, files: files.text(), bytes: files.bytes(), counters };
  } finally {
    await lanes.close();
  }
}

/** Counters without timing. */
const counts = (cs: StepCounters[]) => cs.map(({ durationMs: _d, invocations: _i, ...rest }) => rest);

const exportSteps: Step[] = [
  {
    type: 'field.rename',
    params: {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'FirstName' },
        { sourceField: 'profile.lastName', targetField: 'LastName' },
      ],
    },
  },
  {
    type: 'field.evaluate',
    params: { language: 'jexl', fields: [{ field: 'FullName', expression: 'FirstName + " " + LastName' }] },
  },
  { type: 'field.date.format', params: { fields: [{ field: 'created', outputFormat: 'yyyy-MM-dd' }] } },
  {
    type: 'file.format.dsv',
    params: {
      fileName: 'export_${now:yyyyMMdd}.csv',
      columns: ['UID', 'FirstName', 'LastName', 'FullName', 'created'],
      quoteFields: false,
    },
  },
];

describe('Lanes', () => {
  it('formats staged records in two lanes into the same file, rejects and counts as one thread does', async () => {
    // Prepare
    const input = { ndjson: accountLines(3000) };

    // Act
    const one = await runInOne(exportSteps, input);
    const two = await runInLanes(exportSteps, input);

    // Assess
    expect(Object.keys(two.files)).toEqual(['export_20260102.csv']);
    expect(two.files).toEqual(one.files);
    expect(two.rejected).toBe(one.rejected);
    expect(counts(two.counters)).toEqual(counts(one.counters));
    expect(two.counters[2]?.recordsRejected).toBe(Math.ceil(3000 / 13));
    expect(two.files['export_20260102.csv']?.split('\n')[0]).toBe('UID,FirstName,LastName,FullName,created');
  });

  it('gzips the same export with byte kernels as without: rename, a concatenation, a CSV and gzip', async () => {
    // Prepare: a few records without a last name, whose chunks the kernel leaves to the scripts.
    const ndjson = accountLines(4000)
      .split('\n')
      .map((line, i) => (i % 700 === 7 ? line.replace(/,"lastName":"[^"]*"/, '') : line))
      .join('\n');
    const steps: Step[] = [
      exportSteps[0] as Step,
      exportSteps[1] as Step,
      {
        type: 'file.format.dsv',
        params: {
          fileName: 'export.csv',
          columns: ['UID', 'FirstName', 'LastName', 'created', 'FullName'],
          quoteFields: false,
        },
      },
      { type: 'file.compress.gzip', params: {} },
    ];
    const gz = (out: RunOutput) => out.bytes['export.csv.gz'] ?? Buffer.alloc(0);

    // Act
    const on = await runInLanes(steps, { ndjson }, 2, 16 * 1024, WORKER, true);
    const off = await runInLanes(steps, { ndjson }, 2, 16 * 1024, WORKER, false);

    // Assess
    const csv = gunzipSync(gz(on)).toString();
    expect(gz(on).equals(gz(off))).toBe(true);
    expect(csv).toBe(gunzipSync(gz(off)).toString());
    expect(csv.split('\n')[0]).toBe('UID,FirstName,LastName,created,FullName');
    expect(csv.split('\n').filter(Boolean)).toHaveLength(4001);
    expect(csv).toContain('uid-11,"Zoë, ""Z""",Last 11,');
    expect(counts(on.counters)).toEqual(counts(off.counters));
    expect(on.counters[2]).toMatchObject({ recordsIn: 4000, recordsOut: 4000 });
  });

  it('parses a CSV in chunks to the same records, and rejects bad rows with the same line numbers', async () => {
    // Prepare
    const rows = ['id,name,note'];
    for (let i = 0; i < 2000; i++) {
      if (i === 700) rows.push('700,too,many,columns');
      else if (i % 9 === 0) rows.push(`${i},"multi\nline ""${i}""","a,b"`);
      else rows.push(`${i},name ${i},`);
    }
    rows.push('2000,"never closed,x', '2001,after,x');
    const input = { file: { name: 'in.csv', text: `${rows.join('\r\n')}\r\n` } };
    const steps: Step[] = [
      { type: 'file.parse.dsv', params: { inferTypes: true, addFilename: true } },
      { type: 'field.rename', params: { fields: [{ sourceField: 'name', targetField: 'data.name' }] } },
    ];

    // Act
    const one = await runInOne(steps, input);
    const two = await runInLanes(steps, input, 2, 1024);

    // Assess
    expect(two.records).toBe(one.records);
    expect(two.rejected).toBe(one.rejected);
    expect(counts(two.counters)).toEqual(counts(one.counters));
    expect(two.counters[0]).toMatchObject({ filesIn: 1, bytesIn: Buffer.byteLength(input.file.text) });
    const errors = two.rejected
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)._errorDetails as { code: string; line: number });
    // Row 700 starts after the header and 700 rows, 78 of which span two lines.
    expect(errors[0]).toMatchObject({ code: 'IDX_DSV_COLUMNS', line: 2 + 700 + 78 });
    expect(errors.map((e) => e.code)).toContain('IDX_DSV_QUOTE');
  });

  it('stages the same records when some are longer than the shared memory a chunk goes in', async () => {
    // Prepare
    const long = (i: number) =>
      `${JSON.stringify({ UID: `long${i}`, profile: { firstName: 'Zoë', lastName: 'x'.repeat(9000) } })}\n`;
    const ndjson = [0, 1, 2, 3].map((i) => accountLines(400) + long(i)).join('');
    const steps: Step[] = [exportSteps[0] as Step, exportSteps[1] as Step];

    // Act
    const one = await runInOne(steps, { ndjson });
    const two = await runInLanes(steps, { ndjson });

    // Assess
    expect(two.records).toBe(one.records);
    expect(two.records.split('\n').filter(Boolean)).toHaveLength(1604);
    expect(counts(two.counters)).toEqual(counts(one.counters));
  });

  it('writes the header-only file of an empty input when the formatter is asked to', async () => {
    // Prepare
    const steps: Step[] = [
      {
        type: 'file.format.dsv',
        params: { fileName: 'empty.csv', columns: ['a', 'b'], createEmptyFile: true, writeBom: true },
      },
    ];

    // Act
    const one = await runInOne(steps, { ndjson: '' });
    const two = await runInLanes(steps, { ndjson: '' });

    // Assess
    expect(two.files).toEqual(one.files);
    expect(two.files['empty.csv']).toBe('\uFEFF"a","b"\n');
  });

  it('runs the same with the lane worker bundled as a deployed step function carries it', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'idx-lane-worker-'));
    try {
      const worker = await buildLaneWorker(dir);
      const input = { ndjson: accountLines(1500) };

      // Act
      const one = await runInOne(exportSteps, input);
      const bundled = await runInLanes(exportSteps, input, 2, 4096, worker);

      // Assess
      expect(basename(worker)).toBe('lane-worker.mjs');
      expect(bundled.files).toEqual(one.files);
      expect(bundled.rejected).toBe(one.rejected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the coded error of the lane, naming the line of a corrupt staged record', async () => {
    // Prepare
    const ndjson = `${accountLines(500)}{"UID": broken\n${accountLines(10)}`;

    // Act
    const failure = await runInLanes(exportSteps, { ndjson }).catch((e: unknown) => e);

    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_STAGE_CORRUPT');
    expect((failure as IdxError).message).toContain('staged record 501');
  });
});

describe('planLanes', () => {
  it('says why a run cannot go in lanes', async () => {
    // Prepare
    const plan = async (steps: Step[]) => {
      const { definitions, resolved } = await prepare(steps);
      return planLanes(
        definitions,
        resolved.map((s) => s.params),
      );
    };

    // Act
    const stateful = await plan([
      { type: 'record.evaluate', params: { script: Buffer.from('function process(r){return r}').toString('base64') } },
    ]);
    const inferred = await plan([
      { type: 'field.remove', params: { fields: ['a'] } },
      { type: 'file.format.dsv', params: { fileName: 'x.csv' } },
    ]);
    const utf16 = await plan([{ type: 'file.parse.dsv', params: { fileCharset: 'UTF-16LE' } }]);
    const sniffed = await plan([{ type: 'file.parse.dsv', params: { fileCharset: 'auto-detect' } }]);
    const cp1252 = await plan([{ type: 'file.parse.dsv', params: { fileCharset: 'cp1252' } }]);
    const ok = await plan(exportSteps);
    const gzipped = await plan([...exportSteps, { type: 'file.compress.gzip', params: {} }]);
    const gzipAfterRecords = await plan([
      { type: 'field.remove', params: { fields: ['a'] } },
      { type: 'file.compress.gzip', params: {} },
    ]);

    // Assess
    expect(stateful).toBe('record.evaluate keeps state between records');
    expect(inferred).toBe('file.format.dsv cannot write its file in fragments with these params');
    expect(utf16).toBe('file.parse.dsv cannot cut its files with these params');
    expect(sniffed).toBe('file.parse.dsv cannot cut its files with these params');
    expect(cp1252).toMatchObject({ input: { kind: 'files' } });
    expect(ok).toMatchObject({ input: { kind: 'records' }, emptyFile: false });
    expect(ok).not.toHaveProperty('formatter');
    expect(gzipped).toMatchObject({ input: { kind: 'records' }, formatter: exportSteps.length - 1 });
    expect(gzipAfterRecords).toBe('file.compress.gzip follows records, not a formatter');
  });
});
