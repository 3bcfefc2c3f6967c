/** Public dataflows localised for a test (some step params replaced, the file itself unchanged) and run locally. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Services } from '../../lib/core/services.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateText } from '../../lib/dataflow/validate.ts';
import { type LocalRunResult, runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from './dataflows.ts';

/** A public dataflow with params of its steps merged in (by step id), validated with no error. */
export function localisedFixture(file: string, replace: Record<string, Record<string, unknown>>): Dataflow {
  const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as {
    steps: { id: string; params?: Record<string, unknown> }[];
  };
  for (const [stepId, params] of Object.entries(replace)) {
    const step = flow.steps.find((s) => s.id === stepId);
    if (step) step.params = { ...(step.params ?? {}), ...params };
  }
  const { dataflow, valid, problems } = validateText(JSON.stringify(flow), defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow as Dataflow;
}

/** Runs a dataflow on the services, a full extract unless told, with a tiny invocation budget when given. */
export function runFixture(
  services: Services,
  dataflow: Dataflow,
  options: { budget?: number; fullExtract?: boolean } = {},
): Promise<LocalRunResult> {
  return runLocal(dataflow, {
    services,
    registry: defaultRegistry(),
    input: { fullExtract: options.fullExtract ?? true },
    ...(options.budget === undefined ? {} : { invocationBudgetMs: options.budget }),
  });
}

/**
 * Runs a dataflow normally, resets the targets, then runs it with a 1 ms invocation budget; both must succeed.
 * Returns both runs and the state each left (read by `state` after each run).
 */
export async function runNormalThenTiny<S>(
  services: Services,
  dataflow: Dataflow,
  targets: { readonly reset: () => void; readonly state: () => S },
): Promise<{ normal: LocalRunResult; tiny: LocalRunResult; normalState: S; tinyState: S }> {
  targets.reset();
  const normal = await runFixture(services, dataflow);
  const normalState = targets.state();
  targets.reset();
  const tiny = await runFixture(services, dataflow, { budget: 1 });
  const tinyState = targets.state();
  expect(normal.status, JSON.stringify(normal.error)).toBe('succeeded');
  expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
  return { normal, tiny, normalState, tinyState };
}
