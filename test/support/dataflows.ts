/** Dataflow builders for tests: a valid base to mutate, and the public fixtures folder. */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Step } from '../../lib/dataflow/types.ts';

/**
 * The public IdentitySync dataflows beside the project (read in place, never copied): the nearest
 * `shared/fixtures/public-dataflows` above the checkout, which is one level deeper in a git worktree.
 */
export const FIXTURES_DIR = ((): string => {
  const tail = 'shared/fixtures/public-dataflows';
  for (let up = '../../..'; up.split('/').length < 8; up += '/..') {
    const dir = resolve(__dirname, up, tail);
    if (existsSync(dir)) return dir;
  }
  return resolve(__dirname, '../../..', tail);
})();

/** Paths of every public fixture dataflow. */
export function fixtureFiles(): string[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(FIXTURES_DIR, f));
}

/** A valid dataflow: S3 CSV → parse → rename → remove → format → gzip → S3, built from registered types. */
export function baseDataflow(): { id: string; name: string; steps: Record<string, unknown>[]; schedules?: unknown[] } {
  return {
    id: 'base',
    name: 'Base',
    steps: [
      { id: 'read', type: 'test.generate', params: { count: 5 }, next: ['rename'] },
      {
        id: 'rename',
        type: 'field.rename',
        params: { fields: [{ sourceField: 'profile.email', targetField: 'MAIL' }] },
        next: ['remove'],
      },
      { id: 'remove', type: 'field.remove', params: { fields: ['profile'] } },
    ],
  };
}

/** A step of a dataflow in memory: no params, the given `next` and `error` edges. */
export function graphStep(id: string, type: string, next: string[] = [], error: string[] = []): Step {
  return { id, type, params: {}, next, error };
}
