/** `idx run` and `idx start`: run a dataflow locally on the embedded services, with live progress. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ExecutionInput } from '../core/events.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../local/environment.ts';
import { defaultExtras } from '../local/extras.ts';
import { type LocalRunResult, type RunEvent, runLocal } from '../local/runner.ts';
import { SAMPLE, seedSample } from '../local/sample.ts';
import { defaultRegistry } from '../scripts/index.ts';
import type { JobRecord } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { EXIT, loadValid, usage } from './dataflow-commands.ts';
import { bytes, forTerminal, table } from './format.ts';

/** Prints run events as progress lines on stderr (stdout stays clean for `--json`). */
export function progressPrinter(
  write: (line: string) => void = (l) => process.stderr.write(`${forTerminal(l)}\n`),
): (e: RunEvent) => void {
  return (e) => {
    switch (e.kind) {
      case 'job-started':
        write(`job ${e.jobId} started`);
        break;
      case 'step-started':
        write(`▶ ${e.stepId} (${e.type})${e.iteration > 0 ? `, invocation ${e.iteration + 1}` : ''}`);
        break;
      case 'step-progress':
        write(`  … ${e.stepId}: ${e.counters.recordsIn.toLocaleString('en-US')} records in`);
        break;
      case 'step-finished': {
        const c = e.result.counters;
        const files = e.result.files?.length
          ? `, files: ${e.result.files.map((f) => `${f.name} (${bytes(f.size)})`).join(', ')}`
          : '';
        write(
          `✓ ${e.result.stepId}: ${c.recordsIn} in, ${c.recordsOut} out, ${c.recordsRejected} rejected${c.recordsDropped ? `, ${c.recordsDropped} dropped` : ''}${files}${e.result.done ? '' : ' (continues)'}`,
        );
        break;
      }
      case 'retry':
        write(`↻ ${e.state}: retrying after ${e.error}`);
        break;
      case 'job-finished':
        break;
    }
  };
}

/** The job summary: status line, per-step counters, files, rejects, failure. */
export function jobSummary(
  job: JobRecord | undefined,
  result: Pick<LocalRunResult, 'jobId' | 'status' | 'error'>,
): string {
  if (!job)
    return `job ${result.jobId} ${result.status}${result.error ? `: ${result.error.Cause ?? result.error.Error}` : ''}`;
  const ms = job.endTime ? Date.parse(job.endTime) - Date.parse(job.startTime) : 0;
  const lines = [
    `job ${job.id} ${job.status} in ${(ms / 1000).toFixed(1)} s — ${job.totalRecords} records read, ${job.processedRecords} processed${job.test ? ' (test run)' : ''}`,
  ];
  const steps = Object.values(job.steps ?? {});
  if (steps.length) {
    lines.push(
      table(
        ['step', 'type', 'in', 'out', 'rejected', 'dropped', 'files', 'ms'],
        steps.map((s) => [
          s.stepId,
          s.type,
          s.recordsIn,
          s.recordsOut,
          s.recordsRejected,
          s.recordsDropped,
          s.files?.length ?? 0,
          s.durationMs,
        ]),
      ),
    );
    for (const s of steps) for (const f of s.files ?? []) lines.push(`  ${s.stepId} → ${f.name} (${bytes(f.size)})`);
    for (const s of steps)
      if (s.rejectedLocation)
        lines.push(`  ${s.stepId}: ${s.recordsRejected} rejected records at ${s.rejectedLocation}`);
  }
  if (job.error) lines.push(`failed: ${String(job.error.code ?? job.error.name)}: ${String(job.error.message ?? '')}`);
  return lines.join('\n');
}

/** Options shared by run and start. */
interface RunFlags {
  readonly limit?: string;
  readonly test?: boolean;
  readonly 'full-extract'?: boolean;
  readonly 'log-level'?: string;
  readonly schedule?: string;
}

function inputFrom(flags: RunFlags): ExecutionInput {
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw usage('--limit takes a positive whole number');
  return {
    ...(flags.test ? { test: true } : {}),
    ...(limit === undefined ? {} : { limit }),
    ...(flags['full-extract'] ? { fullExtract: true } : {}),
    ...(flags['log-level'] ? { logLevel: flags['log-level'] as ExecutionInput['logLevel'] } : {}),
    ...(flags.schedule ? { scheduleId: flags.schedule } : {}),
  };
}

const RUN_OPTIONS = {
  limit: { type: 'string' },
  test: { type: 'boolean' },
  'full-extract': { type: 'boolean' },
  'log-level': { type: 'string' },
  schedule: { type: 'string' },
  json: { type: 'boolean' },
  stats: { type: 'boolean' },
} as const;

/** `--stats`: throughput of the job and the process's peak resident memory. */
export function statsLine(job: JobRecord | undefined): string {
  const peak = process.resourceUsage().maxRSS * 1024;
  if (!job?.endTime) return `peak RSS ${bytes(peak)}`;
  const seconds = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
  const bytesIn = Object.values(job.steps ?? {}).reduce((n, s) => n + s.bytesIn, 0);
  const rate = seconds > 0 ? Math.round(job.totalRecords / seconds) : 0;
  return `stats: ${job.totalRecords} records in ${seconds.toFixed(2)} s = ${rate} records/s, ${bytes(seconds > 0 ? bytesIn / seconds : 0)}/s of input, peak RSS ${bytes(peak)}`;
}

/** Runs a dataflow file in a started environment and prints progress and the summary. */
export async function runFile(
  env: LocalEnvironment,
  file: string,
  input: ExecutionInput,
  json: boolean,
  stats = false,
): Promise<LocalRunResult> {
  const dataflow = loadValid(file);
  const result = await runLocal(dataflow, {
    services: env.services,
    registry: defaultRegistry(),
    input,
    onEvent: progressPrinter(),
  });
  if (json)
    process.stdout.write(
      `${JSON.stringify(result.job ?? { id: result.jobId, status: result.status, error: result.error }, null, 2)}\n`,
    );
  else process.stdout.write(`${forTerminal(jobSummary(result.job, result))}\n`);
  if (stats) process.stderr.write(`${statsLine(result.job)}\n`);
  return result;
}

/** `idx run <file> [--limit N] [--test] [--full-extract] [--log-level L] [--schedule NAME] [--json]` */
export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: RUN_OPTIONS });
  const file = positionals[0];
  if (!file)
    throw usage(
      'idx run <file> [--limit N] [--test] [--full-extract] [--log-level info|error|debug] [--schedule NAME] [--json]',
    );
  const input = inputFrom(values);
  loadValid(file);
  const env = await startLocalEnvironment({ extras: defaultExtras() });
  try {
    const result = await runFile(env, file, input, values.json === true, values.stats === true);
    return result.status === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    await env.close();
  }
}

/** `idx sample [--records N]`: writes the sample input CSV to the local S3, without running anything. */
export async function sampleCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { records: { type: 'string' } } });
  const records = Number(values.records ?? 1000);
  if (!Number.isInteger(records) || records < 0) throw usage('idx sample [--records N]');
  const env = await startLocalEnvironment();
  try {
    const size = await seedSample(env.services.s3, records);
    process.stdout.write(`seeded s3://${SAMPLE.bucket}/${SAMPLE.inputKey} with ${records} accounts (${bytes(size)})\n`);
    return EXIT.ok;
  } finally {
    await env.close();
  }
}

/** The main job `idx start` runs. */
export const MAIN_DATAFLOW = 'dataflows/eloqua-outbound.json';

/**
 * `idx start`: runs the main job, Eloqua outbound, on the embedded services. The Gigya emulator starts with 1,000
 * generated accounts; the first run is an initial load (full extract), later runs export what changed since.
 * Prints the job summary and where the CSV landed in the embedded SFTP server's folder.
 */
export async function startCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: RUN_OPTIONS });
  const dataflow = loadValid(MAIN_DATAFLOW);
  const env = await startLocalEnvironment({ extras: defaultExtras() });
  try {
    for (const line of Object.values(env.info)) process.stderr.write(`${line}\n`);
    const state = await new DataflowStateStore(env.services.dynamo, env.config.tables.state).get(dataflow.id);
    const input = inputFrom(values);
    const initial = state.watermark === undefined && !input.test && input.limit === undefined;
    if (initial) process.stderr.write(`first run of ${dataflow.id}: initial load of every account (full extract)\n`);
    const result = await runFile(
      env,
      MAIN_DATAFLOW,
      initial ? { ...input, fullExtract: true } : input,
      values.json === true,
      values.stats === true,
    );
    if (!values.json && result.status === 'succeeded') {
      const uploads = Object.values(result.job?.steps ?? {})
        .filter((s) => s.type === 'datasource.write.sftp')
        .flatMap((s) => s.files ?? []);
      for (const f of uploads)
        process.stdout.write(
          `CSV for Eloqua: ${join(env.dir, 'sftp', f.name.replace(/^sftp:\/\/[^/]+\//, ''))} (${bytes(f.size)})\n`,
        );
      process.stdout.write('list jobs with `npx idx jobs`; run again to export only what changed\n');
    }
    return result.status === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    await env.close();
  }
}
