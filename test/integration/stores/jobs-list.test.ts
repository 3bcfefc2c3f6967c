import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdxError } from '../../../lib/core/errors.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { jobsTableInput, settleTable, upgradeJobsTable } from '../../../lib/local/jobs-table.ts';
import { type JobListOptions, type JobPage, type JobRecord, JobStore } from '../../../lib/stores/jobs.ts';
import { legacyJobsTableInput, runningJobRecord } from '../../support/jobs.ts';

let env: LocalEnvironment;
let dir: string;
let ddb: DynamoDBClient;
/** The names of the commands the counting client sent. */
const sent: string[] = [];

/** The environment's client, recording the name of every command it sends. */
function counting(): DynamoDBDocumentClient {
  const db = env.services.dynamo;
  return {
    send: (command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      return db.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
}

/** A finished job of `dataflowId` that started `minutes` after a fixed time. */
function jobAt(id: string, dataflowId: string, minutes: number, status: JobRecord['status'] = 'succeeded'): JobRecord {
  return {
    ...runningJobRecord(id, dataflowId),
    status,
    startTime: new Date(Date.UTC(2026, 0, 1) + minutes * 60_000).toISOString(),
  };
}

/** Creates a table and waits until it takes items. */
async function createTable(input: CreateTableCommandInput): Promise<void> {
  await ddb.send(new CreateTableCommand(input));
  await settleTable(ddb, input.TableName as string, 'active');
}

/** Every page of a listing, following its cursors. */
async function allPages(store: JobStore, options: JobListOptions): Promise<JobPage[]> {
  const pages: JobPage[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...options, ...(cursor === undefined ? {} : { cursor }) });
    pages.push(page);
    cursor = page.cursor;
  } while (cursor !== undefined && pages.length < 100);
  return pages;
}

/** Newest first, ties by id (the `byStart` order). */
const newestFirst = (a: JobRecord, b: JobRecord) => b.startTime.localeCompare(a.startTime) || b.id.localeCompare(a.id);

/** 45 jobs over three dataflows, one of them failed in every five, three started in the same millisecond. */
const JOBS: readonly JobRecord[] = Array.from({ length: 45 }, (_, n) =>
  jobAt(`job-${String(n).padStart(2, '0')}`, `df-${n % 3}`, n < 3 ? 0 : n * 7, n % 5 === 0 ? 'failed' : 'succeeded'),
);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-jobs-list-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
  ddb = new DynamoDBClient({
    region: env.config.region,
    endpoint: env.config.endpoints.dynamodb as string,
    credentials: env.config.credentials as never,
  });
  const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
  // Written in a shuffled order, so the order a listing shows is the index's, not the writes'.
  for (const job of [...JOBS].sort((a, b) => ((a.id.charCodeAt(5) * 31) % 11) - ((b.id.charCodeAt(5) * 31) % 11)))
    await store.create(job);
});

afterAll(async () => {
  ddb?.destroy();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobStore.list', () => {
  it('lists every job newest first in pages whose cursors join them into the full list, never by a Scan', async () => {
    // Prepare
    sent.length = 0;
    const store = new JobStore(counting(), env.config.tables.jobs);

    // Act
    const pages = await allPages(store, { limit: 10 });

    // Assess
    expect(pages.map((p) => p.jobs.length)).toEqual([10, 10, 10, 10, 5]);
    expect(pages.flatMap((p) => p.jobs.map((j) => j.id))).toEqual([...JOBS].sort(newestFirst).map((j) => j.id));
    expect(pages.at(-1)?.cursor).toBeUndefined();
    // byStart holds keys and status: each page's records come by BatchGetItem.
    expect(new Set(sent)).toEqual(new Set(['QueryCommand', 'BatchGetCommand']));
    expect(pages[0]?.jobs[0]).toEqual(JOBS.find((j) => j.id === pages[0]?.jobs[0]?.id));
  });

  it("pages one dataflow's jobs through its index alike", async () => {
    // Prepare
    sent.length = 0;
    const store = new JobStore(counting(), env.config.tables.jobs);

    // Act
    const pages = await allPages(store, { dataflowId: 'df-1', limit: 4 });

    // Assess
    const expected = JOBS.filter((j) => j.dataflowId === 'df-1').sort(newestFirst);
    expect(pages.flatMap((p) => p.jobs.map((j) => j.id))).toEqual(expected.map((j) => j.id));
    expect(new Set(sent)).toEqual(new Set(['QueryCommand']));
  });

  it('bounds the start time by the key condition and reads at most readLimit jobs for a status filter', async () => {
    // Prepare
    const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
    const from = jobAt('x', 'x', 70).startTime;
    const to = jobAt('x', 'x', 210).startTime;

    // Act
    const pages = await allPages(store, { status: 'failed', from, to, limit: 50, readLimit: 5 });
    const first = await store.list({ dataflowId: 'df-0', from, to, limit: 50 });

    // Assess
    const inRange = (j: JobRecord) => j.startTime >= from && j.startTime < to;
    expect(pages.flatMap((p) => p.jobs.map((j) => j.id))).toEqual(
      JOBS.filter((j) => inRange(j) && j.status === 'failed')
        .sort(newestFirst)
        .map((j) => j.id),
    );
    expect(pages.length).toBeGreaterThan(1);
    expect(first.jobs.map((j) => j.id)).toEqual(
      JOBS.filter((j) => inRange(j) && j.dataflowId === 'df-0')
        .sort(newestFirst)
        .map((j) => j.id),
    );
  });

  it('takes a cursor from outside the time range as the end or the top of the range', async () => {
    // Prepare
    const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
    const whole = await store.list({ limit: 2 });
    const from = jobAt('x', 'x', 280).startTime;

    // Act
    const past = await store.list({ from, cursor: (await store.list({ to: from, limit: 1 })).cursor as string });
    const above = await store.list({ to: from, limit: 50, cursor: whole.cursor as string });

    // Assess
    expect(past).toEqual({ jobs: [] });
    expect(above.jobs.map((j) => j.id)).toEqual(
      JOBS.filter((j) => j.startTime < from)
        .sort(newestFirst)
        .map((j) => j.id),
    );
  });

  it('refuses a cursor it did not hand out with IDX_JOB_CURSOR_INVALID', async () => {
    // Prepare
    const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const hostile = [
      'not a cursor!',
      b64('not json'),
      b64('{"t":1,"i":"job-01"}'),
      b64('{"t":"2026-01-01T00:00:00.000Z","i":""}'),
      b64('{"t":"2026-01-01T00:00:00.000Z","i":"a\\u0000b"}'),
      b64('["2026-01-01T00:00:00.000Z","job-01"]'),
      'A'.repeat(5000),
    ];

    // Act
    const errors = await Promise.all(hostile.map((cursor) => store.list({ cursor }).catch((e: unknown) => e)));

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(IdxError);
      expect((error as IdxError).code).toBe('IDX_JOB_CURSOR_INVALID');
    }
  });
});

describe('JobStore.backfillListKeys', () => {
  it('lists the records written before the index existed once it gave them their keys', async () => {
    // Prepare
    const table = 'backfill-jobs';
    await createTable(jobsTableInput(table));
    const store = new JobStore(env.services.dynamo, table);
    const old = jobAt('old-1', 'df-old', 1);
    await env.services.dynamo.send(new PutCommand({ TableName: table, Item: old }));
    await env.services.dynamo.send(new PutCommand({ TableName: table, Item: { id: 'no-start', dataflowId: 'df' } }));
    const recent = jobAt('new-1', 'df-new', 2);
    await store.create(recent);
    const before = await store.list();

    // Act
    const updated = await store.backfillListKeys();
    const again = await store.backfillListKeys();

    // Assess
    expect(before.jobs.map((j) => j.id)).toEqual(['new-1']);
    expect(updated).toBe(1);
    expect(again).toBe(0);
    expect((await store.list()).jobs).toEqual([recent, old]);
  });
});

describe('upgradeJobsTable', () => {
  it('rebuilds a local jobs table without the byStart index with every record listed', async () => {
    // Prepare
    const table = 'old-jobs';
    await createTable(legacyJobsTableInput(table));
    for (const job of JOBS.slice(0, 7)) await env.services.dynamo.send(new PutCommand({ TableName: table, Item: job }));

    // Act
    await upgradeJobsTable(ddb, table, true);

    // Assess
    const indexes = (await ddb.send(new DescribeTableCommand({ TableName: table }))).Table?.GlobalSecondaryIndexes;
    expect(indexes?.map((i) => i.IndexName).sort()).toEqual(['byDataflow', 'byStart']);
    const listed = await new JobStore(env.services.dynamo, table).list();
    expect(listed.jobs).toEqual([...JOBS.slice(0, 7)].sort(newestFirst));
    expect((await ddb.send(new ListTablesCommand({}))).TableNames).not.toContain(`${table}-upgrade`);
  });

  it('finishes an upgrade that stopped after the table was dropped, from the copy', async () => {
    // Prepare
    const table = 'half-jobs';
    await createTable(jobsTableInput(table));
    await createTable({
      TableName: `${table}-upgrade`,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    });
    const copied = JOBS.slice(10, 13);
    for (const job of copied)
      await env.services.dynamo.send(new PutCommand({ TableName: `${table}-upgrade`, Item: job }));

    // Act
    await upgradeJobsTable(ddb, table, true);

    // Assess
    expect((await new JobStore(env.services.dynamo, table).list()).jobs).toEqual([...copied].sort(newestFirst));
    expect((await ddb.send(new ListTablesCommand({}))).TableNames).not.toContain(`${table}-upgrade`);
  });
});
