/**
 * Job records as a run leaves them, for tests of what happens to a job another run left behind, and the jobs table
 * as earlier versions created it.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { JobRecord } from '../../lib/stores/jobs.ts';

/** The CreateTable input of a jobs table as versions before the `byStart` index created it: `byDataflow` only. */
export function legacyJobsTableInput(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'dataflowId', AttributeType: 'S' },
      { AttributeName: 'startTime', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'byDataflow',
        KeySchema: [
          { AttributeName: 'dataflowId', KeyType: 'HASH' },
          { AttributeName: 'startTime', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** The record of a job that started and is still `running` (or whose run died without ending it). */
export function runningJobRecord(id: string, dataflowId: string): JobRecord {
  const now = new Date().toISOString();
  return {
    id,
    dataflowId,
    status: 'running',
    createTime: now,
    updateTime: now,
    startTime: now,
    totalRecords: 0,
    processedRecords: 0,
    attemptNumber: 1,
    trace: [],
    steps: {},
    test: false,
    fullExtract: false,
    logLevel: 'info',
  };
}
