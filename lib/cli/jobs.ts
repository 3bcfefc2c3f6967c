/**
 * `idx jobs [--dataflow ID] [--limit N] [--cursor C] [--json]`, `idx jobs show <jobId> [--json]` and `idx jobs reindex`
 * on the local jobs table.
 */
import { parseArgs } from 'node:util';
import { IdxError } from '../core/errors.ts';
import { DEFAULT_JOB_PAGE, type JobListOptions, type JobPage, JobStore, MAX_JOB_PAGE } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { dataflowIdOf, EXIT, usage } from './dataflow-commands.ts';
import { forTerminal, table } from './format.ts';
import type { Flags } from './help.ts';
import { commandEnvironment } from './run.ts';
import { jobSummary } from './summary.ts';

/**
 * Prints a page of job records as JSON or as a table (local and deployed listings alike); the cursor of the older
 * page, when there is one, goes to stderr, so the JSON on stdout stays the list of jobs.
 */
export function printJobs({ jobs, cursor }: JobPage, json: boolean): void {
  if (cursor) process.stderr.write(`older jobs: add --cursor ${cursor}\n`);
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

/** The listing flags `idx jobs` takes locally and with `--deployed`. */
export const JOBS_LIST_FLAGS = {
  dataflow: { type: 'string', value: 'ID', description: 'only the jobs of this dataflow (an id, or a dataflow file)' },
  limit: {
    type: 'string',
    value: 'N',
    description: `at most N jobs, newest first (default 50, at most ${MAX_JOB_PAGE})`,
  },
  cursor: {
    type: 'string',
    value: 'C',
    description: 'the older jobs after a listing that printed `older jobs: add --cursor C`',
  },
} as const satisfies Flags;

/** Flags of `idx jobs` on the local jobs table. */
export const JOBS_FLAGS = {
  ...JOBS_LIST_FLAGS,
  json: { type: 'boolean', description: 'print the job records as JSON' },
} as const satisfies Flags;

/** The JobStore.list options of the listing flags, or a usage error for a bad `--limit`. */
export function jobListOptions(values: {
  dataflow?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
}): JobListOptions {
  const limit = values.limit === undefined ? DEFAULT_JOB_PAGE : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_PAGE)
    throw usage(`--limit takes a whole number from 1 to ${MAX_JOB_PAGE}`);
  return {
    ...(values.dataflow ? { dataflowId: dataflowIdOf(values.dataflow) } : {}),
    limit,
    ...(values.cursor === undefined ? {} : { cursor: values.cursor }),
  };
}

/** What `idx jobs reindex` prints. */
export function reindexed(count: number): string {
  return `${count} job record(s) from before the byStart index now list in \`idx jobs\` and the console\n`;
}

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
    if (positionals[0] === 'reindex') {
      process.stdout.write(reindexed(await store.backfillListKeys()));
      return EXIT.ok;
    }
    printJobs(await store.list(jobListOptions(values)), values.json === true);
    return EXIT.ok;
  } finally {
    await env.close();
  }
}
