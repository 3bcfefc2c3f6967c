/**
 * Parallel lanes: a fused run of steps whose scripts allow it (see {@link LaneSupport}) runs on several threads
 * at once, the main thread and worker threads. The main thread cuts the input into chunks on record boundaries (NDJSON lines, or rows of a
 * delimiter-separated file with its header repeated before each chunk), hands each chunk to a lane, and writes
 * the lanes' outputs (records as NDJSON, rejected records, file fragments) back in input order. Every chunk runs
 * through fresh instances of the same scripts with the same resolved params, so each lane does exactly what one
 * thread would do with that part of the input; only bytes cross between threads.
 *
 * Parsing, transforming and serializing happen in the lanes, one of which is the main thread between moving bytes,
 * so a step's throughput grows with the cores the machine (or the Lambda function's memory size) gives it.
 *
 * This file is the main thread's side, the pool of lanes. The rest of the folder: plan.ts (which runs can go in
 * lanes), protocol.ts (the messages between the threads), worker.ts (the lane's side) and worker-entry.ts (the
 * module a lane loads), drivers.ts (the scripts a lane runs), shared-slots.ts (input cut into chunks, by
 * lib/scripts/util/split.ts, in memory shared with the lanes), output-memory.ts (where a lane collects a chunk's
 * output), settings.ts (when a step goes in lanes).
 */
import type { Writable } from 'node:stream';
import { MessageChannel, Worker } from 'node:worker_threads';
import { IdxError } from '../../core/errors.ts';
import { type StepCounters, zeroCounters } from '../../core/refs.ts';
import type { AnyScriptDefinition, InputFile, JobContext, StepLogger } from '../../core/script.ts';
import { endWritable, writeChunk } from '../../scripts/util/io.ts';
import { countLines, dsvChunks, ndjsonChunks } from '../../scripts/util/split.ts';
import { addInto, createRun, type RunSinks, rejectedOf } from './drivers.ts';
import { MemoryFiles, MemoryRecords } from './output-memory.ts';
import type { LanePlan, LaneStep } from './plan.ts';
import {
  type LaneInit,
  LaneLogger,
  type LaneMessage,
  type MainMessage,
  memoryOf,
  ownBuffer,
  revive,
  type TaskMessage,
  type TaskOutput,
} from './protocol.ts';
import { SharedSlots } from './shared-slots.ts';
import { serveLane } from './worker.ts';

/** Options of {@link Lanes}. */
export interface LanesOptions {
  /** The worker module: it calls serveLane (worker.ts) with `parentPort`, `workerData` and its registry. */
  readonly worker: string | URL;
  /**
   * Lanes, the main thread included: `count - 1` worker threads, and the main thread runs chunks too between
   * cutting the input and writing the outputs back (see {@link Lanes}).
   */
  readonly count: number;
  readonly steps: readonly LaneStep[];
  readonly definitions: readonly AnyScriptDefinition[];
  readonly plan: LanePlan;
  readonly job: JobContext;
  readonly sinks: RunSinks;
  /** The step loggers, one per step: warnings and errors from the lanes go there (each distinct one once). */
  readonly logs: readonly StepLogger[];
  /**
   * Which invocation of the step this is: a file a formatter writes across invocations gets its head (header,
   * byte-order mark) only in the first, and an empty file only when one invocation takes the whole input.
   * @default the step's only invocation
   */
  readonly slice?: { readonly first: boolean; readonly final: boolean };
  /** Bytes of input per chunk. @default 1 MiB of staged records, 512 KiB of a file ({@link LANE_CHUNK}) */
  readonly chunkBytes?: number;
  /**
   * Heap limits of each lane. A chunk's records live briefly, so a small young generation is enough; a smaller
   * one than the default costs collections, a larger one memory. @default 64 MB old generation, 16 MB young
   */
  readonly resourceLimits?: { readonly maxOldGenerationSizeMb?: number; readonly maxYoungGenerationSizeMb?: number };
  /**
   * Whether byte kernels take the chunks they reproduce exactly (kernel.ts); off, every chunk runs through the
   * scripts, as a comparison. @default true
   */
  readonly kernels?: boolean;
}

/**
 * Bytes of input per chunk, by the kind of input. Measured on a million generated accounts through rename,
 * evaluate and a CSV (the benchmark's pipeline (a), two lanes): chunks of 192 KiB cost about a third more CPU than
 * chunks of 384 KiB to 1 MiB, nearly all of it in the lanes' garbage collection, with 256 KiB at the edge between the
 * two. Once a lane ran two chunks at once, 1 MiB of staged records cost 5 to 10 % less CPU than 512 KiB (each chunk
 * has fresh scripts and a gzip member of its own: half as many of them), for 2 to 10 MB more peak RSS, and 2 MiB
 * no less than 1 MiB; files keep 512 KiB, where 1 MiB held 15 MB more in the import (pipeline (b)) for no clear gain.
 */
const LANE_CHUNK = { records: 1024 * 1024, files: 512 * 1024 } as const;
/**
 * Chunks handed to one lane and not yet returned before the main thread waits: the two a lane runs at once (see
 * RUNS_AT_ONCE in worker.ts) and one ready for when either ends, so a lane never waits for the main thread to cut
 * its next chunk.
 */
const PER_LANE = 3;
/** Bytes of a streamed rest sent and not yet read by its lane before the main thread waits. */
const IN_FLIGHT_BYTES = 4 << 20;
/** Input between two progress lines. */
const PROGRESS_BYTES = 64 * 1024 * 1024;
/** Distinct lane warnings kept per step. */
const MAX_LANE_LOGS = 50;

/** Where the main thread posts a lane's messages: a worker thread, or the port of the lane in the main thread. */
interface LaneEndpoint {
  postMessage(message: MainMessage, transfer?: readonly ArrayBuffer[]): void;
  terminate(): Promise<unknown>;
}

interface LaneState {
  readonly worker: LaneEndpoint;
  pending: number;
  readonly finished: Promise<StepCounters[]>;
}

/** Runs a planned run of steps in lanes over one or more inputs; call {@link finish} once at the end. */
export class Lanes {
  readonly #o: LanesOptions;
  readonly #lanes: LaneState[] = [];
  #next = 0;
  #written = 0;
  /** Chunks whose output a byte kernel made. */
  #kernelChunks = 0;
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
  /** Bytes of input per chunk (see {@link LANE_CHUNK}). */
  readonly #chunkBytes: number;
  /** The slot offset of each task whose chunk sits in shared memory, until its lane is done with it. */
  readonly #inSlot = new Map<number, number>();

  constructor(options: LanesOptions) {
    this.#o = options;
    const count = Math.max(1, options.count);
    // Every lane's tasks, plus the chunk cut while they all wait; twice the chunk size, as a chunk may run on to
    // the end of the line it reached.
    this.#chunkBytes = options.chunkBytes ?? LANE_CHUNK[options.plan.input.kind];
    this.#slots = new SharedSlots(PER_LANE * count + 1, 2 * this.#chunkBytes);
    const init: LaneInit = {
      steps: options.steps,
      job: options.job,
      shared: this.#slots.memory,
      kernels: options.kernels ?? true,
      // With workers, every lane's thread is busy with its chunks (see LaneInit.inlinePieces).
      inlinePieces: count > 1,
    };
    // The main thread is one of the lanes. It only cuts chunks and writes outputs back, which leaves it idle most
    // of the time; a worker in its place cost a V8 heap of its own (its collections, its code compiled again,
    // tens of MB of memory) on a core the main thread then competes for. Workers come first (see #dispatch).
    for (let i = 1; i < count; i++) {
      const worker = new Worker(options.worker, {
        workerData: init,
        resourceLimits: {
          maxOldGenerationSizeMb: options.resourceLimits?.maxOldGenerationSizeMb ?? 64,
          maxYoungGenerationSizeMb: options.resourceLimits?.maxYoungGenerationSizeMb ?? 16,
        },
      });
      const lane = this.#lane(worker, (listener) => worker.on('message', listener));
      worker.on('error', lane.fail);
      worker.on('exit', (code) => {
        if (code !== 0) lane.fail(new IdxError('IDX_LANE_EXIT', `a lane stopped with exit code ${code}`));
      });
    }
    const { port1, port2 } = new MessageChannel();
    const byType = new Map(options.steps.map((s, i) => [s.type, options.definitions[i]]));
    serveLane(port2, init, (type) => byType.get(type));
    this.#lane(
      {
        postMessage: (message, transfer) => port1.postMessage(message, transfer),
        terminate: async () => port1.close(),
      },
      (listener) => port1.on('message', listener),
    );
  }

  /** Adds a lane that `endpoint` reaches and whose messages `listen` hands over; returns how to fail it. */
  #lane(
    endpoint: LaneEndpoint,
    listen: (listener: (m: LaneMessage) => void) => void,
  ): { readonly fail: (error: Error) => void } {
    let resolveFinished: (c: StepCounters[]) => void = () => undefined;
    let rejectFinished: (e: Error) => void = () => undefined;
    const finished = new Promise<StepCounters[]>((resolve, reject) => {
      resolveFinished = resolve;
      rejectFinished = reject;
    });
    finished.catch(() => undefined);
    const lane: LaneState = { worker: endpoint, pending: 0, finished };
    const fail = (error: Error) => {
      this.#failure ??= error;
      rejectFinished(error);
      this.#poke();
    };
    listen((m: LaneMessage) => {
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
    this.#lanes.push(lane);
    return { fail };
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
    if (out.kernel) this.#kernelChunks++;
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
    if (this.#o.slice?.first ?? true)
      for (const head of await this.#heads()) if (head.name === name) await writeChunk(w, head.data);
    return w;
  }

  #headFiles: Promise<{ name: string; data: Buffer }[]> | undefined;

  /** Bytes of the heads that the formatter wrote (before the transforms after it), for its counters. */
  #headBytes = 0;

  /**
   * What starts each output file: the formatter run with its head params and no records, through the transforms
   * after it (a header gzipped into a member of its own).
   */
  #heads(): Promise<{ name: string; data: Buffer }[]> {
    this.#headFiles ??= (async () => {
      const { plan, definitions, steps, job } = this.#o;
      if (!plan.head) return [];
      const at = plan.formatter ?? steps.length - 1;
      const files = new MemoryFiles();
      const run = await createRun(
        definitions.slice(at),
        steps.slice(at),
        steps.slice(at).map((s, i) => (i === 0 ? (plan.head as Record<string, unknown>) : s.params)),
        job,
        { rejected: new MemoryRecords(), files },
        (i) => new LaneLogger(at + i, []),
      );
      try {
        await run.finish();
      } finally {
        for (const d of run.drivers) await d.instance.close?.();
      }
      const formatter = run.drivers[0];
      if (formatter && at < steps.length - 1) this.#headBytes = formatter.counters.bytesOut;
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
    // The worker with the fewest chunks, while one has room; the main thread's own lane (the last) only when every
    // worker is full. The main thread also cuts the input and writes the outputs back: given its share of the chunks
    // as soon as it had as few as a worker, it kept the workers waiting for their next chunk. With byte kernels, the
    // benchmark's laned import took 10 to 20 % less wall time so, and its export no more.
    let worker: LaneState | undefined;
    for (const l of this.#lanes.slice(0, -1))
      if (l.pending < PER_LANE && l.pending < (worker?.pending ?? PER_LANE)) worker = l;
    const lane = worker ?? (this.#lanes[this.#lanes.length - 1] as LaneState);
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
    for await (const chunk of ndjsonChunks(stream, this.#chunkBytes, this.#slots.memoryFor))
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
      this.#chunkBytes,
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
    const { first, final } = this.#o.slice ?? { first: true, final: true };
    if (this.#files.size === 0 && this.#o.plan.emptyFile && first && final)
      for (const head of await this.#heads()) await writeChunk(await this.#file(head.name), Buffer.alloc(0));
    for (const w of this.#files.values()) await endWritable(w);
    const at = this.#o.plan.formatter;
    if (at !== undefined) {
      // Each chunk went through the formatter and the transforms after it as a file of its own; the step wrote
      // (and the transforms read) each file once, its head included.
      const files = this.#files.size;
      const formatter = totals[at] as StepCounters;
      formatter.filesOut = files;
      if (first && files > 0) formatter.bytesOut += this.#headBytes;
      for (const c of totals.slice(at + 1)) {
        c.filesIn = files;
        c.filesOut = files;
      }
    }
    return totals;
  }

  /** Chunks written so far, and how many of them a byte kernel made (the others went through the scripts). */
  get chunks(): { readonly written: number; readonly kernel: number } {
    return { written: this.#written, kernel: this.#kernelChunks };
  }

  /** Stops the lanes (always call, also after a failure). */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.worker.terminate()));
  }
}
