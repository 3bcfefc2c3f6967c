/**
 * The read-only part of the Gigya contract, run against a real site when `IDX_GIGYA_LIVE_API_KEY`,
 * `IDX_GIGYA_LIVE_USER_KEY` and `IDX_GIGYA_LIVE_SECRET` are set (and `IDX_GIGYA_LIVE_DC`, default us1). It keeps
 * the emulator honest about the behaviours the reference could not confirm: cursor paging, error codes of bad
 * queries and unknown UIDs, signed requests. Skipped otherwise.
 */
import { describe, expect, it } from 'vitest';
import { GigyaClient, type GigyaError } from '../../lib/connectors/gigya.ts';

const env = process.env;
const live = Boolean(env.IDX_GIGYA_LIVE_API_KEY && env.IDX_GIGYA_LIVE_USER_KEY && env.IDX_GIGYA_LIVE_SECRET);

function client(auth: 'secret' | 'signature' = 'secret'): GigyaClient {
  return new GigyaClient({
    apiKey: env.IDX_GIGYA_LIVE_API_KEY as string,
    userKey: env.IDX_GIGYA_LIVE_USER_KEY as string,
    secret: env.IDX_GIGYA_LIVE_SECRET as string,
    dataCenter: env.IDX_GIGYA_LIVE_DC ?? 'us1',
    auth,
    maxConcurrency: 1,
    callsPerSecond: 2,
  });
}

describe.skipIf(!live)('a real Gigya site', () => {
  it('pages a cursor until a page has no nextCursorId, each account once', async () => {
    // Prepare
    const seen = new Set<string>();
    let pages = 0;

    // Act
    for await (const page of client().search(
      'accounts.search',
      'SELECT UID FROM accounts ORDER BY lastUpdatedTimestamp LIMIT 100',
    )) {
      for (const r of page.results) {
        expect(seen.has(r.UID as string)).toBe(false);
        seen.add(r.UID as string);
      }
      if (++pages >= 5) break;
    }

    // Assess
    expect(pages).toBeGreaterThan(0);
  });

  it('answers a bad query with 400006 and an unknown UID with 403005, with signed requests too', async () => {
    // Act
    const bad = await client()
      .call('accounts.search', { query: 'SELECT FROM accounts' }, { retry: false })
      .catch((e: GigyaError) => e);
    const unknown = await client('signature')
      .call('accounts.getAccountInfo', { UID: '00000000000000000000000000000000' }, { retry: false })
      .catch((e: GigyaError) => e);

    // Assess
    expect(bad).toMatchObject({ errorCode: 400006 });
    expect(unknown).toMatchObject({ errorCode: 403005 });
  });
});
