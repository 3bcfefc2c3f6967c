/**
 * The worker module of a lane with every script the project ships (see lanes.ts). A deployment bundles it next
 * to the step handler.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { defaultRegistry } from '../scripts/index.ts';
import { type LaneInit, serveLane } from './lanes.ts';

const registry = defaultRegistry();
if (parentPort) serveLane(parentPort, workerData as LaneInit, (type) => registry.get(type));
