/** When a step runs in parallel lanes (see pool.ts): how many, with which worker module, from what input size. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ENV } from '../../core/env.ts';
import type { LaneSettings } from '../../core/services.ts';

/**
 * Lane settings from the environment: `IDX_LANES` (a number, or `auto` for one per core, at most 4; unset or 1:
 * no parallel lanes), `IDX_LANE_WORKER` (default: bin/lane-worker.js next to the sources), `IDX_LANES_MIN_RECORDS`
 * (default 50,000), `IDX_LANES_MIN_BYTES` (default 16 MiB) and `IDX_KERNELS` (default 1). Without parallel lanes
 * (off, or the worker module missing: a bundle deployed without it), one lane on the main thread, which a step
 * takes only when a byte kernel takes its run (see kernel.ts); undefined when kernels are off too.
 *
 * Parallel lanes are off unless asked for: a deployed step function is given its count from its memory size
 * (infra), where the bundled worker starts in milliseconds. Locally the worker is the CLI's bundled one
 * (bin/lane-worker.js); run from the sources (`IDX_FROM_SOURCES=1`), each lane first compiles the TypeScript it
 * loads, which costs more than it saves on inputs of a few hundred thousand records. The main thread's lane costs
 * no thread and no heap of its own.
 */
export function laneSettings(env: NodeJS.ProcessEnv = process.env): LaneSettings | undefined {
  const wanted = env[ENV.lanes.name] ?? '1';
  const count = wanted === 'auto' ? Math.min(4, availableParallelism()) : Number(wanted);
  const worker = env[ENV.laneWorker.name] ?? fileURLToPath(new URL('../../../bin/lane-worker.js', import.meta.url));
  const kernels = env[ENV.kernels.name] !== '0';
  const parallel = count > 1 && existsSync(worker);
  if (!parallel && !kernels) return undefined;
  return {
    count: parallel ? Math.floor(count) : 1,
    worker: parallel ? worker : '',
    minRecords: Number(env[ENV.lanesMinRecords.name] ?? LANE_MINIMUM.records),
    minBytes: Number(env[ENV.lanesMinBytes.name] ?? LANE_MINIMUM.bytes),
    kernels,
  };
}

/**
 * Input below which a step stays off lanes by default: staged records, or bytes of files to parse. Below it,
 * starting threads and cutting chunks costs more than it saves.
 */
export const LANE_MINIMUM = { records: 50_000, bytes: 16 * 1024 * 1024 } as const;
