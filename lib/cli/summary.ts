/**
 * The job summary `idx run`, `idx test` and `idx jobs show` print: what ran, on which delta window and why, the
 * files read, skipped and written, the per-step counters, where the rejected records are, and the dataflow's last
 * successful run and test run.
 */

import type { StepCounters } from '../core/refs.ts';
import { defaultRegistry } from '../scripts/index.ts';
import type { DeltaBasis, JobRecord, StepSummary } from '../stores/jobs.ts';
import type { DataflowState } from '../stores/state.ts';
import { bytes, table } from './format.ts';

/** How a run ended, when there may be no job record to say it. */
export interface RunOutcome {
  readonly jobId: string;
  readonly status: 'succeeded' | 'failed' | 'killed';
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

const BASIS: Record<DeltaBasis, string> = {
  watermark: 'the watermark of the last successful run',
  lastRuntime: "the dataflow's lastRuntime (no successful run recorded yet)",
  'first-run': 'first run, no watermark yet: one day back',
  'first-run-schedule': 'first run, no watermark yet: one period of the schedule back',
  'full-extract': 'full extract',
};

/**
 * The delta window line: which changes the delta readers read, and why from there; undefined for a job that
 * never started (it has no window).
 */
export function deltaLine(job: JobRecord): string | undefined {
  const test =
    job.dryRun === true
      ? '; a dry run never moves the watermark'
      : job.test
        ? '; a test run never moves the watermark'
        : '';
  if (job.fullExtract) return `delta window: none, full extract (every record)${test}`;
  if (!job.delta) return undefined;
  const from = job.delta.from ? `changes after ${job.delta.from}` : 'every change';
  const why = job.deltaBasis
    ? ` (${BASIS[job.deltaBasis]}${job.schedulingId ? `, schedule ${job.schedulingId}` : ''})`
    : '';
  return `delta window: ${from} up to ${job.delta.to}${why}${test}`;
}

/**
 * Whether a step reads files from a source (consumes nothing, produces files), reads records from one, writes to a
 * target (produces nothing), or works in between.
 */
function roleOf(step: StepSummary): 'file reader' | 'reader' | 'writer' | 'other' {
  const definition = defaultRegistry().get(step.type);
  if (definition?.consumes === 'nothing') return definition.produces === 'files' ? 'file reader' : 'reader';
  if (definition?.produces === 'nothing') return 'writer';
  return 'other';
}

const files = (n: number, size: number, what = '') => `${n} file${n === 1 ? '' : 's'} ${bytes(size)}${what}`;

/**
 * What a step took in and gave out, each side in what it handles: records (a count), files (how many, how many
 * bytes), or nothing ("-", a reader's input); a writer's out is what its target accepted (files and bytes
 * delivered, or records).
 */
export function stepSides(step: { readonly type: string } & StepCounters): { in: string; out: string } {
  const d = defaultRegistry().get(step.type);
  const side = (kind: string | undefined, records: number, n: number, size: number) =>
    kind === 'files' ? files(n, size) : kind === 'nothing' ? '-' : String(records);
  let out = side(d?.produces, step.recordsOut, step.filesOut, step.bytesOut);
  if (d?.produces === 'nothing' && d.delivers === 'files') out = files(step.filesOut, step.bytesDelivered ?? 0);
  else if (d?.produces === 'nothing' && d.delivers === 'records') out = String(step.recordsOut);
  return { in: side(d?.consumes, step.recordsIn, step.filesIn, step.bytesIn), out };
}

/** Longest call sample a summary line shows. */
const CALL_CHARS = 160;

/**
 * What each writer of a dry run would have written: per writer its records, calls and bytes, each file's target
 * with its first rows, and the first calls with their params.
 */
export function wouldWriteLines(steps: readonly StepSummary[]): string[] {
  const lines: string[] = [];
  for (const s of steps) {
    const w = s.wouldWrite;
    if (!w) continue;
    const what = w.files.length
      ? `${w.files.length} file(s), ${bytes(w.bytes)}`
      : `${w.records} record(s) in ${w.calls} call(s)${w.sampleCalls[0] ? ` to ${w.sampleCalls[0].method}` : ''}, ${bytes(w.bytes)}`;
    lines.push(`would write:   ${what} [${s.stepId}]`);
    for (const f of w.files) {
      lines.push(`  ${f.target} (${bytes(f.size)})`);
      for (const row of f.sample ?? []) lines.push(`    ${row}`);
    }
    for (const c of w.sampleCalls) {
      const params = JSON.stringify(c.params);
      lines.push(`  ${c.method} ${params.length > CALL_CHARS ? `${params.slice(0, CALL_CHARS)}…` : params}`);
    }
  }
  return lines;
}

function when(time: string | undefined, jobId: string | undefined): string {
  return time ? `${time}${jobId ? ` (job ${jobId})` : ''}` : 'never';
}

/** The job summary: status line, delta window, files, per-step counters, rejects, failure, last runs. */
export function jobSummary(job: JobRecord | undefined, result: RunOutcome, state?: DataflowState): string {
  if (!job)
    return `job ${result.jobId} ${result.status}${result.error ? `: ${result.error.Cause ?? result.error.Error}` : ''}`;
  const ms = Date.parse(job.endTime ?? job.updateTime) - Date.parse(job.startTime);
  const counts =
    job.status === 'running'
      ? `${job.processedRecords} of ${job.totalRecords} records so far`
      : `${job.totalRecords} records read, ${job.processedRecords} processed`;
  const lines = [
    `job ${job.id} ${job.status}${job.status === 'running' ? ', for' : ' in'} ${(ms / 1000).toFixed(1)} s — ${counts}${job.dryRun === true ? ' (dry run: nothing written)' : ''}${job.test ? ' (test run)' : ''}${job.limit !== undefined && !job.test ? ` (limit ${job.limit})` : ''}`,
  ];
  const window = deltaLine(job);
  if (window) lines.push(window);
  const steps = Object.values(job.steps ?? {});
  if (steps.length) {
    lines.push(
      table(
        ['step', 'type', 'in', 'out', 'rejected', 'dropped', 'invocations', 'own ms'],
        steps.map((s) => {
          const sides = stepSides(s);
          return [
            // Counters a step wrote while it ran are its last known ones once the job ended without it finishing.
            `${s.stepId}${s.running ? (job.status === 'running' ? ' (running)' : ' (unfinished)') : ''}`,
            s.type,
            sides.in,
            sides.out,
            s.recordsRejected,
            s.recordsDropped,
            s.invocations,
            s.durationMs,
          ];
        }),
        [2, 3],
      ),
    );
    for (const s of steps.filter((s) => roleOf(s) === 'file reader')) {
      if (!s.files?.length && !s.skipped?.length) lines.push(`files read:    none [${s.stepId}]`);
      for (const f of s.files ?? []) lines.push(`files read:    ${f.name} (${bytes(f.size)}) [${s.stepId}]`);
      for (const f of s.skipped ?? []) lines.push(`files skipped: ${f.name}: ${f.reason} [${s.stepId}]`);
    }
    for (const s of steps.filter((s) => roleOf(s) === 'other'))
      for (const f of s.files ?? []) lines.push(`files made:    ${f.name} (${bytes(f.size)}) [${s.stepId}]`);
    for (const s of steps.filter((s) => roleOf(s) === 'writer'))
      for (const f of s.files ?? []) lines.push(`files written: ${f.name} (${bytes(f.size)}) [${s.stepId}]`);
    // A parser that the job's limit stopped skips the files after it: they are listed too.
    for (const s of steps.filter((s) => roleOf(s) !== 'file reader'))
      for (const f of s.skipped ?? []) lines.push(`files skipped: ${f.name}: ${f.reason} [${s.stepId}]`);
    for (const s of steps.filter((s) => s.limitReached))
      lines.push(
        `limit:         reached at ${job.limit} records; whatever followed them was not read (not counted, not lost) [${s.stepId}]`,
      );
    lines.push(...wouldWriteLines(steps));
    for (const s of steps)
      if (s.rejectedLocation)
        lines.push(`rejected:      ${s.recordsRejected} records at ${s.rejectedLocation} [${s.stepId}]`);
  }
  for (const a of job.attempts ?? [])
    lines.push(
      `attempt ${a.attempt} failed at ${a.endTime}: ${String(a.error.code ?? a.error.name)}: ${String(a.error.message ?? '')}`,
    );
  if (job.error)
    lines.push(
      `${job.status === 'killed' ? 'killed' : 'failed'}: ${String(job.error.code ?? job.error.name)}: ${String(job.error.message ?? '')}`,
    );
  if (state)
    lines.push(
      `last successful run: ${when(state.lastSuccessfulRun, state.lastJobId)}; last successful test run: ${when(state.lastSuccessfulTestRun, state.lastTestJobId)}`,
    );
  return lines.join('\n');
}
