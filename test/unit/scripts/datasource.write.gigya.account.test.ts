import { describe, expect, it } from 'vitest';
import { datasourceWriteGigyaAccount } from '../../../lib/scripts/datasource.write.gigya.account.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorClient, emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({
  accounts: [
    { UID: 'w1', profile: { firstName: 'Old', lastName: 'Name', city: 'Paris' }, data: { keep: 1 } },
    { UID: 'w2', profile: { firstName: 'Two' }, subscriptions: { news: { email: { isSubscribed: false } } } },
  ],
});

async function account(uid: string) {
  return emulatorClient(harness.emu).call('accounts.getAccountInfo', {
    UID: uid,
    include: 'profile,data,subscriptions',
  });
}

describe('datasource.write.gigya.account', () => {
  it('merges nested and flat dotted fields into the account and passes the record on unchanged', async () => {
    // Prepare
    const record = { UID: 'w1', profile: { firstName: 'New', city: null }, 'profile.zip': '75001', 'data.score': 3 };

    // Act
    const out = await runScript(
      datasourceWriteGigyaAccount,
      {},
      { records: [record], services: emulatorServices(harness.emu) },
    );

    // Assess
    const a = await account('w1');
    expect(a.profile).toEqual({ firstName: 'New', lastName: 'Name', zip: '75001' });
    expect(a.data).toEqual({ keep: 1, score: 3 });
    expect(out.records).toEqual([record]);
  });

  it('writes subscriptions and sends a refused record to the error path with the validation details', async () => {
    // Prepare
    const records = [
      { UID: 'w2', subscriptions: { news: { email: { isSubscribed: true } } } },
      { UID: 'w2', subscriptions: { news: { email: { isSubscribed: 'yes' } } } },
    ];

    // Act
    const out = await runScript(
      datasourceWriteGigyaAccount,
      { maxConnections: 1 },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect((await account('w2')).subscriptions).toMatchObject({ news: { email: { isSubscribed: true } } });
    expect(out.rejected).toHaveLength(1);
    expect(out.rejected[0]?._errorDetails).toMatchObject({
      errorCode: 400009,
      validationErrors: [expect.objectContaining({ fieldName: 'subscriptions.news.email.isSubscribed' })],
    });
  });

  it('never creates accounts: unknown UIDs and records without UID are rejected', async () => {
    // Prepare
    const records = [{ UID: 'brand-new', profile: { firstName: 'X' } }, { profile: { firstName: 'No UID' } }];

    // Act
    const out = await runScript(datasourceWriteGigyaAccount, {}, { records, services: emulatorServices(harness.emu) });

    // Assess
    expect(harness.emu.store.accounts.has('brand-new')).toBe(false);
    expect(out.rejected.map((r) => (r._errorDetails as { code: unknown }).code)).toEqual([403005, 'IDX_GIGYA_NO_UID']);
    expect(out.counters).toMatchObject({ recordsIn: 2, recordsOut: 0, recordsRejected: 2 });
  });

  it('leaves out fields that are not account fields and says so once in the trace', async () => {
    // Prepare
    const records = [{ UID: 'w1', EMAIL: 'x@example.com', _response: { a: 1 }, profile: { nickname: 'n' } }];

    // Act
    const out = await runScript(datasourceWriteGigyaAccount, {}, { records, services: emulatorServices(harness.emu) });

    // Assess
    expect((await account('w1')).profile).toMatchObject({ nickname: 'n' });
    expect(
      out.trace.filter((l) => l.includes('fields not sent to setAccountInfo (not account fields): EMAIL')),
    ).toHaveLength(1);
  });

  it('fails the step instead of rejecting every record when the credentials are wrong', async () => {
    // Prepare
    const services = emulatorServices(harness.emu, { KEY: harness.emu.apiKey, UK: harness.emu.userKey, S: 'd3Jvbmc=' });
    const params = { apiKey: '${secret:KEY}', userKey: '${secret:UK}', secret: '${secret:S}' };

    // Act / Assess
    await expect(
      runScript(datasourceWriteGigyaAccount, params, { records: [{ UID: 'w1' }], services }),
    ).rejects.toMatchObject({ code: 'IDX_GIGYA_API', details: { errorCode: 403003 } });
  });
});
