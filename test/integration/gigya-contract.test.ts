/**
 * Contract tests: the Gigya client and scripts against the emulator over real HTTP on loopback. They pin down the
 * behaviours an export or import relies on: complete cursor walks, exact delta windows, backoff on throttling,
 * permanent errors that fail fast with their callId, and per-record errors on writes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GigyaError } from '../../lib/connectors/gigya.ts';
import { IdxError } from '../../lib/core/errors.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { datasourceReadGigyaAccount } from '../../lib/scripts/datasource.read.gigya.account.ts';
import { datasourceWriteGigyaAccount } from '../../lib/scripts/datasource.write.gigya.account.ts';
import { runScript } from '../../lib/testing/harness.ts';
import { emulatorClient, emulatorServices, useGigyaEmulator } from '../support/gigya.ts';

const ACCOUNTS = 25_000;
const NOW = Date.UTC(2026, 2, 1, 12);
let clock = NOW;
// Every seeded account was last updated at least a day before NOW.
const harness = useGigyaEmulator({
  accounts: generateAccounts({ count: ACCOUNTS, seed: 42, now: NOW - 86_400_000 }),
  shortPages: true,
  now: () => clock,
});

const iso = (ms: number) => new Date(ms).toISOString();
afterEach(() => {
  harness.emu.faults.clear();
  clock = NOW;
});

describe('the Gigya client against the emulator', () => {
  it('walks a 25,000-account cursor with short pages and gets every account exactly once', async () => {
    // Prepare
    const client = emulatorClient(harness.emu);
    const seen = new Map<string, number>();
    let pages = 0;
    let shortPages = 0;

    // Act
    for await (const page of client.search(
      'accounts.search',
      'SELECT UID FROM accounts ORDER BY lastUpdatedTimestamp LIMIT 1000',
    )) {
      pages++;
      if (page.results.length < 1000 && page.nextCursorId) shortPages++;
      for (const r of page.results) seen.set(r.UID as string, (seen.get(r.UID as string) ?? 0) + 1);
    }

    // Assess
    expect(seen.size).toBe(ACCOUNTS);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(shortPages).toBeGreaterThan(0);
    expect(pages).toBeGreaterThan(ACCOUNTS / 1000);
  });

  it('reads the same 25,000 accounts through the account reader, each exactly once', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID, profile.email' },
      { services: emulatorServices(harness.emu), job: { fullExtract: true } },
    );

    // Assess
    const uids = out.records.map((r) => r.UID);
    expect(uids).toHaveLength(ACCOUNTS);
    expect(new Set(uids).size).toBe(ACCOUNTS);
    expect(out.counters.recordsOut).toBe(ACCOUNTS);
  });

  it('reads exactly the accounts changed after the watermark and up to the window end', async () => {
    // Prepare
    const client = emulatorClient(harness.emu);
    const all = [...harness.emu.store.accounts.keys()];
    const watermark = NOW - 3_600_000;
    const windowEnd = NOW + 60_000;
    const changed = all.filter((_, i) => i % 677 === 0);
    const late = all.filter((_, i) => i % 677 === 1);
    clock = NOW;
    for (const uid of changed) await client.call('accounts.setAccountInfo', { UID: uid, data: { touched: true } });
    clock = windowEnd + 5_000;
    for (const uid of late) await client.call('accounts.setAccountInfo', { UID: uid, data: { touched: 'late' } });
    clock = NOW;

    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID,lastUpdatedTimestamp,data.touched' },
      { services: emulatorServices(harness.emu), job: { delta: { from: iso(watermark), to: iso(windowEnd) } } },
    );

    // Assess
    expect(out.records.map((r) => r.UID).sort()).toEqual([...changed].sort());
    expect(out.records.every((r) => (r.data as { touched: unknown }).touched === true)).toBe(true);
    const stamps = out.records.map((r) => r.lastUpdatedTimestamp as number);
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
  });

  it('rides out five 403048 answers with exponential backoff and completes the read', async () => {
    // Prepare
    const client = emulatorClient(harness.emu, { retry: { baseDelayMs: 40, maxDelayMs: 10_000 }, random: () => 0 });
    harness.emu.faults.failNext('accounts.search', 403048, 5);
    const started = Date.now();

    // Act
    const page = await client.searchPage('accounts.search', { query: 'SELECT UID FROM accounts LIMIT 10' });

    // Assess: with jitter pinned to its low end the waits are 20, 40, 80, 160 and 320 ms.
    expect(page.results).toHaveLength(10);
    expect(client.stats).toMatchObject({ calls: 6, retries: 5, backoffMs: 620 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(620);
  });

  it('rides out five 403048 answers inside the account reader, logging each retry', async () => {
    // Prepare
    harness.emu.faults.failNext('accounts.search', 403048, 5);

    // Act
    const out = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID', where: 'profile.country = "DE"', retryBaseDelayMs: 10 },
      { services: emulatorServices(harness.emu), job: { fullExtract: true } },
    );

    // Assess
    const expected = [...harness.emu.store.accounts.values()].filter(
      (a) => (a.profile as { country: string }).country === 'DE',
    );
    expect(out.records).toHaveLength(expected.length);
    expect(out.trace.filter((l) => l.includes('WARN') && l.includes('retrying'))).toHaveLength(5);
  });

  it('gives up on throttling after its attempt cap with a transient error', async () => {
    // Prepare
    const client = emulatorClient(harness.emu, { retry: { baseDelayMs: 1, maxAttempts: 4 } });
    harness.emu.faults.failNext('accounts.getAccountInfo', 403048, 10);

    // Act
    const error = await client.call('accounts.getAccountInfo', { UID: 'x' }).catch((e: unknown) => e);
    harness.emu.faults.clear();

    // Assess
    expect(error).toBeInstanceOf(GigyaError);
    expect(error).toMatchObject({ errorCode: 403048, attempts: 4, transient: true, name: 'IdxTransientError' });
    expect(client.stats.calls).toBe(4);
  });

  it('stops retrying when the total time cap would be exceeded', async () => {
    // Prepare
    const client = emulatorClient(harness.emu, {
      retry: { baseDelayMs: 200, maxAttempts: 10, maxTotalMs: 500 },
      random: () => 0,
    });
    harness.emu.faults.failNext('accounts.getAccountInfo', 500001, 10);

    // Act
    const error = await client.call('accounts.getAccountInfo', { UID: 'x' }).catch((e: unknown) => e);
    harness.emu.faults.clear();

    // Assess: waits of 100 and 200 ms fit in 500 ms; the next (400 ms) would not.
    expect(error).toMatchObject({ errorCode: 500001, attempts: 3 });
  });

  it('fails the step on a permanent error at once, with its code and callId', async () => {
    // Prepare
    const before = harness.emu.calls.get('accounts.search') ?? 0;
    harness.emu.faults.failNext('accounts.search', 403007, 1);

    // Act
    const error = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID' },
      { services: emulatorServices(harness.emu), job: { fullExtract: true } },
    ).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(IdxError);
    const e = error as GigyaError;
    expect(e.code).toBe('IDX_GIGYA_API');
    expect(e.transient).toBe(false);
    expect(e.details).toMatchObject({ method: 'accounts.search', errorCode: 403007, statusCode: 403 });
    expect(e.details?.callId).toMatch(/^[0-9a-f]{32}$/);
    expect(e.message).toContain(String(e.details?.callId));
    // The plan's two probes go out at once; neither is retried (the second is answered, and not needed).
    expect((harness.emu.calls.get('accounts.search') ?? 0) - before).toBe(2);
  });

  it('keeps to its calls-per-second budget under the site ceiling without being throttled', async () => {
    // Prepare
    harness.emu.faults.rateLimit('accounts.getAccountInfo', 40);
    const client = emulatorClient(harness.emu, { callsPerSecond: 30, maxConcurrency: 10, retry: { maxAttempts: 1 } });
    const uid = [...harness.emu.store.accounts.keys()][0] as string;

    // Act
    const results = await Promise.all(
      Array.from({ length: 45 }, () => client.call('accounts.getAccountInfo', { UID: uid })),
    );

    // Assess
    expect(results).toHaveLength(45);
    expect(client.stats.retries).toBe(0);
  });

  it('updates 990 of 1,000 records and sends the 10 with unknown UIDs to the error path with their details', async () => {
    // Prepare
    const known = [...harness.emu.store.accounts.keys()].slice(1000, 1990);
    const records = known.map((UID, i) => ({ UID, profile: { firstName: `Renamed${i}` }, data: { batch: 'b1' } }));
    const unknown = Array.from({ length: 10 }, (_, i) => ({ UID: `missing-${i}`, profile: { firstName: 'Nobody' } }));
    for (const [i, r] of unknown.entries()) records.splice(i * 97 + 5, 0, r as (typeof records)[number]);

    // Act
    const out = await runScript(
      datasourceWriteGigyaAccount,
      { maxConnections: 20, maxCallsPerSecond: 1000 },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    expect(out.counters).toMatchObject({ recordsIn: 1000, recordsOut: 990, recordsRejected: 10 });
    expect(out.rejected.map((r) => r.UID).sort()).toEqual(unknown.map((r) => r.UID).sort());
    for (const r of out.rejected) {
      expect(r._errorDetails).toMatchObject({ errorCode: 403005, errorMessage: 'Unauthorized user' });
      expect((r._errorDetails as { callId: string }).callId).toMatch(/^[0-9a-f]{32}$/);
    }
    const client = emulatorClient(harness.emu);
    const names = await Promise.all(
      known.map(async (UID) => {
        const a = await client.call('accounts.getAccountInfo', { UID });
        return [(a.profile as { firstName: string }).firstName, (a.data as { batch: string }).batch];
      }),
    );
    expect(names).toEqual(known.map((_, i) => [`Renamed${i}`, 'b1']));
  });
});
