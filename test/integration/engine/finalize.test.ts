import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { finalizeExecution } from '../../../lib/engine/finalize.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { DataflowStateStore } from '../../../lib/stores/state.ts';
import { useLocalEnvironment } from '../../support/local.ts';

const local = useLocalEnvironment();
// SNS has no local stand-in; the tables are real (dynalite on loopback).
const snsMock = mockClient(SNSClient);
snsMock.on(PublishCommand).resolves({ MessageId: 'm' });

describe('finalizeExecution on DynamoDB', () => {
  it('fails the running job of a timed-out execution and frees the dataflow for its next run', async () => {
    // Prepare
    const { services, config } = local.env;
    const jobs = new JobStore(services.dynamo, config.tables.jobs);
    const state = new DataflowStateStore(services.dynamo, config.tables.state);
    await state.acquireLock('flow-1', 'job-t', Date.now(), 3_600_000);
    await jobs.create({
      id: 'job-t',
      dataflowId: 'flow-1',
      status: 'running',
      createTime: '2026-01-02T03:00:00.000Z',
      updateTime: '2026-01-02T03:00:00.000Z',
      startTime: '2026-01-02T03:00:00.000Z',
      totalRecords: 0,
      processedRecords: 0,
      attemptNumber: 1,
      trace: ['2026-01-02T03:00:00.000Z INFO job started'],
      steps: {},
      test: false,
      fullExtract: false,
      logLevel: 'info',
    });

    // Act
    const result = await finalizeExecution(
      {
        dataflowId: 'flow-1',
        dataflowName: 'Flow 1',
        failureTopicArn: 'arn:aws:sns:eu-west-1:123456789012:f',
        detail: {
          executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:identity-sync-flow-1:job-t',
          name: 'job-t',
          status: 'TIMED_OUT',
          stopDate: Date.parse('2026-01-03T03:00:00.000Z'),
          input: '{}',
        },
      },
      { dynamo: services.dynamo, sns: new SNSClient({ region: 'eu-west-1' }), tables: config.tables },
    );

    // Assess
    expect(result).toMatchObject({ status: 'failed', record: 'finished' });
    const job = await jobs.get('job-t');
    expect(job).toMatchObject({
      status: 'failed',
      endTime: '2026-01-03T03:00:00.000Z',
      error: { code: 'IDX_EXECUTION_TIMED_OUT' },
    });
    expect(job?.trace).toHaveLength(2);
    expect((await state.get('flow-1')).lockJobId).toBeUndefined();
    await expect(state.acquireLock('flow-1', 'job-next', Date.now(), 3_600_000)).resolves.toBeUndefined();
  });
});
