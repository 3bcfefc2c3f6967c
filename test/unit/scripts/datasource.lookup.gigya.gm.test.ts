import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generateAccounts } from '../../../lib/local/gigya-accounts.ts';
import { sampleChallengeStatus } from '../../../lib/local/gigya-comments.ts';
import type { GigyaEmulator } from '../../../lib/local/gigya-emulator.ts';
import { datasourceLookupGigyaGm } from '../../../lib/scripts/datasource.lookup.gigya.gm.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({ accounts: generateAccounts({ count: 30, seed: 3 }) });
const services = () => emulatorServices(harness.emu);
const uids = () => [...harness.emu.store.accounts.keys()];
const fast = { maxCallsPerSecond: 500, retryBaseDelayMs: 1 };

describe('datasource.lookup.gigya.gm', () => {
  it("adds each account's challenge statuses as achievements, an empty array for an account in none", async () => {
    // Prepare
    const records = uids().map((UID, n) => ({ UID, n }));

    // Act
    const out = await runScript(datasourceLookupGigyaGm, fast, { records, services: services() });

    // Assess
    expect(out.records).toEqual(records.map((r) => ({ ...r, achievements: sampleChallengeStatus(r.UID) })));
    expect(out.records.some((r) => (r.achievements as unknown[]).length === 0)).toBe(true);
    expect(out.records.some((r) => (r.achievements as unknown[]).length > 1)).toBe(true);
    expect(records[0]).not.toHaveProperty('achievements');
  });

  it('reads only the included challenges, less the excluded ones, with full details when asked', async () => {
    // Prepare
    const records = uids().map((UID) => ({ UID }));
    const params = {
      ...fast,
      includeChallenges: ' _default, commenter ,reviewer',
      excludeChallenges: 'reviewer',
      details: 'full',
    };

    // Act
    const out = await runScript(datasourceLookupGigyaGm, params, { records, services: services() });

    // Assess
    for (const r of out.records) {
      const expected = sampleChallengeStatus(r.UID as string, 'full').filter((c) =>
        ['_default', 'commenter'].includes(c.challengeID as string),
      );
      expect(r.achievements).toEqual(expected);
    }
    expect(out.records.flatMap((r) => r.achievements as { description?: string }[]).every((c) => c.description)).toBe(
      true,
    );
  });

  it('sends a record without a UID and one whose UID has no account down the error path, and counts every record', async () => {
    // Prepare
    const records = [{ UID: uids()[0] }, { email: 'no-uid@example.com' }, { UID: 'no-such-account' }, { UID: '' }];

    // Act
    const out = await runScript(datasourceLookupGigyaGm, fast, { records, services: services() });

    // Assess
    expect(out.records.map((r) => r.UID)).toEqual([uids()[0]]);
    expect(out.rejected.map((r) => (r._errorDetails as { code: unknown }).code)).toEqual([
      'IDX_GIGYA_NO_UID',
      403005,
      'IDX_GIGYA_NO_UID',
    ]);
    expect(out.rejected[1]?._errorDetails).toMatchObject({
      errorMessage: 'Unauthorized user',
      callId: expect.any(String),
    });
    expect(out.counters).toMatchObject({ recordsIn: 4, recordsOut: 1, recordsRejected: 3 });
  });

  it('retries a transient error and fails the step on a permission error rather than rejecting every record', async () => {
    // Prepare
    const records = uids()
      .slice(0, 3)
      .map((UID) => ({ UID }));
    harness.emu.faults.failNext('gm.getChallengeStatus', 500001);

    // Act
    const retried = await runScript(datasourceLookupGigyaGm, fast, { records, services: services() });
    harness.emu.faults.failNext('gm.getChallengeStatus', 403007, 10);
    const failed = runScript(
      datasourceLookupGigyaGm,
      { ...fast, maxConcurrency: 1 },
      { records, services: services() },
    );

    // Assess
    expect(retried.records).toHaveLength(3);
    await expect(failed).rejects.toMatchObject({ code: 'IDX_GIGYA_API', message: expect.stringContaining('403007') });
    harness.emu.faults.clear();
  });

  it('fails the step, rather than giving empty lists, when a site answers without a challenges array', async () => {
    // Prepare
    const site = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ callId: 'c1', errorCode: 0, statusCode: 200, challengeStatus: [] }));
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

    try {
      // Act
      const run = runScript(datasourceLookupGigyaGm, fast, {
        records: [{ UID: 'u1' }],
        services: emulatorServices({ url } as GigyaEmulator),
      });

      // Assess
      await expect(run).rejects.toMatchObject({
        code: 'IDX_GIGYA_RESPONSE',
        received: 'members challengeStatus',
      });
    } finally {
      await new Promise((resolve) => site.close(resolve));
    }
  });

  it('gives the same records when every batch runs in an invocation of its own', async () => {
    // Prepare
    const records = [...uids().map((UID) => ({ UID })), { UID: 'gone' }];

    // Act
    const whole = await runScript(datasourceLookupGigyaGm, fast, { records, services: services() });
    const sliced = await runScriptSliced(datasourceLookupGigyaGm, fast, { records, services: services(), slice: 4 });

    // Assess
    expect(sliced.invocations).toBe(8);
    expect(sliced.records).toEqual(whole.records);
    expect(sliced.rejected).toEqual(
      whole.rejected.map((r) => ({ ...r, _errorDetails: expect.objectContaining({ code: 403005 }) })),
    );
  });
});
