/** `idx jobs [--dataflow ID] [--json]` and `idx jobs show <jobId> [--json]` on the local jobs table. */
import { parseArgs } from 'node:util';
import { startLocalEnvironment } from '../local/environment.ts';
import { type JobRecord, JobStore } from '../stores/jobs.ts';
import { EXIT, usage } from './dataflow-commands.ts';
import { forTerminal, table } from './format.ts';
import { jobSummary } from './run.ts';

/** Prints job records as JSON or as a table (local and deployed listings alike). */
export function printJobs(jobs: readonly JobRecord[], json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
  else if (jobs.length === 0) process.stdout.write('no jobs yet\n');
  else {
    process.stdout.write(
      `${forTerminal(
        table(
          ['job', 'dataflow', 'status', 'start', 'end', 'records', 'processed', 'attempt', 'test'],
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
          ]),
        ),
      )}\n`,
    );
  }
}

/** Lists local jobs or shows one. */
export async function jobsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { dataflow: { type: 'string' }, json: { type: 'boolean' }, limit: { type: 'string' } },
  });
  const env = await startLocalEnvironment();
  try {
    const store = new JobStore(env.services.dynamo, env.config.tables.jobs);
    if (positionals[0] === 'show') {
      const id = positionals[1];
      if (!id) throw usage('idx jobs show <jobId> [--json]');
      const job = await store.get(id);
      if (!job) {
        process.stderr.write(`no job ${id}\n`);
        return EXIT.failed;
      }
      if (values.json) process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
      else
        process.stdout.write(
          `${forTerminal(`${jobSummary(job, { jobId: job.id, status: job.status === 'succeeded' ? 'succeeded' : 'failed' })}\n\ntrace:\n${job.trace.join('\n')}`)}\n`,
        );
      return EXIT.ok;
    }
    const jobs = await store.list({
      ...(values.dataflow ? { dataflowId: values.dataflow } : {}),
      limit: Number(values.limit ?? 50),
    });
    printJobs(jobs, values.json === true);
    return EXIT.ok;
  } finally {
    await env.close();
  }
}
