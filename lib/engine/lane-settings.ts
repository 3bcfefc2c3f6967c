/** When a step runs in parallel lanes (lanes.ts): how many, with which worker module, from what input size. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Lane settings of a runtime. */
export interface LaneSettings {
  /** Lanes (worker threads) per laned step. */
  readonly count: number;
  /** The worker module (bin/lane-worker.js from the sources; the bundled lane worker when deployed). */
  readonly worker: string;
  /** Staged records a step reads before it goes in lanes; below it, starting the threads costs more than it saves. */
  readonly minRecords: number;
  /** Bytes of files a parser reads before it goes in lanes. */
  readonly minBytes: number;
}

/**
 * Lane settings from the environment: `IDX_LANES` (default: one per core, at most 4; 1 turns lanes off),
 * `IDX_LANE_WORKER` (default: bin/lane-worker.js next to the sources), `IDX_LANES_MIN_RECORDS` (default 50,000)
 * and `IDX_LANES_MIN_BYTES` (default 16 MiB). Undefined when lanes are off or the worker module is missing (a
 * bundle deployed without it).
 */
export function laneSettings(env: NodeJS.ProcessEnv = process.env): LaneSettings | undefined {
  const count = Number(env.IDX_LANES ?? Math.min(4, availableParallelism()));
  const worker = env.IDX_LANE_WORKER ?? fileURLToPath(new URL('../../bin/lane-worker.js', import.meta.url));
  if (!(count > 1) || !existsSync(worker)) return undefined;
  return {
    count: Math.floor(count),
    worker,
    minRecords: Number(env.IDX_LANES_MIN_RECORDS ?? 50_000),
    minBytes: Number(env.IDX_LANES_MIN_BYTES ?? 16 * 1024 * 1024),
  };
}
