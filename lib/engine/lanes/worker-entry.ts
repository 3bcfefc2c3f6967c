/**
 * The worker module of a lane, with the scripts that can run in lanes (see pool.ts). A deployment bundles it next
 * to the step handler.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ScriptRegistry } from '../../core/registry.ts';
import { laneDefinitions } from '../../scripts/lane-scripts.ts';
import type { LaneInit } from './protocol.ts';
import { serveLane } from './worker.ts';

// Only the scripts that can run in lanes: a lane that loaded every script would cost three times the memory.
const registry = new ScriptRegistry(laneDefinitions as never);
if (parentPort) serveLane(parentPort, workerData as LaneInit, (type) => registry.get(type));
