/**
 * The layout of staged objects' keys: every dataflow's objects under one prefix (its function's grants are scoped
 * to it), every job's under its own.
 */

/** The key prefix of a dataflow's jobs: `stage/<dataflowId>/`. Its function's grants are scoped to it. */
export function dataflowPrefix(dataflowId: string): string {
  return `stage/${safeSegment(dataflowId)}/`;
}

/** The key prefix of a job: `stage/<dataflowId>/<jobId>/`. */
export function jobPrefix(dataflowId: string, jobId: string): string {
  return `${dataflowPrefix(dataflowId)}${safeSegment(jobId)}/`;
}

/** Makes a string safe as one S3 key segment (ids may hold spaces and punctuation). */
export function safeSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9._=-]+/g, '_').slice(0, 200) || '_';
}
