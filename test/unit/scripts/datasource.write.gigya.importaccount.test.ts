import { describe, expect, it } from 'vitest';
import { datasourceWriteGigyaImportaccount } from '../../../lib/scripts/datasource.write.gigya.importaccount.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({
  accounts: [
    {
      UID: 'existing1',
      profile: { firstName: 'Old', lastName: 'Name', city: 'Paris' },
      loginIDs: { username: 'olduser', emails: ['old1@example.com'], unverifiedEmails: [] },
    },
    { UID: 'taken', loginIDs: { emails: ['taken@example.com'], unverifiedEmails: [] } },
    { UID: 'social', identities: [{ provider: 'facebook', providerUID: 'fb-1' }] },
  ],
});

const services = () => emulatorServices(harness.emu);
const account = (uid: string) => harness.emu.store.accounts.get(uid);

describe('datasource.write.gigya.importaccount', () => {
  it('creates accounts from record fields, nesting flat keys, and adds the reply with UID and context as _response', async () => {
    // Prepare
    const records = [
      {
        uid: 'new1',
        'profile.firstName': 'Ann',
        profile: { lastName: 'Lee' },
        loginIDs: { emails: ['ann@example.com'], unverifiedEmails: [] },
        subscriptions: { news: { email: { isSubscribed: 'TRUE' } } },
        context: { internal: { note: 'n1' } },
      },
    ];

    // Act
    const out = await runScript(
      datasourceWriteGigyaImportaccount,
      { addResponse: true },
      { records, services: services() },
    );

    // Assess
    expect(out.counters).toMatchObject({ recordsIn: 1, recordsOut: 1, recordsRejected: 0, recordsDelivered: 1 });
    expect(account('new1')).toMatchObject({
      profile: { firstName: 'Ann', lastName: 'Lee' },
      loginIDs: { emails: ['ann@example.com'] },
      subscriptions: { news: { email: { isSubscribed: true } } },
      hasFullAccount: true,
    });
    const response = out.records[0]?._response as { UID: string; context: string; errorCode: number };
    expect(response).toMatchObject({ UID: 'new1', errorCode: 0 });
    expect(JSON.parse(response.context)).toEqual({ internal: { note: 'n1' } });
    expect(out.records[0]?.['profile.firstName']).toBe('Ann');
  });

  it('refuses an existing UID under insert with 400003 on the error path, and updates it under upsert', async () => {
    // Prepare
    const record = {
      UID: 'existing1',
      profile: { firstName: 'New' },
      loginIDs: { emails: ['new1@example.com'], unverifiedEmails: [] },
    };

    // Act
    const insert = await runScript(datasourceWriteGigyaImportaccount, {}, { records: [record], services: services() });
    const upsert = await runScript(
      datasourceWriteGigyaImportaccount,
      { importPolicy: 'upsert' },
      { records: [record], services: services() },
    );

    // Assess
    expect(insert.counters).toMatchObject({ recordsIn: 1, recordsOut: 0, recordsRejected: 1 });
    expect(insert.rejected[0]?._errorDetails).toMatchObject({
      errorCode: 400003,
      errorMessage: 'Unique identifier exists',
      errorDetails: expect.stringContaining('existing1'),
      callId: expect.any(String),
    });
    expect(upsert.counters).toMatchObject({ recordsOut: 1, recordsRejected: 0 });
    // Leaves sent overwrite, others stay; the loginIDs group is replaced as a whole (the username is gone).
    expect(account('existing1')?.profile).toEqual({ firstName: 'New', lastName: 'Name', city: 'Paris' });
    expect(account('existing1')?.loginIDs).toEqual({ emails: ['new1@example.com'], unverifiedEmails: [] });
  });

  it('rejects a loginID of another account, a bad boolean, and bad hash settings with the Gigya error each', async () => {
    // Prepare
    const records = [
      { uid: 'dup1', loginIDs: { emails: ['TAKEN@example.com'] } },
      { uid: 'bool1', subscriptions: { news: { email: { isSubscribed: 'maybe' } } } },
      { uid: 'hash1', password: { compoundHashedPassword: 'x', hashSettings: { algorithm: 'md5' } } },
      { uid: 'hash2', password: { hashedPassword: 'aGFzaA==', hashSettings: { algorithm: 'bcrypt', rounds: 3 } } },
      { uid: 'ok1', password: { hashedPassword: 'aGFzaA==', hashSettings: { algorithm: 'bcrypt', rounds: 1024 } } },
    ];

    // Act
    const out = await runScript(datasourceWriteGigyaImportaccount, {}, { records, services: services() });

    // Assess
    expect(out.counters).toMatchObject({ recordsIn: 5, recordsOut: 1, recordsRejected: 4 });
    const byUid = Object.fromEntries(out.rejected.map((r) => [r.uid, r._errorDetails as Record<string, unknown>]));
    expect(byUid.dup1).toMatchObject({ errorCode: 403043, errorMessage: 'Login identifier exists' });
    expect(byUid.bool1).toMatchObject({
      errorCode: 400009,
      validationErrors: [{ errorCode: 400021, fieldName: 'subscriptions.news.email.isSubscribed' }],
    });
    expect(byUid.hash1).toMatchObject({ errorCode: 400006 });
    expect(byUid.hash2).toMatchObject({ errorCode: 400006, errorDetails: expect.stringContaining('power of two') });
    expect(account('dup1')).toBeUndefined();
    expect(account('ok1')?.password).toMatchObject({ hashSettings: { rounds: 1024 } });
  });

  it('lets Gigya make the UID with createUID, and refuses a record with neither uid nor createUID', async () => {
    // Prepare
    const records = [{ createUID: true, profile: { firstName: 'Made' } }, { profile: { firstName: 'NoUid' } }];

    // Act
    const out = await runScript(
      datasourceWriteGigyaImportaccount,
      { addResponse: true },
      { records, services: services() },
    );

    // Assess
    const uid = (out.records[0]?._response as { UID: string } | undefined)?.UID ?? '';
    expect(uid).toMatch(/^[0-9a-f]{32}$/);
    expect(account(uid)?.profile).toEqual({ firstName: 'Made' });
    expect(out.rejected[0]?._errorDetails).toMatchObject({ errorCode: 400002 });
    expect(out.rejected[0]?._response).toMatchObject({ errorCode: 400002, statusCode: 400 });
  });

  it('handles an identity linked to another account as handleIdentityConflicts says', async () => {
    // Prepare
    const record = (uid: string) => ({ uid, identities: [{ provider: 'facebook', providerUID: 'fb-1' }] });

    // Act
    const error = await runScript(
      datasourceWriteGigyaImportaccount,
      {},
      { records: [record('id-e')], services: services() },
    );
    const ignore = await runScript(
      datasourceWriteGigyaImportaccount,
      { handleIdentityConflicts: 'ignore', addResponse: true },
      { records: [record('id-i')], services: services() },
    );
    const connect = await runScript(
      datasourceWriteGigyaImportaccount,
      { handleIdentityConflicts: 'connect' },
      { records: [record('id-c')], services: services() },
    );

    // Assess
    expect(error.rejected[0]?._errorDetails).toMatchObject({ errorCode: 409001 });
    expect(account('id-e')).toBeUndefined();
    expect(ignore.records[0]?._response).toMatchObject({
      identityConflicts: [{ provider: 'facebook', providerUID: 'fb-1' }],
    });
    expect(account('id-i')?.identities).toEqual([]);
    expect(connect.records[0]).toMatchObject({ uid: 'id-c' });
    expect(account('id-c')?.identities).toEqual([
      { provider: 'facebook', providerUID: 'fb-1', isLoginIdentity: false },
    ]);
  });

  it('retries a transient error (503001, too many calls for one UID) and imports the account once; a credential error fails the step', async () => {
    // Prepare
    harness.emu.faults.failNext('accounts.importFullAccount', 503001, 1);
    const before = harness.emu.answers.get('accounts.importFullAccount')?.get(0) ?? 0;

    // Act
    const out = await runScript(
      datasourceWriteGigyaImportaccount,
      { retryBaseDelayMs: 1 },
      { records: [{ uid: 'retry1' }], services: services() },
    );
    harness.emu.faults.failNext('accounts.importFullAccount', 403003, 1);
    const failing = runScript(
      datasourceWriteGigyaImportaccount,
      {},
      { records: [{ uid: 'cred1' }], services: services() },
    );

    // Assess
    expect(out.counters).toMatchObject({ recordsOut: 1, recordsRejected: 0 });
    expect((harness.emu.answers.get('accounts.importFullAccount')?.get(0) ?? 0) - before).toBe(1);
    await expect(failing).rejects.toMatchObject({ code: 'IDX_GIGYA_API' });
    expect(account('cred1')).toBeUndefined();
  });

  it('imports the same accounts, each once, when the step continues after every batch', async () => {
    // Prepare
    const records = (prefix: string) =>
      Array.from({ length: 7 }, (_, i) => ({
        uid: `${prefix}${i}`,
        profile: { firstName: `F${i}` },
        ...(i === 3 ? { loginIDs: { emails: ['taken@example.com'] } } : {}),
      }));
    const calls = () => harness.emu.calls.get('accounts.importFullAccount') ?? 0;

    // Act
    const normal = await runScript(
      datasourceWriteGigyaImportaccount,
      {},
      { records: records('n'), services: services() },
    );
    const before = calls();
    const sliced = await runScriptSliced(
      datasourceWriteGigyaImportaccount,
      {},
      { records: records('s'), services: services(), slice: 2 },
    );

    // Assess
    expect(sliced.invocations).toBe(4);
    expect(calls() - before).toBe(7);
    const strip = (r: Record<string, unknown>) => JSON.stringify(r).replaceAll(/"(n|s)(\d)"/g, '"$2"');
    expect(sliced.records.map(strip)).toEqual(normal.records.map(strip));
    expect(sliced.rejected.map((r) => (r._errorDetails as { errorCode: number }).errorCode)).toEqual([403043]);
    expect(sliced.counters).toMatchObject({ recordsIn: 7, recordsOut: 6, recordsRejected: 1, recordsDelivered: 6 });
    for (let i = 0; i < 7; i++) expect(account(`s${i}`)?.profile).toEqual(i === 3 ? undefined : { firstName: `F${i}` });
  });

  it('imports nothing in a dry run and reports the call of each record, its password masked', async () => {
    // Prepare
    const records = [{ uid: 'dry1', 'profile.firstName': 'Dry', password: { compoundHashedPassword: 'h4sh' } }];
    const calls = harness.emu.calls.get('accounts.importFullAccount') ?? 0;

    // Act
    const out = await runScript(
      datasourceWriteGigyaImportaccount,
      { importPolicy: 'upsert' },
      { records, services: services(), job: { dryRun: true } },
    );

    // Assess
    expect(harness.emu.calls.get('accounts.importFullAccount') ?? 0).toBe(calls);
    expect(account('dry1')).toBeUndefined();
    expect(out.wouldWrite?.sampleCalls).toEqual([
      {
        method: 'accounts.importFullAccount',
        params: { uid: 'dry1', profile: { firstName: 'Dry' }, password: '***', importPolicy: 'upsert' },
      },
    ]);
  });
});
