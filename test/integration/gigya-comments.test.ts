import { describe, expect, it } from 'vitest';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { SAMPLE_STREAMS, sampleChallengeStatus, sampleComments } from '../../lib/local/gigya-comments.ts';
import { emulatorClient, useGigyaEmulator } from '../support/gigya.ts';

const harness = useGigyaEmulator({ accounts: generateAccounts({ count: 20, seed: 5 }) });

/** A raw form POST, answered as the emulator answers it (envelope included). */
async function post(method: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(`${harness.emu.url}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return (await res.json()) as Record<string, unknown>;
}

const creds = () => ({ apiKey: harness.emu.apiKey, userKey: harness.emu.userKey, secret: harness.emu.secret });

describe('the Gigya emulator: comments.search', () => {
  it('pages through streams with a cursor until a page has no nextCursorId', async () => {
    // Prepare
    const client = emulatorClient(harness.emu);

    // Act
    const pages = [];
    for await (const page of client.search('comments.search', 'SELECT * FROM streams ORDER BY timestamp LIMIT 300')) {
      pages.push(page);
    }

    // Assess
    expect(pages.map((p) => p.results.length)).toEqual([300, 300, SAMPLE_STREAMS - 600]);
    expect(pages.map((p) => p.totalCount)).toEqual([SAMPLE_STREAMS, SAMPLE_STREAMS, SAMPLE_STREAMS]);
    expect(pages.at(-1)?.nextCursorId).toBeUndefined();
  });

  it('filters comments with the search language and counts them', async () => {
    // Prepare
    const replies = sampleComments().filter((c) => c.categoryID === 'reviews' && c.parentID !== undefined);

    // Act
    const answer = await post('comments.search', {
      ...creds(),
      query: 'SELECT count(*) FROM comments WHERE categoryID = "reviews" AND parentID IS NOT NULL',
    });

    // Assess
    expect(answer).toMatchObject({ errorCode: 0, results: [{ 'count(*)': replies.length }] });
  });

  it('answers 400006 for another collection or single quotes, 400002 without a query, 403007 without credentials', async () => {
    // Act
    const other = await post('comments.search', { ...creds(), query: 'SELECT * FROM accounts' });
    const quotes = await post('comments.search', { ...creds(), query: "SELECT * FROM streams WHERE categoryID = 'x'" });
    const none = await post('comments.search', creds());
    const anonymous = await post('comments.search', { apiKey: harness.emu.apiKey, query: 'SELECT * FROM streams' });

    // Assess
    expect([other.errorCode, quotes.errorCode, none.errorCode, anonymous.errorCode]).toEqual([
      400006, 400006, 400002, 403007,
    ]);
    expect(other.errorDetails).toContain('streams or comments');
  });

  it('fails the next calls as fault injection says', async () => {
    // Prepare
    harness.emu.faults.failNext('comments.search', 504001, 2);

    // Act
    const answers = [];
    for (let i = 0; i < 3; i++)
      answers.push(await post('comments.search', { ...creds(), query: 'SELECT * FROM streams LIMIT 1' }));

    // Assess
    expect(answers.map((a) => a.errorCode)).toEqual([504001, 504001, 0]);
  });
});

describe('the Gigya emulator: gm.getChallengeStatus', () => {
  it("answers an account's challenge statuses, filtered by includeChallenges and excludeChallenges", async () => {
    // Prepare
    const uid = [...harness.emu.store.accounts.keys()].find((u) => sampleChallengeStatus(u).length > 1) as string;

    // Act
    const all = await post('gm.getChallengeStatus', { ...creds(), UID: uid });
    const some = await post('gm.getChallengeStatus', {
      ...creds(),
      UID: uid,
      includeChallenges: '*',
      excludeChallenges: '_default',
    });

    // Assess
    expect(all).toMatchObject({ errorCode: 0, challenges: sampleChallengeStatus(uid) });
    expect(some.challenges).toEqual(sampleChallengeStatus(uid).filter((c) => c.challengeID !== '_default'));
  });

  it('answers 403005 for an unknown UID, 400002 without one and 400006 for an unknown details value', async () => {
    // Prepare
    const uid = [...harness.emu.store.accounts.keys()][0] as string;

    // Act
    const unknown = await post('gm.getChallengeStatus', { ...creds(), UID: 'nobody' });
    const missing = await post('gm.getChallengeStatus', creds());
    const details = await post('gm.getChallengeStatus', { ...creds(), UID: uid, details: 'everything' });

    // Assess
    expect([unknown.errorCode, missing.errorCode, details.errorCode]).toEqual([403005, 400002, 400006]);
    expect(unknown.errorMessage).toBe('Unauthorized user');
  });
});
