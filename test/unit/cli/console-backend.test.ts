/**
 * The console's local backend on the embedded services (dynalite, s3rver, the Gigya emulator, the SFTP server):
 * what the pages read, the runs they start and stop, and the dataflow files they write.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalConsoleBackend, SHIPPED_SCHEMA } from '../../../lib/cli/console-backend.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { startTestConsole } from '../../support/console.ts';
import { useEloquaWorld } from '../../support/eloqua.ts';

const world = useEloquaWorld(30);
let app: Awaited<ReturnType<typeof startTestConsole>>;
let backend: LocalConsoleBackend;

beforeAll(async () => {
  app = await startTestConsole(world.env);
  backend = app.backend;
});
afterAll(() => app?.close());

/** Waits until a job is no longer running. */
async function ended(jobId: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const job = await backend.getJob(jobId);
    if (job.status !== 'running') return job.status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${jobId} did not end`);
}

const fileOf = (id: string) => join(app.dir, `${id}.json`);
const read = (id: string) => JSON.parse(readFileSync(fileOf(id), 'utf8')) as Record<string, unknown>;

describe('LocalConsoleBackend', () => {
  it('lists the dataflow files with outline, schedules, next run and validation problems', async () => {
    // Prepare
    writeFileSync(join(app.dir, 'broken.json'), '{"id":"broken","name":"B","steps":[{"id":"a","type":"nope"}]}');

    // Act
    const list = await backend.listDataflows();

    // Assess
    const outbound = list.find((d) => d.id === 'eloqua-outbound');
    expect(outbound).toMatchObject({
      outline: 'account > rename > remember UIDs > remove > dsv > sftp',
      schedules: [{ name: 'nightly', frequencyType: 'day', enabled: true }],
      valid: true,
    });
    expect(outbound?.nextRun).toMatch(/T02:00:00\.000Z$/);
    const broken = list.find((d) => d.id === 'broken');
    expect(broken?.valid).toBe(false);
    expect(broken?.problems.map((p) => p.code)).toContain('IDX_STEP_TYPE_UNKNOWN');
  });

  it('starts a test run whose job exists when it answers, and shows it as the last test run once it succeeded', async () => {
    // Act
    const { jobId } = await backend.startRun('eloqua-outbound', { test: true });
    const first = await backend.getJob(jobId);
    const status = await ended(jobId);
    const overview = (await backend.listDataflows()).find((d) => d.id === 'eloqua-outbound');

    // Assess
    expect(first).toMatchObject({ id: jobId, dataflowId: 'eloqua-outbound', test: true });
    expect(status).toBe('succeeded');
    expect(overview?.lastTestRun?.jobId).toBe(jobId);
    expect(overview?.lastSuccessfulRun).toBeUndefined();
    const job = await backend.getJob(jobId);
    for (const s of Object.values(job.steps))
      if (s.recordsIn > 0) expect(s.recordsIn).toBe(s.recordsOut + s.recordsRejected);
    expect(
      (await backend.listJobs({ dataflowId: 'eloqua-outbound', status: 'succeeded', limit: 10 })).jobs,
    ).toHaveLength(1);
    expect(await backend.listJobs({ status: 'failed', limit: 10 })).toEqual({ jobs: [] });
  });

  it('shows a running job on the Dataflows page and stops it: the job ends killed and the run lock is released', async () => {
    // Prepare: every step invocation stops at once, so the run is still going when Stop comes.
    const slow = new LocalConsoleBackend(world.env, { dir: app.dir, invocationBudgetMs: 1 });
    const { jobId } = await slow.startRun('eloqua-outbound', { limit: 5 });

    // Act
    const running = (await backend.listDataflows()).find((d) => d.id === 'eloqua-outbound')?.running;
    await slow.stopJob(jobId);

    // Assess
    expect(running).toMatchObject({ id: jobId, status: 'running' });
    const job = await backend.getJob(jobId);
    expect(job.status).toBe('killed');
    const state = await new DataflowStateStore(world.env.services.dynamo, world.env.config.tables.state).get(
      'eloqua-outbound',
    );
    expect(state.lockJobId).toBeUndefined();
    await expect(slow.stopJob(jobId)).rejects.toMatchObject({ code: 'IDX_JOB_NOT_RUNNING' });
  });

  it('refuses a run while another run of the dataflow holds its lock', async () => {
    // Prepare
    const state = new DataflowStateStore(world.env.services.dynamo, world.env.config.tables.state);
    await state.acquireLock('eloqua-outbound', 'another-job', Date.now(), 60_000, { pid: process.pid });

    // Act
    const run = backend.startRun('eloqua-outbound', { test: true });

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_RUN_LOCKED' });
    await state.releaseLock('eloqua-outbound', 'another-job');
  });

  it('reads some of a step’s rejected records and downloads them all', async () => {
    // Prepare
    mkdirSync(join(world.root, 'from-eloqua'), { recursive: true });
    writeFileSync(
      join(world.root, 'from-eloqua', 'eloqua_export_backend.csv'),
      'C_EmailAddress,C_Gigya_UID1,C_FirstName,C_LastName,isSubscribed\r\na@example.com,u1,A,B, Jr,true\r\nb@example.com,u2,C,D, Sr,true\r\n',
    );
    const { jobId } = await backend.startRun('eloqua-inbound', { test: true });
    await ended(jobId);

    // Act
    const some = await backend.rejectedRecords(jobId, 'dsv', 1);
    const all: string[] = [];
    for await (const chunk of await backend.rejectedDownload(jobId, 'dsv')) all.push(Buffer.from(chunk).toString());

    // Assess
    expect(some.more).toBe(true);
    expect(some.records).toHaveLength(1);
    expect(some.records[0]).toHaveProperty('_errorDetails');
    expect(all.join('').trim().split('\n')).toHaveLength(2);
    await expect(backend.rejectedRecords(jobId, 'sftp', 1)).rejects.toMatchObject({ code: 'IDX_HTTP_NOT_FOUND' });
  });

  it('enables and disables a schedule in the file, keeping every other field', async () => {
    // Act
    await backend.setScheduleEnabled('sample-s3-csv', 'nightly', true);
    const on = read('sample-s3-csv');
    await backend.setScheduleEnabled('sample-s3-csv', 'nightly', false);

    // Assess
    expect((on.schedules as { enabled: boolean }[])[0]?.enabled).toBe(true);
    expect((read('sample-s3-csv').schedules as { enabled: boolean }[])[0]?.enabled).toBe(false);
    expect(read('sample-s3-csv').steps).toEqual(on.steps);
    await expect(backend.setScheduleEnabled('sample-s3-csv', 'hourly', true)).rejects.toMatchObject({
      code: 'IDX_SCHEDULE_NOT_FOUND',
    });
  });

  it('duplicates a dataflow under a free id with its schedules disabled', async () => {
    // Act
    const first = await backend.duplicateDataflow('eloqua-outbound');
    const second = await backend.duplicateDataflow('eloqua-outbound');

    // Assess
    expect([first.id, second.id]).toEqual(['eloqua-outbound-copy', 'eloqua-outbound-copy-2']);
    expect(read('eloqua-outbound-copy')).toMatchObject({
      id: 'eloqua-outbound-copy',
      schedules: [{ name: 'nightly', enabled: false }],
    });
    expect((await backend.getDataflow('eloqua-outbound-copy')).valid).toBe(true);
  });

  it('creates a dataflow from a template, refusing a taken id and a template that does not exist', async () => {
    // Act
    const created = await backend.createDataflow({ integration: 'eloqua', direction: 'inbound', id: 'my-inbound' });

    // Assess
    expect(created.id).toBe('my-inbound');
    const json = read('my-inbound');
    expect(json.id).toBe('my-inbound');
    expect(resolve(app.dir, String(json.$schema))).toBe(SHIPPED_SCHEMA);
    expect((await backend.getDataflow('my-inbound')).valid).toBe(true);
    await expect(
      backend.createDataflow({ integration: 'eloqua', direction: 'inbound', id: 'my-inbound' }),
    ).rejects.toMatchObject({ code: 'IDX_DATAFLOW_EXISTS' });
    await expect(
      backend.createDataflow({ integration: 'marketo', direction: 'inbound', id: 'other' }),
    ).rejects.toMatchObject({ code: 'IDX_TEMPLATE_NOT_FOUND', expected: expect.stringContaining('eloqua outbound') });
  });

  it('saves text only when it validates and keeps the dataflow’s id', async () => {
    // Prepare
    const text = await backend.dataflowText('sample-s3-csv');
    const broken = text.replace('"file.compress.gzip"', '"file.compress.gzp"');
    const renamed = text.replace('"id": "sample-s3-csv"', '"id": "other-id"');

    // Act
    const refused = await backend.saveDataflow('sample-s3-csv', broken);
    const moved = await backend.saveDataflow('sample-s3-csv', renamed);
    const kept = readFileSync(fileOf('sample-s3-csv'), 'utf8');
    const saved = await backend.saveDataflow('sample-s3-csv', text.replace('Sample: S3', 'Sample two: S3'));

    // Assess
    expect(refused.valid).toBe(false);
    expect(refused.problems.map((p) => p.code)).toContain('IDX_STEP_TYPE_UNKNOWN');
    expect(moved.valid).toBe(false);
    expect(moved.problems[0]).toMatchObject({ code: 'IDX_DATAFLOW_SHAPE', path: '$.id' });
    expect(kept).toBe(text);
    expect(saved.valid).toBe(true);
    expect(read('sample-s3-csv').name).toBe('Sample two: S3 CSV to S3 CSV');
    expect((await backend.validateText('{', 'sample-s3-csv')).problems[0]?.code).toBe('IDX_JSON_SYNTAX');
  });

  it('masks a credential written into a dataflow in its steps and its JSON', async () => {
    // Prepare
    const json = read('eloqua-outbound');
    const steps = json.steps as { id: string; params: Record<string, unknown> }[];
    const sftp = steps.find((s) => s.id === 'sftp');
    if (sftp) sftp.params.password = 'plain-text-password';
    writeFileSync(fileOf('with-password'), JSON.stringify({ ...json, id: 'with-password', steps }));

    // Act
    const detail = await backend.getDataflow('with-password');

    // Assess
    expect(detail.maskedJson).not.toContain('plain-text-password');
    expect(detail.maskedJson).toContain('"password": "********"');
    expect(detail.dataflow?.steps.find((s) => s.id === 'sftp')?.params.password).toBe('********');
    expect(detail.problems.map((p) => p.code)).toContain('IDX_CREDENTIAL_PLAINTEXT');
  });

  it('answers a dataflow and a job it does not have with their codes', async () => {
    // Act / Assess
    await expect(backend.getDataflow('nothing')).rejects.toMatchObject({ code: 'IDX_DATAFLOW_NOT_FOUND' });
    await expect(backend.getJob('nothing')).rejects.toMatchObject({ code: 'IDX_JOB_NOT_FOUND' });
    await expect(backend.startRun('broken', { test: true })).rejects.toMatchObject({ code: 'IDX_DATAFLOW_INVALID' });
  });
});
