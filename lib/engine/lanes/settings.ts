/** When a step runs in parallel lanes (see pool.ts): how many, with which worker module, from what input size. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ENV } from '../../core/env.ts';
import type { LaneSettings } from '../../core/services.ts';

/**
 * Lane settings from the environment: `IDX_LANES` (a number, or `auto` for one per core, at most 4; unset or 1:
 * lanes are off), `IDX_LANE_WORKER` (default: bin/lane-worker.js next to the sources), `IDX_LANES_MIN_RECORDS`
 * (default 50,000) and `IDX_LANES_MIN_BYTES` (default 16 MiB). Undefined when lanes are off or the worker module
 * is missing (a bundle deployed without it).
 *
 * Off unless asked for: a deployed step function is given its count from its memory size (infra), where the
 * bundled worker starts in milliseconds. Locally the worker is the CLI's bundled one (bin/lane-worker.js); run from
 * the sources (`IDX_FROM_SOURCES=1`), each lane first compiles the TypeScript it loads, which costs more than it
 * saves on inputs of a few hundred thousand records.
 */
export function laneSettings(env: NodeJS.ProcessEnv = process.env): LaneSettings | undefined {
  const wanted = env[ENV.lanes.name] ?? '1';
  const count = wanted === 'auto' ? Math.min(4, availableParallelism()) : Number(wanted);
  const worker = env[ENV.laneWorker.name] ?? fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));
  if (!(count > 1) || !existsSync(worker)) return undefined;
  return {
    count: Math.floor(count),
    worker,
    minRecords: Number(env[ENV.lanesMinRecords.name] ?? 50_000),
    minBytes: Number(env[ENV.lanesMinBytes.name] ?? 16 * 1024 * 1024),
  };
}
