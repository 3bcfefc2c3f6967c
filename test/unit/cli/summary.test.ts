import { describe, expect, it } from 'vitest';
import { dataflowFileOf } from '../../../lib/cli/dataflow-commands.ts';
import { inputFrom } from '../../../lib/cli/run.ts';
import { deltaLine, jobSummary } from '../../../lib/cli/summary.ts';
import type { Schedule } from '../../../lib/dataflow/types.ts';
import type { JobRecord, StepSummary } from '../../../lib/stores/jobs.ts';

const job: JobRecord = {
  id: 'job-2',
  dataflowId: 'eloqua-inbound',
  status: 'succeeded',
  createTime: '2026-01-02T04:00:00.000Z',
  updateTime: '2026-01-02T04:00:09.000Z',
  startTime: '2026-01-02T04:00:00.000Z',
  endTime: '2026-01-02T04:00:09.000Z',
  totalRecords: 24,
  processedRecords: 21,
  attemptNumber: 1,
  trace: [],
  test: false,
  fullExtract: false,
  logLevel: 'info',
  schedulingId: 'nightly',
  delta: { from: '2026-01-01T03:55:00.000Z', to: '2026-01-02T04:00:00.000Z' },
  deltaBasis: 'watermark',
  steps: {
    sftp: {
      stepId: 'sftp',
      type: 'datasource.read.sftp',
      recordsIn: 0,
      recordsOut: 0,
      recordsRejected: 0,
      recordsDropped: 0,
      filesIn: 0,
      bytesIn: 0,
      filesOut: 1,
      bytesOut: 2048,
      durationMs: 40,
      invocations: 1,
      files: [{ name: 'eloqua_export_2.csv', size: 2048 }],
      skipped: [{ name: 'eloqua_export_1.csv', reason: 'already imported by job job-1 at 2026-01-01T04:00:09.000Z' }],
      updateTime: '2026-01-02T04:00:01.000Z',
    },
    dsv: {
      stepId: 'dsv',
      type: 'file.parse.dsv',
      recordsIn: 0,
      recordsOut: 23,
      recordsRejected: 1,
      recordsDropped: 0,
      filesIn: 1,
      bytesIn: 2048,
      filesOut: 0,
      bytesOut: 0,
      durationMs: 12,
      invocations: 1,
      rejectedLocation: 's3://stage/eloqua-inbound/job-2/s1/',
      updateTime: '2026-01-02T04:00:02.000Z',
    },
    'errors to sftp': {
      stepId: 'errors to sftp',
      type: 'datasource.write.sftp',
      recordsIn: 0,
      recordsOut: 0,
      recordsRejected: 0,
      recordsDropped: 0,
      filesIn: 1,
      bytesIn: 300,
      filesOut: 1,
      bytesOut: 0,
      bytesDelivered: 300,
      durationMs: 30,
      invocations: 1,
      files: [{ name: 'sftp://idx@embedded/errors/e.csv', size: 300 }],
      updateTime: '2026-01-02T04:00:08.000Z',
    },
  },
};

describe('jobSummary', () => {
  it('says the delta window and why, the files read, skipped and written, the rejects and the last runs', () => {
    // Act
    const text = jobSummary(
      job,
      { jobId: job.id, status: 'succeeded' },
      {
        dataflowId: 'eloqua-inbound',
        lastSuccessfulRun: '2026-01-02T04:00:09.000Z',
        lastJobId: 'job-2',
        lastSuccessfulTestRun: '2026-01-01T12:00:00.000Z',
        lastTestJobId: 'test-1',
      },
    );

    // Assess
    const lines = text.split('\n');
    expect(lines[0]).toBe('job job-2 succeeded in 9.0 s — 24 records read, 21 processed');
    expect(lines[1]).toBe(
      'delta window: changes after 2026-01-01T03:55:00.000Z up to 2026-01-02T04:00:00.000Z (the watermark of the last successful run, schedule nightly)',
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        'files read:    eloqua_export_2.csv (2.0 KB) [sftp]',
        'files skipped: eloqua_export_1.csv: already imported by job job-1 at 2026-01-01T04:00:09.000Z [sftp]',
        'files written: sftp://idx@embedded/errors/e.csv (300 B) [errors to sftp]',
        'rejected:      1 records at s3://stage/eloqua-inbound/job-2/s1/ [dsv]',
      ]),
    );
    expect(lines.at(-1)).toBe(
      'last successful run: 2026-01-02T04:00:09.000Z (job job-2); last successful test run: 2026-01-01T12:00:00.000Z (job test-1)',
    );
  });

  it('says which source the limit of a test run stopped and which files it left unread', () => {
    // Prepare
    const dsv = job.steps.dsv as StepSummary;
    const test: JobRecord = {
      ...job,
      test: true,
      limit: 10,
      totalRecords: 10,
      processedRecords: 10,
      steps: {
        dsv: {
          ...dsv,
          recordsOut: 10,
          recordsRejected: 0,
          filesIn: 1,
          limitReached: true,
          skipped: [{ name: 'eloqua_export_3.csv', reason: "not read: the job's record limit was reached before it" }],
        },
      },
    };

    // Act
    const lines = jobSummary(test, { jobId: job.id, status: 'succeeded' }).split('\n');

    // Assess
    expect(lines[0]).toBe('job job-2 succeeded in 9.0 s — 10 records read, 10 processed (test run)');
    expect(lines).toEqual(
      expect.arrayContaining([
        "files skipped: eloqua_export_3.csv: not read: the job's record limit was reached before it [dsv]",
        'limit:         reached at 10 records; whatever followed them was not read (not counted, not lost) [dsv]',
      ]),
    );
  });

  it('shows each side of a step in what it handles, records or files and bytes, and its own time', () => {
    // Act
    const lines = jobSummary(job, { jobId: job.id, status: 'succeeded' }).split('\n');

    // Assess
    const table = lines.slice(lines.findIndex((l) => l.startsWith('step ')));
    expect(table.slice(0, 4)).toEqual([
      'step            type                              in            out  rejected  dropped  invocations  own ms',
      'sftp            datasource.read.sftp               -  1 file 2.0 KB         0        0            1      40',
      'dsv             file.parse.dsv         1 file 2.0 KB             23         1        0            1      12',
      'errors to sftp  datasource.write.sftp   1 file 300 B   1 file 300 B         0        0            1      30',
    ]);
  });

  it('shows a running job with its counts so far and marks the steps still running', () => {
    // Prepare
    const running: JobRecord = {
      ...job,
      status: 'running',
      endTime: undefined,
      updateTime: '2026-01-02T04:00:05.000Z',
      totalRecords: 200_000,
      processedRecords: 52_000,
      steps: { dsv: { ...(job.steps.dsv as StepSummary), running: true } },
    };

    // Act
    const lines = jobSummary(running, { jobId: job.id, status: 'failed' }).split('\n');

    // Assess
    expect(lines[0]).toBe('job job-2 running, for 5.0 s — 52000 of 200000 records so far');
    expect(lines.some((l) => l.startsWith('dsv (running)  file.parse.dsv'))).toBe(true);
  });

  it('marks a step whose job ended while it ran as unfinished, not running', () => {
    // Prepare
    const failed: JobRecord = {
      ...job,
      status: 'failed',
      steps: { dsv: { ...(job.steps.dsv as StepSummary), running: true } },
    };

    // Act
    const lines = jobSummary(failed, { jobId: job.id, status: 'failed' }).split('\n');

    // Assess
    expect(lines.some((l) => l.startsWith('dsv (unfinished)  file.parse.dsv'))).toBe(true);
  });

  it('names every reason a delta window starts where it does, and marks a test run', () => {
    // Act
    const lines = [
      deltaLine({ ...job, deltaBasis: 'first-run', schedulingId: undefined } as JobRecord),
      deltaLine({ ...job, deltaBasis: 'first-run-schedule' }),
      deltaLine({ ...job, deltaBasis: 'lastRuntime', schedulingId: undefined } as JobRecord),
      deltaLine({ ...job, fullExtract: true, deltaBasis: 'full-extract', test: true }),
    ];

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(/\(first run, no watermark yet: one day back\)$/),
      expect.stringMatching(/\(first run, no watermark yet: one period of the schedule back, schedule nightly\)$/),
      expect.stringMatching(/\(the dataflow's lastRuntime \(no successful run recorded yet\)\)$/),
      'delta window: none, full extract (every record); a test run never moves the watermark',
    ]);
  });

  it('lists what each writer of a dry run would have written: targets with their first rows, calls with params', () => {
    // Prepare
    const counters = { ...job.steps.dsv, rejectedLocation: undefined } as NonNullable<JobRecord['steps'][string]>;
    const dry: JobRecord = {
      ...job,
      dryRun: true,
      steps: {
        sftp: {
          ...counters,
          stepId: 'sftp',
          type: 'datasource.write.sftp',
          wouldWrite: {
            records: 0,
            calls: 0,
            bytes: 2048,
            files: [
              { name: 'a.csv', target: 'sftp://u@h:22/out/a.csv', size: 2048, sample: ['email', 'a@example.com'] },
            ],
            sampleCalls: [],
          },
        },
        gigya: {
          ...counters,
          stepId: 'gigya',
          type: 'datasource.write.gigya.account',
          wouldWrite: {
            records: 21,
            calls: 21,
            bytes: 1300,
            files: [],
            sampleCalls: [{ method: 'accounts.setAccountInfo', params: { UID: 'u1', data: { subscribed: true } } }],
          },
        },
      },
    };

    // Act
    const lines = jobSummary(dry, { jobId: dry.id, status: 'succeeded' }).split('\n');

    // Assess
    expect(lines[0]).toBe('job job-2 succeeded in 9.0 s — 24 records read, 21 processed (dry run: nothing written)');
    expect(lines[1]).toMatch(/; a dry run never moves the watermark$/);
    expect(lines.slice(lines.indexOf('would write:   1 file(s), 2.0 KB [sftp]'))).toEqual([
      'would write:   1 file(s), 2.0 KB [sftp]',
      '  sftp://u@h:22/out/a.csv (2.0 KB)',
      '    email',
      '    a@example.com',
      'would write:   21 record(s) in 21 call(s) to accounts.setAccountInfo, 1.3 KB [gigya]',
      '  accounts.setAccountInfo {"UID":"u1","data":{"subscribed":true}}',
    ]);
  });

  it('leaves the window out for a job that never started', () => {
    // Act
    const line = deltaLine({ ...job, delta: undefined, deltaBasis: undefined } as unknown as JobRecord);

    // Assess
    expect(line).toBeUndefined();
  });
});

describe('inputFrom', () => {
  const schedules: Schedule[] = [
    { name: 'nightly', frequencyType: 'day', frequencyInterval: 1 },
    {
      id: 'q1',
      name: 'quarterly',
      frequencyType: 'month',
      frequencyInterval: 3,
      fullExtract: true,
      limit: 100,
      logLevel: 'debug',
    },
  ];

  it("starts a run as the schedule's rule would, with the flags given on the command line winning", () => {
    // Act
    const byName = inputFrom({ schedule: 'quarterly' }, { id: 'd', schedules });
    const byId = inputFrom({ schedule: 'q1', limit: '7', 'log-level': 'info' }, { id: 'd', schedules });
    const plain = inputFrom({ schedule: 'nightly' }, { id: 'd', schedules });

    // Assess
    expect(byName).toEqual({ scheduleId: 'q1', fullExtract: true, limit: 100, logLevel: 'debug' });
    expect(byId).toEqual({ scheduleId: 'q1', fullExtract: true, limit: 7, logLevel: 'info' });
    expect(plain).toEqual({ scheduleId: 'nightly', fullExtract: false, logLevel: 'info' });
  });

  it('asks for a dry run with --dry-run, as a schedule or a test run too', () => {
    // Act
    const dry = inputFrom({ 'dry-run': true });
    const dryTest = inputFrom({ 'dry-run': true, test: true });
    const dryScheduled = inputFrom({ 'dry-run': true, schedule: 'nightly' }, { id: 'd', schedules });

    // Assess
    expect(dry).toEqual({ dryRun: true });
    expect(dryTest).toEqual({ test: true, dryRun: true });
    expect(dryScheduled).toEqual({ scheduleId: 'nightly', fullExtract: false, logLevel: 'info', dryRun: true });
  });

  it('refuses a schedule the dataflow does not have, listing those it has', () => {
    // Act / Assess
    expect(() => inputFrom({ schedule: 'weekly' }, { id: 'd', schedules })).toThrow(
      expect.objectContaining({
        code: 'IDX_SCHEDULE_NOT_FOUND',
        expected: 'one of "nightly", "quarterly" (a name or an id)',
      }),
    );
  });
});

describe('dataflowFileOf', () => {
  it('takes a file as it is and finds a dataflow of dataflows/ by its id', () => {
    // Act / Assess
    expect(dataflowFileOf('dataflows/eloqua-inbound.json')).toBe('dataflows/eloqua-inbound.json');
    expect(dataflowFileOf('eloqua-inbound')).toBe('dataflows/eloqua-inbound.json');
    expect(() => dataflowFileOf('nope')).toThrow(expect.objectContaining({ code: 'IDX_FILE_NOT_FOUND' }));
  });
});
