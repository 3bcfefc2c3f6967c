import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { CallBudgetStore } from '../../../lib/stores/call-budget.ts';

let env: LocalEnvironment;
let dir: string;
let store: CallBudgetStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-call-budget-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
  store = new CallBudgetStore(env.services.dynamo, env.config.tables.state);
});

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CallBudgetStore', () => {
  it('gives concurrent takers slots one interval apart, so together they never exceed the rate', async () => {
    // Prepare: eight takers (eight Lambdas), each taking 15 slots of a 50/s budget as fast as the table answers.
    const key = { dataflowId: 'df-rate', name: 'site-a' };
    const interval = 20;
    const taker = async () => {
      const starts: number[] = [];
      for (let i = 0; i < 15; i++) starts.push((await store.take(key, interval)).start);
      return starts;
    };

    // Act
    const started = Date.now();
    const all = (await Promise.all(Array.from({ length: 8 }, taker))).flat().sort((a, b) => a - b);

    // Assess
    expect(all).toHaveLength(120);
    expect(all[0]).toBeGreaterThanOrEqual(started);
    // Each slot is the one before it plus the interval: no two calls closer than 1/50 s, whoever took them.
    for (let i = 1; i < all.length; i++)
      expect((all[i] as number) - (all[i - 1] as number)).toBeGreaterThanOrEqual(interval);
    // In any second of the schedule, at most 50 starts.
    for (const from of all) expect(all.filter((t) => t >= from && t < from + 1000).length).toBeLessThanOrEqual(50);
  });

  it('holds every taker back until a pause ends, and says the pause held them', async () => {
    // Prepare
    const key = { dataflowId: 'df-rate', name: 'site-b' };
    const first = await store.take(key, 50);
    const until = Date.now() + 5_000;

    // Act
    await store.pause(key, until);
    const held = await Promise.all([store.take(key, 50), store.take(key, 50)]);

    // Assess
    expect(first.held).toBe(false);
    expect(held.map((s) => s.start).sort()).toEqual([until, until + 50]);
    expect(held.every((s) => s.held)).toBe(true);
  });

  it('starts afresh at now after an idle spell, and keeps budgets of other dataflows and sites apart', async () => {
    // Prepare
    const key = { dataflowId: 'df-idle', name: 'site-a' };
    await store.take(key, 10, 1_000);

    // Act
    const now = Date.now();
    const fresh = await store.take(key, 10, now);
    const other = await store.take({ dataflowId: 'df-idle', name: 'site-b' }, 10, now);

    // Assess
    expect(fresh).toEqual({ start: now, held: false });
    expect(other).toEqual({ start: now, held: false });
  });

  it("counts a job's pauses for every taker of that job, and starts the count again for the next job", async () => {
    // Prepare
    const job1 = { dataflowId: 'df-slow', name: 'site-a', jobId: 'job-1' };
    const job2 = { ...job1, jobId: 'job-2' };
    const before = await store.take(job1, 10);

    // Act
    await Promise.all([store.pause(job1, Date.now() + 20), store.pause(job1, Date.now() + 20)]);
    await store.pause(job1, Date.now() + 20);
    const slowed = await store.take(job1, 10);
    const anonymous = await store.take({ dataflowId: 'df-slow', name: 'site-a' }, 10);
    const nextJob = await store.take(job2, 10);
    await store.pause(job2, Date.now() + 20);
    const nextJobSlowed = await store.take(job2, 10);

    // Assess
    expect(before.slowdowns).toBeUndefined();
    expect(slowed.slowdowns).toBe(3);
    expect(anonymous.slowdowns).toBeUndefined();
    expect(nextJob.slowdowns).toBeUndefined();
    expect(nextJobSlowed.slowdowns).toBe(1);
  });
});
