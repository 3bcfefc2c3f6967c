/**
 * Progress of a running job, as another reader of the jobs table sees it: a Gigya export on the emulator is held
 * part-way (its searches unanswered) while the test reads the job record, which must already show the counts so
 * far; and the progress a continuing reader reports counts every invocation, not only the current one.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import type { StepCounters } from '../../../lib/core/refs.ts';
import { validateText } from '../../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../../lib/local/gigya-emulator.ts';
import { type RunEvent, runLocal } from '../../../lib/local/runner.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { type JobRecord, JobStore } from '../../../lib/stores/jobs.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const ACCOUNTS = 3_000;
const PAGE = 300;
const BUCKET = 'progress-out';
let emu: GigyaEmulator | undefined;
const local = useLocalEnvironment({
  extras: [
    async () => {
      const started = await startGigyaEmulator({ accounts: generateAccounts({ count: ACCOUNTS, seed: 5 }) });
      emu = started;
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
  ],
});

/** account → rename → dsv in one Task, then the S3 writer in its own. */
function exportFlow(id: string) {
  const { dataflow, valid, problems } = validateText(
    JSON.stringify({
      id,
      name: id,
      steps: [
        {
          id: 'account',
          type: 'datasource.read.gigya.account',
          // One cursor: the test holds the export after its first pages, which a partition plan's probes would be.
          params: { select: 'UID, profile.email', batchSize: PAGE, partitions: 1 },
          next: ['rename'],
        },
        {
          id: 'rename',
          type: 'field.rename',
          params: { fields: [{ sourceField: 'profile.email', targetField: 'EMAIL' }] },
          next: ['dsv'],
        },
        {
          id: 'dsv',
          type: 'file.format.dsv',
          params: { fileName: `${id}_\${jobId}.csv`, columns: ['UID', 'EMAIL'] },
          next: ['s3'],
        },
        { id: 's3', type: 'datasource.write.amazon.s3', params: { bucketName: BUCKET } },
      ],
    }),
    defaultRegistry(),
  );
  expect(valid, JSON.stringify(problems)).toBe(true);
  return dataflow!;
}

/** Polls `read` every 20 ms until `done` holds for what it returns (or 30 s passed). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('progress of a running job', () => {
  it('moves processedRecords and totalRecords in the job record while the export still runs', async () => {
    // Prepare
    const { services } = local.env;
    const gigya = emu as GigyaEmulator;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const jobs = new JobStore(services.dynamo, services.config.tables.jobs);
    const jobId = 'progress-held';
    gigya.faults.latency('accounts.search', 50);

    // Act
    const run = runLocal(exportFlow('progress-held'), {
      services,
      registry: defaultRegistry(),
      jobId,
      input: { fullExtract: true },
      recordProgressMs: 50,
    });
    // Let the first pages through, then hold the export where it is.
    await until(
      async () => gigya.calls.get('accounts.search') ?? 0,
      (n) => n >= 2,
    );
    const release = gigya.faults.hold('accounts.search');
    const during = await until(
      () => jobs.get(jobId),
      (j) => (j?.processedRecords ?? 0) > 0,
    );
    release();
    gigya.faults.clear();
    const result = await run;

    // Assess
    expect(during?.status).toBe('running');
    expect(during?.processedRecords).toBeGreaterThan(0);
    expect(during?.processedRecords).toBeLessThan(ACCOUNTS);
    // The reader announced the whole match (Gigya's totalCount) before reading it.
    expect(during?.totalRecords).toBe(ACCOUNTS);
    expect(during?.steps.account).toMatchObject({ running: true, expected: ACCOUNTS });
    expect(during?.steps.account?.pages).toBeGreaterThanOrEqual(1);
    expect(during?.steps.dsv?.running).toBe(true);
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const job = result.job as JobRecord;
    expect(job).toMatchObject({ totalRecords: ACCOUNTS, processedRecords: ACCOUNTS });
    expect(job.steps.account).toMatchObject({ recordsOut: ACCOUNTS, pages: ACCOUNTS / PAGE, expected: ACCOUNTS });
    for (const step of Object.values(job.steps)) expect(step.running).toBeUndefined();
  });

  it('logs a progress line as the step function does deployed, in the log but not in the job trace', async () => {
    // Prepare
    const { services } = local.env;
    const gigya = emu as GigyaEmulator;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => undefined);
    gigya.faults.latency('accounts.search', 50);
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });

    // Act
    let result: Awaited<ReturnType<typeof runLocal>>;
    try {
      result = await runLocal(exportFlow('progress-logged'), {
        services,
        registry: defaultRegistry(),
        input: { fullExtract: true },
        echo: true,
        recordProgressMs: 100,
      });
    } finally {
      stdout.mockRestore();
      gigya.faults.clear();
    }

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const progress = written
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { stepId?: string; message: string })
      .filter((l) => l.stepId === 'account' && l.message.startsWith('progress: '));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)?.message).toMatch(/^progress: [\d,]+ of 3,000 records \(\d+%\), \d+ pages?, /);
    expect(result.job?.trace.some((l) => l.includes('progress: ') && l.includes(' of 3,000 records'))).toBe(false);
  });

  it('counts files and bytes in and out of file steps, and gives each step of a Task its own time', async () => {
    // Prepare
    const { services } = local.env;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => undefined);

    // Act
    const result = await runLocal(exportFlow('progress-files'), {
      services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const { account, rename, dsv, s3 } = (result.job as JobRecord).steps;
    expect(dsv).toMatchObject({ recordsIn: ACCOUNTS, filesOut: 1 });
    expect(dsv?.bytesOut).toBeGreaterThan(ACCOUNTS * 20);
    expect(s3).toMatchObject({ filesIn: 1, bytesIn: dsv?.bytesOut, filesOut: 1, bytesDelivered: dsv?.bytesOut });
    // account, rename and dsv share one Task: their own times add up to the Task's time, not each to all of it.
    const task = [account, rename, dsv].reduce((n, s) => n + (s?.durationMs ?? 0), 0);
    const wall = Date.parse(result.job?.endTime ?? '') - Date.parse(result.job?.startTime ?? '');
    expect(task).toBeLessThanOrEqual(wall);
    expect((account?.durationMs ?? 0) + (rename?.durationMs ?? 0)).toBeLessThanOrEqual(task - (dsv?.durationMs ?? 0));
    expect(rename?.durationMs).toBeLessThan(account?.durationMs ?? 0);
  });

  it('reports a continuing reader’s records and pages over all its invocations', async () => {
    // Prepare
    const { services } = local.env;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => undefined);
    (emu as GigyaEmulator).faults.latency('accounts.search', 30);
    const events: RunEvent[] = [];

    // Act
    const result = await runLocal(exportFlow('progress-continued'), {
      services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
      invocationBudgetMs: 1,
      progressIntervalMs: 10,
      onEvent: (e) => events.push(e),
    });
    (emu as GigyaEmulator).faults.clear();

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.account?.invocations).toBe(ACCOUNTS / PAGE);
    const reader = events
      .filter((e): e is Extract<RunEvent, { kind: 'step-progress' }> => e.kind === 'step-progress')
      .filter((e) => e.stepId === 'account')
      .map((e) => e.counters as StepCounters);
    expect(reader.some((c) => c.recordsOut > PAGE)).toBe(true);
    for (const [i, c] of reader.entries()) {
      expect(c.recordsOut).toBeGreaterThanOrEqual(reader[i - 1]?.recordsOut ?? 0);
      expect(c.pages ?? 0).toBeGreaterThanOrEqual(reader[i - 1]?.pages ?? 0);
      // The total comes with the first page, and stays through every invocation after it.
      if (c.pages !== undefined) expect(c.expected).toBe(ACCOUNTS);
    }
    expect(reader.at(-1)?.pages).toBeGreaterThan(1);
  });
});
