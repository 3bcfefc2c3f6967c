/**
 * The CloudWatch metrics a job publishes, as records in CloudWatch's embedded metric format (EMF): one JSON log
 * line whose `_aws` member names the namespace, dimensions and metrics, which CloudWatch Logs turns into metrics
 * without any API call or permission beyond writing the log. The engine's logger writes them (a step's totals when
 * it finishes, the job's when it succeeds); the stack's alarms read them. Format:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

/** The namespace of every identity-sync metric. */
export const METRICS_NAMESPACE = 'IdentitySync';

/** Dimension names. */
export const METRIC_DIMENSIONS = { dataflow: 'DataflowId', step: 'StepId' } as const;

/** Metric names: per job (dimension DataflowId) and per step (dimensions DataflowId, StepId). */
export const METRIC_NAMES = {
  /** Records the job's sources read (JobStatus `totalRecords`). */
  jobRecordsRead: 'JobRecordsRead',
  /** Records read that no step rejected (JobStatus `processedRecords`). */
  jobRecordsProcessed: 'JobRecordsProcessed',
  /** Records the job's steps rejected (sent down their error paths), over every step. */
  jobRecordsRejected: 'JobRecordsRejected',
  /** From the job's start to its end. */
  jobDuration: 'JobDuration',
  stepRecordsIn: 'StepRecordsIn',
  stepRecordsOut: 'StepRecordsOut',
  stepRecordsRejected: 'StepRecordsRejected',
  /** The step's own time over all its invocations. */
  stepDuration: 'StepDuration',
} as const;

/** One EMF record: the `_aws` metadata, the dimension values, the metric values and other properties. */
export type EmfRecord = Record<string, unknown> & {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: 'Count' | 'Milliseconds' }[];
    }[];
  };
};

/** Builds an EMF record of metrics sharing one dimension set, with further properties (searchable in Logs Insights). */
function emf(
  dimensions: Readonly<Record<string, string>>,
  metrics: Readonly<Record<string, { readonly value: number; readonly unit: 'Count' | 'Milliseconds' }>>,
  properties: Readonly<Record<string, unknown>>,
  time: number,
): EmfRecord {
  return {
    _aws: {
      Timestamp: time,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: Object.entries(metrics).map(([Name, m]) => ({ Name, Unit: m.unit })),
        },
      ],
    },
    ...properties,
    ...dimensions,
    ...Object.fromEntries(Object.entries(metrics).map(([name, m]) => [name, m.value])),
  };
}

/** The metrics of a finished step: its records in, out and rejected and its duration, over all invocations. */
export function stepMetrics(
  job: { readonly dataflowId: string; readonly id: string },
  step: {
    readonly stepId: string;
    readonly type: string;
    readonly recordsIn: number;
    readonly recordsOut: number;
    readonly recordsRejected: number;
    readonly durationMs: number;
  },
  time: number = Date.now(),
): EmfRecord {
  return emf(
    { [METRIC_DIMENSIONS.dataflow]: job.dataflowId, [METRIC_DIMENSIONS.step]: step.stepId },
    {
      [METRIC_NAMES.stepRecordsIn]: { value: step.recordsIn, unit: 'Count' },
      [METRIC_NAMES.stepRecordsOut]: { value: step.recordsOut, unit: 'Count' },
      [METRIC_NAMES.stepRecordsRejected]: { value: step.recordsRejected, unit: 'Count' },
      [METRIC_NAMES.stepDuration]: { value: step.durationMs, unit: 'Milliseconds' },
    },
    { jobId: job.id, stepType: step.type },
    time,
  );
}

/** The metrics of a job that succeeded: records read, processed and rejected, and its duration. */
export function jobMetrics(
  job: { readonly dataflowId: string; readonly id: string; readonly test?: boolean; readonly dryRun?: boolean },
  totals: { readonly read: number; readonly processed: number; readonly rejected: number; readonly durationMs: number },
  time: number = Date.now(),
): EmfRecord {
  return emf(
    { [METRIC_DIMENSIONS.dataflow]: job.dataflowId },
    {
      [METRIC_NAMES.jobRecordsRead]: { value: totals.read, unit: 'Count' },
      [METRIC_NAMES.jobRecordsProcessed]: { value: totals.processed, unit: 'Count' },
      [METRIC_NAMES.jobRecordsRejected]: { value: totals.rejected, unit: 'Count' },
      [METRIC_NAMES.jobDuration]: { value: totals.durationMs, unit: 'Milliseconds' },
    },
    { jobId: job.id, test: job.test === true, dryRun: job.dryRun === true },
    time,
  );
}
