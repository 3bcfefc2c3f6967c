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
  const safe = dataflowId.replace(/[^A-Za-z0-9_-]+/g, '-');
  const plain = `${prefix}-${safe}`;
  if (safe === dataflowId && plain.length <= STATE_MACHINE_NAME_MAX) return plain;
  const hash = shortHash(dataflowId);
  return `${plain.slice(0, STATE_MACHINE_NAME_MAX - hash.length - 1)}-${hash}`;
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
