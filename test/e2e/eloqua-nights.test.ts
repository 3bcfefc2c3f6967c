import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { DataflowStateStore } from '../../lib/stores/state.ts';
import { runNight, useEloquaWorld } from '../support/eloqua.ts';

const world = useEloquaWorld(300);
const registry = defaultRegistry();
const outbound = () => validateFile('dataflows/eloqua-outbound.json', registry).dataflow!;

/**
 * Waits for the next wall-clock second. Each run delivers `gigya_to_eloqua_${now}.csv`, named to the second of
 * its start, and a writer refuses to replace another job's file: two runs in one second would collide by design.
 */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1001 - (Date.now() % 1000)));

describe('eloqua-outbound over three nights', () => {
  it('exports every change exactly once it is safe to, and never moves the watermark past an unexported change', async () => {
    // Prepare
    const state = new DataflowStateStore(world.env.services.dynamo, world.env.config.tables.state);
    /** When each account last changed, and whether a successful run has exported it since. */
    const changed = new Map<string, number>();
    const exported = new Set<string>();
    for (const [uid, a] of world.emu.store.accounts) changed.set(uid, Number(a.lastUpdatedTimestamp));
    const change = (uids: string[]) => {
      for (const uid of uids) {
        world.emu.store.setAccount(uid, { data: { subscribed: Math.random() < 0.5 } }, Date.now());
        changed.set(uid, Number(world.emu.store.accounts.get(uid)?.lastUpdatedTimestamp));
        exported.delete(uid);
      }
    };
    const uids = [...world.emu.store.accounts.keys()];
    const seen = new Set<string>();
    const newCsvRows = () => {
      const rows: Record<string, string>[] = [];
      for (const [name, list] of world.csvs('to-eloqua'))
        if (!seen.has(name)) {
          seen.add(name);
          rows.push(...list);
        }
      return rows;
    };
    const night = async (expectStatus: 'succeeded' | 'failed') => {
      await nextSecond();
      const result = await runNight(world, outbound(), expectStatus);
      const start = Date.parse(result.job!.startTime);
      if (expectStatus === 'succeeded') {
        const rows = newCsvRows();
        const inCsv = new Set(rows.map((r) => r.C_Gigya_UID1));
        // Every account changed before this run started and not yet exported is in this night's file.
        for (const [uid, at] of changed)
          if (at < start && !exported.has(uid)) expect(inCsv.has(uid), `${uid} changed at ${at}`).toBe(true);
        for (const uid of inCsv) exported.add(uid as string);
      }
      const { watermark } = await state.get('eloqua-outbound');
      for (const [uid, at] of changed)
        if (!exported.has(uid) && watermark) expect(Date.parse(watermark)).toBeLessThanOrEqual(at);
      return result;
    };

    // Act / Assess: night 1 exports everything.
    const n1 = await night('succeeded');
    expect(n1.job?.totalRecords).toBe(300);
    expect(exported.size).toBe(300);

    // Between nights: some accounts change, some twice; a test run does not move the watermark.
    change(uids.slice(0, 40));
    change(uids.slice(0, 10));
    const before = (await state.get('eloqua-outbound')).watermark;
    await nextSecond();
    const test = await runLocal(outbound(), { services: world.env.services, registry, input: { test: true } });
    expect(test.job, JSON.stringify(test.job?.error)).toMatchObject({
      status: 'succeeded',
      test: true,
      totalRecords: 10,
    });
    expect((await state.get('eloqua-outbound')).watermark).toBe(before);
    newCsvRows();

    // Night 2: the SFTP server is down; the run fails after reading, the watermark stays.
    await world.stopSftp();
    const n2 = await night('failed');
    expect(n2.job?.error?.code).toMatch(/SFTP|NETWORK|CONNECT/);
    expect((await state.get('eloqua-outbound')).watermark).toBe(before);

    // More changes, some in the same second the next run starts.
    change(uids.slice(100, 120));
    await world.startSftp();
    const racing = uids.slice(200, 205);
    const n3promise = night('succeeded');
    change(racing);
    const n3 = await n3promise;

    // Every account changed before night 3 started went out in night 3 (or night 1, if unchanged since).
    expect(n3.job?.totalRecords).toBeGreaterThanOrEqual(60);
    const { watermark, lockJobId } = await state.get('eloqua-outbound');
    expect(lockJobId).toBeUndefined();
    // The racing changes are either in night 3's file or still after the watermark, so night 4 gets them.
    for (const uid of racing)
      if (!exported.has(uid)) expect(Date.parse(watermark!)).toBeLessThanOrEqual(changed.get(uid)!);
  });
});

describe('two runs of one dataflow started together', () => {
  it('lets one run and fails the other fast with IDX_RUN_LOCKED', async () => {
    // Prepare: the nights above may have delivered a file named for this same second, which a writer now refuses
    // to replace; this test is about the lock, so it starts from an empty target folder.
    rmSync(join(world.root, 'to-eloqua'), { recursive: true, force: true });
    mkdirSync(join(world.root, 'to-eloqua'), { recursive: true });

    // Act
    const [a, b] = await Promise.all([
      runLocal(outbound(), { services: world.env.services, registry }),
      runLocal(outbound(), { services: world.env.services, registry }),
    ]);

    // Assess
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual(['failed', 'succeeded']);
    const loser = a.status === 'failed' ? a : b;
    expect(loser.job?.error?.code).toBe('IDX_RUN_LOCKED');
    expect(loser.job?.steps).toEqual({});
    const winner = a.status === 'succeeded' ? a : b;
    expect(winner.job?.status).toBe('succeeded');
  });
});
