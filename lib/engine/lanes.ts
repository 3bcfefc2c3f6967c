/**
 * Parallel lanes: a fused run of steps whose scripts allow it (see {@link LaneSupport}) runs on several worker
 * threads at once. The main thread cuts the input into chunks on record boundaries (NDJSON lines, or rows of a
 * delimiter-separated file with its header repeated before each chunk), hands each chunk to a lane, and writes
 * the lanes' outputs (records as NDJSON, rejected records, file fragments) back in input order. Every chunk runs
 * through fresh instances of the same scripts with the same resolved params, so each lane does exactly what one
 * thread would do with that part of the input; only bytes cross between threads.
 *
 * Parsing, transforming and serializing happen in the lanes; the main thread only moves bytes, so a step's
 * throughput grows with the cores the machine (or the Lambda function's memory size) gives it.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { type MessagePort, Worker } from 'node:worker_threads';
import { IdxError, type IdxErrorCode, type IdxErrorOptions } from '../core/errors.ts';
import { type StepCounters, zeroCounters } from '../core/refs.ts';
import type {
  AnyScriptDefinition,
  DataRecord,
  InputFile,
  JobContext,
  SplitSyntax,
  StepLogger,
} from '../core/script.ts';
import type { Services } from '../core/services.ts';
import { endWritable, writeChunk } from '../scripts/util/io.ts';
import { ScriptDriver } from './drive.ts';
import { ndjsonBatches } from './ndjson.ts';
import { EngineOutput, type FileSink, type RecordSink } from './output.ts';
import { type ChunkMemory, countLines, dsvChunks, ndjsonChunks, splittable } from './split.ts';

/** One step of a laned run, with its params already resolved (secrets and placeholders rendered once). */
export interface LaneStep {
  readonly id: string;
  readonly type: string;
  readonly params: Record<string, unknown>;
}

/** What every lane is started with. */
export interface LaneInit {
  readonly steps: readonly LaneStep[];
  readonly job: JobContext;
  /** The memory whose slots carry input chunks (see {@link SharedSlots}). */
  readonly shared?: SharedArrayBuffer;
}

/** How the input of a laned run is cut. */
export type LaneInput = { readonly kind: 'records' } | { readonly kind: 'files'; readonly syntax: SplitSyntax };

/** A run of steps that can go in lanes, as {@link planLanes} found it. */
export interface LanePlan {
  readonly input: LaneInput;
  /** The last step writes files as fragments: the params of its head (what starts each file). */
  readonly head?: Record<string, unknown>;
  /** A file is written even when no record arrives. */
  readonly emptyFile: boolean;
}

/**
 * Decides whether a run of steps can go in lanes: the first reads staged records or parses files it can cut,
 * every step transforms records one at a time, and the last stages records or formats fragments. Returns why
 * not otherwise, for the trace.
 */
export function planLanes(
  definitions: readonly AnyScriptDefinition[],
  params: readonly Record<string, unknown>[],
): LanePlan | string {
  const first = definitions[0];
  const last = definitions[definitions.length - 1];
  if (!first || !last) return 'no steps';
  let input: LaneInput;
  if (first.consumes === 'records') {
    const formatterAlone = definitions.length === 1 && first.produces === 'files';
    if (!formatterAlone && !first.lanes?.records) return `${first.type} keeps state between records`;
    input = { kind: 'records' };
  } else if (first.consumes === 'files' && first.produces === 'records') {
    const syntax = first.lanes?.split?.(params[0] as never);
    if (!syntax) return `${first.type} cannot cut its files with these params`;
    if (!splittable(syntax)) return 'the separator, quote or escape is not a single ASCII character';
    input = { kind: 'files', syntax };
  } else return `${first.type} does not read records or parse files`;
  for (let i = 1; i < definitions.length - 1; i++) {
    const d = definitions[i] as AnyScriptDefinition;
    if (!d.lanes?.records) return `${d.type} keeps state between records`;
  }
  if (definitions.length > 1 && last.consumes === 'records' && last.produces === 'records' && !last.lanes?.records)
    return `${last.type} keeps state between records`;
  if (last.produces === 'records') return { input, emptyFile: false };
  if (last.produces === 'files' && last.consumes === 'records') {
    const fragments = last.lanes?.fragments?.(params[params.length - 1] as never);
    if (!fragments) return `${last.type} cannot write its file in fragments with these params`;
    return { input, head: fragments.head as Record<string, unknown>, emptyFile: fragments.emptyFile };
  }
  return `${last.type} does not stage records or format a file`;
}

/**
 * Output bytes of a chunk, encoded into memory that is reused from one chunk to the next. A lane's output used to
 * become an ArrayBuffer per part written (a few dozen per chunk); those outlived the young generation while the
 * chunk ran and, being outside the heap, waited for a full collection that a lane's small heap seldom needs: with
 * two lanes on three million records they held more than 100 MB. Now each chunk leaves one buffer, the one it
 * hands over.
 */
export class ByteCollector {
  #buffer: Buffer;
  #used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buffer = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Appends text (as UTF-8) or bytes. */
  add(part: string | Uint8Array): void {
    // UTF-8 takes at most three bytes per UTF-16 unit; a long text is measured instead of reserving three times it.
    const most =
      typeof part === 'string' ? (part.length > 1 << 20 ? Buffer.byteLength(part) : part.length * 3) : part.byteLength;
    if (this.#used + most > this.#buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#buffer.length, this.#used + most));
      this.#buffer.copy(grown, 0, 0, this.#used);
      this.#buffer = grown;
    }
    if (typeof part === 'string') this.#used += this.#buffer.write(part, this.#used);
    else {
      this.#buffer.set(part, this.#used);
      this.#used += part.byteLength;
    }
  }

  /** What was added, in an ArrayBuffer of its own (undefined when nothing was); starts again empty. */
  take(): Uint8Array | undefined {
    if (this.#used === 0) return undefined;
    const out = new Uint8Array(this.#used);
    out.set(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
    return out;
  }
}

/** Reused collectors, handed out per chunk and given back when its output is taken. */
class CollectorPool {
  readonly #free: ByteCollector[] = [];

  get(): ByteCollector {
    return this.#free.pop() ?? new ByteCollector();
  }

  /** Takes what `collector` holds and keeps it for the next chunk. */
  take(collector: ByteCollector): Uint8Array | undefined {
    const out = collector.take();
    this.#free.push(collector);
    return out;
  }
}

/** A lane's pool: every chunk it runs collects its output in the same memory. */
const COLLECTORS = new CollectorPool();

/** Records collected as NDJSON, encoded as they come so the text dies young in the lane's heap. */
class MemoryRecords implements RecordSink {
  readonly #bytes = COLLECTORS.get();
  count = 0;

  async write(chunk: string | Uint8Array, count: number): Promise<void> {
    this.#bytes.add(chunk);
    this.count += count;
  }

  /** The records as NDJSON bytes in an ArrayBuffer of their own; undefined when there were none. */
  bytes(): Uint8Array | undefined {
    return COLLECTORS.take(this.#bytes);
  }
}

/** Files collected in memory, in the order they were created. */
class MemoryFiles implements FileSink {
  readonly files: { name: string; content: ByteCollector }[] = [];

  create(name: string): Writable {
    const file = { name, content: COLLECTORS.get() };
    this.files.push(file);
    return new Writable({
      highWaterMark: 1 << 20,
      // Text is encoded once, into the collector.
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, callback) {
        file.content.add(chunk);
        callback();
      },
    });
  }

  /** Each file's bytes in an ArrayBuffer of their own (empty for an empty file). */
  take(): { name: string; data: Uint8Array }[] {
    return this.files.map((f) => ({ name: f.name, data: COLLECTORS.take(f.content) ?? new Uint8Array(0) }));
  }
}

/** A message a lane logs, passed to the main thread (warnings and errors only: info lines would repeat per chunk). */
interface LaneLog {
  readonly step: number;
  readonly level: 'warn' | 'error';
  readonly message: string;
}

class LaneLogger implements StepLogger {
  constructor(
    private readonly step: number,
    private readonly logs: LaneLog[],
  ) {}
  debug(): void {}
  info(): void {}
  warn(message: string): void {
    this.logs.push({ step: this.step, level: 'warn', message });
  }
  error(message: string): void {
    this.logs.push({ step: this.step, level: 'error', message });
  }
}

/** The scripts in lanes transform records only; a script that asks for a service is a bug in its lane support. */
const NO_SERVICES = new Proxy({} as Services, {
  get(_target, key) {
    throw new IdxError('IDX_LANE_SERVICES', `a script running in a lane asked for services.${String(key)}`, {
      expected: 'scripts whose lane support transforms records only',
      received: `services.${String(key)}`,
    });
  },
});

/** The sinks a run of drivers writes into. */
interface RunSinks {
  readonly records?: RecordSink;
  /** Rejected records: one sink for all steps, or one per step. */
  readonly rejected: RecordSink | readonly RecordSink[];
  readonly files?: FileSink;
}

/**
 * Creates the drivers of a run of steps over the given sinks, last first so each forwards its records to the
 * next; `params` replaces a step's params (the fragment params of a formatter).
 */
export async function createDrivers(
  definitions: readonly AnyScriptDefinition[],
  steps: readonly LaneStep[],
  params: readonly Record<string, unknown>[],
  job: JobContext,
  sinks: RunSinks,
  logs: (index: number) => StepLogger,
  services: Services = NO_SERVICES,
): Promise<ScriptDriver[]> {
  const drivers: ScriptDriver[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const definition = definitions[i] as AnyScriptDefinition;
    const step = steps[i] as LaneStep;
    const next = drivers[0];
    const counters = zeroCounters();
    const log = logs(i);
    const out = new EngineOutput({
      stepId: step.id,
      produces: definition.produces,
      ...(definition.produces === 'records' && !next && sinks.records ? { records: sinks.records } : {}),
      ...(next ? { forward: (batch: DataRecord[]) => next.push(batch) } : {}),
      rejected: rejectedOf(sinks, i),
      ...(definition.produces === 'files' && sinks.files ? { files: sinks.files } : {}),
      limit: Number.POSITIVE_INFINITY,
      counters,
      log,
      debug: false,
    });
    const instance = await definition.create(params[i] as never, {
      job,
      stepId: step.id,
      log,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
    });
    drivers.unshift(new ScriptDriver(definition, instance, out, counters, step.id));
  }
  return drivers;
}

/** The sink of a step's rejected records. */
function rejectedOf(sinks: RunSinks, step: number): RecordSink {
  const r = sinks.rejected;
  if (!Array.isArray(r)) return r as RecordSink;
  const sink = r[step];
  if (!sink) throw new Error(`no sink for the rejected records of step ${step + 1}`);
  return sink;
}

/** Adds `b` into `a`. */
function addInto(a: StepCounters, b: StepCounters): void {
  for (const k of Object.keys(a) as (keyof StepCounters)[]) a[k] += b[k];
}

// ---------------------------------------------------------------------------------------------------------------
// Messages between the main thread and a lane.

/** A chunk of input for a lane. */
type TaskMessage = {
  readonly kind: 'task';
  readonly index: number;
  /** The chunk, in a buffer transferred with the message, or where it sits in the shared memory. */
  readonly data?: Uint8Array;
  readonly slot?: { readonly offset: number; readonly length: number };
  /** More data follows in `data` messages, ended by an `end` message (the uncut rest of a file). */
  readonly streamed: boolean;
  readonly firstLine: number;
  /** For files: the file name and size, and the header row repeated before the chunk. */
  readonly file?: { readonly name: string; readonly size: number; readonly header?: Uint8Array };
};

type MainMessage =
  | TaskMessage
  | { readonly kind: 'data'; readonly index: number; readonly data: Uint8Array }
  | { readonly kind: 'end'; readonly index: number }
  | { readonly kind: 'finish' };

interface TaskOutput {
  readonly index: number;
  readonly records?: Uint8Array;
  readonly recordCount: number;
  /** Rejected records per step (NDJSON bytes and count), for steps that rejected any. */
  readonly rejected: { readonly step: number; readonly data: Uint8Array; readonly count: number }[];
  readonly files: { readonly name: string; readonly data: Uint8Array }[];
  readonly logs: LaneLog[];
}

/** An error as it crosses from a lane: a coded error's own JSON view, or the message of any other error. */
type SerializedError = { readonly message: string; readonly code?: IdxErrorCode } & IdxErrorOptions;

type LaneMessage =
  | ({ readonly kind: 'output' } & TaskOutput)
  | { readonly kind: 'consumed'; readonly bytes: number }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  | { readonly kind: 'finished'; readonly counters: StepCounters[] };

function serialize(error: unknown): SerializedError {
  if (error instanceof IdxError)
    return { ...(error.toJSON() as IdxErrorOptions), message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error) };
}

function revive(error: SerializedError): Error {
  const { code, message, ...options } = error;
  return code ? new IdxError(code, message, options) : new Error(message);
}

// ---------------------------------------------------------------------------------------------------------------
// The lane (worker side).

/**
 * Serves one lane on `port`: runs every chunk it is given through fresh instances of the steps and posts the
 * outputs back. `definitionOf` finds a script by type (a worker loads only the registry it is given).
 */
export function serveLane(
  port: MessagePort,
  init: LaneInit,
  definitionOf: (type: string) => AnyScriptDefinition | undefined,
): void {
  const definitions = init.steps.map((s) => {
    const d = definitionOf(s.type);
    if (!d) throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `step type "${s.type}" is not registered in this lane`);
    return d;
  });
  const params = init.steps.map((s) => s.params);
  const plan = planLanes(definitions, params);
  if (typeof plan === 'string') throw new IdxError('IDX_LANE_PLAN', `these steps cannot run in lanes: ${plan}`);
  const last = definitions[definitions.length - 1] as AnyScriptDefinition;
  const fragments = last.lanes?.fragments?.(params[params.length - 1] as never);
  const runParams = fragments ? [...params.slice(0, -1), fragments.body as Record<string, unknown>] : params;
  const totals = init.steps.map(() => zeroCounters());
  const shared = init.shared ? Buffer.from(init.shared) : undefined;
  const streams = new Map<number, PassThrough>();
  let queue: Promise<void> = Promise.resolve();
  let failed = false;

  const run = async (task: TaskMessage, stream: PassThrough | undefined): Promise<void> => {
    const logs: LaneLog[] = [];
    const records = last.produces === 'records' ? new MemoryRecords() : undefined;
    const rejected = init.steps.map(() => new MemoryRecords());
    const files = last.produces === 'files' ? new MemoryFiles() : undefined;
    const drivers = await createDrivers(
      definitions,
      init.steps,
      runParams,
      init.job,
      { ...(records ? { records } : {}), rejected, ...(files ? { files } : {}) },
      (i) => new LaneLogger(i, logs),
    );
    const head = drivers[0] as ScriptDriver;
    const header = task.file?.header;
    const data = task.slot ? shared?.subarray(task.slot.offset, task.slot.offset + task.slot.length) : task.data;
    const content = (): Readable => {
      const first = [header, data]
        .filter((p): p is Uint8Array => p !== undefined)
        .map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      if (!stream) return Readable.from(first);
      const rest = stream;
      return Readable.from(
        (async function* () {
          yield* first;
          yield* rest;
        })(),
      );
    };
    try {
      if (task.file) {
        const headerLines = task.file.header ? countLines(task.file.header) : 0;
        const input: InputFile = {
          name: task.file.name,
          size: task.file.size,
          firstLine: task.firstLine - headerLines,
          open: content,
        };
        await head.file(input);
      } else {
        for await (const batch of ndjsonBatches(content(), `chunk ${task.index}`, undefined, task.firstLine))
          await head.push(batch);
      }
      for (const d of drivers) await d.finish();
    } finally {
      for (const d of drivers) await d.instance.close?.();
    }
    drivers.forEach((d, i) => {
      addInto(totals[i] as StepCounters, d.counters);
    });
    const recordBytes = records?.bytes();
    const output: TaskOutput = {
      index: task.index,
      ...(recordBytes ? { records: recordBytes } : {}),
      recordCount: records?.count ?? 0,
      rejected: rejected.flatMap((r, step) => {
        const data = r.bytes();
        return data ? [{ step, data, count: r.count }] : [];
      }),
      files: files?.take() ?? [],
      logs,
    };
    const transfer = memoryOf([
      output.records,
      ...output.rejected.map((r) => r.data),
      ...output.files.map((f) => f.data),
    ]);
    port.postMessage({ kind: 'output', ...output } satisfies LaneMessage, transfer);
  };

  port.on('message', (m: MainMessage) => {
    if (m.kind === 'task') {
      const stream = m.streamed ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
      if (stream) streams.set(m.index, stream);
      queue = queue.then(async () => {
        if (failed) return;
        try {
          await run(m, stream);
        } catch (error) {
          failed = true;
          stream?.destroy();
          port.postMessage({ kind: 'failed', error: serialize(error) } satisfies LaneMessage);
        }
      });
    } else if (m.kind === 'data') {
      const stream = streams.get(m.index);
      const bytes = m.data.byteLength;
      stream?.write(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), () =>
        port.postMessage({ kind: 'consumed', bytes } satisfies LaneMessage),
      );
    } else if (m.kind === 'end') {
      streams.get(m.index)?.end();
      streams.delete(m.index);
    } else if (m.kind === 'finish') {
      queue = queue.then(() => {
        if (!failed) port.postMessage({ kind: 'finished', counters: totals } satisfies LaneMessage);
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The main thread.

/** Options of {@link Lanes}. */
export interface LanesOptions {
  /** The worker module: it calls {@link serveLane} with `parentPort`, `workerData` and its registry. */
  readonly worker: string | URL;
  /** Lanes to start (worker threads). */
  readonly count: number;
  readonly steps: readonly LaneStep[];
  readonly definitions: readonly AnyScriptDefinition[];
  readonly plan: LanePlan;
  readonly job: JobContext;
  readonly sinks: RunSinks;
  /** The step loggers, one per step: warnings and errors from the lanes go there (each distinct one once). */
  readonly logs: readonly StepLogger[];
  /** Bytes of input per chunk. @default 512 KiB */
  readonly chunkBytes?: number;
  /**
   * Heap limits of each lane. A chunk's records live briefly, so a small young generation is enough; a smaller
   * one than the default costs collections, a larger one memory. @default 64 MB old generation, 16 MB young
   */
  readonly resourceLimits?: { readonly maxOldGenerationSizeMb?: number; readonly maxYoungGenerationSizeMb?: number };
}

/**
 * Bytes of input per chunk. Measured on a million generated accounts through rename, evaluate and a CSV (the
 * benchmark's pipeline (a), two lanes): chunks of 192 KiB cost about a third more CPU than chunks of 384 KiB to
 * 1 MiB, nearly all of it in the lanes' garbage collection, with 256 KiB at the edge between the two; the per-lane
 * heap stays the same across that range.
 */
const LANE_CHUNK = 512 * 1024;
/** Chunks handed to one lane and not yet returned before the main thread waits. */
const PER_LANE = 2;
/** Bytes of a streamed rest sent and not yet read by its lane before the main thread waits. */
const IN_FLIGHT_BYTES = 4 << 20;
/** Input between two progress lines. */
const PROGRESS_BYTES = 64 * 1024 * 1024;
/** Distinct lane warnings kept per step. */
const MAX_LANE_LOGS = 50;

/**
 * Memory shared with the lanes, in slots that input chunks are copied into and that are reused once a lane is
 * done with its chunk. A chunk sent in a buffer of its own is freed only when the receiving lane's heap collects
 * it, and a chunk that waits its turn in a lane outlives the young generation, so a fast input left tens of MB
 * of spent chunks waiting for a full collection; the slots keep that memory fixed.
 */
class SharedSlots {
  readonly memory: SharedArrayBuffer;
  readonly #view: Buffer;
  readonly #free: number[] = [];

  constructor(
    count: number,
    readonly slotBytes: number,
  ) {
    this.memory = new SharedArrayBuffer(count * slotBytes);
    this.#view = Buffer.from(this.memory);
    for (let i = count - 1; i >= 0; i--) this.#free.push(i);
  }

  /** A free slot for a chunk of `size` bytes; memory of the chunk's own when none is free or big enough. */
  readonly memoryFor: ChunkMemory = (size) => {
    const slot = size <= this.slotBytes ? this.#free.pop() : undefined;
    if (slot === undefined) return Buffer.allocUnsafeSlow(size);
    return this.#view.subarray(slot * this.slotBytes, slot * this.slotBytes + size);
  };

  /** Where `data` sits in the shared memory, if it does. */
  slotOf(data: Uint8Array): { readonly offset: number; readonly length: number } | undefined {
    return data.buffer === this.memory ? { offset: data.byteOffset, length: data.byteLength } : undefined;
  }

  /** Frees the slot that starts at `offset`. */
  release(offset: number): void {
    this.#free.push(offset / this.slotBytes);
  }
}

interface LaneState {
  readonly worker: Worker;
  pending: number;
  readonly finished: Promise<StepCounters[]>;
}

/** Runs a planned run of steps in lanes over one or more inputs; call {@link finish} once at the end. */
export class Lanes {
  readonly #o: LanesOptions;
  readonly #lanes: LaneState[] = [];
  #next = 0;
  #written = 0;
  readonly #done = new Map<number, TaskOutput>();
  readonly #files = new Map<string, Writable>();
  #writing: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #inFlightBytes = 0;
  #filesIn = 0;
  #bytesIn = 0;
  readonly #logged = new Set<string>();
  #logCount = 0;
  /** Input bytes of each chunk in flight, and of all chunks written back, for progress lines. */
  readonly #sizes = new Map<number, number>();
  #doneBytes = 0;
  #nextProgress = PROGRESS_BYTES;
  readonly #slots: SharedSlots;
  /** The slot offset of each task whose chunk sits in shared memory, until its lane is done with it. */
  readonly #inSlot = new Map<number, number>();

  constructor(options: LanesOptions) {
    this.#o = options;
    const count = Math.max(1, options.count);
    // Every lane's tasks, plus the chunk cut while they all wait; twice the chunk size, as a chunk may run on to
    // the end of the line it reached.
    this.#slots = new SharedSlots(PER_LANE * count + 1, 2 * (options.chunkBytes ?? LANE_CHUNK));
    const init: LaneInit = { steps: options.steps, job: options.job, shared: this.#slots.memory };
    for (let i = 0; i < count; i++) {
      const worker = new Worker(options.worker, {
        workerData: init,
        resourceLimits: {
          maxOldGenerationSizeMb: options.resourceLimits?.maxOldGenerationSizeMb ?? 64,
          maxYoungGenerationSizeMb: options.resourceLimits?.maxYoungGenerationSizeMb ?? 16,
        },
      });
      let resolveFinished: (c: StepCounters[]) => void = () => undefined;
      let rejectFinished: (e: Error) => void = () => undefined;
      const finished = new Promise<StepCounters[]>((resolve, reject) => {
        resolveFinished = resolve;
        rejectFinished = reject;
      });
      finished.catch(() => undefined);
      const lane: LaneState = { worker, pending: 0, finished };
      const fail = (error: Error) => {
        this.#failure ??= error;
        rejectFinished(error);
        this.#poke();
      };
      worker.on('message', (m: LaneMessage) => {
        if (m.kind === 'output') {
          lane.pending--;
          const offset = this.#inSlot.get(m.index);
          if (offset !== undefined) {
            this.#inSlot.delete(m.index);
            this.#slots.release(offset);
          }
          this.#done.set(m.index, m);
          this.#drain();
        } else if (m.kind === 'consumed') {
          this.#inFlightBytes -= m.bytes;
          this.#poke();
        } else if (m.kind === 'failed') fail(revive(m.error));
        else if (m.kind === 'finished') resolveFinished(m.counters);
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0) fail(new IdxError('IDX_LANE_EXIT', `a lane stopped with exit code ${code}`));
      });
      this.#lanes.push(lane);
    }
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #waitFor(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#failure) throw this.#failure;
  }

  /** Writes finished outputs in input order. */
  #drain(): void {
    this.#writing = this.#writing.then(async () => {
      for (let out = this.#done.get(this.#written); out; out = this.#done.get(this.#written)) {
        this.#done.delete(this.#written);
        await this.#write(out);
        this.#progress(this.#written);
        this.#written++;
      }
      this.#poke();
    });
    this.#writing.catch((error: unknown) => {
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
      this.#poke();
    });
  }

  async #write(out: TaskOutput): Promise<void> {
    const { sinks } = this.#o;
    if (out.records && sinks.records) await sinks.records.write(out.records, out.recordCount);
    for (const r of out.rejected) await rejectedOf(sinks, r.step).write(r.data, r.count);
    for (const f of out.files) await writeChunk(await this.#file(f.name), f.data);
    for (const l of out.logs) {
      const key = `${l.step}\u0000${l.message}`;
      if (this.#logged.has(key) || this.#logCount >= MAX_LANE_LOGS * this.#o.steps.length) continue;
      this.#logged.add(key);
      this.#logCount++;
      this.#o.logs[l.step]?.[l.level](l.message);
    }
  }

  /** The output file of that name, opened with its head the first time. */
  async #file(name: string): Promise<Writable> {
    let w = this.#files.get(name);
    if (w) return w;
    const files = this.#o.sinks.files;
    if (!files) throw new IdxError('IDX_SCRIPT_CONTRACT', `a lane wrote file ${name} but the run writes no files`);
    w = files.create(name);
    this.#files.set(name, w);
    for (const head of await this.#heads()) if (head.name === name) await writeChunk(w, head.data);
    return w;
  }

  #headFiles: Promise<{ name: string; data: Buffer }[]> | undefined;

  /** What starts each output file: the last step run with its head params and no records. */
  #heads(): Promise<{ name: string; data: Buffer }[]> {
    this.#headFiles ??= (async () => {
      const { plan, definitions, steps, job } = this.#o;
      if (!plan.head) return [];
      const i = steps.length - 1;
      const files = new MemoryFiles();
      const [driver] = await createDrivers(
        [definitions[i] as AnyScriptDefinition],
        [steps[i] as LaneStep],
        [plan.head],
        job,
        { rejected: new MemoryRecords(), files },
        () => new LaneLogger(i, []),
      );
      await driver?.finish();
      await driver?.instance.close?.();
      return files
        .take()
        .map((f) => ({ name: f.name, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength) }));
    })();
    return this.#headFiles;
  }

  /** Logs a progress line on the first step every {@link PROGRESS_BYTES} of input done. */
  #progress(index: number): void {
    this.#doneBytes += this.#sizes.get(index) ?? 0;
    this.#sizes.delete(index);
    if (this.#doneBytes < this.#nextProgress) return;
    this.#nextProgress += PROGRESS_BYTES;
    const mb = Math.round(this.#doneBytes / (1024 * 1024));
    this.#o.logs[0]?.info(`progress: ${mb} MB of input done in ${this.#lanes.length} lanes`);
  }

  /** Hands a task to the lane with the least work, waiting while every lane is full. */
  async #dispatch(task: Omit<TaskMessage, 'kind' | 'index'>): Promise<{ index: number; lane: LaneState }> {
    // Outputs waiting to be written also count, so a slow sink holds the input back instead of filling memory.
    const limit = PER_LANE * this.#lanes.length;
    await this.#waitFor(
      () => this.#lanes.some((l) => l.pending < PER_LANE) && this.#next - this.#written < limit + this.#lanes.length,
    );
    let lane = this.#lanes[0] as LaneState;
    for (const l of this.#lanes) if (l.pending < lane.pending) lane = l;
    const index = this.#next++;
    this.#sizes.set(index, task.data?.byteLength ?? 0);
    lane.pending++;
    const { data, ...rest } = task;
    const slot = data && this.#slots.slotOf(data);
    if (slot) {
      this.#inSlot.set(index, slot.offset);
      lane.worker.postMessage({ kind: 'task', index, slot, ...rest } satisfies TaskMessage);
    } else {
      const own = data && ownBuffer(data);
      lane.worker.postMessage(
        { kind: 'task', index, ...rest, ...(own ? { data: own } : {}) } satisfies TaskMessage,
        memoryOf([own]),
      );
    }
    return { index, lane };
  }

  /** Runs the steps over staged NDJSON records. */
  async records(stream: AsyncIterable<Buffer | string>): Promise<void> {
    for await (const chunk of ndjsonChunks(stream, this.#o.chunkBytes ?? LANE_CHUNK, this.#slots.memoryFor))
      await this.#dispatch({ data: chunk.data, streamed: false, firstLine: chunk.firstLine });
  }

  /** Runs the steps over one file, cut into chunks of rows. */
  async file(file: InputFile): Promise<void> {
    const { plan } = this.#o;
    if (plan.input.kind !== 'files') throw new Error('this run reads records, not files');
    let header: Buffer | undefined;
    let tasks = 0;
    this.#filesIn++;
    this.#bytesIn += file.size;
    for await (const item of dsvChunks(
      file.open(),
      plan.input.syntax,
      (h) => {
        header = h;
      },
      this.#o.chunkBytes ?? LANE_CHUNK,
      undefined,
      this.#slots.memoryFor,
    )) {
      const meta = { name: file.name, size: file.size, ...(header ? { header: Uint8Array.from(header) } : {}) };
      tasks++;
      if (item.kind === 'chunk') {
        await this.#dispatch({ data: item.chunk.data, streamed: false, firstLine: item.chunk.firstLine, file: meta });
        continue;
      }
      const { index, lane } = await this.#dispatch({ streamed: true, firstLine: item.rest.firstLine, file: meta });
      for await (const piece of item.rest.data) {
        await this.#waitFor(() => this.#inFlightBytes < IN_FLIGHT_BYTES);
        const data = Uint8Array.from(piece);
        this.#inFlightBytes += data.byteLength;
        lane.worker.postMessage({ kind: 'data', index, data } satisfies MainMessage, [data.buffer as ArrayBuffer]);
      }
      lane.worker.postMessage({ kind: 'end', index } satisfies MainMessage);
    }
    if (header && tasks === 0) {
      // A file with a header and no rows: one empty chunk, so the parser still reads (and checks) the header.
      const meta = { name: file.name, size: file.size, header: Uint8Array.from(header) };
      await this.#dispatch({ data: new Uint8Array(0), streamed: false, firstLine: countLines(header) + 1, file: meta });
    }
  }

  /** Waits for every lane, writes the last outputs, ends the files; returns each step's summed counters. */
  async finish(): Promise<StepCounters[]> {
    await this.#waitFor(() => this.#written === this.#next);
    for (const lane of this.#lanes) lane.worker.postMessage({ kind: 'finish' } satisfies MainMessage);
    const all = await Promise.all(this.#lanes.map((l) => l.finished));
    await this.#writing;
    if (this.#failure) throw this.#failure;
    const totals = this.#o.steps.map(() => zeroCounters());
    for (const counters of all) {
      counters.forEach((c, i) => {
        addInto(totals[i] as StepCounters, c);
      });
    }
    if (this.#o.plan.input.kind === 'files') {
      // Each chunk went through the parser as a file of its own; the step read the files once.
      const first = totals[0] as StepCounters;
      first.filesIn = this.#filesIn;
      first.bytesIn = this.#bytesIn;
    }
    if (this.#files.size === 0 && this.#o.plan.emptyFile)
      for (const head of await this.#heads()) await writeChunk(await this.#file(head.name), Buffer.alloc(0));
    for (const w of this.#files.values()) await endWritable(w);
    return totals;
  }

  /** Stops the lanes (always call, also after a failure). */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.worker.terminate()));
  }
}

/**
 * `data` in an ArrayBuffer of its own, so that it can be transferred to another thread instead of copied; copied
 * into one when it shares its memory. A small Buffer sits in Node's pool, which Node 21 and later refuse to
 * transfer (a DataCloneError) and earlier versions copy whole; a view of part of a larger buffer would be cloned
 * with all of it.
 */
export function ownBuffer(data: Uint8Array): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer)
    return data;
  return Uint8Array.from(data);
}

/** The memory of buffers that {@link ownBuffer} gave, for the transfer list of the message that carries them. */
function memoryOf(buffers: readonly (Uint8Array | undefined)[]): ArrayBuffer[] {
  return [...new Set(buffers.flatMap((b) => (b ? [b.buffer as ArrayBuffer] : [])))];
}
