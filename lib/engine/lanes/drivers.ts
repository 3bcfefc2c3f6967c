/**
 * The scripts of a laned run, started as every chain is (see chain.ts) but over sinks the caller gives, with
 * params resolved on the main thread beforehand and no services: what runs in a lane transforms records only.
 */
import { IdxError } from '../../core/errors.ts';
import type { StepCounters } from '../../core/refs.ts';
import type { AnyScriptDefinition, JobContext, StepLogger } from '../../core/script.ts';
import type { Services } from '../../core/services.ts';
import { buildChain } from '../chain.ts';
import type { ScriptDriver } from '../drive.ts';
import type { FileSink, RecordSink } from '../output.ts';
import type { LaneStep } from './plan.ts';

/** The scripts in lanes transform records only; a script that asks for a service is a bug in its lane support. */
export const NO_SERVICES = new Proxy({} as Services, {
  get(_target, key) {
    throw new IdxError('IDX_LANE_SERVICES', `a script running in a lane asked for services.${String(key)}`, {
      expected: 'scripts whose lane support transforms records only',
      received: `services.${String(key)}`,
    });
  },
});

/** The sinks a run of drivers writes into. */
export interface RunSinks {
  readonly records?: RecordSink;
  /** Rejected records: one sink for all steps, or one per step. */
  readonly rejected: RecordSink | readonly RecordSink[];
  readonly files?: FileSink;
}

/**
 * Creates the drivers of a run of steps over the given sinks, each forwarding its records to the next; `params`
 * replaces a step's params (the fragment params of a formatter).
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
  return (await createRun(definitions, steps, params, job, sinks, logs, services)).drivers;
}

/** A run of drivers whose files may stream from one into the next (a formatter into gzip). */
export interface DriverRun {
  readonly drivers: ScriptDriver[];
  /**
   * Ends each driver in order, waiting until the next one has read the files it wrote, and counts those files'
   * bytes as the writer's `bytesOut` (a file streamed on is not staged, so no sink counts it).
   */
  finish(): Promise<void>;
}

/** Like {@link createDrivers}, with the files a driver writes streamed into the next one when it reads files. */
export async function createRun(
  definitions: readonly AnyScriptDefinition[],
  steps: readonly LaneStep[],
  params: readonly Record<string, unknown>[],
  job: JobContext,
  sinks: RunSinks,
  logs: (index: number) => StepLogger,
  services: Services = NO_SERVICES,
): Promise<DriverRun> {
  const chain = await buildChain(
    steps.map((step, i) => ({
      id: step.id,
      definition: definitions[i] as AnyScriptDefinition,
      params: params[i] as Record<string, unknown>,
    })),
    {
      job,
      services,
      deadline: Number.POSITIVE_INFINITY,
      signal: new AbortController().signal,
      wire: ({ index, step, next }) => {
        const { produces } = step.definition;
        return {
          log: logs(index),
          ...(produces === 'records' && !next && sinks.records ? { records: sinks.records } : {}),
          rejected: rejectedOf(sinks, index),
          ...(produces === 'files' && sinks.files ? { files: sinks.files } : {}),
        };
      },
    },
  );
  return {
    drivers: chain.map((link) => link.driver),
    async finish() {
      for (const link of chain) {
        await link.driver.finish();
        if (!link.forward) continue;
        await link.forward.settle();
        link.driver.counters.bytesOut += link.forward.bytes;
      }
    },
  };
}

/** The sink of a step's rejected records. */
export function rejectedOf(sinks: RunSinks, step: number): RecordSink {
  const r = sinks.rejected;
  if (!Array.isArray(r)) return r as RecordSink;
  const sink = r[step];
  if (!sink) throw new Error(`no sink for the rejected records of step ${step + 1}`);
  return sink;
}

/** Adds `b` into `a`. */
export function addInto(a: StepCounters, b: StepCounters): void {
  for (const k of Object.keys(a) as (keyof StepCounters)[]) a[k] = (a[k] ?? 0) + (b[k] ?? 0);
}
