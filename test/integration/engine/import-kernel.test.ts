import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RENAMES, writeAccounts } from '../../../bin/bench/accounts.ts';
import type { StepEvent } from '../../../lib/core/events.ts';
import type { OutputRef, StepCounters } from '../../../lib/core/refs.ts';
import type { AnyScriptDefinition, JobContext } from '../../../lib/core/script.ts';
import type { Services } from '../../../lib/core/services.ts';
import { MemoryRecords } from '../../../lib/engine/lanes/output-memory.ts';
import { type LaneStep, planLanes } from '../../../lib/engine/lanes/plan.ts';
import { Lanes } from '../../../lib/engine/lanes/pool.ts';
import { resolveParams } from '../../../lib/engine/resolve.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { readStagedText, StagedFileSink } from '../../../lib/engine/stage.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { testJob } from '../../../lib/testing/harness.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { loopStep } from '../../support/step-loop.ts';

const local = useLocalEnvironment();
const registry = defaultRegistry();
const WORKER = fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));

/** The benchmark's import (pipeline (b)): gunzip, parse the CSV, rename ten dotted columns. */
const PARSE = { columnSeparator: ',', fileCharset: 'UTF-8', inferTypes: false };
const RENAME = { fields: RENAMES.map(([sourceField, targetField]) => ({ sourceField, targetField })) };
const JOB: JobContext = testJob({ id: 'import-kernel', dataflowId: 'import', fullExtract: true });

/**
 * Generated accounts as the benchmark writes them (the CSV of `count` accounts), and the same with three rows the
 * parser rejects among them: a row short of columns, a row with invalid UTF-8, a quote never closed at the end.
 */
async function accountFiles(count: number): Promise<{ plain: Buffer; flawed: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'idx-import-kernel-'));
  try {
    await writeAccounts(count, { csvGz: join(dir, 'a.csv.gz') });
    const plain = gunzipSync(readFileSync(join(dir, 'a.csv.gz')));
    const rows = plain
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((r) => Buffer.from(`${r}\n`));
    rows.splice(Math.floor(count / 3), 0, Buffer.from('uid-short,only,three\n'));
    rows.splice(
      Math.floor(count / 2),
      0,
      Buffer.concat([Buffer.from('uid-bad,'), Buffer.from([0xff]), Buffer.from('\n')]),
    );
    rows.push(Buffer.from('"never closed,1,2\n'));
    return { plain, flawed: Buffer.concat(rows) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Counters without timing, and without invocations (a run over a 1 ms budget takes several). */
const counts = (cs: readonly StepCounters[]) => cs.map(({ durationMs: _d, invocations: _i, ...rest }) => rest);

/** Runs parse → rename in two lanes over the files, the kernels on or off. */
async function inLanes(files: readonly { name: string; data: Buffer }[], kernels: boolean) {
  const definitions = [registry.require('file.parse.dsv'), registry.require('field.rename')] as AnyScriptDefinition[];
  const raw = [
    { id: 'parse', type: 'file.parse.dsv', params: PARSE },
    { id: 'rename', type: 'field.rename', params: RENAME },
  ];
  const steps: LaneStep[] = [];
  for (const [i, s] of raw.entries()) {
    const spec = (definitions[i] as AnyScriptDefinition).params;
    steps.push({ ...s, params: await resolveParams(spec, s.params, JOB, new LocalSecretResolver({}), s.id) });
  }
  const plan = planLanes(
    definitions,
    steps.map((s) => s.params),
  );
  if (typeof plan === 'string') throw new Error(plan);
  const records = new MemoryRecords();
  const rejected = new MemoryRecords();
  const lanes = new Lanes({
    worker: WORKER,
    count: 2,
    steps,
    definitions,
    plan,
    job: JOB,
    sinks: { records, rejected },
    logs: steps.map(() => ({ debug() {}, info() {}, warn() {}, error() {} })),
    chunkBytes: 16 * 1024,
    kernels,
  });
  try {
    // Each file comes gunzipped as it is read, as the gunzip step before the lanes streams it.
    for (const f of files) {
      const gz = gzipSync(f.data);
      await lanes.file({ name: f.name, size: f.data.length, open: () => Readable.from([gz]).pipe(createGunzip()) });
    }
    const counters = await lanes.finish();
    const text = (m: MemoryRecords) => Buffer.from(m.bytes() ?? new Uint8Array()).toString('utf8');
    return { records: text(records), rejected: text(rejected), counters: counts(counters) };
  } finally {
    await lanes.close();
  }
}

/** Runs gunzip → parse → rename as the Task's loop does, each invocation with `budgetMs`, until it is done. */
async function importRun(services: Services, jobId: string, input: OutputRef, budgetMs: number) {
  const e: StepEvent = {
    action: 'step',
    job: { ...JOB, id: jobId },
    step: { id: 'gunzip', type: 'file.uncompress.gzip', key: 's1', params: {} },
    fused: [
      { id: 'parse', type: 'file.parse.dsv', key: 's2', params: PARSE },
      { id: 'rename', type: 'field.rename', key: 's3', params: RENAME },
    ],
    inputs: { i0: input },
  };
  const result = await loopStep(services, registry, e, budgetMs);
  const chain = [result, ...(result.chain ?? [])];
  const read = async (keys: readonly string[]) =>
    (await Promise.all(keys.map((k) => readStagedText(services.s3, services.config.stageBucket, k)))).join('');
  const out = chain[2]?.out;
  return {
    records: await read(out?.kind === 'records' ? out.parts.map((p) => p.key) : []),
    rejected: await read(chain[1]?.rejected.parts.map((p) => p.key) ?? []),
    counters: counts(chain.map((r) => r.counters)),
    invocations: result.counters.invocations,
  };
}

describe('the import kernel in lanes', () => {
  it('stages the same records, rejects and counters with kernels on as with kernels off, for generated accounts', async () => {
    // Prepare
    const { plain, flawed } = await accountFiles(3000);
    const files = [
      { name: 'accounts.csv', data: plain },
      { name: 'flawed.csv', data: flawed },
    ];

    // Act
    const off = await inLanes(files, false);
    const on = await inLanes(files, true);

    // Assess
    expect(on.records).toBe(off.records);
    expect(on.rejected).toBe(off.rejected);
    expect(on.counters).toEqual(off.counters);
    expect(off.counters[0]).toMatchObject({ filesIn: 2, recordsOut: 6000, recordsRejected: 3 });
    expect(JSON.parse(on.records.split('\n')[1] ?? '{}')).toMatchObject({ UID: 'uid000000000001', C_Tier: 'silver' });
  });

  it('stages the same records from csv.gz files in lanes across a 1 ms budget as one thread does in one invocation', async () => {
    // Prepare: chunks of 16 KiB, so that each file makes several.
    const base = local.env.services;
    const { plain, flawed } = await accountFiles(2000);
    const sink = new StagedFileSink(base.s3, base.config.stageBucket, 'stage/import-kernel/input/');
    for (const [name, data] of [
      ['a.csv.gz', plain],
      ['b.csv.gz', flawed],
      ['c.csv.gz', plain],
    ] as const)
      sink.create(name).end(gzipSync(data));
    const input = await sink.close();
    const one: Services = { ...base, config: { ...base.config, lanes: undefined } };
    const two: Services = {
      ...base,
      config: {
        ...base.config,
        lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1, chunkBytes: 16 * 1024 },
      },
    };

    // Act
    const single = await importRun(one, 'import-one', input, 60_000);
    const sliced = await importRun(two, 'import-sliced', input, 1);

    // Assess
    expect(sliced.records).toBe(single.records);
    expect(sliced.rejected).toBe(single.rejected);
    expect(sliced.counters).toEqual(single.counters);
    expect(single.counters[1]).toMatchObject({ filesIn: 3, recordsOut: 6000, recordsRejected: 3 });
    expect(sliced.invocations).toBe(3);
  });
});
