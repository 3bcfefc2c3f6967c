/** A lane of the benchmark pipelines, loading only the scripts they use. */
import { parentPort, workerData } from 'node:worker_threads';
import { type LaneInit, serveLane } from '../../lib/engine/lanes.ts';
import type { AnyScriptDefinition } from '../../lib/scripts/types.ts';
import { benchDefinitions } from './bench-registry.ts';

if (parentPort) {
  serveLane(
    parentPort,
    workerData as LaneInit,
    (type) => benchDefinitions.find((d) => d.type === type) as AnyScriptDefinition | undefined,
  );
}
