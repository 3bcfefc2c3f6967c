import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useEloquaWorld } from '../support/eloqua.ts';

const world = useEloquaWorld(100);
const registry = defaultRegistry();
const load = (file: string) => {
  const r = validateFile(file, registry);
  expect(r.valid, JSON.stringify(r.problems)).toBe(true);
  return r.dataflow!;
};
const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

describe('the Eloqua round trip', () => {
  it('brings subscription changes back to existing accounts, resolves contacts without a UID, creates nobody, and lists every rejected row with its email and UID', async () => {
    // Prepare: the outbound CSV, then an Eloqua export built from it the way Eloqua writes one.
    const out = await runLocal(load('dataflows/eloqua-outbound.json'), {
      services: world.env.services,
      registry,
      input: { fullExtract: true },
    });
    expect(out.status).toBe('succeeded');
    const exported = [...world.csvs('to-eloqua').values()].flat();
    expect(exported).toHaveLength(100);
    const contacts = exported.slice(0, 20).map((r, i) => ({
      C_EmailAddress: i % 2 ? r.C_EmailAddress!.toUpperCase() : r.C_EmailAddress!,
      // Half the contacts come back without the Gigya UID field filled: the UID map must find them.
      C_Gigya_UID1: i < 10 ? r.C_Gigya_UID1! : '',
      C_FirstName: r.C_FirstName!,
      C_LastName: r.C_LastName!,
      isSubscribed: r.C_Subscribed1 === 'true' ? 'false' : 'true',
    }));
    const unknown = [
      {
        C_EmailAddress: 'stranger1@example.com',
        C_Gigya_UID1: '',
        C_FirstName: 'S',
        C_LastName: 'One',
        isSubscribed: 'true',
      },
      {
        C_EmailAddress: 'stranger2@example.com',
        C_Gigya_UID1: '',
        C_FirstName: 'S',
        C_LastName: 'Two',
        isSubscribed: 'false',
      },
      {
        C_EmailAddress: 'ghost@example.com',
        C_Gigya_UID1: 'uid-that-does-not-exist',
        C_FirstName: 'G',
        C_LastName: 'Host',
        isSubscribed: 'true',
      },
    ];
    const rows = [...contacts, ...unknown];
    const header = Object.keys(rows[0]!);
    const csv = [
      header.join(','),
      ...rows.map((r) => header.map((h) => csvCell((r as Record<string, string>)[h]!)).join(',')),
      // A malformed row: one cell too many (an unquoted comma in the last name).
      'broken@example.com,uid-of-broken,B,Smith, Jr,true',
    ].join('\r\n');
    mkdirSync(join(world.root, 'from-eloqua'), { recursive: true });
    writeFileSync(join(world.root, 'from-eloqua', 'eloqua_export_20261123.csv'), `${csv}\r\n`);
    const accountsBefore = world.emu.store.accounts.size;
    const inbound = load('dataflows/eloqua-inbound.json');

    // Act
    const result = await runLocal(inbound, { services: world.env.services, registry });
    const again = await runLocal(inbound, { services: world.env.services, registry });

    // Assess
    expect(result.status, JSON.stringify(result.job?.error)).toBe('succeeded');
    for (const c of contacts) {
      const uid = exported.find((r) => r.C_EmailAddress!.toLowerCase() === c.C_EmailAddress.toLowerCase())!
        .C_Gigya_UID1!;
      const account = world.emu.store.accounts.get(uid) as { data?: { subscribed?: unknown } };
      expect(account.data?.subscribed, uid).toBe(c.isSubscribed === 'true');
    }
    expect(world.emu.store.accounts.size).toBe(accountsBefore);
    const errors = [...world.csvs('errors').values()].flat();
    // Every error row says who it was, whichever step rejected it; the malformed one comes first.
    expect(errors.map((e) => [e.C_EmailAddress, e.UID, e.failedStep, e.errorCode])).toEqual([
      ['broken@example.com', 'uid-of-broken', 'dsv', 'IDX_DSV_COLUMNS'],
      ['stranger1@example.com', '', 'UID from email', 'IDX_UIDMAP_NO_MATCH'],
      ['stranger2@example.com', '', 'UID from email', 'IDX_UIDMAP_NO_MATCH'],
      ['ghost@example.com', 'uid-that-does-not-exist', 'account', '403005'],
    ]);
    expect(errors[0]?._raw).toBe('broken@example.com,uid-of-broken,B,Smith, Jr,true');
    const steps = result.job!.steps;
    expect(steps.account).toMatchObject({ recordsIn: 21, recordsRejected: 1 });
    expect(steps['UID from email']).toMatchObject({ recordsIn: 23, recordsOut: 21, recordsRejected: 2 });
    expect(again.job?.totalRecords).toBe(0);
  });
});
