import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { StepEvent, StepSpec } from '../../../lib/core/events.ts';
import type { FilesRef, RecordsRef, StepResult } from '../../../lib/core/refs.ts';
import type { LaneSettings, Services } from '../../../lib/core/services.ts';
import { handle } from '../../../lib/engine/handler.ts';
import { openStaged, StagedFileSink, StagedRecordSink } from '../../../lib/engine/stage.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { kernelChunks } from '../../support/jobs.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const local = useLocalEnvironment();
const registry = defaultRegistry();
const WORKER = fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));

/** Chunks of 16 KiB, so that a few thousand records make dozens of them. */
const SMALL = { minRecords: 1000, minBytes: 1, chunkBytes: 16 * 1024 };

/** The ways a run goes: the scripts on one thread, the main thread's lane through a kernel, two lanes. */
const WAYS: Record<string, LaneSettings | undefined> = {
  scripts: undefined,
  kernel: { count: 1, worker: '', ...SMALL, kernels: true },
  laned: { count: 2, worker: WORKER, ...SMALL, kernels: true },
  'laned, kernels off': { count: 2, worker: WORKER, ...SMALL, kernels: false },
};

/**
 * `n` accounts, plain but for records 200 to 209, which hold what the kernels leave to the scripts: a quote and a
 * comma, a backslash, a line break, a number with a fraction, an array.
 */
function accounts(n: number): { ndjson: string; csv: string } {
  const odd = ['Zoë, "Z"', 'back\\slash', 'two\nlines', 1.5, ['a', 'b']];
  const records = Array.from({ length: n }, (_, i) => ({
    UID: `uid-${i}`,
    profile: {
      firstName: i >= 200 && i < 210 ? odd[i % odd.length] : `Fïrst ${i}`,
      lastName: `Lâst ${i}`,
      email: `user${i}@example.com`,
      age: i % 90,
    },
    data: { subscribed: i % 2 === 0, tier: i % 7 === 0 ? null : 'gold' },
  }));
  const cell = (v: unknown) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const header = 'UID,profile.firstName,profile.lastName,profile.email,profile.age';
  const rows = records.map((r) =>
    [r.UID, r.profile.firstName, r.profile.lastName, r.profile.email, r.profile.age].map(cell).join(','),
  );
  return {
    ndjson: records.map((r) => `${JSON.stringify(r)}\n`).join(''),
    csv: `${[header, ...rows].join('\n')}\n`,
  };
}

const JOB = {
  dataflowId: 'kernels',
  startTime: '2026-01-02T03:04:05.000Z',
  test: false,
  fullExtract: true,
  logLevel: 'info' as const,
  attempt: 1,
};

/** Runs `specs` fused in one step over `input`, with `lanes`; returns its results, its counters and its trace. */
async function runWith(
  lanes: LaneSettings | undefined,
  jobId: string,
  specs: StepSpec[],
  input: RecordsRef | FilesRef,
) {
  const base = local.env.services;
  const services: Services = { ...base, config: { ...base.config, lanes } };
  await services.dynamo.send(
    new PutCommand({
      TableName: services.config.tables.jobs,
      Item: { id: jobId, dataflowId: JOB.dataflowId, startTime: JOB.startTime, steps: {}, trace: [] },
    }),
  );
  const [step, ...fused] = specs as [StepSpec, ...StepSpec[]];
  const e: StepEvent = { action: 'step', job: { id: jobId, ...JOB }, step, fused, inputs: { i0: input } };
  const result = (await handle(e, services, registry, { deadline: Date.now() + 60_000, echo: false })) as StepResult;
  const chain = [result, ...(result.chain ?? [])];
  const job = await new JobStore(services.dynamo, services.config.tables.jobs).get(jobId);
  const read = async (key: string) => {
    const parts: Buffer[] = [];
    for await (const p of openStaged(services.s3, services.config.stageBucket, key)) parts.push(p as Buffer);
    return Buffer.concat(parts);
  };
  return {
    chain,
    read,
    counters: chain.map(({ counters: { durationMs: _d, ...c } }) => c),
    trace: (job?.trace ?? []).join('\n'),
    lines: job?.trace ?? [],
  };
}

const EXPORT: StepSpec[] = [
  {
    id: 'rename',
    type: 'field.rename',
    key: 's1',
    params: {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'FirstName' },
        { sourceField: 'profile.lastName', targetField: 'LastName' },
        { sourceField: 'profile.email', targetField: 'Email' },
      ],
    },
  },
  {
    id: 'full',
    type: 'field.evaluate',
    key: 's2',
    params: { language: 'jexl', fields: [{ field: 'FullName', expression: 'FirstName + " " + LastName' }] },
  },
  {
    id: 'csv',
    type: 'file.format.dsv',
    key: 's3',
    params: {
      fileName: 'out.csv',
      quoteFields: false,
      columns: ['UID', 'FirstName', 'LastName', 'Email', 'FullName', 'profile.age', 'data.subscribed', 'data.tier'],
    },
  },
  { id: 'gzip', type: 'file.compress.gzip', key: 's4', params: {} },
];

const IMPORT: StepSpec[] = [
  { id: 'gunzip', type: 'file.uncompress.gzip', key: 's1', params: {} },
  { id: 'parse', type: 'file.parse.dsv', key: 's2', params: { inferTypes: false } },
  {
    id: 'rename',
    type: 'field.rename',
    key: 's3',
    params: {
      fields: [
        { sourceField: 'profile.firstName', targetField: 'FirstName' },
        { sourceField: 'profile.email', targetField: 'Email' },
      ],
    },
  },
];

describe('runStep through byte kernels', () => {
  it('stages the same CSV and counters from a kernel, on the main thread or in lanes, as from the scripts', async () => {
    // Prepare
    const base = local.env.services;
    const sink = new StagedRecordSink(base.s3, base.config.stageBucket, 'stage/kernels/export-input/');
    await sink.write(accounts(4000).ndjson, 4000);
    const input = await sink.close();

    // Act
    const runs: Record<string, Awaited<ReturnType<typeof runWith>> & { csv: string }> = {};
    for (const [way, lanes] of Object.entries(WAYS)) {
      const run = await runWith(lanes, `export-${way.replaceAll(/\W/g, '-')}`, EXPORT, input);
      const gz = run.chain[3]?.out.kind === 'files' ? run.chain[3].out.files[0] : undefined;
      runs[way] = { ...run, csv: gunzipSync(await run.read(gz?.key ?? '')).toString() };
    }

    // Assess
    const scripts = runs.scripts!;
    expect(scripts.csv.split('\n')[1]).toBe('uid-0,Fïrst 0,Lâst 0,user0@example.com,Fïrst 0 Lâst 0,0,true,');
    const withoutGzBytes = (c: typeof scripts.counters) => c.map((x, i) => (i === 3 ? { ...x, bytesOut: 0 } : x));
    for (const way of ['kernel', 'laned', 'laned, kernels off']) {
      expect(runs[way]?.csv, way).toBe(scripts.csv);
      expect(withoutGzBytes(runs[way]?.counters ?? []), way).toEqual(withoutGzBytes(scripts.counters));
    }
    expect(runs.kernel?.trace).toContain('running in one lane through a byte kernel');
    expect(kernelChunks(runs.kernel?.lines ?? [])).toBeGreaterThan(10);
    expect(kernelChunks(runs.laned?.lines ?? [])).toBeGreaterThan(10);
    expect(kernelChunks(runs['laned, kernels off']?.lines ?? [])).toBe(0);
    expect(scripts.trace).not.toContain('lane');
  });

  it('stages the same records and counters from a kernel, on the main thread or in lanes, as from the scripts', async () => {
    // Prepare
    const base = local.env.services;
    const sink = new StagedFileSink(base.s3, base.config.stageBucket, 'stage/kernels/import-input/');
    sink.create('in.csv.gz').end(gzipSync(accounts(4000).csv));
    const input = await sink.close();

    // Act
    const runs: Record<string, Awaited<ReturnType<typeof runWith>> & { records: string }> = {};
    for (const [way, lanes] of Object.entries(WAYS)) {
      const run = await runWith(lanes, `import-${way.replaceAll(/\W/g, '-')}`, IMPORT, input);
      const out = run.chain[2]?.out;
      const parts = out?.kind === 'records' ? out.parts : [];
      runs[way] = { ...run, records: (await Promise.all(parts.map((p) => run.read(p.key)))).join('') };
    }

    // Assess
    const scripts = runs.scripts!;
    expect(JSON.parse(scripts.records.split('\n')[0] ?? '')).toEqual({
      UID: 'uid-0',
      'profile.lastName': 'Lâst 0',
      'profile.age': '0',
      FirstName: 'Fïrst 0',
      Email: 'user0@example.com',
    });
    for (const way of ['kernel', 'laned', 'laned, kernels off']) {
      expect(runs[way]?.records, way).toBe(scripts.records);
      expect(runs[way]?.counters, way).toEqual(scripts.counters);
    }
    expect(kernelChunks(runs.kernel?.lines ?? [])).toBeGreaterThan(10);
    expect(kernelChunks(runs.laned?.lines ?? [])).toBeGreaterThan(10);
    expect(kernelChunks(runs['laned, kernels off']?.lines ?? [])).toBe(0);
  });
});
