import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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

  it('takes the slot after the winner of an idle write even when round trips are slower than the interval', async () => {
    // Prepare: an idle budget; before each of this taker's idle writes, another taker wins one at the clock of
    // that moment, and the answer then comes three intervals late (a loaded event loop). Asked from a fresh clock
    // reading on every attempt, the winner's schedule would already lie behind, and this taker would lose the
    // idle write on every one of its attempts.
    const key = { dataflowId: 'df-slow-trips', name: 'site-a' };
    const interval = 5;
    const dynamo = env.services.dynamo;
    const winners: number[] = [];
    const slow = {
      send: async (command: UpdateCommand) => {
        if (command.input.UpdateExpression === 'SET #next = :after') {
          const won = Date.now();
          winners.push(won);
          await dynamo.send(
            new UpdateCommand({
              TableName: env.config.tables.state,
              Key: { pk: key.dataflowId, sk: `budget#${key.name}` },
              UpdateExpression: 'SET #next = :after',
              ExpressionAttributeNames: { '#next': 'next' },
              ExpressionAttributeValues: { ':after': won + interval },
            }),
          );
          try {
            return await dynamo.send(command);
          } finally {
            await sleep(3 * interval);
          }
        }
        return dynamo.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    const taker = new CallBudgetStore(slow, env.config.tables.state);
    await store.take(key, interval, 1_000);

    // Act
    const slot = await taker.take(key, interval);

    // Assess: one idle write lost, then the slot right after the winner's.
    expect(winners).toHaveLength(1);
    expect(slot).toEqual({ start: (winners[0] as number) + interval, held: false });
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

  it('moves the schedule on by a stretch, so the takers after a slowed taker start at its new pace', async () => {
    // Prepare: a budget in use, its next slot 5 s after the first.
    const key = { dataflowId: 'df-stretch', name: 'site-a' };
    const first = await store.take(key, 5_000);

    // Act
    await store.stretch(key, 3_000);
    const second = await store.take(key, 8_000);

    // Assess
    expect(second.start - first.start).toBe(8_000);
  });

  it("hands a job's cut of the pace to every taker of that job, and none to the next job", async () => {
    // Prepare
    const job1 = { dataflowId: 'df-slow', name: 'site-a', jobId: 'job-1' };
    const job2 = { ...job1, jobId: 'job-2' };
    const before = await store.take(job1, 10);
    const first = { at: 1_000, from: 15, to: 20 };

    // Act
    const written = await store.cut(job1, undefined, () => first);
    const slowed = await store.take(job1, 10);
    const anonymous = await store.take({ dataflowId: 'df-slow', name: 'site-a' }, 10);
    const nextJob = await store.take(job2, 10);

    // Assess
    expect(before.cut).toBeUndefined();
    expect(written).toEqual(first);
    expect(slowed.cut).toEqual(first);
    expect(anonymous.cut).toBeUndefined();
    expect(nextJob.cut).toBeUndefined();
  });

  it('applies concurrent cuts one after another, each decided on the one before, and none that the last answers', async () => {
    // Prepare: eight Lambdas that all saw no cut, each refused a call that asked at 100.
    const key = { dataflowId: 'df-cuts', name: 'site-a', jobId: 'job-1' };
    const decided: (number | undefined)[] = [];
    const decide = (i: number) => (last: { at: number; from: number; to: number } | undefined) => {
      decided.push(last?.at);
      // The rule's shape: no cut when the last was made after the refused call asked; else a quarter off.
      if (last !== undefined && last.at > 100) return undefined;
      return { at: 200 + i, from: (last?.from ?? 20) * 0.75, to: last?.from ?? 20 };
    };

    // Act
    const cuts = await Promise.all(Array.from({ length: 8 }, (_, i) => store.cut(key, undefined, decide(i))));
    const later = await store.cut(key, cuts[0], (last) => ({ at: 900, from: (last?.from ?? 0) * 0.75, to: 1 }));
    const slot = await store.take(key, 10);

    // Assess: one cut won; the others read it and made none.
    expect(new Set(cuts.map((c) => c?.at)).size).toBe(1);
    expect(cuts[0]?.from).toBe(15);
    expect(decided.filter((at) => at !== undefined).length).toBeGreaterThanOrEqual(7);
    expect(later).toEqual({ at: 900, from: 15 * 0.75, to: 1 });
    expect(slot.cut).toEqual(later);
  });
});
