/**
 * Builds a chain of scripts: each member's params resolved, its instance created with its context, and its output
 * wired to the member after it (records in memory, files streamed). The step runner, the lanes and the test
 * harness all start scripts here, so a script runs in the same surroundings wherever it runs; only where the last
 * member writes (the S3 stage, a lane's memory, a test's arrays) is the caller's choice.
 */
import { type StepCounters, zeroCounters } from '../core/refs.ts';
import type {
  AnyScriptDefinition,
  DataRecord,
  JobContext,
  PartitionItem,
  ScriptContext,
  ScriptInstance,
  StepLogger,
} from '../core/script.ts';
import type { Services } from '../core/services.ts';
import { ScriptDriver, StepClock } from './drive.ts';
import { dryRunDefinition } from './dry-run.ts';
import { FileForward } from './forward.ts';
import { EngineOutput, type FileSink, type RecordSink } from './output.ts';

/** One member of a chain: its step id, script, and params (as written, or already resolved). */
export interface ChainStep {
  readonly id: string;
  readonly definition: AnyScriptDefinition;
  readonly params: Record<string, unknown>;
}

/** A member being wired, as {@link ChainOptions.wire} sees it. */
export interface LinkStart {
  readonly index: number;
  readonly step: ChainStep;
  /** The params the script gets. */
  readonly params: Record<string, unknown>;
  /** The member after this one, which gets this one's records. */
  readonly next?: ScriptDriver;
  /** The files this member writes, streamed into the next member (see streamsFilesInto). */
  readonly forward?: FileForward;
  /** The member's counters, which its output and driver keep. */
  readonly counters: StepCounters;
}

/** Where a member writes what does not go to the next member, and what else it starts with. */
export interface LinkWiring {
  readonly log: StepLogger;
  readonly records?: RecordSink;
  readonly rejected: RecordSink;
  /** Ignored when the member's files go to the next member. */
  readonly files?: FileSink;
  /** Records the member may still emit (a reader under the job's limit). @default no limit */
  readonly limit?: number;
  /** Log a sample of the records at the member's boundaries. @default false */
  readonly debug?: boolean;
  /** What a continuable reader returned from its previous invocation. */
  readonly continuation?: unknown;
  /** Which invocation of the step this is (see ScriptContext.invocation). @default 0 */
  readonly invocation?: number;
  readonly onProgress?: (counters: StepCounters) => void;
}

/** Options of {@link buildChain}. */
export interface ChainOptions {
  readonly job: JobContext;
  readonly services: Services;
  readonly deadline: number;
  readonly signal: AbortSignal;
  /** The partition the first member reads, in an iteration of a partitioned reader's Map state. */
  readonly partition?: PartitionItem;
  /**
   * Turns a member's params as written into what its script gets (see paramsResolver); absent when they come
   * resolved already, as in a lane, which must not render placeholders or look secrets up a second time.
   */
  readonly resolve?: (step: ChainStep) => Promise<Record<string, unknown>>;
  /** Wires one member, once its params are resolved and the member after it exists. */
  readonly wire: (link: LinkStart) => LinkWiring;
}

/** A member of a built chain. */
export interface ChainLink {
  readonly driver: ScriptDriver;
  /** The params its script got. */
  readonly params: Record<string, unknown>;
  readonly forward?: FileForward;
}

/**
 * Creates a script's instance: the one place a script is started. A context without a continuation has no such
 * key, as a first invocation's never had.
 */
export async function createInstance(
  definition: AnyScriptDefinition,
  params: Record<string, unknown>,
  context: ScriptContext,
): Promise<ScriptInstance> {
  const { continuation, ...rest } = context;
  return definition.create(params as never, { ...rest, ...(continuation === undefined ? {} : { continuation }) });
}

/**
 * Builds the chain from its last member back, so that each member hands its output to the one after it. When a
 * member cannot be built, the members built so far are closed before the error goes on.
 */
export async function buildChain(steps: readonly ChainStep[], options: ChainOptions): Promise<ChainLink[]> {
  const links: ChainLink[] = [];
  const clock = new StepClock();
  try {
    for (let i = steps.length - 1; i >= 0; i--)
      links.unshift(await buildLink(i, steps[i] as ChainStep, links[0], options, clock));
  } catch (error) {
    for (const link of links) await link.driver.instance.close?.();
    throw error;
  }
  return links;
}

/** Builds one member, `next` being the member after it. */
async function buildLink(
  index: number,
  step: ChainStep,
  next: ChainLink | undefined,
  options: ChainOptions,
  clock: StepClock,
): Promise<ChainLink> {
  // A dry run starts a writer's stand-in in its place: same input, same output, nothing written.
  const definition = options.job.dryRun === true ? dryRunDefinition(step.definition) : step.definition;
  const params = options.resolve ? await options.resolve(step) : step.params;
  const forward =
    definition.produces === 'files' && next?.driver.definition.consumes === 'files'
      ? new FileForward((file) => next.driver.file(file, false))
      : undefined;
  const counters = zeroCounters();
  const wiring = options.wire({
    index,
    step,
    params,
    ...(next ? { next: next.driver } : {}),
    ...(forward ? { forward } : {}),
    counters,
  });
  const files = forward ?? wiring.files;
  const out = new EngineOutput({
    stepId: step.id,
    produces: definition.produces,
    ...(wiring.records ? { records: wiring.records } : {}),
    ...(next ? { forward: (batch: DataRecord[]) => next.driver.push(batch) } : {}),
    rejected: wiring.rejected,
    ...(files ? { files } : {}),
    limit: wiring.limit ?? Number.POSITIVE_INFINITY,
    counters,
    log: wiring.log,
    debug: wiring.debug ?? false,
  });
  const instance = await createInstance(definition, params, {
    job: options.job,
    stepId: step.id,
    log: wiring.log,
    services: options.services,
    continuation: wiring.continuation,
    ...(wiring.invocation === undefined ? {} : { invocation: wiring.invocation }),
    deadline: options.deadline,
    signal: options.signal,
    ...(index === 0 && options.partition ? { partition: options.partition } : {}),
  });
  try {
    const driver = new ScriptDriver(definition, instance, out, counters, step.id, wiring.onProgress, clock, index);
    return { driver, params, ...(forward ? { forward } : {}) };
  } catch (error) {
    // A script without the hook for what it consumes is refused, and what it opened is released.
    await instance.close?.();
    throw error;
  }
}
