/**
 * The Gigya emulator with its accounts on disk and many of them: cursors over a store kept in a folder, several
 * cursors open at once over disjoint `lastUpdatedTimestamp` ranges (as partitioned extraction reads them), changes
 * under an open cursor, a restart, a million accounts seeded by the CLI under its 192 MB heap, and resident memory
 * that does not follow the number of accounts (each size measured in a process of its own:
 * test/support/gigya-scale.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { GigyaClient } from '../../lib/connectors/gigya.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { emulatorClient } from '../support/gigya.ts';
import type { GigyaScaleRun } from '../support/gigya-scale.ts';
import { runNode } from '../support/node-process.ts';

const MB = 1024 * 1024;
const NOW = Date.UTC(2026, 0, 15);
const DAY = 86_400_000;
const root = mkdtempSync(join(tmpdir(), 'idx-gigya-scale-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Reads a cursor to its end; returns the accounts of every page and the totalCount of each page. */
async function walk(
  client: GigyaClient,
  query: string,
  between?: (pages: number) => Promise<void>,
): Promise<{ accounts: Record<string, unknown>[]; totals: number[] }> {
  const accounts: Record<string, unknown>[] = [];
  const totals: number[] = [];
  let page = await client.searchPage('accounts.search', { query, openCursor: true });
  for (;;) {
    accounts.push(...page.results);
    totals.push(page.totalCount ?? -1);
    if (!page.nextCursorId) return { accounts, totals };
    await between?.(totals.length);
    page = await client.searchPage('accounts.search', { cursorId: page.nextCursorId });
  }
}

function ascending(values: number[]): boolean {
  return values.every((v, i) => i === 0 || (values[i - 1] as number) <= v);
}

describe('the Gigya emulator over many accounts', () => {
  const dir = join(root, 'store');
  let clock = NOW;
  let emu: GigyaEmulator;
  afterAll(() => emu?.close());

  it('walks four cursors at once over disjoint lastUpdatedTimestamp ranges, each account exactly once', async () => {
    // Prepare: 100,000 generated accounts, 2,000 seeded from objects, 1,000 of the generated ones changed since.
    emu = await startGigyaEmulator({ dataDir: dir, now: () => clock });
    emu.seed({ count: 100_000, seed: 5 });
    emu.seed(generateAccounts({ count: 2000, seed: 5, startIndex: 100_000, now: NOW }));
    const client = emulatorClient(emu);
    clock = NOW + 1000;
    const changed = await client.call('accounts.search', {
      query: 'SELECT UID FROM accounts START 40000 LIMIT 1000',
    });
    for (const r of changed.results as Record<string, unknown>[]) {
      emu.store.setAccount(r.UID as string, { data: { changed: true } }, clock);
    }
    const bounds = [NOW - 91 * DAY, NOW - 60 * DAY, NOW - 30 * DAY, NOW - DAY, NOW + DAY];
    const ranges = bounds.slice(1).map((to, i) => [bounds[i] as number, to] as const);

    // Act
    const parts = await Promise.all(
      ranges.map(([from, to]) =>
        walk(
          client,
          `SELECT UID, lastUpdatedTimestamp, data.changed FROM accounts WHERE lastUpdatedTimestamp >= ${from} AND lastUpdatedTimestamp < ${to} ORDER BY lastUpdatedTimestamp LIMIT 1000`,
        ),
      ),
    );

    // Assess
    const uids = parts.flatMap((p) => p.accounts.map((a) => a.UID as string));
    expect(uids).toHaveLength(102_000);
    expect(new Set(uids).size).toBe(102_000);
    expect(parts.map((p) => p.totals[0]).reduce((a, b) => (a as number) + (b as number), 0)).toBe(102_000);
    for (const [k, p] of parts.entries()) {
      const [from, to] = ranges[k] as readonly [number, number];
      const times = p.accounts.map((a) => a.lastUpdatedTimestamp as number);
      expect(ascending(times)).toBe(true);
      expect(times.every((t) => t >= from && t < to)).toBe(true);
      expect(new Set(p.totals).size).toBe(1);
    }
    expect(parts.flatMap((p) => p.accounts).filter((a) => (a.data as { changed?: boolean })?.changed)).toHaveLength(
      1000,
    );
  });

  it("keeps a cursor's order and totalCount while accounts change and go under it", async () => {
    // Prepare
    const client = emulatorClient(emu);
    const query = 'SELECT UID, data.touched FROM accounts ORDER BY lastUpdatedTimestamp LIMIT 1000';
    const later = await client.call('accounts.search', {
      query: 'SELECT UID FROM accounts ORDER BY lastUpdatedTimestamp START 60000 LIMIT 20',
    });
    const found = later.results as Record<string, unknown>[];
    const touched = found.slice(0, 10).map((r) => r.UID as string);
    const deleted = found.slice(10).map((r) => r.UID as string);
    const before = await client.call('accounts.search', { query: 'SELECT count(*) FROM accounts' });

    // Act
    const { accounts, totals } = await walk(client, query, async (pages) => {
      if (pages !== 3) return;
      clock += 1000;
      for (const uid of touched) await client.call('accounts.setAccountInfo', { UID: uid, data: { touched: true } });
      for (const uid of deleted) await client.call('accounts.deleteAccount', { UID: uid });
    });

    // Assess
    const total = (before.results as { 'count(*)': number }[])[0]?.['count(*)'];
    expect(new Set(totals)).toEqual(new Set([total]));
    const uids = accounts.map((a) => a.UID as string);
    expect(uids).toHaveLength((total as number) - deleted.length);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids.slice(60_000, 60_010)).toEqual(touched);
    expect(accounts.slice(60_000, 60_010).every((a) => (a.data as { touched?: boolean })?.touched)).toBe(true);
    expect(uids.filter((u) => deleted.includes(u))).toEqual([]);
  });

  it('starts again from its folder with the same accounts and the same answers', async () => {
    // Prepare
    const client = emulatorClient(emu);
    const query = `SELECT UID, data FROM accounts WHERE (data.changed = true) AND lastUpdatedTimestamp > ${NOW} ORDER BY lastUpdatedTimestamp LIMIT 1000`;
    const before = await walk(client, query);
    const size = emu.store.accounts.size;
    await emu.close();

    // Act
    emu = await startGigyaEmulator({ dataDir: dir, now: () => clock });
    const after = await walk(emulatorClient(emu), query);

    // Assess
    expect(emu.store.accounts.size).toBe(size);
    expect(after.accounts).toEqual(before.accounts);
    expect(after.accounts).toHaveLength(1000);
  });

  it("seeds a million accounts with idx gigya seed under the CLI's 192 MB heap, and serves them", {
    timeout: 600_000,
  }, async () => {
    // Prepare
    const home = join(root, 'cli');

    // Act
    const seeded = await runNode([
      '--max-old-space-size=192',
      'bin/idx.js',
      'gigya',
      'seed',
      '--accounts',
      '1000000',
      '--dir',
      home,
    ]);
    const big = await startGigyaEmulator({ dataDir: join(home, 'gigya') });
    const client = emulatorClient(big);
    const count = await client.call('accounts.search', {
      query: `SELECT count(*) FROM accounts WHERE lastUpdatedTimestamp > ${Date.now() - 30 * DAY}`,
    });
    const first = await client.searchPage('accounts.search', {
      query: 'SELECT UID, lastUpdatedTimestamp FROM accounts ORDER BY lastUpdatedTimestamp LIMIT 1000',
      openCursor: true,
    });
    const oldest = await client.call('accounts.getAccountInfo', { UID: first.results[0]?.UID as string });
    await big.close();

    // Assess
    // Nothing on stderr but, when a source changed since the CLI's bundle was built, the line saying it is rebuilt.
    expect(seeded.stderr.replace(/^idx: building the CLI from its sources…\n/, '')).toBe('');
    expect(seeded.status).toBe(0);
    expect(seeded.stdout).toContain('1,000,000 accounts');
    expect(big.store.accounts.size).toBe(1_000_000);
    const recent = (count.results as { 'count(*)': number }[])[0]?.['count(*)'] as number;
    // A third of the accounts, updated uniformly over 90 days, changed in the last 30.
    expect(recent).toBeGreaterThan(300_000);
    expect(recent).toBeLessThan(366_000);
    expect(first.totalCount).toBe(1_000_000);
    expect(ascending(first.results.map((r) => r.lastUpdatedTimestamp as number))).toBe(true);
    expect(oldest.lastUpdatedTimestamp).toBe(first.results[0]?.lastUpdatedTimestamp);
  });
});

describe('the Gigya emulator memory', () => {
  const script = fileURLToPath(new URL('../support/gigya-scale.ts', import.meta.url));

  async function measure(accounts: number): Promise<GigyaScaleRun> {
    const r = await runNode(['--import', 'tsx', script, String(accounts)]);
    if (r.status !== 0) throw new Error(`the ${accounts}-account run failed (${r.status}): ${r.stderr.slice(-3000)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as GigyaScaleRun;
  }

  it('holds 125,000 accounts in about the resident memory of 25,000', { timeout: 600_000 }, async () => {
    // Act
    const small = await measure(25_000);
    const large = await measure(125_000);

    // Assess
    console.log(
      `Gigya emulator peak RSS: ${(small.peakRss / MB).toFixed(0)} MB at 25,000 accounts, ` +
        `${(large.peakRss / MB).toFixed(0)} MB at 125,000`,
    );
    for (const run of [small, large]) {
      expect(run).toMatchObject({ counted: run.accounts, totalCount: run.accounts, read: 20_000, lastFound: true });
    }
    // Kept in memory, the 100,000 more accounts would take about 260 MB more (about 2.6 KB each).
    expect(large.peakRss - small.peakRss).toBeLessThan(64 * MB);
  });
});
