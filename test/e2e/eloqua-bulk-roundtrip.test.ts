/**
 * The Eloqua Bulk API route end to end, on the Eloqua emulator: `eloqua-bulk-outbound` creates and then updates
 * contacts keyed by the Gigya UID field (rows Eloqua rejects listed with its message), and `eloqua-bulk-inbound`
 * brings subscription changes back to existing Gigya accounts only (contacts without the UID found through the UID
 * map, unknown contacts in the error output, nobody created in Gigya). 200 accounts by default (the inbound Gigya writer's 50 calls/s set the time); with
 * IDX_SIZE_PROOF=1, 10,000.
 */
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useEloquaWorld } from '../support/eloqua.ts';

const ACCOUNTS = process.env.IDX_SIZE_PROOF === '1' ? 10_000 : 200;
const world = useEloquaWorld(ACCOUNTS);
const registry = defaultRegistry();
const load = (file: string) => {
  const r = validateFile(file, registry);
  expect(r.valid, JSON.stringify(r.problems)).toBe(true);
  return r.dataflow!;
};

type Account = { profile?: { email?: string; firstName?: string }; data?: { subscribed?: unknown } };

describe('the Eloqua Bulk API round trip', () => {
  it(`creates ${ACCOUNTS} contacts keyed by the UID, updates them, and brings subscription changes back to existing accounts only`, async () => {
    // Prepare: an account whose email Eloqua refuses, and one whose email the writer refuses before sending it.
    const uids = [...world.emu.store.accounts.keys()];
    const bad = uids.slice(0, 2);
    world.emu.store.setAccount(bad[0]!, { profile: { email: 'nobody@localhost' } }, Date.now() - 1000);
    world.emu.store.setAccount(bad[1]!, { profile: { email: 'not an email' } }, Date.now() - 1000);
    const outbound = load('dataflows/eloqua-bulk-outbound.json');
    const inbound = load('dataflows/eloqua-bulk-inbound.json');
    const account = (uid: string) => world.emu.store.accounts.get(uid) as Account;

    // Act: the initial load, then a delta with changed names and emails.
    const first = await runLocal(outbound, { services: world.env.services, registry, input: { fullExtract: true } });
    const created = world.eloqua.contacts.size;
    const changed = uids.slice(10, 60);
    for (const [i, uid] of changed.entries())
      world.emu.store.setAccount(
        uid,
        { profile: { firstName: `Renamed${i}`, ...(i < 10 ? { email: `moved.${i}@example.org` } : {}) } },
        Date.now(),
      );
    const second = await runLocal(outbound, { services: world.env.services, registry, input: { fullExtract: false } });

    // Assess the outbound runs.
    expect(first.status, JSON.stringify(first.job?.error)).toBe('succeeded');
    expect(second.status, JSON.stringify(second.job?.error)).toBe('succeeded');
    expect(first.job?.steps.eloqua).toMatchObject({
      recordsIn: ACCOUNTS,
      recordsOut: ACCOUNTS - 2,
      recordsRejected: 2,
    });
    expect(created).toBe(ACCOUNTS - 2);
    expect(world.eloqua.contacts.size).toBe(ACCOUNTS - 2);
    for (const uid of uids.slice(2)) {
      const contact = world.eloqua.find('C_Gigya_UID1', uid);
      const a = account(uid);
      expect(contact?.fields.C_EmailAddress, uid).toBe(a.profile?.email);
      expect(contact?.fields.C_FirstName, uid).toBe(a.profile?.firstName);
      expect(contact?.isSubscribed, uid).toBe(a.data?.subscribed === true);
    }
    expect(second.job?.steps.eloqua?.recordsOut).toBeGreaterThanOrEqual(changed.length);
    const outboundErrors = [...world.csvs('errors').values()].flat();
    // The second run's window overlaps the first (search-index lag), so it met the two refused accounts again.
    expect([...new Set(outboundErrors.map((e) => `${e.C_Gigya_UID1} ${e.errorCode} ${e.error}`))].sort()).toEqual(
      [
        `${bad[0]} ELQ-00002 Invalid email address: nobody@localhost.`,
        `${bad[1]} IDX_ELOQUA_REJECTED C_EmailAddress is not an email address: "not an email"`,
      ].sort(),
    );

    // Prepare the inbound run: Eloqua-side unsubscribes and subscribes, contacts without the UID, strangers.
    const flipped = uids.slice(100, 140);
    for (const uid of flipped) {
      const contact = world.eloqua.find('C_Gigya_UID1', uid)!;
      world.eloqua.put({ C_EmailAddress: contact.fields.C_EmailAddress! }, { isSubscribed: !contact.isSubscribed });
    }
    for (const uid of flipped.slice(0, 10)) {
      const contact = world.eloqua.find('C_Gigya_UID1', uid)!;
      world.eloqua.put({ C_EmailAddress: contact.fields.C_EmailAddress!, C_Gigya_UID1: '' });
    }
    world.eloqua.put({ C_EmailAddress: 'stranger1@example.com' });
    world.eloqua.put({ C_EmailAddress: 'stranger2@example.com' }, { isSubscribed: false });
    world.eloqua.put({ C_EmailAddress: 'ghost@example.com', C_Gigya_UID1: 'uid-that-does-not-exist' });
    const accountsBefore = world.emu.store.accounts.size;

    // Act
    const back = await runLocal(inbound, { services: world.env.services, registry, input: { fullExtract: true } });

    // Assess: every account's subscription is now its contact's, nobody was created, strangers are errors.
    expect(back.status, JSON.stringify(back.job?.error)).toBe('succeeded');
    expect(world.emu.store.accounts.size).toBe(accountsBefore);
    for (const uid of flipped) {
      const contact = world.eloqua.find('C_EmailAddress', account(uid).profile!.email!)!;
      expect(account(uid).data?.subscribed, uid).toBe(contact.isSubscribed);
    }
    expect(back.job?.steps.account).toMatchObject({ recordsIn: ACCOUNTS - 1, recordsRejected: 1 });
    expect(back.job?.steps['UID from email']).toMatchObject({ recordsRejected: 2 });
    const errors = [...world.csvs('errors').values()].flat().filter((e) => e.failedStep !== undefined);
    expect(errors.map((e) => [e.C_EmailAddress, e.failedStep, e.errorCode]).sort()).toEqual([
      ['ghost@example.com', 'account', '403005'],
      ['stranger1@example.com', 'UID from email', 'IDX_UIDMAP_NO_MATCH'],
      ['stranger2@example.com', 'UID from email', 'IDX_UIDMAP_NO_MATCH'],
    ]);
  }, 600_000);
});
