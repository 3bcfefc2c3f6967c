/**
 * The lane's side: a worker thread, or the main thread's own lane behind a MessageChannel, that runs every chunk
 * it is given through fresh instances of the planned steps and posts the outputs back (see pool.ts for the main
 * thread's side).
 */
import { PassThrough, Readable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { IdxError } from '../../core/errors.ts';
import { type StepCounters, zeroCounters } from '../../core/refs.ts';
import type { AnyScriptDefinition, InputFile, PieceTransform } from '../../core/script.ts';
import { endWritable, writeChunk } from '../../scripts/util/io.ts';
import { countLines } from '../../scripts/util/split.ts';
import type { ScriptDriver } from '../drive.ts';
import { ndjsonBatches } from '../ndjson.ts';
import { addInto, createRun } from './drivers.ts';
import { type ChunkKernel, compileKernel, type KernelCompiler, type KernelOutput, pieceTail } from './kernel.ts';
import { KERNEL_COMPILERS } from './kernels/index.ts';
import { MemoryFiles, MemoryRecords } from './output-memory.ts';
import { laneParams, planLanes } from './plan.ts';
import {
  type LaneInit,
  type LaneLog,
  LaneLogger,
  type LaneMessage,
  type MainMessage,
  memoryOf,
  serialize,
  type TaskMessage,
  type TaskOutput,
} from './protocol.ts';

/**
 * Tasks a lane runs at once. A chunk's last stretch is waiting: for its gzip members, which zlib deflates on
 * Node's thread pool, and for the output to be posted. Run one at a time, a lane's thread sat idle through that
 * wait (about a fifth of an export's wall time in the profiles of the benchmark's pipeline (a)); with two, the
 * next chunk's records are parsed and formatted meanwhile. Only that last stretch overlaps: a chunk's records start
 * once the chunk before is through its own, since two chunks' records interleaved on one thread hold twice the
 * objects and collect more (the benchmark's import, which has no such wait, took a fifth more CPU time so). Outputs
 * may then finish out of order, which the main thread's writer already handles (it writes them back by index).
 */
const RUNS_AT_ONCE = 2;

/** The steps a lane runs, as planned, and the params each runs with. */
interface LaneRun {
  readonly definitions: readonly AnyScriptDefinition[];
  /** The formatter's params replaced by its body params when it writes fragments of a file. */
  readonly params: readonly Record<string, unknown>[];
  readonly last: AnyScriptDefinition;
}

/** Finds the steps' scripts and checks that they can run in lanes, as the main thread planned. */
function laneRun(init: LaneInit, definitionOf: (type: string) => AnyScriptDefinition | undefined): LaneRun {
  const definitions = init.steps.map((s) => {
    const d = definitionOf(s.type);
    if (!d) throw new IdxError('IDX_STEP_TYPE_UNKNOWN', `step type "${s.type}" is not registered in this lane`);
    return d;
  });
  const params = init.steps.map((s) => s.params);
  const plan = planLanes(definitions, params);
  if (typeof plan === 'string') throw new IdxError('IDX_LANE_PLAN', `these steps cannot run in lanes: ${plan}`);
  return {
    definitions,
    params: laneParams(definitions, params, plan),
    last: definitions[definitions.length - 1] as AnyScriptDefinition,
  };
}

/** A task's input as it came: the header row repeated before a file's chunk, then the chunk (in a slot or its own). */
function chunkParts(task: TaskMessage, shared: Buffer | undefined): Buffer[] {
  const data = task.slot ? shared?.subarray(task.slot.offset, task.slot.offset + task.slot.length) : task.data;
  return [task.file?.header, data]
    .filter((p): p is Uint8Array => p !== undefined)
    .map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
}

/** Opens a task's input: the header repeated before the chunk, the chunk, and the streamed rest if any. */
function chunkOpener(task: TaskMessage, shared: Buffer | undefined, stream: PassThrough | undefined): () => Readable {
  return () => {
    const first = chunkParts(task, shared);
    if (!stream) return Readable.from(first);
    const rest = stream;
    return Readable.from(
      (async function* () {
        yield* first;
        yield* rest;
      })(),
    );
  };
}

/** Feeds a task's chunk to the first step: a file of its own, or NDJSON records numbered from its first line. */
async function feedChunk(head: ScriptDriver, task: TaskMessage, open: () => Readable): Promise<void> {
  if (task.file) {
    const headerLines = task.file.header ? countLines(task.file.header) : 0;
    const input: InputFile = {
      name: task.file.name,
      size: task.file.size,
      firstLine: task.firstLine - headerLines,
      open,
    };
    await head.file(input);
  } else {
    for await (const batch of ndjsonBatches(open(), `chunk ${task.index}`, undefined, task.firstLine))
      await head.push(batch);
  }
}

/** A task's chunk in one piece, the header row first for a file (a kernel reads it so). */
function chunkBytes(task: TaskMessage, shared: Buffer | undefined): Buffer {
  const parts = chunkParts(task, shared);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * Writes what a kernel made of a chunk into the chunk's sinks, running the steps after the ones it stands for
 * (gzip after a formatter) over its file: as one call on this thread when `pieces` is given (see
 * LaneSupport.piece), else as scripts; returns every step's counters for the chunk.
 */
async function kernelOutput(
  made: KernelOutput,
  kernel: ChunkKernel,
  run: LaneRun,
  init: LaneInit,
  sinks: ChunkSinks,
  pieces: PieceTransform | undefined,
): Promise<StepCounters[]> {
  const counters = made.counters.map((c) => ({ ...c }));
  if (made.records) await sinks.records?.write(made.records.data, made.records.count);
  if (!made.file) return counters;
  const from = kernel.steps;
  const alone = from === run.definitions.length;
  if (alone || pieces) {
    const file = alone || !pieces ? made.file : pieces(made.file);
    const w = sinks.files?.create(file.name);
    if (w) {
      await writeChunk(w, file.data);
      await endWritable(w);
    }
    if (alone) return counters;
    // As the scripts count it: the kernel's file as its formatter's bytesOut, and each step after it reading one
    // file of size 0, as a file streamed on from a formatter is given (FileForward); the files they write are
    // counted where the lanes' outputs are put together.
    (counters[from - 1] as StepCounters).bytesOut += made.file.data.byteLength;
    return [...counters, ...run.definitions.slice(from).map(() => ({ ...zeroCounters(), filesIn: 1 }))];
  }
  // The steps after the kernel's take its file as they take a formatter's (see createRun): streamed on, its bytes
  // counted as the writer's bytesOut.
  const tail = await createRun(
    run.definitions.slice(from),
    init.steps.slice(from),
    run.params.slice(from),
    init.job,
    { ...sinks, rejected: sinks.rejected.slice(from) },
    (i) => new LaneLogger(i + from, sinks.logs),
  );
  const data = Buffer.from(made.file.data.buffer, made.file.data.byteOffset, made.file.data.byteLength);
  try {
    // Size 0, as a file streamed on from a formatter is given (FileForward): its bytes are counted once written.
    await (tail.drivers[0] as ScriptDriver).file({ name: made.file.name, size: 0, open: () => Readable.from([data]) });
    await tail.finish();
  } finally {
    for (const d of tail.drivers) await d.instance.close?.();
  }
  (counters[from - 1] as StepCounters).bytesOut += data.byteLength;
  return [...counters, ...tail.drivers.map((d) => d.counters)];
}

/** Where a task's steps write, in the lane's memory. */
interface ChunkSinks {
  readonly records?: MemoryRecords;
  readonly rejected: MemoryRecords[];
  readonly files?: MemoryFiles;
  readonly logs: LaneLog[];
}

/** Posts a task's output to the main thread, its buffers transferred. */
function postOutput(port: MessagePort, index: number, sinks: ChunkSinks, kernel = false): void {
  const recordBytes = sinks.records?.bytes();
  const output: TaskOutput = {
    index,
    ...(kernel ? { kernel } : {}),
    ...(recordBytes ? { records: recordBytes } : {}),
    recordCount: sinks.records?.count ?? 0,
    rejected: sinks.rejected.flatMap((r, step) => {
      const data = r.bytes();
      return data ? [{ step, data, count: r.count }] : [];
    }),
    files: sinks.files?.take() ?? [],
    logs: sinks.logs,
  };
  const transfer = memoryOf([
    output.records,
    ...output.rejected.map((r) => r.data),
    ...output.files.map((f) => f.data),
  ]);
  port.postMessage({ kind: 'output', ...output } satisfies LaneMessage, transfer);
}

/**
 * Serves one lane on `port`: runs every chunk it is given through fresh instances of the steps, or the byte kernel
 * the first of `compilers` compiles for them where it takes the chunk, and posts the outputs back. `definitionOf`
 * finds a script by type (a worker loads only the registry it is given).
 */
export function serveLane(
  port: MessagePort,
  init: LaneInit,
  definitionOf: (type: string) => AnyScriptDefinition | undefined,
  compilers: readonly KernelCompiler[] = KERNEL_COMPILERS,
): void {
  const lane = laneRun(init, definitionOf);
  const { definitions, params, last } = lane;
  const kernel =
    init.kernels === false
      ? undefined
      : compileKernel({ definitions, steps: init.steps, params, job: init.job }, compilers);
  const pieces = kernel && init.inlinePieces === true ? pieceTail(definitions, params, kernel.steps) : undefined;
  /** The kernel threw: the lane no longer gives it chunks. */
  let broken = false;
  const totals = init.steps.map(() => zeroCounters());
  const shared = init.shared ? Buffer.from(init.shared) : undefined;
  const streams = new Map<number, PassThrough>();
  let failed = false;
  /** Tasks not started yet, in the order they came, and the count of tasks started and not yet done. */
  const waiting: (() => Promise<void>)[] = [];
  let running = 0;
  /** Called once nothing runs and nothing waits (see the `finish` message). */
  let whenIdle: (() => void) | undefined;
  const pump = (): void => {
    while (running < RUNS_AT_ONCE && waiting.length > 0) {
      const start = waiting.shift() as () => Promise<void>;
      running++;
      void start().finally(() => {
        running--;
        pump();
        if (running === 0 && waiting.length === 0) {
          const idle = whenIdle;
          whenIdle = undefined;
          idle?.();
        }
      });
    }
  };

  /** Settles when the chunk handed in last is through its records (see RUNS_AT_ONCE). */
  let fed: Promise<void> = Promise.resolve();

  const run = async (task: TaskMessage, stream: PassThrough | undefined): Promise<void> => {
    const before = fed;
    let through: () => void = () => undefined;
    fed = new Promise<void>((resolve) => {
      through = resolve;
    });
    let drivers: ScriptDriver[] = [];
    const sinks: ChunkSinks = {
      ...(last.produces === 'records' ? { records: new MemoryRecords() } : {}),
      rejected: init.steps.map(() => new MemoryRecords()),
      ...(last.produces === 'files' ? { files: new MemoryFiles() } : {}),
      logs: [],
    };
    try {
      await before;
      if (kernel && !broken && !stream) {
        let made: KernelOutput | undefined;
        try {
          const input = {
            bytes: chunkBytes(task, shared),
            firstLine: task.firstLine,
            ...(task.file ? { file: { name: task.file.name, size: task.file.size } } : {}),
          };
          if (kernel.prepare) await kernel.prepare(input);
          made = kernel.run(input);
        } catch (error) {
          // A kernel only declines; one that throws has a bug. The scripts give this chunk and the lane's next ones
          // what they always give, and the trace says so once.
          broken = true;
          sinks.logs.push({
            step: 0,
            level: 'warn',
            message:
              `the byte kernel failed on the chunk from line ${task.firstLine} (${(error as Error).message}); ` +
              'this lane runs it and every later chunk through the scripts',
          });
        }
        if (made) {
          // The kernel is through the chunk's records: the next chunk may start while gzip runs on this one's file.
          through();
          const counters = await kernelOutput(made, kernel, lane, init, sinks, pieces);
          counters.forEach((c, i) => {
            addInto(totals[i] as StepCounters, c);
          });
          postOutput(port, task.index, sinks, true);
          return;
        }
      }
      let chain: Awaited<ReturnType<typeof createRun>>;
      try {
        chain = await createRun(definitions, init.steps, params, init.job, sinks, (i) => new LaneLogger(i, sinks.logs));
        drivers = chain.drivers;
        await feedChunk(drivers[0] as ScriptDriver, task, chunkOpener(task, shared, stream));
      } finally {
        through();
      }
      await chain.finish();
    } finally {
      for (const d of drivers) await d.instance.close?.();
    }
    drivers.forEach((d, i) => {
      addInto(totals[i] as StepCounters, d.counters);
    });
    postOutput(port, task.index, sinks);
  };

  port.on('message', (m: MainMessage) => {
    if (m.kind === 'task') {
      const stream = m.streamed ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
      if (stream) streams.set(m.index, stream);
      waiting.push(async () => {
        if (failed) return;
        try {
          await run(m, stream);
        } catch (error) {
          stream?.destroy();
          if (failed) return;
          failed = true;
          port.postMessage({ kind: 'failed', error: serialize(error) } satisfies LaneMessage);
        }
      });
      pump();
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
      const finished = () => {
        if (!failed) port.postMessage({ kind: 'finished', counters: totals } satisfies LaneMessage);
      };
      if (running === 0 && waiting.length === 0) finished();
      else whenIdle = finished;
    }
  });
}
