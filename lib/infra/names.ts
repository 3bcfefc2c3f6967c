/**
 * Deterministic names of deployed resources. The CLI derives the same names from a dataflow id (to start a test
 * run or read jobs without looking anything up), so this module stays free of CDK imports.
 */
import { createHash } from 'node:crypto';

/** The name prefix of deployed resources (state machines, the jobs table). */
export const DEFAULT_NAME_PREFIX = 'identity-sync';

/** State machine names: 1–80 characters of letters, digits, `-` and `_`. */
const STATE_MACHINE_NAME_MAX = 80;

function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}

/**
 * The state machine name of a dataflow: `<prefix>-<id>`. An id that has characters a name cannot hold, or that
 * makes the name too long, is cut down and suffixed with a hash of the original id, so two ids never share a name.
 */
export function stateMachineName(dataflowId: string, prefix = DEFAULT_NAME_PREFIX): string {
  return boundedName(prefix, [dataflowId], STATE_MACHINE_NAME_MAX);
}

/**
 * `<prefix>-<parts joined by ->`, with characters a name cannot hold replaced by `-`; when that changed a part or
 * the name is longer than `max`, it is cut down and suffixed with a hash of the parts, so two sets of parts
 * never share a name.
 */
function boundedName(prefix: string, parts: readonly string[], max: number): string {
  const safe = parts.map((p) => p.replace(/[^A-Za-z0-9_-]+/g, '-'));
  const plain = `${prefix}-${safe.join('-')}`;
  if (safe.every((p, i) => p === parts[i]) && plain.length <= max) return plain;
  const hash = shortHash(parts.join('\n'));
  return `${plain.slice(0, max - hash.length - 1)}-${hash}`;
}

/** EventBridge rule names: 1–64 characters. */
const RULE_NAME_MAX = 64;

/**
 * The name of the EventBridge rule of a dataflow's schedule: `<prefix>-<dataflow id>-<schedule name>`, bounded as
 * {@link stateMachineName} is; a schedule that needs several rules (every n months) has `-2`, `-3`, … after the
 * first. A schedule deployed as an EventBridge Scheduler schedule has the first name too (Scheduler's names have
 * the same bounds). The console enables and disables a schedule by these names, and its role may touch only them.
 */
export function scheduleRuleName(
  dataflowId: string,
  scheduleName: string,
  index = 0,
  prefix = DEFAULT_NAME_PREFIX,
): string {
  const suffix = index === 0 ? '' : `-${index + 1}`;
  return `${boundedName(prefix, [dataflowId, scheduleName], RULE_NAME_MAX - 4)}${suffix}`;
}

/** The jobs table name: `<prefix>-jobs` (named, so `idx jobs --deployed` finds it). */
export function jobsTableName(prefix = DEFAULT_NAME_PREFIX): string {
  return `${prefix}-jobs`;
}

/** The construct id of a dataflow's resources: derived from its id, so it never moves when files are reordered. */
export function dataflowConstructId(dataflowId: string): string {
  // Construct ids may hold anything but "/" (the path separator).
  return `Dataflow-${dataflowId.replace(/\//g, '_')}`;
}
