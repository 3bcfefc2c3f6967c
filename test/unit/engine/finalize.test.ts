import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExecutionStatusNotice, finalizeExecution, notificationSubject } from '../../../lib/engine/finalize.ts';
import type { JobRecord } from '../../../lib/stores/jobs.ts';

const TABLES = { jobs: 'jobs-t', state: 'state-t' };
const ARN = 'arn:aws:states:eu-west-1:123456789012:execution:identity-sync-alpha:job-1';
const START = Date.parse('2026-01-02T03:00:00.000Z');
const STOP = Date.parse('2026-01-02T04:00:00.000Z');
const END = '2026-01-02T04:00:00.000Z';

const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const sns = new SNSClient({ region: 'eu-west-1' });
const ddbMock = mockClient(DynamoDBDocumentClient);
const snsMock = mockClient(SNSClient);

function notice(
  status: string,
  input: Record<string, unknown> = { scheduleId: 'nightly' },
  more = {},
): ExecutionStatusNotice {
  return {
    dataflowId: 'alpha',
    dataflowName: 'Alpha export',
    successTopicArn: 'arn:aws:sns:eu-west-1:123456789012:success',
    failureTopicArn: 'arn:aws:sns:eu-west-1:123456789012:failure',
    detail: {
      executionArn: ARN,
      name: 'job-1',
      status,
      startDate: START,
      stopDate: STOP,
      input: JSON.stringify(input),
      ...more,
    },
  };
}

function record(status: JobRecord['status'], more: Partial<JobRecord> = {}): JobRecord {
  return {
    id: 'job-1',
    dataflowId: 'alpha',
    dataflowName: 'Alpha export',
    schedulingId: 'nightly',
    status,
    createTime: '2026-01-02T03:00:01.000Z',
    updateTime: '2026-01-02T03:10:00.000Z',
    startTime: '2026-01-02T03:00:00.000Z',
    totalRecords: 120,
    processedRecords: 118,
    attemptNumber: 1,
    trace: ['2026-01-02T03:00:01.000Z INFO job started'],
    steps: {},
    test: false,
    fullExtract: false,
    logLevel: 'info',
    ...more,
  };
}

const RELEASE = {
  TableName: 'state-t',
  Key: { pk: 'alpha', sk: 'state' },
  UpdateExpression: 'REMOVE lockJobId, lockExpires, lockTakenAt, lockPid, lockHost, lockExecution',
  ConditionExpression: 'lockJobId = :job',
  ExpressionAttributeValues: { ':job': 'job-1' },
};

const updates = () => ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
const publishes = () => snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);

beforeEach(() => {
  ddbMock.reset();
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  // The lock is usually released already; the conditional update then fails, which is fine.
  ddbMock
    .on(UpdateCommand, { TableName: 'state-t' })
    .rejects(Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' }));
});

afterEach(() => {
  ddbMock.reset();
  snsMock.reset();
});

describe('finalizeExecution', () => {
  it('finishes a running job whose execution timed out as failed, releases its lock and notifies the failure topic', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: record('running') });
    ddbMock.on(UpdateCommand, { TableName: 'jobs-t' }).resolves({});
    ddbMock.on(UpdateCommand, { TableName: 'state-t' }).resolves({});

    // Act
    const result = await finalizeExecution(
      notice('TIMED_OUT', { scheduleId: 'nightly' }, { error: 'States.Timeout' }),
      {
        dynamo,
        sns,
        tables: TABLES,
      },
    );

    // Assess
    expect(result).toEqual({
      jobId: 'job-1',
      status: 'failed',
      record: 'finished',
      notified: 'arn:aws:sns:eu-west-1:123456789012:failure',
    });
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'jobs-t', Key: { id: 'job-1' }, ConsistentRead: true },
    ]);
    const error = {
      name: 'States.Timeout',
      code: 'IDX_EXECUTION_TIMED_OUT',
      message: 'the execution reached its timeout before the job finished',
    };
    expect(updates()).toEqual([
      {
        TableName: 'jobs-t',
        Key: { id: 'job-1' },
        UpdateExpression:
          'SET #status = :status, endTime = :end, updateTime = :end, #trace = list_append(if_not_exists(#trace, :empty), :lines), #error = :error',
        ExpressionAttributeNames: { '#status': 'status', '#trace': 'trace', '#error': 'error' },
        ExpressionAttributeValues: {
          ':status': 'failed',
          ':end': END,
          ':lines': [
            `${END} ERROR job failed: execution TIMED_OUT (IDX_EXECUTION_TIMED_OUT: the execution reached its timeout before the job finished)`,
          ],
          ':empty': [],
          ':error': error,
          ':expected': 'running',
        },
        ConditionExpression: '#status = :expected',
      },
      RELEASE,
    ]);
    expect(publishes()).toEqual([
      {
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:failure',
        Subject: 'identity-sync: Alpha export failed',
        Message: expect.stringContaining('Error: IDX_EXECUTION_TIMED_OUT: the execution reached its timeout'),
        MessageAttributes: {
          status: { DataType: 'String', StringValue: 'failed' },
          scheduleId: { DataType: 'String', StringValue: 'nightly' },
        },
      },
    ]);
    expect(publishes()[0]?.Message).toContain(
      `Execution: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${ARN}`,
    );
  });

  it("ends a stopped execution's job as killed", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: record('running') });
    ddbMock.on(UpdateCommand, { TableName: 'jobs-t' }).resolves({});

    // Act
    const result = await finalizeExecution(notice('ABORTED', { scheduleId: 'nightly' }, { cause: 'stopped by ops' }), {
      dynamo,
      sns,
      tables: TABLES,
    });

    // Assess
    expect(result?.status).toBe('killed');
    expect(updates()[0]?.ExpressionAttributeValues).toMatchObject({
      ':status': 'killed',
      ':error': {
        name: 'States.Aborted',
        code: 'IDX_EXECUTION_ABORTED',
        message: 'the execution was stopped: stopped by ops',
      },
    });
    expect(publishes()[0]?.Subject).toBe('identity-sync: Alpha export killed');
  });

  it('keeps a record the state machine already finished and only notifies', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: record('succeeded', { endTime: '2026-01-02T03:59:00.000Z' }) });

    // Act
    const result = await finalizeExecution(notice('SUCCEEDED'), { dynamo, sns, tables: TABLES });

    // Assess
    expect(result).toEqual({
      jobId: 'job-1',
      status: 'succeeded',
      record: 'kept',
      notified: 'arn:aws:sns:eu-west-1:123456789012:success',
    });
    expect(updates()).toEqual([RELEASE]);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(publishes()).toEqual([
      {
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:success',
        Subject: 'identity-sync: Alpha export succeeded',
        Message: [
          'Dataflow: Alpha export (alpha)',
          'Job: job-1',
          'Schedule: nightly',
          'Status: succeeded (execution SUCCEEDED)',
          'Attempt: 1',
          'Started: 2026-01-02T03:00:00.000Z',
          'Ended: 2026-01-02T03:59:00.000Z',
          'Records: 120 read, 118 processed',
          '',
          `Execution: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${ARN}`,
        ].join('\n'),
        MessageAttributes: {
          status: { DataType: 'String', StringValue: 'succeeded' },
          scheduleId: { DataType: 'String', StringValue: 'nightly' },
        },
      },
    ]);
  });

  it('lists every failed attempt of a job that ran again in the notification', async () => {
    // Prepare
    const attempts = [
      {
        attempt: 1,
        startTime: '2026-01-02T03:00:00.000Z',
        endTime: '2026-01-02T03:10:00.000Z',
        error: { name: 'Lambda.Unknown', message: 'Runtime exited' },
      },
      {
        attempt: 2,
        startTime: '2026-01-02T03:11:00.000Z',
        endTime: '2026-01-02T03:20:00.000Z',
        error: { code: 'IDX_SFTP_IO', message: 'connection reset' },
      },
    ];
    ddbMock.on(GetCommand).resolves({ Item: record('succeeded', { attemptNumber: 3, attempts }) });

    // Act
    await finalizeExecution(notice('SUCCEEDED'), { dynamo, sns, tables: TABLES });

    // Assess
    const lines = String(publishes()[0]?.Message).split('\n');
    expect(lines.slice(lines.indexOf('Attempt: 3'), lines.indexOf('Attempt: 3') + 3)).toEqual([
      'Attempt: 3',
      'Attempt 1 failed at 2026-01-02T03:10:00.000Z: Lambda.Unknown: Runtime exited',
      'Attempt 2 failed at 2026-01-02T03:20:00.000Z: IDX_SFTP_IO: connection reset',
    ]);
  });

  it('creates the record of an execution that failed before its job started, with its attempt and schedule', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    const cause = JSON.stringify({
      errorMessage: JSON.stringify({ code: 'IDX_RUN_LOCKED', message: 'already running' }),
    });

    // Act
    const result = await finalizeExecution(
      notice('FAILED', { scheduleId: 'nightly', attempt: 2, fullExtract: true }, { error: 'IdxError', cause }),
      { dynamo, sns, tables: TABLES },
    );

    // Assess
    expect(result?.record).toBe('created');
    expect(ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: 'jobs-t',
        Item: {
          id: 'job-1',
          dataflowId: 'alpha',
          dataflowName: 'Alpha export',
          schedulingId: 'nightly',
          status: 'failed',
          createTime: END,
          updateTime: END,
          startTime: '2026-01-02T03:00:00.000Z',
          endTime: END,
          totalRecords: 0,
          processedRecords: 0,
          attemptNumber: 2,
          trace: [`${END} ERROR job failed: execution FAILED (IDX_RUN_LOCKED: already running)`],
          steps: {},
          test: false,
          fullExtract: true,
          logLevel: 'info',
          error: { code: 'IDX_RUN_LOCKED', name: 'IdxError', message: 'already running' },
          expiresAt: expect.any(Number),
          // The keys of the byStart index, so the job appears in job lists like any other.
          listKey: 'job',
          startKey: '2026-01-02T03:00:00.000Z#job-1',
        },
      },
    ]);
    expect(updates()).toEqual([RELEASE]);
    expect(publishes()[0]?.Message).toContain('Attempt: 2');
  });

  it('leaves a record another writer finished meanwhile as that writer left it', async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolvesOnce({ Item: record('running') })
      .resolves({ Item: record('failed', { endTime: END }) });
    ddbMock
      .on(UpdateCommand, { TableName: 'jobs-t' })
      .rejects(Object.assign(new Error('conditional'), { name: 'ConditionalCheckFailedException' }));

    // Act
    const result = await finalizeExecution(notice('FAILED'), { dynamo, sns, tables: TABLES });

    // Assess
    expect(result).toMatchObject({ status: 'failed', record: 'kept' });
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(2);
  });

  it('publishes a hand-started run without a schedule attribute, so schedule subscriptions do not receive it', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: record('succeeded', { schedulingId: undefined, test: true }) });

    // Act
    await finalizeExecution(notice('SUCCEEDED', { test: true }), { dynamo, sns, tables: TABLES });

    // Assess
    expect(publishes()[0]?.MessageAttributes).toEqual({ status: { DataType: 'String', StringValue: 'succeeded' } });
    expect(publishes()[0]?.Subject).toBe('identity-sync: Alpha export test run succeeded');
  });

  it('ignores an execution that has not ended', async () => {
    // Act
    const result = await finalizeExecution(notice('RUNNING'), { dynamo, sns, tables: TABLES });

    // Assess
    expect(result).toBeUndefined();
    expect(ddbMock.calls()).toHaveLength(0);
    expect(snsMock.calls()).toHaveLength(0);
  });
});

describe('notificationSubject', () => {
  it('keeps subjects to 100 printable ASCII characters', () => {
    // Act
    const subject = notificationSubject(`Données ${'x'.repeat(200)}`, { status: 'failed', test: false });

    // Assess
    expect(subject).toHaveLength(100);
    expect(subject).toMatch(/^identity-sync: Donn\?es x+\.\.\.$/);
  });

  it('says when the job was a dry run', () => {
    // Act
    const subject = notificationSubject('Eloqua inbound', { status: 'succeeded', test: false, dryRun: true });

    // Assess
    expect(subject).toBe('identity-sync: Eloqua inbound dry run succeeded');
  });
});
