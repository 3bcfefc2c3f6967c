import { describe, expect, it, vi } from 'vitest';
import { type EmfRecord, METRIC_NAMES, METRICS_NAMESPACE } from '../../../lib/core/metrics.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { type LocalRunResult, runLocal } from '../../../lib/local/runner.ts';
import { useLocalEnvironment } from '../../support/local.ts';
import { testRegistry } from '../../support/scripts.ts';

const local = useLocalEnvironment();
const registry = testRegistry();

/** 250 generated records, one in 10 rejected, the rejects down an error path into the same sink. */
function rejectingFlow(id: string): Dataflow {
  const { dataflow, problems } = readDataflow({
    id,
    name: id,
    steps: [
      { id: 'gen', type: 'test.generate', params: { count: 250, perInvocation: 100 }, next: ['rej'] },
      { id: 'rej', type: 'test.reject', params: { every: 10 }, next: ['remove'], error: ['remove'] },
      { id: 'remove', type: 'field.remove', params: { fields: ['profile'] } },
    ],
  });
  if (!dataflow) throw new Error(JSON.stringify(problems));
  return dataflow;
}

/** Runs a dataflow as deployed (log lines echoed) and returns the EMF records it wrote with the run's result. */
async function runCapturing(
  dataflow: Dataflow,
  invocationBudgetMs?: number,
): Promise<{ result: LocalRunResult; records: EmfRecord[] }> {
  const written: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const result = await runLocal(dataflow, {
      services: local.env.services,
      registry,
      echo: true,
      ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    });
    const records = written
      .flatMap((w) => w.split('\n'))
      .filter((l) => l.startsWith('{"_aws"'))
      .map((l) => JSON.parse(l) as EmfRecord);
    return { result, records };
  } finally {
    stdout.mockRestore();
  }
}

describe('the metrics a job writes', () => {
  it('are one EMF record per step, with its records in, out, rejected and duration, and one for the job', async () => {
    // Act
    const { result, records } = await runCapturing(rejectingFlow('metrics'));

    // Assess
    expect(result.status).toBe('succeeded');
    const steps = records.filter((r) => r.StepId !== undefined);
    expect(steps.map((r) => r.StepId).sort()).toEqual(['gen', 'rej', 'remove']);
    for (const r of steps) {
      const step = result.job?.steps[String(r.StepId)];
      expect(r).toMatchObject({
        DataflowId: 'metrics',
        jobId: result.jobId,
        [METRIC_NAMES.stepRecordsIn]: step?.recordsIn,
        [METRIC_NAMES.stepRecordsOut]: step?.recordsOut,
        [METRIC_NAMES.stepRecordsRejected]: step?.recordsRejected,
        [METRIC_NAMES.stepDuration]: step?.durationMs,
      });
      expect(r._aws.CloudWatchMetrics).toEqual([
        expect.objectContaining({ Namespace: METRICS_NAMESPACE, Dimensions: [['DataflowId', 'StepId']] }),
      ]);
    }
    const jobs = records.filter((r) => r.StepId === undefined);
    expect(jobs).toEqual([
      expect.objectContaining({
        DataflowId: 'metrics',
        [METRIC_NAMES.jobRecordsRead]: 250,
        [METRIC_NAMES.jobRecordsProcessed]: 225,
        [METRIC_NAMES.jobRecordsRejected]: 25,
        [METRIC_NAMES.jobDuration]: expect.any(Number),
      }),
    ]);
    expect(jobs[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['DataflowId']]);
    // Every metric a record declares is a number in it, as CloudWatch requires.
    for (const r of records)
      for (const m of r._aws.CloudWatchMetrics[0]?.Metrics ?? []) expect(typeof r[m.Name]).toBe('number');
  });

  it('are the same totals when every step continues over invocations of 1 ms', async () => {
    // Act
    const normal = await runCapturing(rejectingFlow('metrics-normal'));
    const tiny = await runCapturing(rejectingFlow('metrics-tiny'), 1);

    // Assess
    const counts = (records: EmfRecord[]) =>
      records
        .map((r) => ({
          step: r.StepId,
          in: r[METRIC_NAMES.stepRecordsIn] ?? r[METRIC_NAMES.jobRecordsRead],
          out: r[METRIC_NAMES.stepRecordsOut] ?? r[METRIC_NAMES.jobRecordsProcessed],
          rejected: r[METRIC_NAMES.stepRecordsRejected] ?? r[METRIC_NAMES.jobRecordsRejected],
        }))
        .sort((a, b) => String(a.step).localeCompare(String(b.step)));
    expect(tiny.result.job?.steps.gen?.invocations).toBeGreaterThan(1);
    expect(counts(tiny.records)).toEqual(counts(normal.records));
  });
});
