import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { StepEvent } from '../../../lib/core/events.ts';
import type { FilesRef, RecordsRef, StepResult } from '../../../lib/core/refs.ts';
import type { Services } from '../../../lib/core/services.ts';
import { handle } from '../../../lib/engine/handler.ts';
import { openStaged, readStagedText, StagedFileSink, StagedRecordSink } from '../../../lib/engine/stage.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { accountLines } from '../../support/accounts.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const local = useLocalEnvironment();
const registry = defaultRegistry();
const WORKER = fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));

/** A fused run as the compiler emits it: rename → date format (rejects bad dates) → CSV with fixed columns. */
function event(jobId: string, input: RecordsRef): StepEvent {
  return {
    action: 'step',
    job: {
      id: jobId,
      dataflowId: 'lanes',
      startTime: '2026-01-02T03:04:05.000Z',
      test: false,
      fullExtract: true,
      logLevel: 'info',
      attempt: 1,
    },
    step: {
      id: 'rename',
      type: 'field.rename',
      key: 's1',
      params: { fields: [{ sourceField: 'profile.lastName', targetField: 'LastName' }] },
    },
    fused: [
      {
        id: 'dates',
        type: 'field.date.format',
        key: 's2',
        params: { fields: [{ field: 'created', outputFormat: 'dd.MM.yyyy' }] },
      },
      {
        id: 'csv',
        type: 'file.format.dsv',
        key: 's3',
        params: { fileName: 'out.csv', columns: ['UID', 'LastName', 'created'] },
      },
    ],
    inputs: { i0: input },
  };
}

/** Runs a step event as the state machine would, in a job of its own; returns its chain of results and the job. */
async function runEvent(services: Services, e: StepEvent) {
  await services.dynamo.send(
    new PutCommand({
      TableName: services.config.tables.jobs,
      Item: { id: e.job.id, dataflowId: 'lanes', startTime: e.job.startTime, steps: {}, trace: [] },
    }),
  );
  const result = (await handle(e, services, registry, { deadline: Date.now() + 60_000, echo: false })) as StepResult;
  const bucket = services.config.stageBucket;
  const read = async (keys: readonly string[]) =>
    (await Promise.all(keys.map((k) => readStagedText(services.s3, bucket, k)))).join('');
  const chain = [result, ...(result.chain ?? [])];
  return {
    chain,
    read,
    counters: chain.map(({ counters: { durationMs: _d, ...c } }) => c),
    job: await new JobStore(services.dynamo, services.config.tables.jobs).get(e.job.id),
  };
}

async function runAs(services: Services, jobId: string, input: RecordsRef) {
  const { chain, read, counters, job } = await runEvent(services, event(jobId, input));
  const csv = chain[2]?.out.kind === 'files' ? chain[2].out.files[0] : undefined;
  return {
    csv: csv ? await read([csv.key]) : undefined,
    rejected: await read(chain[1]?.rejected.parts.map((p) => p.key) ?? []),
    counters,
    trace: job?.trace ?? [],
  };
}

/** A fused run of a file transformer into a parser: gunzip → parse CSV → rename. */
function importEvent(jobId: string, input: FilesRef): StepEvent {
  return {
    action: 'step',
    job: { ...event(jobId, { kind: 'records', parts: [], count: 0 }).job },
    step: { id: 'gunzip', type: 'file.uncompress.gzip', key: 's1', params: {} },
    fused: [
      { id: 'parse', type: 'file.parse.dsv', key: 's2', params: { inferTypes: true } },
      {
        id: 'rename',
        type: 'field.rename',
        key: 's3',
        params: { fields: [{ sourceField: 'name', targetField: 'profile.firstName' }] },
      },
    ],
    inputs: { i0: input },
  };
}

async function importAs(services: Services, jobId: string, input: FilesRef) {
  const { chain, read, counters, job } = await runEvent(services, importEvent(jobId, input));
  const out = chain[2]?.out;
  return {
    records: await read(out?.kind === 'records' ? out.parts.map((p) => p.key) : []),
    rejected: await read(chain[1]?.rejected.parts.map((p) => p.key) ?? []),
    counters,
    job,
  };
}

/** The export run with gzip fused after the formatter: rename → date format → CSV → gzip. */
async function exportGzAs(services: Services, jobId: string, input: RecordsRef) {
  const base = event(jobId, input);
  const e: StepEvent = {
    ...base,
    fused: [...(base.fused ?? []), { id: 'gzip', type: 'file.compress.gzip', key: 's4', params: {} }],
  };
  const { chain, counters, job } = await runEvent(services, e);
  const gz = chain[3]?.out.kind === 'files' ? chain[3].out.files[0] : undefined;
  const parts: Buffer[] = [];
  if (gz) for await (const p of openStaged(services.s3, services.config.stageBucket, gz.key)) parts.push(p as Buffer);
  return { gz, csv: gunzipSync(Buffer.concat(parts)).toString(), counters, job };
}

/** 6,000 staged accounts, with the services to run them in one thread and in two lanes. */
async function stagedAccounts(prefix: string) {
  const base = local.env.services;
  const sink = new StagedRecordSink(base.s3, base.config.stageBucket, prefix);
  await sink.write(accountLines(6000), 6000);
  const input = await sink.close();
  const one: Services = { ...base, config: { ...base.config, lanes: undefined } };
  const two: Services = {
    ...base,
    config: { ...base.config, lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1 << 20 } },
  };
  return { base, one, two, input };
}

describe('runStep in lanes', () => {
  it('stages the same file, rejects and counters from two lanes as from one thread', async () => {
    // Prepare
    const { one, two, input } = await stagedAccounts('stage/lanes/input/');

    // Act
    const single = await runAs(one, 'job-one', input);
    const laned = await runAs(two, 'job-two', input);

    // Assess
    expect(laned.csv).toBe(single.csv);
    expect(laned.csv?.split('\n')[0]).toBe('"UID","LastName","created"');
    expect(laned.rejected).toBe(single.rejected);
    expect(laned.rejected.trim().split('\n')).toHaveLength(Math.ceil(6000 / 13));
    expect(laned.counters).toEqual(single.counters);
    expect(laned.trace.join('\n')).toContain('running in 2 parallel lanes');
    expect(single.trace.join('\n')).not.toContain('parallel lanes');
  });

  it('streams the CSV it formats into gzip, in one thread and in lanes alike, without staging the plain file', async () => {
    // Prepare
    const { base, one, two, input } = await stagedAccounts('stage/lanes/gz-input/');

    // Act
    const single = await exportGzAs(one, 'gz-one', input);
    const laned = await exportGzAs(two, 'gz-two', input);
    const plain = await runAs(one, 'gz-plain', input);

    // Assess
    expect(single.gz?.name).toBe('out.csv.gz');
    expect(single.csv).toBe(plain.csv);
    expect(laned.csv).toBe(single.csv);
    // The lanes' file is a gzip member per chunk, so only its compressed size differs.
    const withoutGzBytes = (counters: typeof single.counters) =>
      counters.map((c, i) => (i === 3 ? { ...c, bytesOut: 0 } : c));
    expect(withoutGzBytes(laned.counters)).toEqual(withoutGzBytes(single.counters));
    expect(laned.counters[3]?.bytesOut).toBe(laned.gz?.size);
    const bytes = Buffer.byteLength(single.csv);
    expect(single.counters[2]).toMatchObject({ recordsIn: 6000 - Math.ceil(6000 / 13), filesOut: 1, bytesOut: bytes });
    expect(single.counters[3]).toMatchObject({ filesIn: 1, bytesIn: bytes, filesOut: 1 });
    for (const jobId of ['gz-one', 'gz-two']) {
      const keys =
        (
          await base.s3.send(
            new ListObjectsV2Command({ Bucket: base.config.stageBucket, Prefix: `stage/lanes/${jobId}/` }),
          )
        ).Contents?.map((o) => o.Key ?? '') ?? [];
      expect(keys.filter((k) => k.endsWith('.csv'))).toEqual([]);
      expect(keys.filter((k) => k.endsWith('.csv.gz'))).toHaveLength(1);
    }
    expect(laned.job?.trace.join('\n')).toContain('running in 2 parallel lanes');
  });

  it('streams a gunzipped CSV into the parser, in one thread and in lanes alike, without staging it', async () => {
    // Prepare
    const base = local.env.services;
    const rows = ['id,name,city'];
    for (let i = 0; i < 5000; i++) rows.push(i === 2500 ? '2500,"unclosed,x' : `${i},Name ${i},"Paris, FR"`);
    const csv = `${rows.join('\n')}\n`;
    const sink = new StagedFileSink(base.s3, base.config.stageBucket, 'stage/lanes/files/');
    const w = sink.create('in.csv.gz');
    w.end(gzipSync(csv));
    const input = await sink.close();
    const one: Services = { ...base, config: { ...base.config, lanes: undefined } };
    const two: Services = {
      ...base,
      config: { ...base.config, lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1 } },
    };

    // Act
    const single = await importAs(one, 'import-one', input);
    const laned = await importAs(two, 'import-two', input);

    // Assess
    expect(laned.records).toBe(single.records);
    expect(laned.rejected).toBe(single.rejected);
    expect(laned.counters).toEqual(single.counters);
    const plain = Buffer.byteLength(csv);
    expect(single.counters[0]).toMatchObject({ filesIn: 1, filesOut: 1, bytesOut: plain });
    expect(single.counters[1]).toMatchObject({ filesIn: 1, bytesIn: plain, recordsOut: 4999, recordsRejected: 1 });
    expect(JSON.parse(single.records.split('\n')[1] ?? '{}')).toEqual({
      id: 1,
      city: 'Paris, FR',
      profile: { firstName: 'Name 1' },
    });
    const keys =
      (
        await base.s3.send(
          new ListObjectsV2Command({ Bucket: base.config.stageBucket, Prefix: 'stage/lanes/import-one/' }),
        )
      ).Contents?.map((o) => o.Key) ?? [];
    expect(keys.some((k) => k?.includes('/s1/') && k.includes('/files/'))).toBe(false);
    expect(laned.job?.trace.join('\n')).toContain('running in 2 parallel lanes');
  });

  it("keeps a test run to 10 records where the run would go in lanes: a source under the job's limit runs on one thread", async () => {
    // Prepare
    const base = local.env.services;
    const rows = ['id,name', ...Array.from({ length: 5000 }, (_, i) => `${i},Name ${i}`)];
    const sink = new StagedFileSink(base.s3, base.config.stageBucket, 'stage/lanes/limited-files/');
    sink.create('in.csv.gz').end(gzipSync(`${rows.join('\n')}\n`));
    const input = await sink.close();
    const two: Services = {
      ...base,
      config: { ...base.config, lanes: { count: 2, worker: WORKER, minRecords: 1000, minBytes: 1 } },
    };
    const e = importEvent('import-limited', input);

    // Act
    const { chain, read, job } = await runEvent(two, { ...e, job: { ...e.job, test: true, limit: 10 } });

    // Assess
    const out = chain[2]?.out;
    const records = await read(out?.kind === 'records' ? out.parts.map((p) => p.key) : []);
    expect(records.trim().split('\n')).toHaveLength(10);
    expect(chain.map((r) => r.counters.recordsOut)).toEqual([0, 10, 10]);
    expect(chain[1]).toMatchObject({ done: true, limitReached: true });
    expect(job?.trace.join('\n')).not.toContain('parallel lanes');
  });

  it.each([
    ['file.format.krux', { fileName: 'k.csv', idField: 'UID' }],
    ['file.format.aam', { dpid: '478' }],
  ])('writes the same %s file from two lanes as from one thread, with the same counters', async (type, params) => {
    // Prepare: 6,000 accounts, some names holding quotes and commas that the formats replace.
    const { one, two, input } = await stagedAccounts(`stage/lanes/${type}-input/`);
    const run = async (services: Services, jobId: string) => {
      const base = event(jobId, input);
      const e: StepEvent = {
        ...base,
        step: { ...base.step, params: { fields: [{ sourceField: 'profile.lastName', targetField: 'LastName' }] } },
        fused: [{ id: 'audience', type, key: 's2', params }],
      };
      const { chain, read, counters, job } = await runEvent(services, e);
      const file = chain[1]?.out.kind === 'files' ? chain[1].out.files[0] : undefined;
      return { file: file ? await read([file.key]) : undefined, name: file?.name, counters, job };
    };

    // Act
    const single = await run(one, `${type}-one`);
    const laned = await run(two, `${type}-two`);

    // Assess
    expect(laned.name).toBe(single.name);
    expect(laned.file).toBe(single.file);
    expect(single.file?.split('\n').filter(Boolean)).toHaveLength(6000);
    expect(laned.counters).toEqual(single.counters);
    expect(laned.job?.trace.join('\n')).toContain('running in 2 parallel lanes');
  });
});

describe('runStep fusing gunzip into file.parse.json', () => {
  it('streams each gunzipped JSON file into the parser, whatever its layout, without staging it', async () => {
    // Prepare
    const base = local.env.services;
    const sink = new StagedFileSink(base.s3, base.config.stageBucket, 'stage/json-fused/files/');
    const contents = {
      'array.json.gz': `[${Array.from({ length: 3000 }, (_, i) => JSON.stringify({ id: i, name: `A ${i}` })).join(',\n')}]`,
      'lines.jsonl.gz': `${Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: i, name: `L ${i}` })).join('\n')}\n{"id":\n`,
      'pretty.json.gz': '{\n  "id": "p1",\n  "name": "P"\n}\n{ "id": "p2" }\n',
    };
    for (const [name, text] of Object.entries(contents)) sink.create(name).end(gzipSync(text));
    const input = await sink.close();
    const e: StepEvent = {
      ...importEvent('json-fused', input),
      fused: [
        { id: 'parse', type: 'file.parse.json', key: 's2', params: { addFilename: true } },
        ...(importEvent('json-fused', input).fused ?? []).slice(1),
      ],
    };

    // Act
    const { chain, read, counters } = await runEvent(base, e);

    // Assess
    const out = chain[2]?.out;
    const records = (await read(out?.kind === 'records' ? out.parts.map((p) => p.key) : []))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(5002);
    expect(records[0]).toEqual({ id: 0, profile: { firstName: 'A 0' }, _fileName: 'array.json' });
    expect(records[3000]).toEqual({ id: 0, profile: { firstName: 'L 0' }, _fileName: 'lines.jsonl' });
    expect(records.slice(-2)).toEqual([
      { id: 'p1', profile: { firstName: 'P' }, _fileName: 'pretty.json' },
      { id: 'p2', _fileName: 'pretty.json' },
    ]);
    const plain = Object.values(contents).reduce((n, t) => n + Buffer.byteLength(t), 0);
    expect(counters[0]).toMatchObject({ filesIn: 3, filesOut: 3, bytesOut: plain });
    expect(counters[1]).toMatchObject({ filesIn: 3, bytesIn: plain, recordsOut: 5002, recordsRejected: 1 });
    const keys =
      (
        await base.s3.send(
          new ListObjectsV2Command({ Bucket: base.config.stageBucket, Prefix: 'stage/lanes/json-fused/' }),
        )
      ).Contents?.map((o) => o.Key ?? '') ?? [];
    // Only the parser's rejects and the records are staged: no gunzipped file.
    expect(keys).toEqual([
      'stage/lanes/json-fused/s2/i0000/rejected/part-00000.ndjson',
      'stage/lanes/json-fused/s3/i0000/out/part-00000.ndjson',
    ]);
  });
});
