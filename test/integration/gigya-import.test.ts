/** The emulator's accounts.importFullAccount over HTTP: envelope, auth, names in any case, limits and timestamps. */
import { describe, expect, it } from 'vitest';
import { useGigyaEmulator } from '../support/gigya.ts';

const NOW = Date.UTC(2026, 0, 15);
let clock = NOW;
const harness = useGigyaEmulator({ now: () => clock });

async function post(method: string, params: Record<string, string>, auth = true): Promise<Record<string, unknown>> {
  const { emu } = harness;
  const res = await fetch(`${emu.url}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      ...(auth ? { apiKey: emu.apiKey, userKey: emu.userKey, secret: emu.secret } : { apiKey: emu.apiKey }),
      ...params,
    }).toString(),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('the emulator accounts.importFullAccount', () => {
  it('needs server credentials and answers in the Gigya envelope', async () => {
    // Prepare
    const params = { uid: 'auth1', importPolicy: 'insert' };

    // Act
    const refused = await post('accounts.importFullAccount', params, false);
    const accepted = await post('accounts.importFullAccount', params);

    // Assess
    expect(refused).toMatchObject({ errorCode: 403007, statusCode: 403, statusReason: 'Forbidden' });
    expect(accepted).toMatchObject({ errorCode: 0, statusCode: 200, apiVersion: 2, UID: 'auth1' });
    expect(accepted.callId).toEqual(expect.any(String));
  });

  it('reads uid and loginIds in any case, lists the params it ignores and echoes context as sent', async () => {
    // Prepare
    const params = {
      Uid: 'case1',
      loginIds: JSON.stringify({ emails: ['case1@example.com'], unverifiedEmails: [] }),
      addresses: '[{"city":"Lyon"}]',
      internal: '{"a":1}',
      context: '{"k":"v"}',
      created: '2020-02-03T04:05:06Z',
    };

    // Act
    const answer = await post('accounts.importFullAccount', params);

    // Assess
    expect(answer).toMatchObject({ errorCode: 0, UID: 'case1', context: '{"k":"v"}' });
    expect(answer.ignoredFields).toEqual(['addresses', 'internal']);
    expect(harness.emu.store.accounts.get('case1')).toMatchObject({
      loginIDs: { emails: ['case1@example.com'] },
      created: '2020-02-03T04:05:06.000Z',
      createdTimestamp: Date.UTC(2020, 1, 3, 4, 5, 6),
      lastUpdatedTimestamp: NOW,
    });
    expect(harness.emu.store.accounts.get('case1')?.addresses).toBeUndefined();
  });

  it('answers 503001 to a sixth import of one UID within a minute, and serves it again a minute later', async () => {
    // Prepare
    const params = { uid: 'busy1', importPolicy: 'upsert' };

    // Act
    const codes: unknown[] = [];
    for (let i = 0; i < 6; i++) codes.push((await post('accounts.importFullAccount', params)).errorCode);
    clock += 60_001;
    const later = await post('accounts.importFullAccount', params);

    // Assess
    expect(codes).toEqual([0, 0, 0, 0, 0, 503001]);
    expect(later.errorCode).toBe(0);
  });

  it('answers 400006 for an unknown importPolicy, a malformed phone number and an unreadable time', async () => {
    // Prepare
    const bad: Record<string, string>[] = [
      { uid: 'bad1', importPolicy: 'merge' },
      { uid: 'bad2', phoneNumber: '0612' },
      { uid: 'bad3', registered: 'yesterday' },
      { uid: 'bad4', profile: '{not json' },
    ];

    // Act
    const answers = await Promise.all(bad.map((p) => post('accounts.importFullAccount', p)));

    // Assess
    expect(answers.map((a) => a.errorCode)).toEqual([400006, 400006, 400006, 400006]);
    expect(bad.map((p) => harness.emu.store.accounts.has(p.uid ?? ''))).toEqual([false, false, false, false]);
  });

  it('keeps internal, customIdentifiers and addresses that setAccountInfo writes, keyed and audited by a lower-case uid', async () => {
    // Prepare
    await post('accounts.importFullAccount', { uid: 'later1' });

    // Act
    const answer = await post('accounts.setAccountInfo', {
      uid: 'later1',
      internal: '{"tier":"gold"}',
      customIdentifiers: '{"crm":"C-1"}',
      addresses: '[{"city":"Lyon"}]',
    });

    // Assess
    expect(answer.errorCode).toBe(0);
    expect(harness.emu.store.audit.at(-1)).toMatchObject({ endpoint: 'accounts.setAccountInfo', uid: 'later1' });
    expect(harness.emu.store.accounts.get('later1')).toMatchObject({
      internal: { tier: 'gold' },
      customIdentifiers: { crm: 'C-1' },
      addresses: [{ city: 'Lyon' }],
    });
  });

  it('keeps an imported password hash out of what accounts.search returns', async () => {
    // Prepare
    const password = JSON.stringify({ hashedPassword: 'aGFzaA==', hashSettings: { algorithm: 'sha256' } });
    await post('accounts.importFullAccount', { uid: 'pw1', password });

    // Act
    const found = await post('accounts.search', { query: 'SELECT * FROM accounts WHERE UID = "pw1"' });

    // Assess
    expect(found.results).toEqual([expect.objectContaining({ UID: 'pw1' })]);
    expect((found.results as Record<string, unknown>[])[0]).not.toHaveProperty('password');
    expect(harness.emu.store.accounts.get('pw1')?.password).toMatchObject({ hashedPassword: 'aGFzaA==' });
  });
});
