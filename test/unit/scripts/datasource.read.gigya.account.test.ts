import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateAccounts } from '../../../lib/local/gigya-accounts.ts';
import { datasourceReadGigyaAccount } from '../../../lib/scripts/datasource.read.gigya.account.ts';
import type { SearchContinuation } from '../../../lib/scripts/util/gigya-step.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const START = '2026-01-02T03:04:05.000Z';
const T0 = Date.parse(START);
const harness = useGigyaEmulator({ accounts: generateAccounts({ count: 300, seed: 5, now: T0 }) });

function services() {
  return emulatorServices(harness.emu);
}

describe('datasource.read.gigya.account', () => {
  it('sends select without stray spaces, the where clause and the delta window, ordered by the delta field', async () => {
    // Prepare
    const from = '2025-12-01T00:00:00.000Z';
    const params = {
      select: 'UID ,profile.country , lastLoginTimestamp',
      where: 'profile.country = "FR"',
      deltaField: 'lastLoginTimestamp',
    };

    // Act
    const out = await runScript(datasourceReadGigyaAccount, params, {
      services: services(),
      job: { startTime: START, delta: { from, to: START } },
    });

    // Assess
    const query =
      `SELECT UID, profile.country, lastLoginTimestamp FROM accounts WHERE (profile.country = "FR") AND ` +
      `lastLoginTimestamp > ${Date.parse(from)} AND lastLoginTimestamp <= ${T0} ORDER BY lastLoginTimestamp LIMIT 1000`;
    expect(out.trace.some((l) => l.includes(query))).toBe(true);
    const expected = [...harness.emu.store.accounts.values()].filter(
      (a) =>
        (a.profile as { country: string }).country === 'FR' &&
        (a.lastLoginTimestamp as number) > Date.parse(from) &&
        (a.lastLoginTimestamp as number) <= T0,
    );
    expect(out.records.map((r) => r.UID).sort()).toEqual(expected.map((a) => a.UID).sort());
    expect(out.records.every((r) => Object.keys(r).sort().join() === 'UID,lastLoginTimestamp,profile')).toBe(true);
  });

  it('reads everything up to the window end on a first run (no lower bound)', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID' },
      { services: services(), job: { delta: { to: START } } },
    );

    // Assess
    expect(out.records).toHaveLength(300);
    expect(out.trace.some((l) => l.includes(`WHERE lastUpdatedTimestamp <= ${T0} ORDER BY`))).toBe(true);
  });

  it('renders ${now-…} in where as epoch milliseconds when the job is a full extract', async () => {
    // Prepare
    const params = { select: 'UID, lastUpdatedTimestamp', where: 'lastUpdatedTimestamp > ${now-7d}' };

    // Act
    const out = await runScript(datasourceReadGigyaAccount, params, {
      services: services(),
      job: { startTime: START, fullExtract: true, delta: { from: START, to: START } },
    });

    // Assess
    const cutoff = T0 - 7 * 86_400_000;
    expect(out.trace.some((l) => l.includes(`WHERE (lastUpdatedTimestamp > ${cutoff}) ORDER BY`))).toBe(true);
    const expected = [...harness.emu.store.accounts.values()].filter(
      (a) => (a.lastUpdatedTimestamp as number) > cutoff,
    );
    expect(out.records).toHaveLength(expected.length);
    expect(expected.length).toBeGreaterThan(0);
  });

  it('refuses a time expression in where when the run is not a full extract', async () => {
    // Act / Assess
    await expect(
      runScript(
        datasourceReadGigyaAccount,
        { select: 'UID', where: 'lastLoginTimestamp > ${now-1h}' },
        { services: services() },
      ),
    ).rejects.toMatchObject({ code: 'IDX_GIGYA_WHERE_TIME', location: { param: 'where' } });
  });

  it('accepts the time expression when the step itself asks for a full extract', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID', where: 'lastUpdatedTimestamp > ${now-1d}', fullExtract: true },
      { services: services(), job: { startTime: START } },
    );

    // Assess
    expect(out.counters.recordsOut).toBe(
      [...harness.emu.store.accounts.values()].filter((a) => (a.lastUpdatedTimestamp as number) > T0 - 86_400_000)
        .length,
    );
  });

  it('stops at the job limit of a test run, asking for no more than it needs', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID' },
      { services: services(), job: { test: true, limit: 10 } },
    );

    // Assess
    expect(out.records).toHaveLength(10);
    expect(out.trace.some((l) => l.includes('LIMIT 10'))).toBe(true);
    expect(out.continuation).toBeUndefined();
  });

  it('honours its own limit param', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID', limit: 25, batchSize: 10 },
      { services: services() },
    );

    // Assess
    expect(out.records).toHaveLength(25);
  });

  it('returns its cursor when the deadline is near and the next invocation continues from it', async () => {
    // Prepare
    const params = { select: 'UID', batchSize: 40 };

    // Act
    const first = await runScript(datasourceReadGigyaAccount, params, { services: services(), deadline: Date.now() });
    const rest = await runScript(datasourceReadGigyaAccount, params, {
      services: services(),
      continuation: first.continuation,
    });

    // Assess
    expect(first.records).toHaveLength(40);
    expect(first.continuation).toMatchObject({ emitted: 40, pages: 1 } satisfies Partial<SearchContinuation>);
    expect(rest.continuation).toBeUndefined();
    const all = [...first.records, ...rest.records].map((r) => r.UID);
    expect(all).toHaveLength(300);
    expect(new Set(all).size).toBe(300);
  });

  it('reads lite accounts from emailAccounts', async () => {
    // Prepare
    await harness.emu.store.importLite('reader-lite@example.com', { profile: { firstName: 'Lite' } }, Date.now());

    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'profile', from: 'emailAccounts' },
      { services: services() },
    );

    // Assess
    expect(out.records).toEqual([{ profile: { email: 'reader-lite@example.com', firstName: 'Lite' } }]);
  });

  it('uses the conventional secrets when the step names no credentials outside local mode', async () => {
    // Prepare
    const { emu } = harness;
    const deployed = emulatorServices(
      emu,
      { GIGYA_API_KEY: emu.apiKey, GIGYA_USER_KEY: emu.userKey, GIGYA_SECRET: emu.secret },
      false,
    );

    // Act
    const out = await runScript(datasourceReadGigyaAccount, { select: 'UID', limit: 3 }, { services: deployed });

    // Assess
    expect(out.records).toHaveLength(3);
  });

  it('fails with a coded error naming the missing credential', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceReadGigyaAccount, { select: 'UID' }, { services: emulatorServices(harness.emu, {}, false) }),
    ).rejects.toMatchObject({ code: 'IDX_GIGYA_CREDENTIALS', location: { param: 'apiKey' } });
  });

  it.each([
    ['text that is not a key', 'not a key at all'],
    ['a PEM block with a broken body', '-----BEGIN PRIVATE KEY-----\nAAAAbroken\n-----END PRIVATE KEY-----\n'],
    ['an Ed25519 key, not RSA', generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })],
  ])('refuses %s as privateKey with a credential code, before any request and without retrying', async (_what, key) => {
    // Prepare
    const { emu } = harness;
    const sent = () => [...emu.calls.values()].reduce((a, b) => a + b, 0);
    const before = sent();
    const params = { select: 'UID', apiKey: emu.apiKey, userKey: emu.userKey, privateKey: '${secret:GIGYA_RSA}' };

    // Act
    const run = runScript(datasourceReadGigyaAccount, params, {
      services: emulatorServices(emu, { GIGYA_RSA: String(key) }),
    });

    // Assess
    const error = await run.catch((e: Error) => e);
    expect(error).toMatchObject({
      code: 'IDX_GIGYA_PRIVATE_KEY',
      transient: false,
      location: { param: 'privateKey' },
    });
    const body =
      String(key)
        .split('\n')
        .find((l) => l !== '' && !l.startsWith('-----')) ?? String(key);
    expect(JSON.stringify({ ...error, message: (error as Error).message })).not.toContain(body);
    expect(sent()).toBe(before);
  });

  it('reads only the accounts that granted every consent of consent, with those consent objects', async () => {
    // Prepare
    const params = { select: 'UID, profile.email', where: 'profile.country = "FR"', consent: ['privacy.marketing'] };

    // Act
    const out = await runScript(datasourceReadGigyaAccount, params, {
      services: services(),
      job: { fullExtract: true },
    });

    // Assess
    const query =
      'SELECT UID, profile.email, preferences.privacy.marketing FROM accounts WHERE ((profile.country = "FR") AND ' +
      'preferences.privacy.marketing.isConsentGranted = true) ORDER BY lastUpdatedTimestamp';
    expect(out.trace.some((l) => l.includes(query))).toBe(true);
    const expected = [...harness.emu.store.accounts.values()].filter(
      (a) =>
        (a.profile as { country: string }).country === 'FR' &&
        (a.preferences as { privacy: { marketing: { isConsentGranted: boolean } } }).privacy.marketing.isConsentGranted,
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(out.records.map((r) => r.UID).sort()).toEqual(expected.map((a) => a.UID).sort());
    expect(out.records[0]?.preferences).toEqual({
      privacy: { marketing: expect.objectContaining({ isConsentGranted: true }) },
    });
  });

  it('refuses a consent id that is not a dotted name when validated', () => {
    // Act
    const problems = datasourceReadGigyaAccount.check?.({
      select: 'UID',
      consent: ['terms.tos', 'x" OR 1=1'],
    } as never);

    // Assess
    expect(problems).toEqual([expect.objectContaining({ code: 'IDX_PARAM_VALUE', path: 'consent[1]' })]);
  });

  it('reports unknown placeholders and secrets in where, and an empty select, when validated', () => {
    // Act
    const problems = datasourceReadGigyaAccount.check?.({
      select: ' , ',
      where: 'a > ${later} AND b = "${secret:X}"',
    } as never);

    // Assess
    expect(problems?.map((p) => p.code)).toEqual([
      'IDX_PLACEHOLDER_UNKNOWN',
      'IDX_GIGYA_WHERE_SECRET',
      'IDX_GIGYA_SELECT',
    ]);
  });
});
