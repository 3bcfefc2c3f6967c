import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  jobsDeployedCommand,
  listDeployedJobs,
  runDeployedTest,
  testDeployedCommand,
} from '../../../lib/cli/deployed.ts';
import type { IdxError } from '../../../lib/core/errors.ts';
import type { JobRecord } from '../../../lib/stores/jobs.ts';

const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:identity-sync-alpha';
const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:identity-sync-alpha:test-1';
const sfnMock = mockClient(SFNClient);
const ddbMock = mockClient(DynamoDBDocumentClient);
const clients = {
  sfn: new SFNClient({ region: 'eu-west-1' }),
  dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })),
};

const job: JobRecord = {
  id: 'test-1',
  dataflowId: 'alpha',
  status: 'succeeded',
  createTime: '2026-01-02T03:00:01.000Z',
  updateTime: '2026-01-02T03:01:00.000Z',
  startTime: '2026-01-02T03:00:00.000Z',
  endTime: '2026-01-02T03:01:00.000Z',
  totalRecords: 10,
  processedRecords: 10,
  attemptNumber: 1,
  trace: [],
  steps: {},
  test: true,
  limit: 10,
  fullExtract: false,
  logLevel: 'info',
};

beforeEach(() => {
  sfnMock.reset();
  ddbMock.reset();
  sfnMock
    .on(ListStateMachinesCommand)
    .resolvesOnce({
      stateMachines: [
        { name: 'identity-sync-beta', stateMachineArn: `${SM}x`, type: 'STANDARD', creationDate: new Date() },
      ],
      nextToken: 'page-2',
    })
    .resolves({
      stateMachines: [{ name: 'identity-sync-alpha', stateMachineArn: SM, type: 'STANDARD', creationDate: new Date() }],
    });
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
  sfnMock
    .on(DescribeExecutionCommand)
    .resolvesOnce({ executionArn: EXEC, status: 'RUNNING', stateMachineArn: SM, startDate: new Date() })
    .resolves({ executionArn: EXEC, status: 'SUCCEEDED', stateMachineArn: SM, startDate: new Date() });
  ddbMock.on(GetCommand).resolves({ Item: job });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('runDeployedTest', () => {
  it("starts a test execution of the dataflow's state machine, waits for it and reads the job record", async () => {
    // Prepare
    const sleeps: number[] = [];

    // Act
    const result = await runDeployedTest(clients, {
      dataflowId: 'alpha',
      jobId: 'test-1',
      pollMs: 1500,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });

    // Assess
    expect(result).toEqual({ jobId: 'test-1', executionArn: EXEC, status: 'SUCCEEDED', job });
    expect(sfnMock.commandCalls(ListStateMachinesCommand).map((c) => c.args[0].input)).toEqual([
      {},
      { nextToken: 'page-2' },
    ]);
    expect(sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: SM, name: 'test-1', input: '{"test":true}' },
    ]);
    expect(sfnMock.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { executionArn: EXEC },
      { executionArn: EXEC },
    ]);
    expect(sleeps).toEqual([1500]);
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'identity-sync-jobs', Key: { id: 'test-1' }, ConsistentRead: true },
    ]);
  });

  it('names the state machine and table with the deployment prefix', async () => {
    // Prepare
    sfnMock.on(ListStateMachinesCommand).resolves({
      stateMachines: [{ name: 'idx-prod-alpha', stateMachineArn: SM, type: 'STANDARD', creationDate: new Date() }],
    });

    // Act
    await runDeployedTest(clients, { dataflowId: 'alpha', prefix: 'idx-prod', jobId: 'test-1', sleep: async () => {} });

    // Assess
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input.TableName).toBe('idx-prod-jobs');
  });

  it('says so when the dataflow is not deployed', async () => {
    // Prepare
    sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [] });

    // Act / Assess
    await expect(runDeployedTest(clients, { dataflowId: 'nope' })).rejects.toMatchObject({
      code: 'IDX_DEPLOYED_NOT_FOUND',
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('idx test --deployed', () => {
  it('prints the job summary and exits 0 when the test run succeeded', async () => {
    // Prepare
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXEC, status: 'SUCCEEDED', stateMachineArn: SM, startDate: new Date() });

    // Act
    const code = await testDeployedCommand(['alpha', '--deployed'], clients);

    // Assess
    expect(code).toBe(0);
    expect(out.join('')).toContain('job test-1 succeeded in 60.0 s — 10 records read, 10 processed (test run)');
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({
      stateMachineArn: SM,
      input: '{"test":true}',
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toMatch(/^test-\d{14}-[0-9a-f]{6}$/);
  });

  it('starts a dry test run with --dry-run and prints what each writer would have written', async () => {
    // Prepare
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXEC, status: 'SUCCEEDED', stateMachineArn: SM, startDate: new Date() });
    const wouldWrite = { records: 10, calls: 10, bytes: 420, files: [], sampleCalls: [] };
    const write = {
      ...job.steps,
      w: { stepId: 'w', type: 'uidmap.write', wouldWrite },
    } as unknown as JobRecord['steps'];
    ddbMock.on(GetCommand).resolves({ Item: { ...job, dryRun: true, steps: write } });

    // Act
    const code = await testDeployedCommand(['alpha', '--deployed', '--dry-run'], clients);

    // Assess
    expect(code).toBe(0);
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({
      input: '{"test":true,"dryRun":true}',
    });
    expect(out.join('')).toContain('processed (dry run: nothing written) (test run)');
    expect(out.join('')).toContain('would write:   10 record(s) in 10 call(s), 420 B [w]');
  });

  it('exits 1 when the execution failed', async () => {
    // Prepare
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC,
      status: 'FAILED',
      error: 'IdxError',
      cause: 'bad',
      stateMachineArn: SM,
      startDate: new Date(),
    });
    ddbMock.on(GetCommand).resolves({});

    // Act / Assess
    expect(await testDeployedCommand(['alpha', '--deployed'], clients)).toBe(1);
  });
});

describe('idx jobs --deployed', () => {
  it("lists a dataflow's jobs from the byDataflow index, newest first", async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [job] });
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);

    // Act
    const code = await jobsDeployedCommand(['--deployed', '--dataflow', 'alpha', '--limit', '5'], clients);

    // Assess
    expect(code).toBe(0);
    expect(ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: 'identity-sync-jobs',
        IndexName: 'byDataflow',
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': 'dataflowId' },
        ExpressionAttributeValues: { ':pk': 'alpha' },
        ScanIndexForward: false,
        // One more than the page: whether an older page exists.
        Limit: 6,
      },
    ]);
    expect(out.join('')).toMatch(/test-1\s+alpha\s+succeeded/);
  });

  it("lists every dataflow's jobs from the byStart index, never by a scan, and prints the cursor of the older page", async () => {
    // Prepare
    const older = { ...job, id: 'test-0', startTime: '2025-12-31T00:00:00.000Z' };
    const keys = (j: JobRecord) => ({ id: j.id, listKey: 'job', startKey: `${j.startTime}#${j.id}`, status: j.status });
    ddbMock.on(QueryCommand).resolves({ Items: [keys(job), keys(older)] });
    ddbMock.on(BatchGetCommand).resolves({ Responses: { 'identity-sync-jobs': [job] } });
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);

    // Act
    const code = await jobsDeployedCommand(['--deployed', '--limit', '1', '--json'], clients);
    const next = /--cursor (\S+)/.exec(err.join(''))?.[1] as string;
    await jobsDeployedCommand(['--deployed', '--limit', '1', '--cursor', next], clients);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(out[0] as string)).toEqual([job]);
    const inputs = ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(inputs[0]).toMatchObject({ IndexName: 'byStart', ExpressionAttributeValues: { ':pk': 'job' }, Limit: 2 });
    expect(inputs[1]?.ExclusiveStartKey).toEqual({
      listKey: 'job',
      startKey: `${job.startTime}#${job.id}`,
      id: job.id,
    });
    expect(ddbMock.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems).toEqual({
      'identity-sync-jobs': { Keys: [{ id: 'test-1' }] },
    });
    expect(ddbMock.commandCalls(ScanCommand)).toEqual([]);
  });

  it('asks again for the records BatchGetItem handed back unprocessed, and gives up with a coded error when none come', async () => {
    // Prepare: the first call reads one record of two; then the table is throttled for good.
    const second = { ...job, id: 'test-2', startTime: '2026-01-03T00:00:00.000Z' };
    const key = (j: JobRecord) => ({ id: j.id, listKey: 'job', startKey: `${j.startTime}#${j.id}` });
    ddbMock.on(QueryCommand).resolves({ Items: [key(second), key(job)] });
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { 'identity-sync-jobs': [job] },
        UnprocessedKeys: { 'identity-sync-jobs': { Keys: [{ id: 'test-2' }] } },
      })
      .resolvesOnce({ Responses: { 'identity-sync-jobs': [second] } })
      .resolves({ Responses: {}, UnprocessedKeys: { 'identity-sync-jobs': { Keys: [{ id: 'test-2' }] } } });
    vi.useFakeTimers();

    // Act
    const page = await listDeployedJobs(clients.dynamo, {});
    const failed = listDeployedJobs(clients.dynamo, {}).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    const error = await failed;
    vi.useRealTimers();

    // Assess
    expect(page.jobs.map((j) => j.id)).toEqual(['test-2', 'test-1']);
    expect((error as IdxError).code).toBe('IDX_JOB_READ_THROTTLED');
  });

  it('refuses a --cursor no listing printed, and a --limit out of range, with coded errors', async () => {
    // Act
    const cursor = await jobsDeployedCommand(['--deployed', '--cursor', 'x'.repeat(3000)], clients).catch((e) => e);
    const limit = await jobsDeployedCommand(['--deployed', '--limit', '0'], clients).catch((e) => e);

    // Assess
    expect((cursor as IdxError).code).toBe('IDX_JOB_CURSOR_INVALID');
    expect((limit as IdxError).code).toBe('IDX_USAGE');
    expect(ddbMock.commandCalls(QueryCommand)).toEqual([]);
  });

  it('gives the records from before the byStart index their list keys with reindex', async () => {
    // Prepare
    ddbMock.on(ScanCommand).resolves({ Items: [{ id: 'old-1', startTime: '2025-01-01T00:00:00.000Z' }] });
    ddbMock.on(UpdateCommand).resolves({});
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);

    // Act
    const code = await jobsDeployedCommand(['reindex', '--deployed', '--prefix', 'idx-prod'], clients);

    // Assess
    expect(code).toBe(0);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'idx-prod-jobs',
      Key: { id: 'old-1' },
      ExpressionAttributeValues: { ':k': 'job', ':s': '2025-01-01T00:00:00.000Z#old-1' },
    });
    expect(out.join('')).toMatch(/^1 job record/);
  });

  it('reads the jobs table named by the prefix', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const jobs = await listDeployedJobs(clients.dynamo, { prefix: 'idx-prod', dataflowId: 'alpha' });

    // Assess
    expect(jobs).toEqual({ jobs: [] });
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.TableName).toBe('idx-prod-jobs');
  });
});
