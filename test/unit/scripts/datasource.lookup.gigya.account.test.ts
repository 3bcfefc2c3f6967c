import { describe, expect, it } from 'vitest';
import { datasourceLookupGigyaAccount } from '../../../lib/scripts/datasource.lookup.gigya.account.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const ACCOUNTS = [
  {
    UID: 'u1',
    profile: { email: 'Ann@Example.com', firstName: 'Ann', zip: '100' },
    data: { crmId: 'c1', tier: 'gold' },
  },
  { UID: 'u2', profile: { email: 'bob@example.com', firstName: 'Bob', zip: '200' }, data: { crmId: 'c2' } },
  { UID: 'u3', profile: { email: 'twin@example.com', firstName: 'Twin A', zip: '300' }, data: { crmId: 'c3' } },
  { UID: 'u4', profile: { email: 'twin@example.com', firstName: 'Twin B', zip: '300' }, data: { crmId: 'c4' } },
  ...Array.from({ length: 500 }, (_, i) => ({
    UID: `bulk${i}`,
    profile: { email: `bulk${i}@example.com` },
    data: { n: i },
  })),
];
const harness = useGigyaEmulator({ accounts: ACCOUNTS });
const byEmail = [{ sourceField: 'email', gigyaField: 'profile.email' }];

describe('datasource.lookup.gigya.account', () => {
  it('merges the one matching account into the record and sends a mismatch to the error path', async () => {
    // Prepare
    const records = [{ email: 'bob@example.com', score: 7 }, { email: 'nobody@example.com' }];

    // Act
    const out = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID, profile.firstName', lookupFields: byEmail },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect(out.records).toEqual([{ email: 'bob@example.com', score: 7, UID: 'u2', profile: { firstName: 'Bob' } }]);
    expect(out.rejected).toEqual([
      expect.objectContaining({
        email: 'nobody@example.com',
        _errorDetails: expect.objectContaining({ code: 'IDX_LOOKUP_NO_MATCH' }),
      }),
    ]);
  });

  it('compares case-insensitively unless told otherwise', async () => {
    // Prepare
    const records = [{ email: 'ann@example.COM' }];

    // Act
    const loose = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields: byEmail },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );
    const strict = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields: byEmail, isCaseSensitive: true },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect(loose.records.map((r) => r.UID)).toEqual(['u1']);
    expect(strict.rejected).toHaveLength(1);
  });

  it('sends multi-matches to the error path with their UIDs, or passes one record per match when told', async () => {
    // Prepare
    const records = [{ email: 'twin@example.com' }];

    // Act
    const error = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields: byEmail },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );
    const separate = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields: byEmail, multiMatchBehavior: 'process', separateMultiMatches: true },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect(error.rejected[0]?._errorDetails).toMatchObject({
      code: 'IDX_LOOKUP_MULTI_MATCH',
      matches: 2,
      UIDs: ['u3', 'u4'],
    });
    expect(separate.records.map((r) => r.UID)).toEqual(['u3', 'u4']);
  });

  it('requires every key with AND and any key with OR', async () => {
    // Prepare
    const lookupFields = [
      { sourceField: 'email', gigyaField: 'profile.email' },
      { sourceField: 'zip', gigyaField: 'profile.zip' },
    ];
    const records = [{ email: 'bob@example.com', zip: '999' }];

    // Act
    const and = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );
    const or = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID', lookupFields, lookupFieldsOperator: 'OR' },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );

    // Assess
    expect(and.rejected).toHaveLength(1);
    expect(or.records.map((r) => r.UID)).toEqual(['u2']);
  });

  it('keeps record values on conflicts with take_source and account values with take_lookup', async () => {
    // Prepare
    const records = [{ crm: 'c1', data: { tier: 'bronze', local: true } }];
    const lookupFields = [{ sourceField: 'crm', gigyaField: 'data.crmId' }];

    // Act
    const source = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'data.tier', lookupFields, handleFieldConflicts: 'take_source' },
      { records, services: emulatorServices(harness.emu) },
    );
    const lookup = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'data.tier', lookupFields },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );

    // Assess: the key field fetched for matching (data.crmId) is not merged, as it was not selected.
    expect(source.records).toEqual([{ crm: 'c1', data: { tier: 'bronze', local: true } }]);
    expect(lookup.records).toEqual([{ crm: 'c1', data: { tier: 'gold', local: true } }]);
  });

  it('passes or drops mismatches as configured, and treats a record without key values as a mismatch', async () => {
    // Prepare
    const records = [{ email: 'nobody@example.com' }, { other: 1 }];

    // Act
    const passed = await runScript(
      datasourceLookupGigyaAccount,
      { lookupFields: byEmail, mismatchBehavior: 'process' },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );
    const dropped = await runScript(
      datasourceLookupGigyaAccount,
      { lookupFields: byEmail, mismatchBehavior: 'skip' },
      {
        records,
        services: emulatorServices(harness.emu),
      },
    );

    // Assess
    expect(passed.records).toEqual(records);
    expect(dropped.counters).toMatchObject({ recordsIn: 2, recordsOut: 0, recordsDropped: 2 });
  });

  it('looks records up in batches of batchSize, one query per batch', async () => {
    // Prepare
    const records = Array.from({ length: 500 }, (_, i) => ({ email: `bulk${i}@example.com` }));
    const before = harness.emu.calls.get('accounts.search') ?? 0;

    // Act
    const out = await runScript(
      datasourceLookupGigyaAccount,
      { select: 'UID, data.n', lookupFields: byEmail, batchSize: 200, maxConcurrency: 2, isCaseSensitive: true },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect(out.records).toHaveLength(500);
    expect(out.records.every((r, i) => r.UID === `bulk${i}` && (r.data as { n: number }).n === i)).toBe(true);
    expect((harness.emu.calls.get('accounts.search') ?? 0) - before).toBe(3);
  });
});
