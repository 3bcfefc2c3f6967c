/**
 * One run of the Gigya emulator memory test, in a process of its own so that its peak resident memory is its own:
 *
 *   node --import tsx test/support/gigya-scale.ts <accounts>
 *
 * Starts the emulator on a fresh folder, seeds `<accounts>` generated accounts the way accounts from a file are
 * seeded (each one written out in full, as `idx gigya seed --from` does), then, over HTTP as a reader would,
 * counts the accounts of a condition, walks the first pages of a cursor over all of them and reads the last
 * account. Prints one JSON line: what it found and the process's peak resident memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GigyaClient } from '../../lib/connectors/gigya.ts';
import { generateAccount, generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';

/** What one run prints. */
export interface GigyaScaleRun {
  readonly accounts: number;
  /** `count(*)` of accounts with an email (all of them). */
  readonly counted: number;
  /** `totalCount` of the cursor over all accounts. */
  readonly totalCount: number;
  /** Accounts read through the first pages of the cursor, each once. */
  readonly read: number;
  /** Whether getAccountInfo of the last account returned what was seeded. */
  readonly lastFound: boolean;
  /** Peak resident memory of the process, bytes. */
  readonly peakRss: number;
}

const NOW = Date.UTC(2026, 0, 15);
const PAGES = 20;

async function run(accounts: number): Promise<GigyaScaleRun> {
  const dir = mkdtempSync(join(tmpdir(), 'idx-gigya-scale-'));
  try {
    const emu = await startGigyaEmulator({ dataDir: dir });
    emu.seed(generateAccounts({ count: accounts, seed: 2, now: NOW }));
    const client = new GigyaClient({ apiKey: emu.apiKey, userKey: emu.userKey, secret: emu.secret, endpoint: emu.url });
    const count = await client.call('accounts.search', {
      query: 'SELECT count(*) FROM accounts WHERE profile.email IS NOT NULL',
    });
    let page = await client.searchPage('accounts.search', {
      query: `SELECT UID, profile.email FROM accounts WHERE (profile.email IS NOT NULL) AND lastUpdatedTimestamp <= ${NOW} ORDER BY lastUpdatedTimestamp LIMIT 1000`,
      openCursor: true,
    });
    const totalCount = page.totalCount ?? -1;
    const uids = new Set<string>();
    for (let p = 1; ; p++) {
      for (const r of page.results) uids.add(r.UID as string);
      if (!page.nextCursorId || p >= PAGES) break;
      page = await client.searchPage('accounts.search', { cursorId: page.nextCursorId });
    }
    const last = generateAccount(accounts - 1, 2, NOW);
    const info = await client.call('accounts.getAccountInfo', { UID: last.UID });
    await emu.close();
    return {
      accounts,
      counted: (count.results as { 'count(*)': number }[])[0]?.['count(*)'] ?? -1,
      totalCount,
      read: uids.size,
      lastFound: JSON.stringify(info.profile) === JSON.stringify(last.profile),
      peakRss: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const accounts = Number(process.argv[2]);
  if (!Number.isInteger(accounts) || accounts < 1) {
    throw new Error(`usage: gigya-scale.ts <accounts>; got ${process.argv.slice(2).join(' ')}`);
  }
  process.stdout.write(`${JSON.stringify(await run(accounts))}\n`);
}
