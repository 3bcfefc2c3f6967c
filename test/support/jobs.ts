/** Job records as a run leaves them, for tests of what happens to a job another run left behind. */
import type { JobRecord } from '../../lib/stores/jobs.ts';

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
