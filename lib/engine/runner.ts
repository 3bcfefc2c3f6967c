/**
 * The step runner: reads a step's inputs from the stage, runs its script as a stream, stages the outputs under
 * deterministic keys and returns only references and counters. It adds logging, counting and timing around
 * the script; the script only transforms. A fused run of steps (StepEvent.fused) passes records from one script
 * to the next in memory and stages only the last step's output, each step still counted and logged on its own.
 */
import { setMaxListeners } from 'node:events';
import { IdxError, locateError } from '../core/errors.ts';
import type { AfterEvent, StepEvent, StepSpec } from '../core/events.ts';
import { jobPrefix } from '../core/keys.ts';
import { stepMetrics } from '../core/metrics.ts';
import {
  addCounters,
  type FileRef,
  filePieces,
  type OutputRef,
  type RecordsRef,
  type StepContinuation,
  type StepCounters,
  type StepResult,
} from '../core/refs.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import {
  type AnyScriptDefinition,
  type DataRecord,
  entersRecords,
  type InputFile,
  type JobContext,
  type PartitionItem,
  type ReadResult,
  type ScriptInstance,
} from '../core/script.ts';
import type { LaneSettings, Services } from '../core/services.ts';
import { JobStore, type StepSummary } from '../stores/jobs.ts';
import { buildChain, createInstance, type LinkStart, type LinkWiring } from './chain.ts';
import { type DriveInputs, feed, type ScriptDriver } from './drive.ts';
import { mergeWouldWrite, wouldWriteOf } from './dry-run.ts';
import type { FileForward } from './forward.ts';
import { kernelTakes } from './lanes/kernel.ts';
import type { LanePlan } from './lanes/plan.ts';
import { planLanes } from './lanes/plan.ts';
import { Lanes } from './lanes/pool.ts';
import { TraceLogger } from './logger.ts';
import type { EngineOutput } from './output.ts';
import { InputCursor, START } from './position.ts';
import { progressText } from './progress.ts';
import { paramsResolver, resolveParams } from './resolve.ts';
import { StagedFileSink, StagedRecordSink } from './stage.ts';

/** Options of {@link runStep}. */
export interface RunStepOptions {
  /**
   * Epoch ms by which the invocation hands back a continuation: the engine stops a step that consumes between
   * batches of records or between files once it passed, a reader stops itself.
   */
  readonly deadline: number;
  /** Write JSON log lines to stdout. @default true */
  readonly echo?: boolean;
  /**
   * Called on progress of long steps (every 100,000 records, and every `progressIntervalMs`) with the step's
   * counters over all its invocations so far and, from the periodic report, the time its Task ran so far.
   */
  readonly onProgress?: (stepId: string, counters: StepCounters, elapsedMs?: number) => void;
  /**
   * Also report every step's counters at this interval while it runs: readers count no records in, and a slow
   * source reaches 100,000 records late. @default no periodic report
   */
  readonly progressIntervalMs?: number;
  /**
   * How often a running step writes its counters so far to the job record (moving the job's `processedRecords`
   * and `totalRecords`) and logs a progress line: at most this often, never per record. @default 10000
   */
  readonly recordProgressMs?: number;
}

/** Default of {@link RunStepOptions.recordProgressMs}. */
export const RECORD_PROGRESS_MS = 10_000;

/** The trace logger of one step of a job, masking the job's secrets. */
export function stepLogger(job: JobContext, stepId: string, services: Services, options: RunStepOptions): TraceLogger {
  return new TraceLogger({
    jobId: job.id,
    stepId,
    level: job.logLevel,
    redactor: services.secrets.redactor,
    echo: options.echo ?? true,
  });
}

/**
 * A step's output so far: the previous invocations' and this one's. With `joinFiles`, a file this invocation wrote
 * under a name an earlier invocation wrote too continues that file: its piece becomes the file's next part.
 */
function mergeRefs(a: OutputRef | undefined, b: OutputRef, joinFiles = false): OutputRef {
  if (!a || a.kind === 'nothing' || a.kind !== b.kind) return b;
  if (a.kind === 'records' && b.kind === 'records')
    return { kind: 'records', parts: [...a.parts, ...b.parts], count: a.count + b.count };
  if (a.kind === 'files' && b.kind === 'files')
    return { kind: 'files', files: joinFiles ? joinPieces(a.files, b.files) : [...a.files, ...b.files] };
  return b;
}

/** Files written so far followed by this invocation's, each piece of an earlier file appended to it. */
function joinPieces(before: readonly FileRef[], now: readonly FileRef[]): FileRef[] {
  const files = [...before];
  const at = new Map(before.map((f, i) => [f.name, i]));
  for (const f of now) {
    const i = at.get(f.name);
    const earlier = i === undefined ? undefined : files[i];
    if (i === undefined || !earlier) {
      at.set(f.name, files.length);
      files.push(f);
      continue;
    }
    files[i] = { ...earlier, size: earlier.size + f.size, parts: [...filePieces(earlier), ...filePieces(f)] };
  }
  return files;
}

/** One step of an invocation: its script, output, sinks and counters. */
interface Member {
  readonly spec: StepSpec;
  readonly definition: AnyScriptDefinition;
  readonly driver: ScriptDriver;
  /** The params its script got (placeholders and secrets resolved). */
  readonly params: Record<string, unknown>;
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

/** This invocation of a step or fused run: its members' specs and what their previous invocation returned. */
interface Invocation {
  readonly job: JobContext;
  readonly specs: readonly StepSpec[];
  /** Invocations of this step that ran before this one. */
  readonly iteration: number;
  /** Member `i`'s result from the previous invocation, when the step continues. */
  previous(i: number): StepResult | undefined;
  /** The partition it reads, in an iteration of a partitioned reader's Map state. */
  readonly partition?: PartitionItem;
}

/** The opened inputs of an invocation. */
interface StepInputs extends DriveInputs {
  readonly records: AsyncIterable<DataRecord[]>;
  readonly files: AsyncIterable<InputFile>;
  /** The predecessors' outputs, in the order of the event's input keys (`i0`, `i1`, …). */
  readonly refs: readonly OutputRef[];
  /** The staged records as NDJSON bytes, for lanes that cut them into chunks. */
  recordBytes(): AsyncIterable<Buffer>;
  /** Where the head member stands in them. */
  readonly cursor: InputCursor;
}

/** What running the members gave: the reader's result, or where a consuming head stopped; each member's state. */
interface Ran {
  readonly read?: ReadResult | undefined;
  /** The head consumed its whole input (or, for a reader, read everything). */
  readonly final: boolean;
  readonly cursor: InputCursor;
  /** What each member's `end` kept for the next invocation. */
  readonly states: readonly unknown[];
  /** The members that ran in lanes, and how long the lanes took. */
  readonly laned?: LanedTime;
}

/** Members `from` up to (not including) `to` ran in lanes for `ms`: their time is the lanes' time, shared. */
interface LanedTime {
  readonly from: number;
  readonly to: number;
  readonly ms: number;
}

/** Runs one invocation of a step, or of a fused run of steps. */
export async function runStep(
  event: StepEvent,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
): Promise<StepResult> {
  const started = Date.now();
  const invocation = invocationOf(event);
  const { job } = invocation;
  const controller = new AbortController();
  // Every concurrent call of the step (a Gigya writer keeps maxConnections requests in flight, each with its own
  // timeout signal joined to this one) listens on it: more than Node's default of 10 is expected, not a leak.
  setMaxListeners(0, controller.signal);
  const members = await openMembers(invocation, services, registry, options, controller.signal);
  const head = members[0] as Member;
  let ran: Ran | undefined;
  // A partition's counters are a part of its step's: the job record shows the step once the join adds them up.
  const progress = invocation.partition
    ? undefined
    : new ProgressTicker(members, options, services, job, started, () => ran?.laned);
  try {
    ran = await runMembers(members, openInputs(event, services, head, options.deadline), job, services, invocation);
  } catch (error) {
    controller.abort();
    abortMembers(members, error);
    throw locateError(error, { stepId: head.spec.id, dataflowId: job.dataflowId });
  } finally {
    // A progress write still under way lands before the step's final summary, never after it.
    await progress?.stop();
    for (const m of members) await m.driver.instance.close?.();
  }
  return finishMembers(members, ran, {
    services,
    job,
    iteration: invocation.iteration,
    started,
    ...(invocation.partition ? { partition: true } : {}),
  });
}

/**
 * Each member's own time in this invocation: what the chain's clock charged to it (see StepClock); members that
 * ran in lanes share the time the lanes took; the head gets the rest of the Task's time (opening and reading its
 * input, staging), so the members' times add up to the Task's.
 */
function ownTimes(members: readonly Member[], started: number, laned: LanedTime | undefined): number[] {
  const wall = Date.now() - started;
  const times = members.map((m, i) =>
    laned && i >= laned.from && i < laned.to ? laned.ms : m.driver.clock.ownMs(m.driver.index),
  );
  if (!laned || laned.from > 0) {
    const others = times.slice(1).reduce((n, t) => n + t, 0);
    times[0] = Math.max(0, wall - others);
  }
  return times;
}

/**
 * The periodic progress of a running invocation: every `progressIntervalMs` each member's counters so far go to
 * `onProgress` (the CLI's live line), and every `recordProgressMs` to the job record and the log (deployed, the
 * step function's CloudWatch lines), one write at a time.
 */
class ProgressTicker {
  readonly #timer: NodeJS.Timeout;
  #lastRecord: number;
  #pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly members: readonly Member[],
    private readonly options: RunStepOptions,
    private readonly services: Services,
    private readonly job: JobContext,
    private readonly started: number,
    private readonly laned: () => LanedTime | undefined,
  ) {
    this.#lastRecord = started;
    const recordMs = options.recordProgressMs ?? RECORD_PROGRESS_MS;
    const every = Math.min(options.onProgress ? (options.progressIntervalMs ?? recordMs) : recordMs, recordMs);
    this.#timer = setInterval(() => this.#tick(recordMs), Math.max(1, every));
    this.#timer.unref();
  }

  /** Each member's counters over all its invocations so far, with the bytes its files hold so far. */
  #snapshot(): { counters: StepCounters[]; elapsedMs: number } {
    const times = ownTimes(this.members, this.started, this.laned());
    const counters = this.members.map((m, i) => {
      const c: StepCounters = { ...m.counters, durationMs: times[i] ?? 0, invocations: 1 };
      if (m.fileSink) {
        c.filesOut = m.fileSink.count;
        c.bytesOut = m.fileSink.bytesSoFar;
      } else if (m.forward) {
        c.filesOut = m.forward.files;
        c.bytesOut = m.forward.written;
      }
      // A file streamed in from the member before is counted when it begins, before its size is known.
      const feeder = this.members[i - 1]?.forward;
      if (feeder) c.bytesIn += feeder.written;
      return m.previous ? addCounters(m.previous.counters, c) : c;
    });
    return { counters, elapsedMs: counters.reduce((n, c) => n + c.durationMs, 0) };
  }

  #tick(recordMs: number): void {
    const { counters, elapsedMs } = this.#snapshot();
    if (this.options.onProgress && this.options.progressIntervalMs)
      this.members.forEach((m, i) => {
        this.options.onProgress?.(m.spec.id, counters[i] as StepCounters, elapsedMs);
      });
    if (Date.now() - this.#lastRecord < recordMs) return;
    this.#lastRecord = Date.now();
    const now = new Date().toISOString();
    this.members.forEach((m, i) => {
      m.log.logOnly(`progress: ${progressText(counters[i] as StepCounters, elapsedMs / 1000)}`);
    });
    const summaries = this.members.map(
      (m, i): StepSummary => ({
        stepId: m.spec.id,
        type: m.spec.type,
        ...(counters[i] as StepCounters),
        running: true,
        updateTime: now,
      }),
    );
    const store = new JobStore(this.services.dynamo, this.services.config.tables.jobs, this.services.secrets.redactor);
    this.#pending = this.#pending
      .then(() => store.recordProgress(this.job.id, summaries))
      .then(
        () => undefined,
        // Progress is a view: a failed write waits for the next one and never fails the step.
        (error: unknown) => this.members[0]?.log.logOnly(`progress not recorded: ${(error as Error).message}`),
      );
  }

  /** Stops the ticks and waits for a write under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pending;
  }
}

/** What the event says about this invocation. */
function invocationOf(event: StepEvent): Invocation {
  const headPrevious = event.previous && 'stepId' in event.previous ? event.previous : undefined;
  return {
    job: event.job,
    specs: [event.step, ...(event.fused ?? [])],
    iteration: headPrevious?.iteration ?? 0,
    previous: (i) => (i === 0 ? headPrevious : headPrevious?.chain?.[i - 1]),
    ...(event.partition ? { partition: event.partition } : {}),
  };
}

/** A member as it is wired, before its script is started. */
type MemberStage = Omit<Member, 'driver' | 'params' | 'out' | 'counters' | 'forward'>;

/**
 * Builds the chain of members: each one's records go on to the next in memory and its files stream into the next
 * when it reads them; the last stages its records or files, and every member stages its rejected records.
 */
async function openMembers(
  invocation: Invocation,
  services: Services,
  registry: ScriptRegistry,
  options: RunStepOptions,
  signal: AbortSignal,
): Promise<Member[]> {
  const { job, specs, iteration } = invocation;
  const stages: MemberStage[] = [];
  const links = await buildChain(
    specs.map((spec) => ({ id: spec.id, definition: definitionOf(spec, registry, job), params: spec.params })),
    {
      job,
      services,
      deadline: options.deadline,
      signal,
      ...(invocation.partition ? { partition: invocation.partition } : {}),
      resolve: paramsResolver(job, services.secrets),
      wire: (link) => {
        const stage = stageMember(invocation, link, services, options);
        stages[link.index] = stage;
        stage.log.info(
          iteration === 0
            ? `step started (${stage.spec.type})`
            : `step continues (${stage.spec.type}, invocation ${iteration + 1})`,
        );
        return memberWiring(stage, job, options, link.index === 0);
      },
    },
  );
  return links.map((link, i) => ({
    ...(stages[i] as MemberStage),
    driver: link.driver,
    params: link.params,
    out: link.driver.out,
    counters: link.driver.counters,
    ...(link.forward ? { forward: link.forward } : {}),
  }));
}

/**
 * A member's logger and staged sinks, under this invocation's keys: its records when no member follows, its files
 * when no member reads them, and its rejected records.
 */
function stageMember(
  invocation: Invocation,
  { index, step, next, forward }: LinkStart,
  services: Services,
  options: RunStepOptions,
): MemberStage {
  const { job, iteration } = invocation;
  const spec = invocation.specs[index] as StepSpec;
  const { definition } = step;
  const bucket = services.config.stageBucket;
  const previous = invocation.previous(index);
  // A partition of a Map state stages under its own prefix, so that partitions read at once never share a key.
  const partition = invocation.partition ? `p${String(invocation.partition.index).padStart(4, '0')}/` : '';
  const base = `${jobPrefix(job.dataflowId, job.id)}${spec.key}/${partition}i${String(iteration).padStart(4, '0')}/`;
  const staged = definition.produces === 'records' && !next;
  const recordSink = staged ? new StagedRecordSink(services.s3, bucket, `${base}out/`) : undefined;
  const fileSink =
    definition.produces === 'files' && !forward ? new StagedFileSink(services.s3, bucket, base) : undefined;
  return {
    spec,
    definition,
    log: stepLogger(job, spec.id, services, options),
    ...(recordSink ? { recordSink } : {}),
    rejectedSink: new StagedRecordSink(services.s3, bucket, `${base}rejected/`),
    ...(fileSink ? { fileSink } : {}),
    ...(previous ? { previous } : {}),
  };
}

/**
 * Records of the job's limit a member may still hand on: what its earlier invocations left of it when records
 * enter the dataflow at the member (a reader, a parser: see entersRecords), else no bound.
 */
function limitLeft(m: Pick<MemberStage, 'definition' | 'previous'>, job: JobContext): number {
  if (job.limit === undefined || !entersRecords(m.definition)) return Number.POSITIVE_INFINITY;
  const before = m.previous?.counters;
  return job.limit - (before ? before.recordsOut + before.recordsRejected : 0);
}

/** Where a member's script writes and what it continues from: a source under the job's limit hands on what is left. */
function memberWiring(m: MemberStage, job: JobContext, options: RunStepOptions, head: boolean): LinkWiring {
  return {
    log: m.log,
    ...(m.recordSink ? { records: m.recordSink } : {}),
    rejected: m.rejectedSink,
    ...(m.fileSink ? { files: m.fileSink } : {}),
    limit: limitLeft(m, job),
    debug: job.logLevel === 'debug',
    continuation: scriptState(m.definition, m.previous?.continuation, head),
    invocation: m.previous?.iteration ?? 0,
    onProgress: (c) => {
      m.log.info(`progress: ${c.recordsIn} records in, ${c.recordsOut} out, ${c.recordsRejected} rejected`);
      options.onProgress?.(m.spec.id, m.previous ? addCounters(m.previous.counters, c) : { ...c });
    },
  };
}

/**
 * What a member's script gets back from its previous invocation: a reader its own continuation; the head of a
 * consuming run its script's state beside the engine's position; a fused member what its `end` returned.
 */
function scriptState(definition: AnyScriptDefinition, continuation: unknown, head: boolean): unknown {
  if (continuation === undefined || definition.consumes === 'nothing' || !head) return continuation;
  return (continuation as StepContinuation).script;
}

/** The script of a step, which this build must have. */
function definitionOf(spec: StepSpec, registry: ScriptRegistry, job: JobContext): AnyScriptDefinition {
  const definition = registry.get(spec.type);
  if (definition) return definition;
  throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `step type "${spec.type}" is not registered in this build`, {
    stepId: spec.id,
    dataflowId: job.dataflowId,
    received: spec.type,
  });
}

/**
 * Opens the invocation's inputs: the staged records and files its predecessors handed on, from where the head's
 * previous invocation stopped, up to the deadline (never, for a script that must see its whole input at once).
 */
function openInputs(
  event: StepEvent,
  services: Services,
  head: MemberStage & Pick<Member, 'params'>,
  deadline: number,
): StepInputs {
  const refs = Object.keys(event.inputs)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((k) => event.inputs[k] as OutputRef);
  const previous = head.previous?.continuation as StepContinuation | undefined;
  const from = previous ? { input: previous.input, part: previous.part, records: previous.records } : START;
  const whole = head.definition.wholeInput?.(head.params as never) === true;
  const cursor = new InputCursor(services.s3, services.config.stageBucket, refs, from, () =>
    whole ? false : Date.now() >= deadline,
  );
  return { refs, cursor, records: cursor.records(), files: cursor.files(), recordBytes: () => cursor.recordBytes() };
}

/**
 * Runs the members over the inputs, on this thread or, when they go there, in lanes; returns what the first
 * member's `read` returned.
 */
async function runMembers(
  members: readonly Member[],
  inputs: StepInputs,
  job: JobContext,
  services: Services,
  invocation: Invocation,
): Promise<Ran> {
  const head = members[0] as Member;
  const span = laneSpan(members);
  // A limited job takes a few records from each source: lanes would cut the input into chunks that each run up to
  // the limit on their own, so the members of a source under the limit run on this thread, in order.
  const bounded = job.limit !== undefined && members.some((m) => entersRecords(m.definition));
  // Lanes stop only between staged parts: a position inside a part continues on this thread.
  const lanes =
    span &&
    !bounded &&
    inputs.cursor.position.records === 0 &&
    laneRun(members.slice(span.from, span.to), inputs.refs, services.config.lanes, job);
  // Once a source in the run handed on the job's limit, the rest of the input is not read and the step is done.
  const enough = () => bounded && members.some((m) => m.out.remaining <= 0);
  const final = (read: ReadResult | undefined) =>
    enough() || (head.definition.consumes === 'nothing' ? read?.continuation === undefined : inputs.cursor.exhausted);
  let read: ReadResult | undefined;
  let states: unknown[];
  let laned: LanedTime | undefined;
  if (span && lanes) {
    const t0 = Date.now();
    states = await runLaned(members, span, lanes, inputs, job, invocation.iteration === 0, final);
    laned = { ...span, ms: Date.now() - t0 };
  } else {
    read = await feed(head.driver, inputs, enough);
    states = await finishInOrder(members, final(read));
  }
  // A member fed by a file transformer counted each file when it began, before its size was known.
  members.forEach((m, i) => {
    if (m.forward) (members[i + 1] as Member).counters.bytesIn += m.forward.bytes;
  });
  return { read, final: final(read), cursor: inputs.cursor, states, ...(laned ? { laned } : {}) };
}

/**
 * Ends each script in order: a member's last records (or files) reach the next before the next one ends. Returns
 * what each kept for the next invocation when this one is not the last.
 */
async function finishInOrder(members: readonly Member[], final: boolean): Promise<unknown[]> {
  const states: unknown[] = [];
  for (const m of members) {
    states.push(await m.driver.finish({ final }));
    await m.forward?.settle();
  }
  return states;
}

/** The members that may go in lanes: `from` up to (not including) `to`. */
interface LaneSpan {
  readonly from: number;
  readonly to: number;
}

/**
 * Lanes take the run from its first member, or from the parser that file transformers (gunzip) feed, to its last
 * member, or to the formatter whose files go on to file transformers on this thread. A transform that takes each
 * piece of a file on its own (gzip) stays in the lanes: compressing is the costliest part of an export, and each
 * lane gzips its fragment into a member of the one file.
 */
function laneSpan(members: readonly Member[]): LaneSpan | undefined {
  const transforms = (m: Member | undefined) => m?.definition.consumes === 'files' && m.definition.produces === 'files';
  const from = members.findIndex((m) => !transforms(m));
  if (from < 0) return undefined;
  let to = members.length;
  while (to > from + 1 && transforms(members[to - 1]) && !members[to - 1]?.definition.lanes?.pieces) to--;
  return { from, to };
}

/**
 * Runs the span's members in lanes. The members before it (file transformers) run here and stream their files
 * into the lanes; the members after it run here too, fed as the lanes write the files back.
 */
async function runLaned(
  members: readonly Member[],
  { from, to }: LaneSpan,
  lanes: LaneRun,
  inputs: StepInputs,
  job: JobContext,
  first: boolean,
  final: (read: ReadResult | undefined) => boolean,
): Promise<unknown[]> {
  const laned = members.slice(from, to);
  (laned[0] as Member).log.info(
    lanes.count > 1 ? `running in ${lanes.count} parallel lanes` : 'running in one lane through a byte kernel',
  );
  let before: unknown[] = [];
  // The lanes end their files when the input is done; whether it is the last input is known only then.
  const slice = {
    first,
    get final() {
      return final(undefined);
    },
  };
  const totals = await runInLanes(lanes, laned, job, slice, async (run) => {
    if (from === 0) {
      if (lanes.plan.input.kind === 'records') await run.records(inputs.recordBytes());
      else for await (const file of inputs.files) await run.file(file);
      return;
    }
    const feeder = members[from - 1]?.forward;
    if (feeder) feeder.consume = (file) => run.file(file);
    await feed((members[0] as Member).driver, inputs);
    before = await finishInOrder(members.slice(0, from), final(undefined));
  });
  // The transformers after the lanes finish once the last file reached them.
  await laned[laned.length - 1]?.forward?.settle();
  const after = await finishInOrder(members.slice(to), final(undefined));
  laned.forEach((m, i) => {
    Object.assign(m.counters, totals[i]);
    // A formatter whose files a transform took in the lanes: its files and bytes are what the lanes counted.
    if (m.forward && i < laned.length - 1) {
      m.forward.files = totals[i]?.filesOut ?? 0;
      m.forward.bytes = totals[i]?.bytesOut ?? 0;
    }
  });
  return [...before, ...laned.map(() => undefined), ...after];
}

/** Stops a failed invocation's uploads, so none waits for data that will not come, and logs the failure. */
function abortMembers(members: readonly Member[], error: unknown): void {
  const reason = error instanceof Error ? error : new Error(String(error));
  for (const m of members) {
    m.recordSink?.abort(reason);
    m.rejectedSink.abort(reason);
    m.fileSink?.abort(reason);
    m.log.error(`step failed: ${reason.message}`);
  }
}

/** A run of members that goes in lanes: the settings and the plan. */
interface LaneRun extends LaneSettings {
  readonly plan: LanePlan;
}

/**
 * Whether this invocation runs in lanes: lanes are on, the members allow it (see planLanes), and the input is
 * large enough for the threads to pay off. With one lane (the main thread's), only when a byte kernel takes the
 * run: the lane then replaces the scripts' record work by the kernel's, where alone it would only add the cutting.
 */
function laneRun(
  members: readonly Member[],
  inputs: readonly OutputRef[],
  settings: LaneSettings | undefined,
  job: JobContext,
): LaneRun | undefined {
  if (!settings) return undefined;
  const records = inputs.reduce((n, r) => n + (r.kind === 'records' ? r.count : 0), 0);
  const bytes = inputs.reduce((n, r) => n + (r.kind === 'files' ? r.files.reduce((b, f) => b + f.size, 0) : 0), 0);
  if (records < settings.minRecords && bytes < settings.minBytes) return undefined;
  const plan = planLanes(
    members.map((m) => m.definition),
    members.map((m) => m.params),
  );
  if (typeof plan === 'string') {
    members[0]?.log.debug(`one lane: ${plan}`);
    return undefined;
  }
  if (settings.count <= 1) {
    const steps = members.map((m) => ({ id: m.spec.id, type: m.spec.type, params: m.params }));
    if (
      settings.kernels === false ||
      !kernelTakes(
        members.map((m) => m.definition),
        steps,
        plan,
        job,
      )
    )
      return undefined;
  }
  return { ...settings, plan };
}

/** Runs the members in lanes, `input` handing them the invocation's input; returns each member's counters. */
async function runInLanes(
  run: LaneRun,
  members: readonly Member[],
  job: JobContext,
  slice: { readonly first: boolean; readonly final: boolean },
  input: (lanes: Lanes) => Promise<void>,
): Promise<StepCounters[]> {
  const last = members[members.length - 1] as Member;
  const lanes = new Lanes({
    worker: run.worker,
    count: run.count,
    steps: members.map((m) => ({ id: m.spec.id, type: m.spec.type, params: m.params })),
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
    slice,
    ...(run.chunkBytes === undefined ? {} : { chunkBytes: run.chunkBytes }),
    kernels: run.kernels !== false,
  });
  try {
    await input(lanes);
    const totals = await lanes.finish();
    const { written, kernel } = lanes.chunks;
    if (kernel > 0)
      (members[0] as Member).log.info(
        `${kernel} of ${written} chunk(s) went through a byte kernel, the rest through the scripts`,
      );
    return totals;
  } finally {
    await lanes.close();
  }
}

/** What finishing an invocation's members needs to know. */
interface FinishContext {
  readonly services: Services;
  readonly job: JobContext;
  readonly iteration: number;
  readonly started: number;
  /** A partition of a Map state: its counters are a part of its step's, which the join records. */
  readonly partition?: boolean;
}

/**
 * Closes every member's sinks, records its summary in the job and builds its result; the first member's result
 * carries the others' in `chain`. The step is done once its input is (see runMembers: a reader that has no more, the
 * input read to its end, or a source in the run that handed on the job's limit).
 */
async function finishMembers(members: readonly Member[], ran: Ran, ctx: FinishContext): Promise<StepResult> {
  const { read, cursor, states } = ran;
  const head = members[0] as Member;
  const done = ran.final;
  const position = (state: unknown): StepContinuation => ({
    ...cursor.position,
    ...(state === undefined ? {} : { script: state }),
  });
  const continuationOf = (i: number): unknown => {
    if (i > 0) return states[i];
    return head.definition.consumes === 'nothing' ? read?.continuation : position(states[0]);
  };
  const times = ownTimes(members, ctx.started, ran.laned);
  const results: StepResult[] = [];
  for (const [i, m] of members.entries())
    results.push(
      await finishMember(m, {
        ...ctx,
        ownMs: times[i] ?? 0,
        done,
        continuation: continuationOf(i),
        deferred: m === head ? read?.deferred : undefined,
      }),
    );
  const [first, ...chain] = results as [StepResult, ...StepResult[]];
  return chain.length ? { ...first, chain } : first;
}

/** Closes a member's sinks, records its summary in the job and builds its result. */
async function finishMember(
  m: Member,
  ctx: FinishContext & {
    readonly ownMs: number;
    readonly done: boolean;
    readonly continuation: unknown;
    readonly deferred: unknown;
  },
): Promise<StepResult> {
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
  counters.durationMs = ctx.ownMs;
  counters.invocations = 1;
  const limitReached = m.out.remaining <= 0;
  if (limitReached) {
    m.log.info(
      `job limit of ${ctx.job.limit} records reached: whatever followed them in the step's input was not read${m.out.overLimit > 0 ? ` (${m.out.overLimit} record(s) already made beyond it were not passed on)` : ''}`,
    );
  }
  const total = m.previous ? addCounters(m.previous.counters, counters) : counters;
  const fileList = joinedList(
    m.previous?.files ?? [],
    [...(filesRef?.files.map((f) => ({ name: f.name, size: f.size })) ?? []), ...m.out.deliveredFiles],
    m.definition.consumes !== 'nothing' && filesRef !== undefined,
  );
  const out = mergeRefs(m.previous?.out, thisOut, m.definition.consumes !== 'nothing');
  // A file continued in this invocation is still one file.
  if (filesRef && out.kind === 'files') {
    total.filesOut = out.files.length;
    total.bytesOut = out.files.reduce((n, f) => n + f.size, 0);
  }
  const skipped = [...(m.previous?.skipped ?? []), ...m.out.skippedFiles];
  const wouldWrite = mergeWouldWrite(m.previous?.wouldWrite, wouldWriteOf(m.driver.instance));
  const result: StepResult = {
    stepId: m.spec.id,
    type: m.spec.type,
    out,
    rejected: mergeRefs(m.previous?.rejected, rejectedRef) as RecordsRef,
    counters: total,
    done: ctx.done,
    ...(ctx.done || ctx.continuation === undefined ? {} : { continuation: ctx.continuation }),
    iteration: ctx.iteration + 1,
    ...(deferredList.length ? { deferred: deferredList } : {}),
    ...(fileList.length ? { files: fileList } : {}),
    ...(skipped.length ? { skipped } : {}),
    ...(limitReached ? { limitReached: true as const } : {}),
    ...(wouldWrite ? { wouldWrite } : {}),
  };
  m.log.info(
    `step ${ctx.done ? 'finished' : 'paused for continuation'}: ${total.recordsIn} records in, ${total.recordsOut} out, ${total.recordsRejected} rejected, ${total.recordsDropped} dropped${
      total.filesOut ? `, ${total.filesOut} file(s) ${total.bytesOut} bytes` : ''
    } in ${counters.durationMs} ms`,
  );
  await recordSummary(m, result, ctx);
  // The step's totals over all its invocations, once, when it is done.
  if (ctx.done) m.log.metrics(stepMetrics(ctx.job, { stepId: m.spec.id, type: m.spec.type, ...total }));
  return result;
}

/** The files listed for the job: a staged file continued in this invocation is listed once, with its whole size. */
function joinedList(
  before: readonly { readonly name: string; readonly size: number }[],
  now: readonly { readonly name: string; readonly size: number }[],
  join: boolean,
): { name: string; size: number }[] {
  if (!join) return [...before, ...now];
  return joinPieces(
    before.map((f) => ({ ...f, key: '' })),
    now.map((f) => ({ ...f, key: '' })),
  ).map((f) => ({ name: f.name, size: f.size }));
}

/** Records a member's counters, files and rejected records' location in the job. */
async function recordSummary(m: Member, result: StepResult, ctx: FinishContext): Promise<void> {
  const { services, job } = ctx;
  if (ctx.partition) {
    await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).appendTrace(
      job.id,
      m.log.trace,
    );
    return;
  }
  const summary: StepSummary = {
    stepId: m.spec.id,
    type: m.spec.type,
    ...result.counters,
    ...(result.files ? { files: result.files } : {}),
    ...(result.skipped ? { skipped: result.skipped } : {}),
    ...(result.limitReached ? { limitReached: true as const } : {}),
    ...(result.wouldWrite ? { wouldWrite: result.wouldWrite } : {}),
    ...(result.rejected.count > 0
      ? {
          rejectedLocation: `s3://${services.config.stageBucket}/${jobPrefix(job.dataflowId, job.id)}${m.spec.key}/`,
        }
      : {}),
    updateTime: new Date().toISOString(),
  };
  await new JobStore(services.dynamo, services.config.tables.jobs, services.secrets.redactor).recordStep(
    job.id,
    summary,
    m.log.trace,
  );
}

/**
 * Starts a step's script outside the step runner (work before or after its invocations: planning partitions,
 * deferred work), hands it to `use`, and closes it.
 */
export async function withStepInstance<T>(
  args: {
    readonly job: JobContext;
    readonly step: StepSpec;
    readonly services: Services;
    readonly registry: ScriptRegistry;
    readonly options: RunStepOptions;
    readonly log: TraceLogger;
  },
  use: (instance: ScriptInstance) => Promise<T>,
): Promise<T> {
  const { job, step, services, options, log } = args;
  const definition = args.registry.require(step.type);
  const params = await resolveParams(definition.params, step.params, job, services.secrets, step.id);
  const instance = await createInstance(definition, params, {
    job,
    stepId: step.id,
    log,
    services,
    deadline: options.deadline,
    signal: new AbortController().signal,
  });
  try {
    return await use(instance);
  } finally {
    await instance.close?.();
  }
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
  // A dry run defers nothing (its stand-ins and readers change nothing); should a result carry work, it is not done.
  if (deferred.length === 0 || job.dryRun === true) return { ok: true };
  const log = stepLogger(job, step.id, services, options);
  let outcome: { ok: boolean; error?: string } = { ok: true };
  try {
    await withStepInstance({ job, step, services, registry, options, log }, (instance) =>
      instance.afterJob ? instance.afterJob(deferred) : Promise.resolve(),
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`work deferred until the job succeeded did not complete: ${message}`);
    outcome = { ok: false, error: message };
  }
  await new JobStore(services.dynamo, services.config.tables.jobs).appendTrace(job.id, log.trace);
  return outcome;
}
