/** `idx run` and `idx start`: run a dataflow locally on the embedded services, with live progress. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/env.ts';
import { describeError, IdxError } from '../core/errors.ts';
import type { ExecutionInput } from '../core/events.ts';
import type { StepCounters, StepResult } from '../core/refs.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { count, progressText } from '../engine/progress.ts';
import { scheduleInput } from '../infra/schedule-expressions.ts';
import { type LocalEnvironment, type LocalEnvironmentOptions, startLocalEnvironment } from '../local/environment.ts';
import { defaultExtras, wantsServiceThread } from '../local/extras.ts';
import { type LocalRunResult, type RunEvent, runLocal } from '../local/runner.ts';
import { SAMPLE, seedSample } from '../local/sample.ts';
import { defaultRegistry } from '../scripts/index.ts';
import type { JobRecord } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { dataflowFileOf, EXIT, loadValid, usage } from './dataflow-commands.ts';
import { bytes, forTerminal } from './format.ts';
import type { Flags } from './help.ts';
import { jobSummary, stepSides } from './summary.ts';

/** Where progress goes: lines, and on a terminal one live line rewritten in place. */
export interface ProgressSink {
  line(text: string): void;
  /** Shows a line that the next one replaces; undefined: not a terminal, progress comes as lines. */
  live?(text: string): void;
}

/** Progress on stderr (stdout stays clean for `--json`); a live line only when stderr is a terminal. */
function stderrSink(): ProgressSink {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[K');
    shown = false;
  };
  return {
    line(text) {
      clear();
      process.stderr.write(`${forTerminal(text)}\n`);
    },
    ...(tty
      ? {
          live(text: string) {
            clear();
            process.stderr.write(forTerminal(text).slice(0, Math.max(20, (process.stderr.columns ?? 100) - 1)));
            shown = true;
          },
        }
      : {}),
  };
}

/** Between two progress lines of one step when they are not rewritten in place (logs). */
const PROGRESS_LINE_MS = 10_000;

/**
 * Prints run events as progress: a line per step started and finished, and while a step runs its records so far,
 * their rate, a reader's pages and the share of its source's total, and the files and bytes of file steps, as one
 * live line on a terminal or as a line every {@link PROGRESS_LINE_MS} otherwise. Of steps running together (one
 * Task), the first one still running (the source) speaks for all, adding the bytes the others wrote so far.
 */
export function progressPrinter(
  sink: ProgressSink | ((line: string) => void) = stderrSink(),
  now: () => number = Date.now,
): (e: RunEvent) => void {
  const out: ProgressSink = typeof sink === 'function' ? { line: sink } : sink;
  const started = new Map<string, number>();
  const lastLine = new Map<string, number>();
  const lastText = new Map<string, string>();
  const finished = new Set<string>();
  const latest = new Map<string, StepCounters>();
  /** The bytes the other running steps (of the lead's Task) wrote so far: a formatter's file growing. */
  const written = (lead: string) =>
    [...started.keys()]
      .filter((id) => id !== lead && !finished.has(id))
      .map((id) => [id, latest.get(id)] as const)
      .filter(([, c]) => (c?.bytesOut ?? 0) > 0)
      .map(([id, c]) => `; ${id}: ${bytes(c?.bytesOut ?? 0)} out`)
      .join('');
  return (e) => {
    switch (e.kind) {
      case 'job-started':
        out.line(`job ${e.jobId} started`);
        break;
      case 'step-started':
        started.set(e.stepId, now());
        finished.delete(e.stepId);
        out.line(`▶ ${e.stepId} (${e.type})${e.iteration > 0 ? `, invocation ${e.iteration + 1}` : ''}`);
        break;
      case 'step-progress': {
        const c = e.counters;
        latest.set(e.stepId, c);
        if (c.recordsIn + c.recordsOut + c.filesIn + c.filesOut + (c.pages ?? 0) === 0) break;
        const lead = [...started.keys()].find((id) => !finished.has(id));
        if (lead !== undefined && lead !== e.stepId) break;
        // The Task's time over all its invocations when the engine says it; else since this invocation started.
        const seconds = (e.elapsedMs ?? now() - (started.get(e.stepId) ?? now())) / 1000;
        const others = written(e.stepId);
        const key = `${progressText({ ...c }, 0)}${others}`;
        if (lastText.get(e.stepId) === key) break;
        const text = `  … ${e.stepId}: ${progressText(c, seconds)}${others}`;
        if (out.live) out.live(text);
        else {
          if (now() - (lastLine.get(e.stepId) ?? Number.NEGATIVE_INFINITY) < PROGRESS_LINE_MS) break;
          out.line(text);
          lastLine.set(e.stepId, now());
        }
        lastText.set(e.stepId, key);
        break;
      }
      case 'step-finished':
        finished.add(e.result.stepId);
        out.line(finishedLine(e.result));
        break;
      case 'retry':
        out.line(`↻ ${e.state}: retrying after ${e.error}`);
        break;
      case 'attempt':
        out.line(`↻ job failed on ${e.error}: attempt ${e.attempt} in ${e.waitMs} ms, resuming from what is staged`);
        break;
      case 'job-finished':
        break;
    }
  };
}

/**
 * The line of a step that finished (or paused for its next invocation): what it took in and gave out, each side
 * in what it handles (records, or files and bytes), rejects, its files, its own time and its invocations.
 */
export function finishedLine(result: StepResult): string {
  const c = result.counters;
  const sides = stepSides({ type: result.type, ...c });
  // A count is records; files say so themselves; a side a step does not have ("-") is left out.
  const side = (text: string, verb: string) =>
    text === '-' ? '' : `${/^\d+$/.test(text) ? `${count(Number(text))} records` : text} ${verb}`;
  const inText = side(sides.in, 'in');
  const outText = side(sides.out, isWriter(result) ? 'delivered' : 'out');
  const parts = [
    inText,
    outText,
    `${c.recordsRejected} rejected`,
    c.recordsDropped ? `${c.recordsDropped} dropped` : '',
    `${(c.durationMs / 1000).toFixed(1)} s`,
    c.invocations > 1 ? `${c.invocations} invocations` : '',
  ].filter(Boolean);
  const would = result.wouldWrite;
  const files = result.files?.length
    ? `: ${result.files.map((f) => `${f.name} (${bytes(f.size)})`).join(', ')}`
    : would?.files.length
      ? `, would write ${would.files.map((f) => `${f.target} (${bytes(f.size)})`).join(', ')}`
      : would
        ? `, would write ${would.records} record(s) in ${would.calls} call(s)`
        : '';
  return `✓ ${result.stepId}: ${parts.join(', ')}${files}${result.done ? '' : ' (continues)'}`;
}

/** Whether a step delivers files to a target: what it gives out is what the target holds. */
function isWriter(result: StepResult): boolean {
  return defaultRegistry().get(result.type)?.delivers === 'files';
}

/**
 * The local environment of a command. Its state folder's services may be shared with other idx processes (a
 * second terminal); closing says so when it waits for them.
 */
export function commandEnvironment(
  options: Pick<LocalEnvironmentOptions, 'extras' | 'thread'> = {},
): Promise<LocalEnvironment> {
  return startLocalEnvironment({
    ...options,
    onThreadEnded: (error) => process.stderr.write(`${describeError(error)}\n`),
    onWait: (pids) =>
      process.stderr.write(
        `waiting for ${pids.length} other idx process(es) (pid ${pids.join(', ')}) still using the local services\n`,
      ),
  });
}

/** The flags of `idx run` that shape the execution input. */
export interface RunFlags {
  readonly limit?: string;
  readonly test?: boolean;
  readonly 'dry-run'?: boolean;
  readonly 'full-extract'?: boolean;
  readonly 'log-level'?: string;
  readonly schedule?: string;
  readonly 'invocation-budget'?: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as `idx run --invocation-budget` takes it: a number with a unit (`1ms`, `30s`, `13m`, `1h`), or
 * plain milliseconds. Undefined for anything else.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS[m[2] ?? 'ms'] as number);
  return ms > 0 ? ms : undefined;
}

/**
 * The time budget of every step invocation: `--invocation-budget`, else IDX_INVOCATION_BUDGET_MS, else the
 * runner's default (the Lambda's 15 minutes less a margin).
 */
export function invocationBudget(flags: RunFlags, env = process.env): number | undefined {
  const flag = flags['invocation-budget'];
  if (flag !== undefined) {
    const ms = parseDuration(flag);
    if (ms === undefined) throw usage('--invocation-budget takes a duration such as 1ms, 30s or 13m');
    return ms;
  }
  const value = env[ENV.invocationBudgetMs.name];
  if (value === undefined || value === '') return undefined;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms <= 0) throw usage(`${ENV.invocationBudgetMs.name} takes a positive number of ms`);
  return ms;
}

/**
 * The execution input of a local run. With `--schedule`, the run starts as that schedule's rule starts it
 * deployed (its id, limit, fullExtract and logLevel); flags given on the command line override each of them.
 */
export function inputFrom(flags: RunFlags, dataflow?: Pick<Dataflow, 'id' | 'schedules'>): ExecutionInput {
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw usage('--limit takes a positive whole number');
  let scheduled: ExecutionInput = {};
  if (flags.schedule !== undefined) {
    const name = flags.schedule;
    const schedule = dataflow?.schedules.find((s) => s.name === name || s.id === name);
    if (!schedule) {
      const names = (dataflow?.schedules ?? []).map((s) => JSON.stringify(s.name));
      throw new IdxError('IDX_SCHEDULE_NOT_FOUND', `dataflow "${dataflow?.id ?? '?'}" has no schedule "${name}"`, {
        param: 'schedules',
        expected: names.length ? `one of ${names.join(', ')} (a name or an id)` : 'a dataflow with schedules',
        received: JSON.stringify(name),
      });
    }
    const { limit: scheduleLimit, ...rest } = scheduleInput(schedule);
    scheduled = { ...rest, ...(scheduleLimit === null ? {} : { limit: scheduleLimit }) };
  }
  return {
    ...scheduled,
    ...(flags.test ? { test: true } : {}),
    ...(flags['dry-run'] ? { dryRun: true } : {}),
    ...(limit === undefined ? {} : { limit }),
    ...(flags['full-extract'] ? { fullExtract: true } : {}),
    ...(flags['log-level'] ? { logLevel: flags['log-level'] as ExecutionInput['logLevel'] } : {}),
  };
}

/** Flags of `idx run` (and of `idx start` and the local `idx test`). */
export const RUN_FLAGS = {
  limit: { type: 'string', value: 'N', description: 'read at most N records from the sources; the watermark stays' },
  test: { type: 'boolean', description: 'a test run: 10 records, the watermark stays' },
  'dry-run': {
    type: 'boolean',
    description: 'read and transform as usual, write nothing anywhere; each writer reports what it would write',
  },
  'full-extract': { type: 'boolean', description: 'read everything, ignoring the delta watermark' },
  'log-level': { type: 'string', value: 'L', description: 'trace detail: error, info (default) or debug' },
  schedule: {
    type: 'string',
    value: 'NAME',
    description: 'run as the schedule NAME (name or id) runs: its limit, fullExtract and logLevel, unless given here',
  },
  'invocation-budget': {
    type: 'string',
    value: 'D',
    description: 'time budget of every step invocation (1ms, 30s, 13m; default as deployed), to run every continuation',
  },
  json: { type: 'boolean', description: 'print the job record as JSON instead of the summary' },
  stats: { type: 'boolean', description: 'also print throughput and peak memory' },
} as const satisfies Flags;

/** Flags of `idx sample`. */
export const SAMPLE_FLAGS = {
  records: { type: 'string', value: 'N', description: 'accounts in the sample CSV (default 1000)' },
} as const satisfies Flags;

/** `--stats`: throughput of the job and the process's peak resident memory. */
export function statsLine(job: JobRecord | undefined): string {
  const peak = process.resourceUsage().maxRSS * 1024;
  if (!job?.endTime) return `peak RSS ${bytes(peak)}`;
  const seconds = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
  const bytesIn = Object.values(job.steps ?? {}).reduce((n, s) => n + s.bytesIn, 0);
  const rate = seconds > 0 ? Math.round(job.totalRecords / seconds) : 0;
  const usage = process.resourceUsage();
  const cpu = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  return `stats: ${job.totalRecords} records in ${seconds.toFixed(2)} s = ${rate} records/s, ${bytes(seconds > 0 ? bytesIn / seconds : 0)}/s of input, peak RSS ${bytes(peak)}, CPU ${cpu.toFixed(1)} s`;
}

/** Runs a dataflow file in a started environment and prints progress and the summary. */
export async function runFile(
  env: LocalEnvironment,
  file: string,
  input: ExecutionInput,
  json: boolean,
  stats = false,
  invocationBudgetMs?: number,
): Promise<LocalRunResult> {
  const dataflow = loadValid(file);
  // Ctrl-C or SIGTERM ends the job as killed and releases its lock; a second one leaves at once.
  const stop = new AbortController();
  const interrupt = () => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('stopping: the job ends as killed and its run lock is released (again to leave now)\n');
    stop.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let result: LocalRunResult;
  try {
    result = await runLocal(dataflow, {
      services: env.services,
      registry: defaultRegistry(),
      input,
      onEvent: progressPrinter(),
      signal: stop.signal,
      ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (json)
    process.stdout.write(
      `${JSON.stringify(result.job ?? { id: result.jobId, status: result.status, error: result.error }, null, 2)}\n`,
    );
  else {
    const state = await new DataflowStateStore(env.services.dynamo, env.config.tables.state).get(dataflow.id);
    process.stdout.write(`${forTerminal(jobSummary(result.job, result, state))}\n`);
  }
  if (stats) process.stderr.write(`${statsLine(result.job)}\n`);
  return result;
}

/**
 * `idx run <file|id> [--limit N] [--test] [--full-extract] [--log-level L] [--schedule NAME] [--invocation-budget D]
 * [--json]`
 */
export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: RUN_FLAGS });
  const arg = positionals[0];
  if (!arg) throw usage('idx run <file|id> [options] (idx run --help lists them)');
  const file = dataflowFileOf(arg);
  const dataflow = loadValid(file);
  const input = inputFrom(values, dataflow);
  const budget = invocationBudget(values);
  const env = await commandEnvironment({ extras: defaultExtras(dataflow), thread: wantsServiceThread(dataflow) });
  try {
    const result = await runFile(env, file, input, values.json === true, values.stats === true, budget);
    return result.status === 'succeeded' ? EXIT.ok : EXIT.failed;
  } finally {
    await env.close();
  }
}

/** `idx sample [--records N]`: writes the sample input CSV to the local S3, without running anything. */
export async function sampleCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: SAMPLE_FLAGS });
  const records = Number(values.records ?? 1000);
  if (!Number.isInteger(records) || records < 0) throw usage('idx sample [--records N]');
  const env = await commandEnvironment();
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
  const { values } = parseArgs({ args, options: RUN_FLAGS });
  const dataflow = loadValid(MAIN_DATAFLOW);
  const env = await commandEnvironment({ extras: defaultExtras(dataflow), thread: wantsServiceThread(dataflow) });
  try {
    for (const line of Object.values(env.info)) process.stderr.write(`${line}\n`);
    const state = await new DataflowStateStore(env.services.dynamo, env.config.tables.state).get(dataflow.id);
    const input = inputFrom(values, dataflow);
    const initial = state.watermark === undefined && !input.test && input.limit === undefined;
    if (initial) process.stderr.write(`first run of ${dataflow.id}: initial load of every account (full extract)\n`);
    const result = await runFile(
      env,
      MAIN_DATAFLOW,
      initial ? { ...input, fullExtract: true } : input,
      values.json === true,
      values.stats === true,
      invocationBudget(values),
    );
    if (!values.json && result.status === 'succeeded' && input.dryRun !== true) {
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
