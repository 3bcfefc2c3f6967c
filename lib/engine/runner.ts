/**
 * The step runner: reads a step's inputs from the stage, runs its script as a stream, stages the outputs under
 * deterministic keys and returns only references and counters. It adds logging, counting and timing around
 * the script; the script only transforms. A fused run of steps (StepEvent.fused) passes records from one script
 * to the next in memory and stages only the last step's output, each step still counted and logged on its own.
 */
import { IdxError, locateError } from '../core/errors.ts';
import type { AfterEvent, StepEvent, StepSpec } from '../core/events.ts';
import { jobPrefix } from '../core/keys.ts';
import {
  type FilesRef,
  type OutputRef,
  type RecordsRef,
  type StepCounters,
  type StepResult,
  zeroCounters,
} from '../core/refs.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { AnyScriptDefinition, DataRecord, InputFile, JobContext } from '../core/script.ts';
import type { LaneSettings, Services } from '../core/services.ts';
import { JobStore, type StepSummary } from '../stores/jobs.ts';
import { feed, ScriptDriver } from './drive.ts';
import { FileForward } from './forward.ts';
import { type LanePlan, Lanes, planLanes } from './lanes.ts';
import { TraceLogger } from './logger.ts';
import { EngineOutput } from './output.ts';
import { resolveParams } from './resolve.ts';
import { StagedFileSink, StagedRecordSink, stagedFiles, stagedRecordBytes, stagedRecords } from './stage.ts';

/** Options of {@link runStep}. */
export interface RunStepOptions {
  /** Epoch ms by which a continuable reader should hand back a continuation. */
  readonly deadline: number;
  /** Write JSON log lines to stdout. @default true */
  readonly echo?: boolean;
  /** Called on progress of long steps (every 100,000 records, and every `progressIntervalMs`). */
  readonly onProgress?: (stepId: string, counters: StepCounters) => void;
  /**
   * Also report every step's counters at this interval while it runs: readers count no records in, and a slow
   * source reaches 100,000 records late. @default no periodic report
   */
  readonly progressIntervalMs?: number;
}

/** The trace logger of one step of a job, masking the job's secrets. */
function stepLogger(job: JobContext, stepId: string, services: Services, options: RunStepOptions): TraceLogger {
  return new TraceLogger({
    jobId: job.id,
    stepId,
    level: job.logLevel,
    redactor: services.secrets.redactor,
    echo: options.echo ?? true,
  });
}

function addCounters(a: StepCounters, b: StepCounters): StepCounters {
  const out = zeroCounters();
  for (const k of Object.keys(out) as (keyof StepCounters)[]) out[k] = a[k] + b[k];
  return out;
}

function mergeRefs(a: OutputRef | undefined, b: OutputRef): OutputRef {
  if (!a || a.kind === 'nothing' || a.kind !== b.kind) return b;
  if (a.kind === 'records' && b.kind === 'records')
    return { kind: 'records', parts: [...a.parts, ...b.parts], count: a.count + b.count };
  if (a.kind === 'files' && b.kind === 'files') return { kind: 'files', files: [...a.files, ...b.files] };
  return b;
}

/** One step of an invocation: its script, output, sinks and counters. */
interface Member {
  readonly spec: StepSpec;
  readonly definition: AnyScriptDefinition;
  readonly driver: ScriptDriver;
  readonly out: EngineOutput;
  readonly log: TraceLogger;
  readonly counters: StepCounters;
  readonly recordSink?: StagedRecordSink;
  readonly rejectedSink: StagedRecordSink;
  readonly fileSink?: StagedFileSink;
  /** The files this member writes, streamed into the next member instead of being staged (see streamsFilesInto). */
  readonly forward?: FileForward;
  readonly previous?: StepResult;
}

/** Runs one invocation of a step, or of a fused run of steps. */
export async function runStep(
  event: StepEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<StepResult> {
  const started = Date.now();
  const { job } = event;
  const specs = [event.step, ...(event.fused ?? [])];
  const headPrevious = event.previous && 'stepId' in event.previous ? event.previous : undefined;
  const previousOf = (i: number): StepResult | undefined => (i === 0 ? headPrevious : headPrevious?.chain?.[i - 1]);
  const iteration = headPrevious?.iteration ?? 0;
  const bucket = services.config.stageBucket;
  const controller = new AbortController();
  const members: Member[] = [];
  const resolved: Record<string, unknown>[] = [];

  // Open from the last member back, so each member can forward its records to the one after it.
  for (let i = specs.length - 1; i >= 0; i--) {
    const spec = specs[i] as StepSpec;
    const definition = registry.get(spec.type);
    if (!definition) {
      throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `step type "${spec.type}" is not registered in this build`, {
        stepId: spec.id,
        dataflowId: job.dataflowId,
        received: spec.type,
      });
    }
    const previous = previousOf(i);
    const base = `${jobPrefix(job.dataflowId, job.id)}${spec.key}/i${String(iteration).padStart(4, '0')}/`;
    const log = stepLogger(job, spec.id, services, options);
    const counters = zeroCounters();
    const next = members[0];
    const staged = definition.produces === 'records' && !next;
    const recordSink = staged ? new StagedRecordSink(services.s3, bucket, `${base}out/`) : undefined;
    const rejectedSink = new StagedRecordSink(services.s3, bucket, `${base}rejected/`);
    const forward =
      definition.produces === 'files' && next?.definition.consumes === 'files'
        ? new FileForward((file) => next.driver.file(file))
        : undefined;
    const fileSink =
      definition.produces === 'files' && !forward ? new StagedFileSink(services.s3, bucket, base) : undefined;
    const limit =
      definition.consumes === 'nothing' && job.limit !== undefined
        ? job.limit - (previous?.counters.recordsOut ?? 0)
        : Number.POSITIVE_INFINITY;
    const out = new EngineOutput({
      stepId: spec.id,
      produces: definition.produces,
      ...(recordSink ? { records: recordSink } : {}),
      ...(next ? { forward: (batch: DataRecord[]) => next.driver.push(batch) } : {}),
      rejected: rejectedSink,
      ...(fileSink ? { files: fileSink } : {}),
      ...(forward ? { files: forward } : {}),
      limit,
      counters,
      log,
      debug: job.logLevel === 'debug',
    });
    const params = await resolveParams(definition.params, spec.params, job, services.secrets, spec.id);
    resolved.unshift(params);
    log.info(
      iteration === 0 ? `step started (${spec.type})` : `step continues (${spec.type}, invocation ${iteration + 1})`,
    );
    const instance = await definition.create(params as never, {
      job,
      stepId: spec.id,
      log,
      services,
      ...(previous?.continuation === undefined ? {} : { continuation: previous.continuation }),
      deadline: options.deadline,
      signal: controller.signal,
    });
    const driver = new ScriptDriver(definition, instance, out, counters, spec.id, (c) => {
      log.info(`progress: ${c.recordsIn} records in, ${c.recordsOut} out, ${c.recordsRejected} rejected`);
      options.onProgress?.(spec.id, c);
    });
    members.unshift({
      spec,
      definition,
      driver,
      out,
      log,
      counters,
      ...(recordSink ? { recordSink } : {}),
      rejectedSink,
      ...(fileSink ? { fileSink } : {}),
      ...(forward ? { forward } : {}),
      ...(previous ? { previous } : {}),
    });
  }

  const head = members[0] as Member;
  const ticker =
    options.onProgress && options.progressIntervalMs
      ? setInterval(() => {
          for (const m of members) options.onProgress?.(m.spec.id, { ...m.counters });
        }, options.progressIntervalMs)
      : undefined;
  ticker?.unref();
  const inputs = Object.keys(event.inputs)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((k) => event.inputs[k] as OutputRef);
  let continuation: unknown;
  let deferred: unknown;
  try {
    const records: AsyncIterable<DataRecord[]> = stagedRecords(
      services.s3,
      bucket,
      inputs.filter((r): r is RecordsRef => r.kind === 'records'),
    );
    const files: AsyncIterable<InputFile> = stagedFiles(
      services.s3,
      bucket,
      inputs.filter((r): r is FilesRef => r.kind === 'files'),
    );
    // End each script in order: a member's last records (or files) reach the next before the next one ends.
    const finishInOrder = async (ms: readonly Member[]) => {
      for (const m of ms) {
        await m.driver.finish();
        await m.forward?.settle();
      }
    };
    // Lanes take the run from its first member, or from the parser that file transformers (gunzip) feed, to its
    // last member, or to the formatter whose files go on to file transformers (gzip) on this thread.
    const transforms = (m: Member | undefined) =>
      m?.definition.consumes === 'files' && m.definition.produces === 'files';
    const from = members.findIndex((m) => !transforms(m));
    let to = members.length;
    while (to > from + 1 && transforms(members[to - 1])) to--;
    const lanes =
      from >= 0 ? laneRun(members.slice(from, to), resolved.slice(from, to), inputs, services.config.lanes) : undefined;
    if (lanes) {
      const laned = members.slice(from, to);
      (laned[0] as Member).log.info(`running in ${lanes.count} parallel lanes`);
      const totals = await runInLanes(lanes, laned, resolved.slice(from, to), job, async (run) => {
        if (from === 0) {
          if (lanes.plan.input.kind === 'records') {
            const refs = inputs.filter((r): r is RecordsRef => r.kind === 'records');
            await run.records(stagedRecordBytes(services.s3, bucket, refs));
          } else for await (const file of files) await run.file(file);
          return;
        }
        // The file transformers run here and stream their files into the lanes.
        const feeder = members[from - 1]?.forward;
        if (feeder) feeder.consume = (file) => run.file(file);
        await feed(head.driver, { records, files });
        await finishInOrder(members.slice(0, from));
      });
      // The transformers after the lanes finish once the last file reached them.
      await laned[laned.length - 1]?.forward?.settle();
      await finishInOrder(members.slice(to));
      laned.forEach((m, i) => {
        Object.assign(m.counters, totals[i]);
      });
    } else {
      const read = await feed(head.driver, { records, files });
      continuation = read?.continuation;
      deferred = read?.deferred;
      await finishInOrder(members);
    }
    // A member fed by a file transformer counted each file when it began, before its size was known.
    members.forEach((m, i) => {
      if (m.forward) (members[i + 1] as Member).counters.bytesIn += m.forward.bytes;
    });
  } catch (error) {
    controller.abort();
    const reason = error instanceof Error ? error : new Error(String(error));
    for (const m of members) {
      m.recordSink?.abort(reason);
      m.rejectedSink.abort(reason);
      m.fileSink?.abort(reason);
      m.log.error(`step failed: ${reason.message}`);
    }
    throw locateError(error, { stepId: head.spec.id, dataflowId: job.dataflowId });
  } finally {
    clearInterval(ticker);
    for (const m of members) await m.driver.instance.close?.();
  }

  const total = (m: Member) => (m.previous ? addCounters(m.previous.counters, m.counters) : m.counters);
  const reachedLimit =
    head.definition.consumes === 'nothing' && job.limit !== undefined && total(head).recordsOut >= job.limit;
  const done = continuation === undefined || reachedLimit;
  const results: StepResult[] = [];
  for (const m of members)
    results.push(
      await finishMember(m, {
        services,
        job,
        iteration,
        started,
        done,
        continuation: m === head ? continuation : undefined,
        deferred: m === head ? deferred : undefined,
      }),
    );
  const [first, ...chain] = results as [StepResult, ...StepResult[]];
  return chain.length ? { ...first, chain } : first;
}

/** A run of members that goes in lanes: the settings and the plan. */
interface LaneRun extends LaneSettings {
  readonly plan: LanePlan;
}

/**
 * Whether this invocation runs in lanes: lanes are on, the members allow it (see planLanes), and the input is
 * large enough for the threads to pay off.
 */
function laneRun(
  members: readonly Member[],
  params: readonly Record<string, unknown>[],
  inputs: readonly OutputRef[],
  settings: LaneSettings | undefined,
): LaneRun | undefined {
  if (!settings) return undefined;
  const records = inputs.reduce((n, r) => n + (r.kind === 'records' ? r.count : 0), 0);
  const bytes = inputs.reduce((n, r) => n + (r.kind === 'files' ? r.files.reduce((b, f) => b + f.size, 0) : 0), 0);
  if (records < settings.minRecords && bytes < settings.minBytes) return undefined;
  const plan = planLanes(
    members.map((m) => m.definition),
    params,
  );
  if (typeof plan === 'string') {
    members[0]?.log.debug(`one lane: ${plan}`);
    return undefined;
  }
  return { ...settings, plan };
}

/** Runs the members in lanes, `input` handing them the invocation's input; returns each member's counters. */
async function runInLanes(
  run: LaneRun,
  members: readonly Member[],
  params: readonly Record<string, unknown>[],
  job: JobContext,
  input: (lanes: Lanes) => Promise<void>,
): Promise<StepCounters[]> {
  const last = members[members.length - 1] as Member;
  const lanes = new Lanes({
    worker: run.worker,
    count: run.count,
    steps: members.map((m, i) => ({ id: m.spec.id, type: m.spec.type, params: params[i] as Record<string, unknown> })),
    definitions: members.map((m) => m.definition),
    plan: run.plan,
    job,
    sinks: {
      ...(last.recordSink ? { records: last.recordSink } : {}),
      rejected: members.map((m) => m.rejectedSink),
      ...(last.fileSink ? { files: last.fileSink } : {}),
      ...(last.forward ? { files: last.forward } : {}),
    },
    logs: members.map((m) => m.log),
  });
  try {
    await input(lanes);
    return await lanes.finish();
  } finally {
    await lanes.close();
  }
}

/** Closes a member's sinks, records its summary in the job and builds its result. */
async function finishMember(
  m: Member,
  ctx: {
    services: Services;
    job: JobContext;
    iteration: number;
    started: number;
    done: boolean;
    continuation: unknown;
    deferred: unknown;
  },
): Promise<StepResult> {
  const { services, job } = ctx;
  const bucket = services.config.stageBucket;
  const deferredList = [...(m.previous?.deferred ?? []), ...(ctx.deferred === undefined ? [] : [ctx.deferred])];
  const [outRef, rejectedRef, filesRef] = await Promise.all([
    m.recordSink?.close(),
    m.rejectedSink.close(),
    m.fileSink?.close(),
  ]);
  const counters = m.counters;
  // A member whose records went on in memory has no staged output of its own.
  const thisOut: OutputRef =
    outRef ??
    filesRef ??
    (m.definition.produces === 'records' ? { kind: 'records', parts: [], count: 0 } : { kind: 'nothing' });
  if (filesRef) {
    counters.filesOut = filesRef.files.length;
    counters.bytesOut = filesRef.files.reduce((n, f) => n + f.size, 0);
  } else if (m.forward) {
    counters.filesOut = m.forward.files;
    counters.bytesOut = m.forward.bytes;
  }
  counters.durationMs = Date.now() - ctx.started;
  counters.invocations = 1;
  if (m.out.overLimit > 0)
    m.log.info(`limit reached: ${m.out.overLimit} records beyond the job limit were not passed on`);
  const total = m.previous ? addCounters(m.previous.counters, counters) : counters;
  const fileList = [
    ...(m.previous?.files ?? []),
    ...(filesRef?.files.map((f) => ({ name: f.name, size: f.size })) ?? []),
    ...m.out.deliveredFiles,
  ];
  const skipped = [...(m.previous?.skipped ?? []), ...m.out.skippedFiles];
  const result: StepResult = {
    stepId: m.spec.id,
    type: m.spec.type,
    out: mergeRefs(m.previous?.out, thisOut),
    rejected: mergeRefs(m.previous?.rejected, rejectedRef) as RecordsRef,
    counters: total,
    done: ctx.done,
    ...(ctx.done || ctx.continuation === undefined ? {} : { continuation: ctx.continuation }),
    iteration: ctx.iteration + 1,
    ...(deferredList.length ? { deferred: deferredList } : {}),
    ...(fileList.length ? { files: fileList } : {}),
    ...(skipped.length ? { skipped } : {}),
  };
  m.log.info(
    `step ${ctx.done ? 'finished' : 'paused for continuation'}: ${total.recordsIn} records in, ${total.recordsOut} out, ${total.recordsRejected} rejected, ${total.recordsDropped} dropped${
      total.filesOut ? `, ${total.filesOut} file(s) ${total.bytesOut} bytes` : ''
    } in ${counters.durationMs} ms`,
  );
  const summary: StepSummary = {
    stepId: m.spec.id,
    type: m.spec.type,
    ...total,
    ...(fileList.length ? { files: fileList } : {}),
    ...(skipped.length ? { skipped } : {}),
    ...(result.rejected.count > 0
      ? { rejectedLocation: `s3://${bucket}/${jobPrefix(job.dataflowId, job.id)}${m.spec.key}/` }
      : {}),
    updateTime: new Date().toISOString(),
  };
  await new JobStore(services.dynamo, services.config.tables.jobs).recordStep(job.id, summary, m.log.trace);
  return result;
}

/**
 * Runs a step's deferred work after the whole job succeeded. A failure here is logged in the job trace as an
 * error but does not fail the job: the data is delivered and the watermark may move; what is left undone (a file
 * not deleted) is safe to repeat, and the processed-file memory keeps it from being imported twice.
 */
export async function runAfterJob(
  event: AfterEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<{ ok: boolean; error?: string }> {
  const { job, step, result } = event;
  const deferred = result.deferred ?? [];
  if (deferred.length === 0) return { ok: true };
  const definition = registry.require(step.type);
  const log = stepLogger(job, step.id, services, options);
  const controller = new AbortController();
  let outcome: { ok: boolean; error?: string } = { ok: true };
  try {
    const params = await resolveParams(definition.params, step.params, job, services.secrets, step.id);
    const instance = await definition.create(params as never, {
      job,
      stepId: step.id,
      log,
      services,
      deadline: options.deadline,
      signal: controller.signal,
    });
    try {
      await instance.afterJob?.(deferred);
    } finally {
      await instance.close?.();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`work deferred until the job succeeded did not complete: ${message}`);
    outcome = { ok: false, error: message };
  }
  await new JobStore(services.dynamo, services.config.tables.jobs).appendTrace(job.id, log.trace);
  return outcome;
}
