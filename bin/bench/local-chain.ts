/**
 * Runs a chain of steps over local files with the engine's own pieces (params resolution, ScriptDriver,
 * EngineOutput with its NDJSON coalescing, ndjsonBatches), as a compiled dataflow runs them but on local files
 * instead of the S3 stage:
 *
 * - consecutive record steps are fused: records pass from one script to the next in memory (as in a fused Task);
 * - a file transformer before a parser streams its files into it, and a formatter streams its file into a
 *   transformer after it that reads each file once (gzip), as in a fused Task; with lanes, gzip runs in the lanes
 *   (each compresses its chunk's fragment into a gzip member), another such transformer on the main thread, fed as
 *   the lanes write the file back;
 * - the first step reads a local NDJSON file (records) or local files; the last writes NDJSON or files.
 *
 * Only the transport differs from a deployed run; every script runs its own code.
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { StepCounters } from '../../lib/core/refs.ts';
import { type AnyScriptDefinition, type InputFile, type JobContext, streamsFilesInto } from '../../lib/core/script.ts';
import { Redactor, type SecretResolver } from '../../lib/core/secrets.ts';
import type { ScriptDriver } from '../../lib/engine/drive.ts';
import { FileForward } from '../../lib/engine/forward.ts';
import { createDrivers } from '../../lib/engine/lanes/drivers.ts';
import { kernelTakes } from '../../lib/engine/lanes/kernel.ts';
import { type LaneStep, planLanes } from '../../lib/engine/lanes/plan.ts';
import { Lanes } from '../../lib/engine/lanes/pool.ts';
import { TraceLogger } from '../../lib/engine/logger.ts';
import { ndjsonBatches } from '../../lib/engine/ndjson.ts';
import type { FileSink, RecordSink } from '../../lib/engine/output.ts';
import { resolveParams } from '../../lib/engine/resolve.ts';
import { endWritable, writeChunk } from '../../lib/scripts/util/io.ts';
import { benchDefinitions } from './bench-registry.ts';

/** One step as a dataflow author writes it. */
export interface ChainStep {
  readonly type: string;
  readonly params: Record<string, unknown>;
}

/** What the chain reads and where it writes. */
export interface ChainIo {
  /** An NDJSON file of records, for a chain that starts with a record step. */
  readonly records?: string;
  /** Files, for a chain that starts with a file step. */
  readonly files?: readonly string[];
  /** Folder for the last step's files, `records.ndjson` and `rejected.ndjson`. */
  readonly outDir: string;
  /** Lanes (worker threads) for runs of steps that allow them; 1 runs everything on the main thread. @default 1 */
  readonly lanes?: number;
  /** Path of the compiled lane worker module (lanes/worker-entry.ts, as deployed), needed with more than one lane. */
  readonly laneWorker?: string;
  /**
   * Byte kernels (lib/engine/lanes/kernel.ts) take the chunks they reproduce; with one lane, a run a kernel takes
   * goes in the main thread's lane, as the engine runs it. @default true
   */
  readonly kernels?: boolean;
}

/** Per-step figures. */
export interface StepFigures {
  readonly type: string;
  readonly counters: StepCounters;
}

const JOB: JobContext = {
  id: 'bench',
  dataflowId: 'bench',
  startTime: '2026-01-02T03:04:05.000Z',
  test: false,
  fullExtract: false,
  logLevel: 'error',
  attempt: 1,
};

/** Resolves nothing: the benchmark's steps hold no secrets. */
const NO_SECRETS: SecretResolver = {
  redactor: new Redactor(),
  resolve: async (name) => {
    throw new Error(`no secret ${name} in the benchmark`);
  },
};

/** An NDJSON sink on a local file, waiting for the disk when it asks to. */
class LocalRecordSink implements RecordSink {
  readonly #w: Writable;
  readonly #closed: Promise<void>;

  constructor(path: string) {
    const w = createWriteStream(path, { highWaterMark: 1 << 20 });
    this.#w = w;
    this.#closed = new Promise((resolve, reject) => {
      w.on('close', resolve);
      w.on('error', reject);
    });
  }

  async write(chunk: string): Promise<void> {
    await writeChunk(this.#w, chunk);
  }

  async close(): Promise<void> {
    await endWritable(this.#w);
    await this.#closed;
  }
}

/** Files written into a local folder. */
class FolderSink implements FileSink {
  readonly written: Promise<void>[] = [];
  readonly paths: string[] = [];
  constructor(readonly dir: string) {}

  create(name: string): Writable {
    const path = join(this.dir, name);
    this.paths.push(path);
    const w = createWriteStream(path, { highWaterMark: 1 << 20 });
    this.written.push(
      new Promise<void>((resolve, reject) => {
        w.on('close', resolve);
        w.on('error', reject);
      }),
    );
    return w;
  }
}

/** Resolves the params of a run of steps as the engine does before it starts them. */
async function resolveSteps(
  defs: readonly AnyScriptDefinition[],
  steps: readonly ChainStep[],
  first: number,
): Promise<LaneStep[]> {
  const out: LaneStep[] = [];
  for (let k = 0; k < steps.length; k++) {
    const definition = defs[k] as AnyScriptDefinition;
    const id = `${first + k + 1}-${definition.type}`;
    const step = steps[k] as ChainStep;
    out.push({ id, type: step.type, params: await resolveParams(definition.params, step.params, JOB, NO_SECRETS, id) });
  }
  return out;
}

/** A logger per step that keeps errors only. */
function quietLog(stepId: string): TraceLogger {
  return new TraceLogger({ jobId: JOB.id, stepId, level: 'error', echo: false });
}

function definitionOf(type: string): AnyScriptDefinition {
  const definition = benchDefinitions.find((d) => d.type === type);
  if (!definition) throw new Error(`step type ${type} is not in the benchmark registry`);
  return definition as unknown as AnyScriptDefinition;
}

/** A file step on the main thread, reading each file while the step before writes it. */
class InThreadConsumer {
  private constructor(
    private readonly driver: ScriptDriver,
    private readonly folder: FolderSink,
    /** The files of the step before, streamed into this one. */
    readonly files: FileForward,
  ) {}

  static async start(
    definition: AnyScriptDefinition,
    step: ChainStep,
    index: number,
    outDir: string,
    rejected: RecordSink,
  ): Promise<InThreadConsumer> {
    const [resolved] = (await resolveSteps([definition], [step], index)) as [LaneStep];
    const folder = new FolderSink(outDir);
    const [driver] = (await createDrivers(
      [definition],
      [resolved],
      [resolved.params],
      JOB,
      { files: folder, rejected },
      () => quietLog(resolved.id),
    )) as [ScriptDriver];
    return new InThreadConsumer(driver, folder, new FileForward((file) => driver.file(file)));
  }

  async finish(): Promise<StepFigures> {
    await this.files.settle();
    await this.driver.finish();
    await this.driver.instance.close?.();
    await Promise.all(this.folder.written);
    return { type: this.driver.definition.type, counters: this.driver.counters };
  }
}

/**
 * The plan of a run in lanes, as the engine decides it (runner.ts): parallel lanes when asked for, else the main
 * thread's own lane when a byte kernel takes the run; undefined for the scripts on this thread.
 */
function lanePlan(definitions: readonly AnyScriptDefinition[], steps: readonly LaneStep[], io: ChainIo) {
  const parallel = (io.lanes ?? 1) > 1 && io.laneWorker;
  if (!parallel && io.kernels === false) return undefined;
  const plan = planLanes(
    definitions,
    steps.map((s) => s.params),
  );
  if (typeof plan === 'string') return undefined;
  return parallel || kernelTakes(definitions, steps, plan, JOB) ? plan : undefined;
}

/** A local file as a step input. */
function localFile(path: string): InputFile {
  return {
    name: basename(path),
    size: statSync(path).size,
    open: () => createReadStream(path, { highWaterMark: 1 << 20 }),
  };
}

/** Runs the chain; returns each step's counters. */
export async function runChain(steps: readonly ChainStep[], io: ChainIo): Promise<StepFigures[]> {
  await mkdir(io.outDir, { recursive: true });
  const rejected = new LocalRecordSink(join(io.outDir, 'rejected.ndjson'));
  const recordSinks: LocalRecordSink[] = [rejected];
  const figures: StepFigures[] = [];
  const defs = steps.map((s) => definitionOf(s.type));
  let inputs = io.files ?? [];
  let from = 0;
  while (from < steps.length) {
    // A file transformer before a step that reads each file once streams its files into it, as in a fused Task.
    let feeder: { definition: AnyScriptDefinition; step: ChainStep; index: number } | undefined;
    const maybe = defs[from] as AnyScriptDefinition;
    const after = defs[from + 1];
    if (maybe.consumes === 'files' && after && streamsFilesInto(maybe, after)) {
      feeder = { definition: maybe, step: steps[from] as ChainStep, index: from };
      from++;
    }
    const phaseInputs = inputs;
    /** Hands the phase its input files: the files read, or what the feeder writes from them. */
    const eachFile = async (consume: (file: InputFile) => Promise<void>): Promise<void> => {
      if (!feeder) {
        for (const path of phaseInputs) await consume(localFile(path));
        return;
      }
      const [resolved] = (await resolveSteps([feeder.definition], [feeder.step], feeder.index)) as [LaneStep];
      const forward = new FileForward(consume);
      const [driver] = (await createDrivers(
        [feeder.definition],
        [resolved],
        [resolved.params],
        JOB,
        { rejected, files: forward },
        () => quietLog(resolved.id),
      )) as [ScriptDriver];
      for (const path of phaseInputs) await driver.file(localFile(path));
      await driver.finish();
      await forward.settle();
      await driver.instance.close?.();
      figures.push({ type: feeder.definition.type, counters: driver.counters });
    };
    // A phase: one step, then every record step after it (fused in memory).
    let to = from + 1;
    while (to < steps.length && (defs[to] as AnyScriptDefinition).consumes === 'records') to++;
    // With lanes, a trailing file transform that takes each fragment on its own (gzip) runs in the lanes too, as
    // in a fused Task.
    const withPieces = to === steps.length - 1 && defs[to]?.lanes?.pieces;
    if (withPieces) {
      const resolved = await resolveSteps(defs.slice(from), steps.slice(from), from);
      if (lanePlan(defs.slice(from), resolved, io)) to++;
    }
    const last = defs[to - 1] as AnyScriptDefinition;
    // A trailing file transformer that reads each file once (gzip) is fed while the files are written, in this
    // thread, as in a fused Task.
    let streamed: InThreadConsumer | undefined;
    let folder: FolderSink | undefined;
    if (last.produces === 'files') {
      const next = defs[to];
      if (to === steps.length - 1 && next?.produces === 'files' && streamsFilesInto(last, next)) {
        streamed = await InThreadConsumer.start(next, steps[to] as ChainStep, to, io.outDir, rejected);
      } else {
        folder = new FolderSink(to < steps.length ? join(io.outDir, `after-step-${to}`) : io.outDir);
        await mkdir(folder.dir, { recursive: true });
      }
    }
    const phaseDefs = defs.slice(from, to);
    const phaseSteps = await resolveSteps(phaseDefs, steps.slice(from, to), from);
    let records: LocalRecordSink | undefined;
    if (last.produces === 'records') {
      records = new LocalRecordSink(join(io.outDir, 'records.ndjson'));
      recordSinks.push(records);
    }
    const files = streamed?.files ?? folder;
    const sinks = { ...(records ? { records } : {}), rejected, ...(files ? { files } : {}) };
    const plan = lanePlan(phaseDefs, phaseSteps, io);
    const head = phaseDefs[0] as AnyScriptDefinition;
    if (plan) {
      const lanes = new Lanes({
        worker: io.laneWorker ?? '',
        count: io.lanes ?? 1,
        kernels: io.kernels !== false,
        steps: phaseSteps,
        definitions: phaseDefs,
        plan,
        job: JOB,
        sinks,
        logs: phaseSteps.map((s) => quietLog(s.id)),
      });
      try {
        if (head.consumes === 'records') {
          if (!io.records) throw new Error('the first step reads records: give an NDJSON file');
          await lanes.records(createReadStream(io.records, { highWaterMark: 1 << 20 }));
        } else await eachFile((file) => lanes.file(file));
        const counters = await lanes.finish();
        figures.push(...phaseDefs.map((d, k) => ({ type: d.type, counters: counters[k] as StepCounters })));
      } finally {
        await lanes.close();
      }
    } else {
      const drivers = await createDrivers(
        phaseDefs,
        phaseSteps,
        phaseSteps.map((s) => s.params),
        JOB,
        sinks,
        (k) => quietLog((phaseSteps[k] as LaneStep).id),
      );
      const first = drivers[0] as ScriptDriver;
      if (head.consumes === 'records') {
        if (!io.records) throw new Error('the first step reads records: give an NDJSON file');
        for await (const batch of ndjsonBatches(createReadStream(io.records, { highWaterMark: 1 << 20 }), io.records)) {
          await first.push(batch);
        }
      } else await eachFile((file) => first.file(file));
      for (const d of drivers) await d.finish();
      for (const d of drivers) await d.instance.close?.();
      figures.push(...drivers.map((d) => ({ type: d.definition.type, counters: d.counters })));
    }
    if (streamed) {
      figures.push(await streamed.finish());
      break;
    }
    if (folder) {
      await Promise.all(folder.written);
      inputs = folder.paths;
    }
    from = to;
  }
  await Promise.all(recordSinks.map((s) => s.close()));
  return figures;
}
