/**
 * `eloqua-bulk-outbound` over three nights on the Eloqua emulator: every account change reaches its contact
 * exactly once it is safe to, a test run in between leaves the watermark alone, and a night whose Eloqua sync
 * fails server-side leaves the watermark where it was, so the next night imports what it missed.
 */
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { DataflowStateStore } from '../../lib/stores/state.ts';
import { runNight, useEloquaWorld } from '../support/eloqua.ts';

const world = useEloquaWorld(300);
const registry = defaultRegistry();
const outbound = () => validateFile('dataflows/eloqua-bulk-outbound.json', registry).dataflow!;

type Account = { profile?: { firstName?: string }; data?: { subscribed?: unknown }; lastUpdatedTimestamp?: unknown };

describe('eloqua-bulk-outbound over three nights', () => {
  it('imports every change exactly once it is safe to, and never moves the watermark past an unimported change', async () => {
    // Prepare
    const state = new DataflowStateStore(world.env.services.dynamo, world.env.config.tables.state);
    const account = (uid: string) => world.emu.store.accounts.get(uid) as Account;
    /** When each account last changed, and whether a successful run has imported it since. */
    const changed = new Map<string, number>();
    const imported = new Set<string>();
    for (const [uid, a] of world.emu.store.accounts) changed.set(uid, Number(a.lastUpdatedTimestamp));
    const change = (uids: string[]) => {
      for (const uid of uids) {
        world.emu.store.setAccount(uid, { data: { subscribed: account(uid).data?.subscribed !== true } }, Date.now());
        changed.set(uid, Number(account(uid).lastUpdatedTimestamp));
        imported.delete(uid);
      }
    };
    /** Whether an account's contact holds what the account holds now. */
    const inEloqua = (uid: string) => {
      const contact = world.eloqua.find('C_Gigya_UID1', uid);
      const a = account(uid);
      return (
        contact?.isSubscribed === (a.data?.subscribed === true) && contact.fields.C_FirstName === a.profile?.firstName
      );
    };
    const uids = [...world.emu.store.accounts.keys()];
    const night = async (expectStatus: 'succeeded' | 'failed') => {
      const result = await runNight(world, outbound(), expectStatus);
      const start = Date.parse(result.job!.startTime);
      if (expectStatus === 'succeeded') {
        // Every account changed before this run started and not yet imported is in Eloqua as it is now.
        for (const [uid, at] of changed)
          if (at < start && !imported.has(uid)) {
            expect(inEloqua(uid), `${uid} changed at ${at}`).toBe(true);
            imported.add(uid);
          }
      }
      const { watermark } = await state.get('eloqua-bulk-outbound');
      for (const [uid, at] of changed)
        if (!imported.has(uid) && watermark) expect(Date.parse(watermark)).toBeLessThanOrEqual(at);
      return result;
    };

    // Act / Assess: night 1 imports everything.
    const n1 = await night('succeeded');
    expect(n1.job?.totalRecords).toBe(300);
    expect(world.eloqua.contacts.size).toBe(300);

    // Between nights: some accounts change, some twice; a test run does not move the watermark.
    change(uids.slice(0, 40));
    change(uids.slice(0, 10));
    const before = (await state.get('eloqua-bulk-outbound')).watermark;
    const test = await runLocal(outbound(), { services: world.env.services, registry, input: { test: true } });
    expect(test.job, JSON.stringify(test.job?.error)).toMatchObject({
      status: 'succeeded',
      test: true,
      totalRecords: 10,
    });
    expect((await state.get('eloqua-bulk-outbound')).watermark).toBe(before);

    // Night 2: Eloqua fails the import sync server-side; the run fails, the watermark stays.
    world.eloqua.faults.failNextSync('The import could not be processed.');
    const n2 = await night('failed');
    expect(n2.job?.error?.code).toBe('IDX_ELOQUA_SYNC');
    expect((await state.get('eloqua-bulk-outbound')).watermark).toBe(before);

    // More changes, some while the next run starts.
    change(uids.slice(100, 120));
    const racing = uids.slice(200, 205);
    const n3promise = night('succeeded');
    change(racing);
    const n3 = await n3promise;

    // Every account changed before night 3 started reached Eloqua in night 3; no contact was created twice.
    expect(n3.job?.totalRecords).toBeGreaterThanOrEqual(60);
    expect(world.eloqua.contacts.size).toBe(300);
    const { watermark, lockJobId } = await state.get('eloqua-bulk-outbound');
    expect(lockJobId).toBeUndefined();
    // The racing changes are either in Eloqua or still after the watermark, so night 4 gets them.
    for (const uid of racing)
      if (!imported.has(uid)) expect(Date.parse(watermark!)).toBeLessThanOrEqual(changed.get(uid)!);
  }, 120_000);
});
