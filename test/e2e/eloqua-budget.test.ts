import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useEloquaWorld } from '../support/eloqua.ts';

const world = useEloquaWorld(5_000);
const registry = defaultRegistry();
const outbound = () => validateFile('dataflows/eloqua-outbound.json', registry).dataflow!;

/** The CSV files delivered to the Eloqua folder, by name, and removes them so the next run starts clean. */
function takeDelivered(): Map<string, string> {
  const folder = join(world.root, 'to-eloqua');
  const files = new Map<string, string>();
  for (const name of readdirSync(folder).sort()) {
    files.set(name, readFileSync(join(folder, name), 'utf8'));
    rmSync(join(folder, name));
  }
  return files;
}

describe('eloqua-outbound with a 1 ms invocation budget', () => {
  it('delivers one CSV of 5,001 lines, the same as a run whose steps each fit one invocation', async () => {
    // Prepare
    const normal = await runLocal(outbound(), {
      services: world.env.services,
      registry,
      input: { fullExtract: true },
    });
    const expected = takeDelivered();

    // Act
    const sliced = await runLocal(outbound(), {
      services: world.env.services,
      registry,
      input: { fullExtract: true },
      invocationBudgetMs: 1,
    });
    const delivered = takeDelivered();

    // Assess
    expect(normal.status, JSON.stringify(normal.job?.error)).toBe('succeeded');
    expect(sliced.status, JSON.stringify(sliced.job?.error)).toBe('succeeded');
    expect(expected.size).toBe(1);
    expect(delivered.size).toBe(1);
    const [csv] = [...delivered.values()];
    expect(csv?.split('\n').filter(Boolean)).toHaveLength(5_001);
    expect(csv).toBe([...expected.values()][0]);
    const reader = sliced.job?.steps?.account;
    expect(reader?.invocations).toBeGreaterThan(1);
    expect(sliced.job?.steps?.dsv?.files).toHaveLength(1);
  });
});
