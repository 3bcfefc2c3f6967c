/**
 * The testing entry point: runs a script in memory, outside any job or stage: records and files in, records,
 * rejects and files out. It builds the script as a chain of one (engine/chain.ts), with the same params
 * resolution, output and driving code as a staged step, so a test of a script built from the JSON a dataflow
 * author writes exercises what production runs.
 */
import { setMaxListeners } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { IdxError } from '../core/errors.ts';
import type { ParamsSchema } from '../core/params.ts';
import { checkObject, type ParamProblem } from '../core/params.ts';
import { addCounters, type SkippedFile, type StepCounters, type WouldWrite } from '../core/refs.ts';
import {
  type AnyScriptDefinition,
  type DataRecord,
  entersRecords,
  type InputFile,
  type JobContext,
  type ReadResult,
  type ScriptDefinition,
  type ScriptInstance,
  type StepLogger,
} from '../core/script.ts';
import type { Services } from '../core/services.ts';
import { buildChain, type ChainLink, createInstance } from '../engine/chain.ts';
import { feed } from '../engine/drive.ts';
import { wouldWriteOf } from '../engine/dry-run.ts';
import { openOnce } from '../engine/forward.ts';
import { TraceLogger } from '../engine/logger.ts';
import type { FileSink, RecordSink } from '../engine/output.ts';
import { paramsResolver, resolveParams } from '../engine/resolve.ts';
import { LocalSecretResolver } from '../engine/secrets.ts';
import { createServices } from '../engine/services.ts';

/** Input of {@link runScript}. */
export interface HarnessInput {
  readonly records?: readonly DataRecord[];
  readonly files?: readonly { readonly name: string; readonly content: Buffer | string }[];
  readonly job?: Partial<JobContext>;
  readonly services?: Services;
  /** Secret values by name, for `${secret:NAME}` params. */
  readonly secrets?: Record<string, string>;
  /** What the script handed back in the step's previous invocation (a reader's `read`, or `end`). */
  readonly continuation?: unknown;
  /** Epoch ms deadline for continuable readers. @default one hour from now */
  readonly deadline?: number;
  /**
   * This invocation's input is the last of the step (`end` gets `final`); when false, `continuation` of the output
   * holds what `end` kept for the next invocation. @default true
   */
  readonly final?: boolean;
  readonly stepId?: string;
  readonly batchSize?: number;
  /** Run the work the script deferred until the job succeeds. @default true */
  readonly afterJob?: boolean;
}

/** What a script produced in memory. */
export interface HarnessOutput {
  readonly records: DataRecord[];
  readonly rejected: DataRecord[];
  readonly files: { name: string; content: Buffer }[];
  readonly counters: StepCounters;
  /** Files the script selected or was handed but did not read, and why (see StepOutput.skipped). */
  readonly skipped: readonly SkippedFile[];
  /** What a reader's `read` returned, or what `end` kept when the invocation was not the last. */
  readonly continuation?: unknown;
  readonly trace: string[];
  /** A writer in a dry run (`job.dryRun`): what it would have written. */
  readonly wouldWrite?: WouldWrite;
}

/** What {@link runScriptSliced} produced: the files joined across invocations, as the engine joins them. */
export interface SlicedOutput extends HarnessOutput {
  /** Invocations the script ran in. */
  readonly invocations: number;
}

class MemorySink implements RecordSink {
  text = '';
  async write(chunk: string): Promise<void> {
    this.text += chunk;
  }
  records(): DataRecord[] {
    return this.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DataRecord);
  }
}

/** A job context for tests. */
export function testJob(overrides: Partial<JobContext> = {}): JobContext {
  return {
    id: 'job-test',
    dataflowId: 'df-test',
    startTime: '2026-01-02T03:04:05.000Z',
    test: false,
    fullExtract: false,
    logLevel: 'info',
    attempt: 1,
    ...overrides,
  };
}

/** Services that reach nothing; scripts that need a network get real services passed in. */
export function offlineServices(secrets: Record<string, string> = {}): Services {
  return createServices(
    {
      region: 'us-east-1',
      stageBucket: 'offline',
      tables: { jobs: 'jobs', state: 'state', uidMap: 'uidmap' },
      endpoints: { s3: 'http://127.0.0.1:9', dynamodb: 'http://127.0.0.1:9' },
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      local: true,
      watermarkOverlapMs: 300_000,
      lockTtlMs: 3_600_000,
    },
    new LocalSecretResolver({ env: {}, values: secrets }),
  );
}

/** Checks params against a script's schema and own checks; throws a coded error listing every problem. */
export function checkParams(definition: AnyScriptDefinition, params: Record<string, unknown>): void {
  const problems: ParamProblem[] = [];
  checkObject(definition.params, params, '', problems);
  const extra = problems.length === 0 && definition.check ? definition.check(params as never) : [];
  const all = [...problems, ...extra];
  if (all.length) {
    const first = all[0]!;
    throw new IdxError(first.code, all.map((p) => p.message).join('; '), {
      ...(first.path ? { param: first.path } : {}),
      ...(first.expected === undefined ? {} : { expected: first.expected }),
      ...(first.received === undefined ? {} : { received: first.received }),
    });
  }
}

/** What a script is started with besides its params. */
export interface StartContext {
  readonly job: JobContext;
  readonly services: Services;
  readonly stepId: string;
  readonly log: StepLogger;
  readonly continuation?: unknown;
  /** @default an hour from now */
  readonly deadline?: number;
  /** @default a signal that never aborts */
  readonly signal?: AbortSignal;
}

/** Resolves a script's params as the engine does (defaults, placeholders, secrets) and starts one invocation. */
export async function startScript(
  definition: AnyScriptDefinition,
  params: Record<string, unknown>,
  ctx: StartContext,
): Promise<ScriptInstance> {
  const resolved = await resolveParams(definition.params, params, ctx.job, ctx.services.secrets, ctx.stepId);
  return createInstance(definition, resolved, {
    job: ctx.job,
    stepId: ctx.stepId,
    log: ctx.log,
    services: ctx.services,
    ...(ctx.continuation === undefined ? {} : { continuation: ctx.continuation }),
    deadline: ctx.deadline ?? Date.now() + 3_600_000,
    signal: ctx.signal ?? new AbortController().signal,
  });
}

/**
 * Files collected in memory as the script ends them, each counted in `counters`; `pending` holds one promise a
 * file, settled when it is complete.
 */
function memoryFiles(
  files: { name: string; content: Buffer }[],
  pending: Promise<void>[],
  counters: StepCounters,
): FileSink {
  return {
    create(name: string) {
      const chunks: Buffer[] = [];
      const w = new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(Buffer.from(chunk));
          cb();
        },
      });
      pending.push(
        new Promise((resolve, reject) => {
          w.on('finish', () => {
            const content = Buffer.concat(chunks);
            files.push({ name, content });
            counters.filesOut++;
            counters.bytesOut += content.length;
            resolve();
          });
          w.on('error', reject);
        }),
      );
      // A failed step never awaits its files; its failure surfaces from the script, not as a stray rejection.
      pending[pending.length - 1]?.catch(() => undefined);
      return w;
    },
  };
}

/** The input of a harness run as a script reads it: batches of copied records, and files. */
function harnessInputs(
  definition: AnyScriptDefinition,
  input: HarnessInput,
): { records: AsyncIterable<DataRecord[]>; files: AsyncIterable<InputFile> } {
  const size = input.batchSize ?? 1000;
  async function* batches(): AsyncGenerator<DataRecord[]> {
    const all = input.records ?? [];
    for (let i = 0; i < all.length; i += size) yield all.slice(i, i + size).map((r) => structuredClone(r));
  }
  async function* inputFiles(): AsyncGenerator<InputFile> {
    for (const f of input.files ?? []) {
      const content = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
      const open = () => Readable.from([content]);
      // A script that promises to read each file once gets files it can open only once, as when fused.
      yield { name: f.name, size: content.length, open: definition.readsOnce ? openOnce(f.name, open) : open };
    }
  }
  return { records: batches(), files: inputFiles() };
}

/** Runs one script over in-memory input. */
export async function runScript<S extends ParamsSchema>(
  definition: ScriptDefinition<S>,
  params: Record<string, unknown>,
  input: HarnessInput = {},
): Promise<HarnessOutput> {
  const def = definition as unknown as AnyScriptDefinition;
  checkParams(def, params);
  const job = testJob(input.job);
  const services = input.services ?? offlineServices(input.secrets);
  const stepId = input.stepId ?? def.type;
  const log = new TraceLogger({
    jobId: job.id,
    stepId,
    level: job.logLevel,
    redactor: services.secrets.redactor,
    echo: false,
  });
  const records = new MemorySink();
  const rejected = new MemorySink();
  const files: { name: string; content: Buffer }[] = [];
  const pending: Promise<void>[] = [];
  const [link] = await buildChain([{ id: stepId, definition: def, params }], {
    job,
    services,
    deadline: input.deadline ?? Date.now() + 3_600_000,
    signal: unlimitedSignal(),
    resolve: paramsResolver(job, services.secrets),
    wire: ({ counters }) => ({
      log,
      ...(def.produces === 'records' ? { records } : {}),
      rejected,
      ...(def.produces === 'files' ? { files: memoryFiles(files, pending, counters) } : {}),
      limit: entersRecords(def) && job.limit !== undefined ? job.limit : Number.POSITIVE_INFINITY,
      debug: job.logLevel === 'debug',
      continuation: input.continuation,
    }),
  });
  const { driver } = link as ChainLink;
  let result: ReadResult | undefined;
  let kept: unknown;
  try {
    result = await feed(driver, harnessInputs(def, input));
    kept = await driver.finish({ final: input.final ?? true });
    await Promise.all(pending);
    // The harness stands for a job that succeeded: deferred work runs, as it would after the last step.
    if (result?.deferred !== undefined && input.afterJob !== false) await driver.instance.afterJob?.([result.deferred]);
  } finally {
    await driver.instance.close?.();
  }
  const wouldWrite = wouldWriteOf(driver.instance);
  return {
    records: records.records(),
    rejected: rejected.records(),
    files,
    counters: driver.counters,
    skipped: driver.out.skippedFiles,
    ...(result?.continuation === undefined ? {} : { continuation: result.continuation }),
    ...(kept === undefined ? {} : { continuation: kept }),
    trace: log.trace,
    ...(wouldWrite ? { wouldWrite } : {}),
  };
}

/**
 * Runs a script that consumes as a step does across invocations with a tiny time budget: one invocation per
 * `slice` records (one batch, by default) or per file, each started afresh with what the one before kept, and the
 * files written under one name in several invocations joined in order into one, as the stage's parts are read.
 * Compare its output with {@link runScript}'s over the same input: they must be equal byte for byte.
 */
export async function runScriptSliced<S extends ParamsSchema>(
  definition: ScriptDefinition<S>,
  params: Record<string, unknown>,
  input: HarnessInput & { readonly slice?: number } = {},
): Promise<SlicedOutput> {
  const def = definition as unknown as AnyScriptDefinition;
  const slice = input.slice ?? input.batchSize ?? 1000;
  const pieces: { records?: readonly DataRecord[]; files?: HarnessInput['files'] }[] = [];
  if (def.consumes === 'files') for (const f of input.files ?? []) pieces.push({ files: [f] });
  else
    for (let i = 0; i < (input.records ?? []).length; i += slice)
      pieces.push({ records: (input.records ?? []).slice(i, i + slice) });
  if (pieces.length === 0) pieces.push({});
  const records: DataRecord[] = [];
  const rejected: DataRecord[] = [];
  const files: { name: string; content: Buffer }[] = [];
  const trace: string[] = [];
  const skipped: SkippedFile[] = [];
  let counters: StepCounters | undefined;
  let continuation = input.continuation;
  for (const [i, piece] of pieces.entries()) {
    const out = await runScript(definition, params, {
      ...input,
      records: piece.records ?? [],
      files: piece.files ?? [],
      final: i === pieces.length - 1,
      ...(continuation === undefined ? {} : { continuation }),
    });
    continuation = out.continuation;
    records.push(...out.records);
    rejected.push(...out.rejected);
    trace.push(...out.trace);
    skipped.push(...out.skipped);
    for (const f of out.files) {
      const earlier = files.find((g) => g.name === f.name);
      if (earlier) earlier.content = Buffer.concat([earlier.content, f.content]);
      else files.push({ ...f });
    }
    counters = counters ? addCounters(counters, out.counters) : out.counters;
  }
  return {
    records,
    rejected,
    files,
    counters: counters as StepCounters,
    skipped,
    trace,
    invocations: pieces.length,
  };
}

/** A signal that takes as many listeners as a script has calls in flight, as the runner's does. */
function unlimitedSignal(): AbortSignal {
  const { signal } = new AbortController();
  setMaxListeners(0, signal);
  return signal;
}
