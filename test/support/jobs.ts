/**
 * Job records as a run leaves them, for tests of what happens to a job another run left behind, the jobs table
 * as earlier versions created it, and what a job's trace says.
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

/**
 * The chunks a byte kernel took, as a job's trace says it (`N of M chunk(s) went through a byte kernel`), summed
 * over the trace's lines: one such line per invocation of a laned step.
 */
export function kernelChunks(trace: readonly string[]): number {
  let taken = 0;
  for (const line of trace) {
    const m = /(\d+) of \d+ chunk\(s\) went through a byte kernel/.exec(line);
    taken += Number(m?.[1] ?? 0);
  }
  return taken;
}
