/** `idx jobs [--dataflow ID] [--json]` and `idx jobs show <jobId> [--json]` on the local jobs table. */
import { parseArgs } from 'node:util';
import { IdxError } from '../core/errors.ts';
import { type JobRecord, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { dataflowIdOf, EXIT, usage } from './dataflow-commands.ts';
import { forTerminal, table } from './format.ts';
import type { Flags } from './help.ts';
import { commandEnvironment } from './run.ts';
import { jobSummary } from './summary.ts';

/** Prints job records as JSON or as a table (local and deployed listings alike). */
export function printJobs(jobs: readonly JobRecord[], json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
  else if (jobs.length === 0) process.stdout.write('no jobs yet\n');
  else {
    process.stdout.write(
      `${forTerminal(
        table(
          ['job', 'dataflow', 'status', 'start', 'end', 'records', 'processed', 'attempt', 'test', 'dry'],
          jobs.map((j) => [
            j.id,
            j.dataflowId,
            j.status,
            j.startTime,
            j.endTime ?? '',
            j.totalRecords,
            j.processedRecords,
            j.attemptNumber,
            j.test ? 'yes' : '',
            j.dryRun ? 'yes' : '',
          ]),
        ),
      )}\n`,
    );
  }
}

/** The error of `idx jobs show` for a job id the table does not have. */
export function noJob(id: string): IdxError {
  return new IdxError('IDX_JOB_NOT_FOUND', `no job ${id}`, {
    expected: 'the id of a job `idx jobs` lists',
    received: JSON.stringify(id),
  });
}

/** Flags of `idx jobs` on the local jobs table. */
export const JOBS_FLAGS = {
  dataflow: { type: 'string', value: 'ID', description: 'only the jobs of this dataflow (an id, or a dataflow file)' },
  limit: { type: 'string', value: 'N', description: 'at most N jobs, newest first (default 50)' },
  json: { type: 'boolean', description: 'print the job records as JSON' },
} as const satisfies Flags;

/** Lists local jobs or shows one. */
export async function jobsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: JOBS_FLAGS });
  const env = await commandEnvironment();
  try {
    const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
    if (positionals[0] === 'show') {
      const id = positionals[1];
      if (!id) throw usage('idx jobs show <jobId> [--json]');
      const job = await store.get(id);
      if (!job) throw noJob(id);
      if (values.json) process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
      else {
        const state = await new DataflowStateStore(env.services.dynamo, env.config.tables.state).get(job.dataflowId);
        process.stdout.write(
          `${forTerminal(`${jobSummary(job, { jobId: job.id, status: job.status === 'succeeded' ? 'succeeded' : 'failed' }, state)}\n\ntrace:\n${job.trace.join('\n')}`)}\n`,
        );
      }
      return EXIT.ok;
    }
    const jobs = await store.list({
      ...(values.dataflow ? { dataflowId: dataflowIdOf(values.dataflow) } : {}),
      limit: Number(values.limit ?? 50),
    });
    printJobs(jobs, values.json === true);
    return EXIT.ok;
  } finally {
    await env.close();
  }
}
