import type { JobContext } from '../../lib/core/script.ts';

/** A job context as a step sees it, for tests that run scripts or lanes without a job record; `over` replaces fields. */
export function jobContext(over: Partial<JobContext> = {}): JobContext {
  return {
    id: 'job-1',
    dataflowId: 'test',
    startTime: '2026-01-02T03:04:05.000Z',
    test: false,
    fullExtract: false,
    logLevel: 'info',
    attempt: 1,
    ...over,
  };
}
