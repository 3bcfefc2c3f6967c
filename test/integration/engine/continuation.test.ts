import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { StepEvent, StepSpec } from '../../../lib/core/events.ts';
import type { FileRef, OutputRef, RecordsRef, StepResult } from '../../../lib/core/refs.ts';
import type { Services } from '../../../lib/core/services.ts';
import { openStagedFile, StagedFileSink, StagedRecordSink } from '../../../lib/engine/stage.ts';
import { fileUncompressGzip } from '../../../lib/scripts/file.uncompress.gzip.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { accountLines } from '../../support/accounts.ts';
import { gunzipWithBinary, gzipMembers } from '../../support/gzip-files.ts';
import { kernelChunks } from '../../support/jobs.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { loopStep } from '../../support/step-loop.ts';

const local = useLocalEnvironment();
const registry = defaultRegistry();
const WORKER = fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));

const rename: Omit<StepSpec, 'key'> = {
  id: 'rename',
  type: 'field.rename',
  params: { fields: [{ sourceField: 'profile.lastName', targetField: 'LastName' }] },
};
const csv: Omit<StepSpec, 'key'> = {
  id: 'csv',
  type: 'file.format.dsv',
  params: { fileName: 'out.csv', columns: ['UID', 'LastName', 'created'] },
};

/** A step event as the compiled state machine sends it, for a job of its own. */
function stepEvent(jobId: string, specs: readonly Omit<StepSpec, 'key'>[], inputs: readonly OutputRef[]): StepEvent {
  const [step, ...fused] = specs.map((s, i) => ({ ...s, key: `s${i + 1}` }));
  return {
    action: 'step',
    job: {
      id: jobId,
      dataflowId: 'slices',
      startTime: '2026-01-02T03:04:05.000Z',
      test: false,
      fullExtract: true,
      logLevel: 'info',
      attempt: 1,
    },
    step: step as StepSpec,
    ...(fused.length ? { fused } : {}),
    inputs: Object.fromEntries(inputs.map((r, i) => [`i${i}`, r])),
  };
}

/** Runs a step as the Task's loop does, each invocation with `budgetMs`, until it is done. */
function loop(services: Services, e: StepEvent, budgetMs: number): Promise<StepResult> {
  return loopStep(services, registry, e, budgetMs);
}

/** The whole content of a staged file, its parts in order. */
async function content(services: Services, file: FileRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of openStagedFile(services.s3, services.config.stageBucket, file)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The staged records of a reference, as text. */
async function recordsText(services: Services, ref: OutputRef): Promise<string> {
  if (ref.kind !== 'records') return '';
  const out: Buffer[] = [];
  for (const p of ref.parts)
    for await (const c of openStagedFile(services.s3, services.config.stageBucket, {
      name: p.key,
      key: p.key,
      size: 0,
    }))
      out.push(c as Buffer);
  return Buffer.concat(out).toString('utf8');
}

/** 6,000 staged accounts in three parts of 2,000. */
async function stagedAccounts(services: Services, prefix: string): Promise<RecordsRef> {
  const parts: RecordsRef['parts'][number][] = [];
  for (const n of [0, 1, 2]) {
    const sink = new StagedRecordSink(services.s3, services.config.stageBucket, `${prefix}${n}/`);
    const lines = accountLines(6000)
      .split('\n')
      .filter(Boolean)
      .slice(n * 2000, (n + 1) * 2000);
    await sink.write(`${lines.join('\n')}\n`, lines.length);
    parts.push(...(await sink.close()).parts);
  }
  return { kind: 'records', parts, count: 6000 };
}

const single = (s: Services): Services => ({ ...s, config: { ...s.config, lanes: undefined } });

/** The chunks a byte kernel took over every invocation of a job's step, from the job's trace. */
async function kernelChunksOf(services: Services, jobId: string): Promise<number> {
  const job = await new JobStore(services.dynamo, services.config.tables.jobs).get(jobId);
  return kernelChunks(job?.trace ?? []);
}

describe('runStep across invocations', () => {
  it('continues a record step at record granularity and stages the same records as one invocation', async () => {
    // Prepare
    const services = single(local.env.services);
    const input = await stagedAccounts(services, 'stage/slices/rec-input/');

    // Act
    const whole = await loop(services, stepEvent('rec-whole', [rename], [input]), 60_000);
    const sliced = await loop(services, stepEvent('rec-sliced', [rename], [input]), 1);

    // Assess
    expect(whole.counters.invocations).toBe(1);
    expect(sliced.counters.invocations).toBe(6);
    expect(sliced.counters.recordsIn).toBe(6000);
    expect(await recordsText(services, sliced.out)).toBe(await recordsText(services, whole.out));
  });

  it('continues a formatter fused into gzip: one valid multi-member gzip file, the CSV of one invocation', async () => {
    // Prepare
    const services = single(local.env.services);
    const input = await stagedAccounts(services, 'stage/slices/gz-input/');
    const gzip = { id: 'gzip', type: 'file.compress.gzip', params: {} };

    // Act
    const whole = await loop(services, stepEvent('gz-whole', [rename, csv, gzip], [input]), 60_000);
    const sliced = await loop(services, stepEvent('gz-sliced', [rename, csv, gzip], [input]), 1);

    // Assess
    const [wholeGz, slicedGz] = [whole, sliced].map((r) =>
      r.chain?.[1]?.out.kind === 'files' ? r.chain[1].out.files : [],
    );
    expect(slicedGz?.map((f) => f.name)).toEqual(['out.csv.gz']);
    expect(slicedGz?.[0]?.parts).toHaveLength(6);
    const plain = gunzipSync(await content(services, wholeGz?.[0] as FileRef)).toString();
    const pieces = await content(services, slicedGz?.[0] as FileRef);
    expect(gunzipSync(pieces).toString()).toBe(plain);
    expect(plain.split('\n').filter(Boolean)).toHaveLength(6001);
    const ours = await runScript(fileUncompressGzip, {}, { files: [{ name: 'out.csv.gz', content: pieces }] });
    expect(ours.files[0]?.content.toString()).toBe(plain);
    const dir = mkdtempSync(join(tmpdir(), 'idx-gz-'));
    try {
      writeFileSync(join(dir, 'out.csv.gz'), pieces);
      expect(() => execFileSync('gunzip', ['-t', join(dir, 'out.csv.gz')])).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('continues a file step at file granularity, one file per invocation', async () => {
    // Prepare
    const services = single(local.env.services);
    const sink = new StagedFileSink(services.s3, services.config.stageBucket, 'stage/slices/files/');
    for (const n of [1, 2, 3]) {
      const w = sink.create(`in-${n}.csv`);
      w.end(`id,name\n${Array.from({ length: 500 }, (_, i) => `${n}-${i},name ${i}`).join('\n')}\n`);
    }
    const input = await sink.close();
    const parse = { id: 'parse', type: 'file.parse.dsv', params: {} };

    // Act
    const whole = await loop(services, stepEvent('files-whole', [parse], [input]), 60_000);
    const sliced = await loop(services, stepEvent('files-sliced', [parse], [input]), 1);

    // Assess
    expect(sliced.counters.invocations).toBe(3);
    expect(sliced.counters.filesIn).toBe(3);
    expect(await recordsText(services, sliced.out)).toBe(await recordsText(services, whole.out));
    expect(sliced.out.kind === 'records' && sliced.out.count).toBe(1500);
  });

  it('gzips in the lanes a file that gunzip reads back byte for byte as the single-thread CSV, whole and across a 1 ms budget', async () => {
    // Prepare: chunks of 256 KiB, so that the 6,000 accounts make several.
    const base = local.env.services;
    const lanes: Services = {
      ...base,
      config: {
        ...base.config,
        lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1 << 20, chunkBytes: 256 * 1024 },
      },
    };
    const input = await stagedAccounts(base, 'stage/slices/lanes-gz-input/');
    const fixed = { ...csv, params: { ...csv.params, writeHeader: true } };
    const gzip = { id: 'gzip', type: 'file.compress.gzip', params: {} };
    const specs = [rename, fixed, gzip];
    const gz = async (r: StepResult) =>
      content(base, (r.chain?.[1]?.out.kind === 'files' ? r.chain[1].out.files[0] : undefined) as FileRef);

    // Act
    const one = await loop(single(base), stepEvent('lanes-gz-one', specs, [input]), 60_000);
    const whole = await loop(lanes, stepEvent('lanes-gz-whole', specs, [input]), 60_000);
    const sliced = await loop(lanes, stepEvent('lanes-gz-sliced', specs, [input]), 1);

    // Assess
    const plain = gunzipWithBinary(await gz(one));
    expect(plain.toString().split('\n').filter(Boolean)).toHaveLength(6001);
    expect(gunzipWithBinary(await gz(whole)).equals(plain)).toBe(true);
    expect(gunzipWithBinary(await gz(sliced)).equals(plain)).toBe(true);
    expect(sliced.counters.invocations).toBe(3);
    // The export kernel took chunks, and the worker lane gzipped its files in one call (LaneSupport.piece).
    expect(await kernelChunksOf(base, 'lanes-gz-whole')).toBeGreaterThan(0);
    expect(await kernelChunksOf(base, 'lanes-gz-sliced')).toBeGreaterThan(0);
    // One member per invocation on one thread; in lanes, the header's member, then one per chunk.
    expect(gzipMembers(await gz(one))).toBe(1);
    expect(gzipMembers(await gz(whole))).toBeGreaterThanOrEqual(3);
    expect(gzipMembers(await gz(sliced))).toBeGreaterThanOrEqual(4);
    expect(whole.chain?.[1]?.counters).toMatchObject({ filesIn: 1, bytesIn: plain.length, filesOut: 1 });
    expect(whole.chain?.[0]?.counters).toMatchObject({ filesOut: 1, bytesOut: plain.length });
    // gzip took the file's piece of each invocation, as on one thread.
    expect(sliced.chain?.[1]?.counters).toMatchObject({ filesIn: 3, bytesIn: plain.length, filesOut: 1 });
  });

  it('continues a laned formatter between staged parts, with the header only in the first piece', async () => {
    // Prepare
    const base = local.env.services;
    const lanes: Services = {
      ...base,
      config: { ...base.config, lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1 << 20 } },
    };
    const input = await stagedAccounts(base, 'stage/slices/lanes-input/');
    const fixed = { ...csv, params: { ...csv.params, writeHeader: true } };

    // Act
    const whole = await loop(single(base), stepEvent('lanes-whole', [rename, fixed], [input]), 60_000);
    const sliced = await loop(lanes, stepEvent('lanes-sliced', [rename, fixed], [input]), 1);

    // Assess
    const file = (r: StepResult) => (r.chain?.[0]?.out.kind === 'files' ? r.chain[0].out.files[0] : undefined);
    expect(sliced.counters.invocations).toBe(3);
    expect(file(sliced)?.parts).toHaveLength(3);
    expect((await content(base, file(sliced) as FileRef)).toString()).toBe(
      (await content(base, file(whole) as FileRef)).toString(),
    );
  });
});
