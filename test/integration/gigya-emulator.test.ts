import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GigyaClient, GigyaError } from '../../lib/connectors/gigya.ts';
import { signParams } from '../../lib/connectors/gigya-signer.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { emulatorClient, useGigyaEmulator } from '../support/gigya.ts';

const NOW = Date.UTC(2026, 0, 15);
let clock = NOW;
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const harness = useGigyaEmulator({
  accounts: generateAccounts({ count: 50, seed: 7, now: NOW }),
  now: () => clock,
  rsaPublicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  otherDataCenters: { '3_movedSite': 'eu1.gigya.com' },
});

async function post(
  method: string,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${harness.emu.url}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function creds(): Record<string, string> {
  const { emu } = harness;
  return { apiKey: emu.apiKey, userKey: emu.userKey, secret: emu.secret };
}

function uids(): string[] {
  return [...harness.emu.store.accounts.keys()];
}

describe('the Gigya emulator', () => {
  describe('envelope and authentication', () => {
    it('answers errors with HTTP 200 and the error in the body, unless httpStatusCodes is true', async () => {
      // Act
      const plain = await post('accounts.getAccountInfo', { ...creds(), UID: 'nobody' });
      const withStatus = await post('accounts.getAccountInfo', { ...creds(), UID: 'nobody', httpStatusCodes: 'true' });

      // Assess
      expect(plain.status).toBe(200);
      expect(plain.body).toMatchObject({
        errorCode: 403005,
        errorMessage: 'Unauthorized user',
        statusCode: 403,
        statusReason: 'Forbidden',
        apiVersion: 2,
      });
      expect(plain.body.callId).toMatch(/^[0-9a-f]{32}$/);
      expect(withStatus.status).toBe(403);
    });

    it.each([
      ['an unknown apiKey', { apiKey: 'nope' }, 400093],
      ['a wrong secret', { secret: Buffer.from('wrong').toString('base64') }, 403003],
      ['an unknown userKey', { userKey: 'someone' }, 403003],
      ['no credentials', { userKey: undefined, secret: undefined }, 403007],
    ])('refuses %s', async (_name, override, code) => {
      // Prepare
      const params = { ...creds(), ...override, query: 'SELECT * FROM accounts' } as Record<string, string | undefined>;
      for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];

      // Act
      const { body } = await post('accounts.search', params as Record<string, string>);

      // Assess
      expect(body.errorCode).toBe(code);
    });

    it('verifies signed requests and refuses a bad signature, a reused nonce and a stale timestamp', async () => {
      // Prepare
      const { emu } = harness;
      const url = `${emu.url}/accounts.search`;
      const base = { apiKey: emu.apiKey, userKey: emu.userKey, query: 'SELECT UID FROM accounts LIMIT 1' };
      const good = signParams(url, base, emu.secret, clock, 'nonce-a');

      // Act
      const ok = await post('accounts.search', good);
      const replay = await post('accounts.search', good);
      const tampered = await post('accounts.search', {
        ...signParams(url, base, emu.secret, clock, 'nonce-b'),
        query: 'SELECT * FROM accounts',
      });
      const stale = await post('accounts.search', signParams(url, base, emu.secret, clock - 600_000, 'nonce-c'));

      // Assess
      expect(ok.body.errorCode).toBe(0);
      expect(replay.body.errorCode).toBe(403004);
      expect(tampered.body.errorCode).toBe(403003);
      expect(stale.body.errorCode).toBe(403002);
    });

    it('serves a client in signature mode and in RSA bearer mode', async () => {
      // Prepare
      const { emu } = harness;
      clock = Date.now();
      const signed = emulatorClient(emu, { auth: 'signature' });
      const bearer = new GigyaClient({
        apiKey: emu.apiKey,
        userKey: emu.userKey,
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        endpoint: emu.url,
      });

      // Act
      const a = await signed.call('accounts.search', { query: 'SELECT UID FROM accounts LIMIT 2' });
      const b = await bearer.call('accounts.search', { query: 'SELECT UID FROM accounts LIMIT 3' });
      clock = NOW;

      // Assess
      expect(bearer.auth).toBe('bearer');
      expect(a.objectsCount).toBe(2);
      expect(b.objectsCount).toBe(3);
    });

    it('answers 301001 with the apiDomain for a site in another data centre', async () => {
      // Act
      const { body } = await post('accounts.search', {
        ...creds(),
        apiKey: '3_movedSite',
        query: 'SELECT * FROM accounts',
      });

      // Assess
      expect(body).toMatchObject({ errorCode: 301001, apiDomain: 'eu1.gigya.com' });
    });
  });

  describe('accounts.search', () => {
    it('answers bad queries, START with a cursor, and query with cursorId with 400006', async () => {
      // Prepare
      const client = emulatorClient(harness.emu, { retry: { maxAttempts: 1 } });
      const first = await client.searchPage('accounts.search', {
        query: 'SELECT UID FROM accounts LIMIT 10',
        openCursor: true,
      });

      // Act
      const outcomes = await Promise.all(
        [
          { query: 'SELECT FROM accounts' },
          { query: 'SELECT * FROM accounts START 5 LIMIT 10', openCursor: 'true' },
          { query: 'SELECT * FROM accounts', cursorId: first.nextCursorId as string },
          { query: 'SELECT * FROM people' },
        ].map((p) => client.call('accounts.search', p).catch((e: GigyaError) => e.errorCode)),
      );

      // Assess
      expect(outcomes).toEqual([400006, 400006, 400006, 400006]);
    });

    it('gives a new cursor id per page, serves a re-sent cursor id again, and ends without nextCursorId', async () => {
      // Prepare
      const client = emulatorClient(harness.emu);
      const query = 'SELECT UID FROM accounts ORDER BY lastUpdatedTimestamp LIMIT 20';

      // Act
      const p1 = await client.searchPage('accounts.search', { query, openCursor: true });
      const p2 = await client.searchPage('accounts.search', { cursorId: p1.nextCursorId as string });
      const p2again = await client.searchPage('accounts.search', { cursorId: p1.nextCursorId as string });
      const p3 = await client.searchPage('accounts.search', { cursorId: p2.nextCursorId as string });

      // Assess
      expect(p1).toMatchObject({ objectsCount: 20, totalCount: 50 });
      expect(p2.nextCursorId).not.toBe(p1.nextCursorId);
      expect(p2again.results).toEqual(p2.results);
      expect(p3.results).toHaveLength(10);
      expect(p3.nextCursorId).toBeUndefined();
      const all = [...p1.results, ...p2.results, ...p3.results].map((r) => r.UID);
      expect(new Set(all).size).toBe(50);
    });

    it('refuses a cursor id left idle longer than the cursor time-to-live', async () => {
      // Prepare
      const client = emulatorClient(harness.emu, { retry: { maxAttempts: 1 } });
      const p1 = await client.searchPage('accounts.search', {
        query: 'SELECT UID FROM accounts LIMIT 10',
        openCursor: true,
      });

      // Act
      clock += 301_000;
      const outcome = await client
        .searchPage('accounts.search', { cursorId: p1.nextCursorId as string })
        .catch((e: GigyaError) => e);
      clock = NOW;

      // Assess
      expect(outcome).toBeInstanceOf(GigyaError);
      expect((outcome as GigyaError).errorCode).toBe(400006);
    });

    it('pages with START and LIMIT without a cursor and counts with count(*)', async () => {
      // Prepare
      const client = emulatorClient(harness.emu);

      // Act
      const page = await client.call('accounts.search', {
        query: 'SELECT UID FROM accounts ORDER BY UID START 45 LIMIT 10',
      });
      const count = await client.call('accounts.search', {
        query: 'SELECT count(*) FROM accounts WHERE profile.gender = "f"',
      });

      // Assess
      expect(page).toMatchObject({ objectsCount: 5, totalCount: 50 });
      expect(page.nextCursorId).toBeUndefined();
      const expected = [...harness.emu.store.accounts.values()].filter(
        (a) => (a.profile as { gender: string }).gender === 'f',
      ).length;
      expect(count.results).toEqual([{ 'count(*)': expected }]);
    });
  });

  describe('account writes', () => {
    it('deep-merges profile and data, deletes on null, and moves lastUpdatedTimestamp', async () => {
      // Prepare
      const client = emulatorClient(harness.emu);
      const uid = uids()[0] as string;
      const before = await client.call('accounts.getAccountInfo', { UID: uid });
      clock = NOW + 1000;

      // Act
      await client.call('accounts.setAccountInfo', {
        UID: uid,
        profile: { firstName: 'Zed', city: null },
        data: { loyalty: { tier: 'diamond' }, extra: { x: [1, 2] } },
      });
      const after = await client.call('accounts.getAccountInfo', { UID: uid, include: 'profile,data,preferences' });
      clock = NOW;

      // Assess
      const profile = after.profile as Record<string, unknown>;
      const data = after.data as { loyalty: Record<string, unknown>; extra: unknown };
      expect(profile.firstName).toBe('Zed');
      expect(profile).not.toHaveProperty('city');
      expect(profile.email).toBe((before.profile as Record<string, unknown>).email);
      expect(data.loyalty).toEqual({
        tier: 'diamond',
        points: (before.data as { loyalty: { points: number } }).loyalty.points,
      });
      expect(data.extra).toEqual({ x: [1, 2] });
      expect(after.lastUpdatedTimestamp).toBe(NOW + 1000);
      expect(after.lastUpdated).toBe(new Date(NOW + 1000).toISOString());
      expect(after.preferences).toBeDefined();
      expect(after.subscriptions).toBeUndefined();
    });

    it('writes isSubscribed and consent, and refuses read-only subscription fields with 400009', async () => {
      // Prepare
      const client = emulatorClient(harness.emu, { retry: { maxAttempts: 1 } });
      const uid = uids()[1] as string;
      const before = await client.call('accounts.getAccountInfo', { UID: uid });
      const flipped = !(before.subscriptions as { newsletter: { email: { isSubscribed: boolean } } }).newsletter.email
        .isSubscribed;

      // Act
      await client.call('accounts.setAccountInfo', {
        UID: uid,
        subscriptions: { newsletter: { email: { isSubscribed: flipped, tags: ['etl'] } } },
        preferences: { terms: { tos: { isConsentGranted: false } } },
      });
      const refused = await client
        .call('accounts.setAccountInfo', {
          UID: uid,
          subscriptions: { newsletter: { email: { lastUpdatedSubscriptionState: 'x' } } },
        })
        .catch((e: GigyaError) => e);
      const after = await client.call('accounts.getAccountInfo', { UID: uid, include: 'subscriptions,preferences' });

      // Assess
      const email = (after.subscriptions as { newsletter: { email: Record<string, unknown> } }).newsletter.email;
      expect(email).toMatchObject({ isSubscribed: flipped, tags: ['etl'] });
      expect(email.lastUpdatedSubscriptionState).toBe(new Date(NOW).toISOString());
      expect((after.preferences as { terms: { tos: Record<string, unknown> } }).terms.tos).toMatchObject({
        isConsentGranted: false,
        docVersion: 1,
      });
      expect(refused).toBeInstanceOf(GigyaError);
      expect((refused as GigyaError).errorCode).toBe(400009);
      expect((refused as GigyaError).validationErrors?.[0]?.fieldName).toBe(
        'subscriptions.newsletter.email.lastUpdatedSubscriptionState',
      );
    });

    it('answers 403005 for an unknown UID and 400006 for a malformed JSON parameter', async () => {
      // Act
      const unknown = await post('accounts.setAccountInfo', { ...creds(), UID: 'nobody', profile: '{}' });
      const malformed = await post('accounts.setAccountInfo', {
        ...creds(),
        UID: uids()[2] as string,
        profile: '{"a":',
      });

      // Assess
      expect(unknown.body.errorCode).toBe(403005);
      expect(malformed.body.errorCode).toBe(400006);
    });

    it('imports lite accounts, which only FROM emailAccounts finds', async () => {
      // Prepare
      const client = emulatorClient(harness.emu);

      // Act
      const r = await client.call('accounts.importLiteAccount', {
        email: 'lite@example.com',
        profile: { firstName: 'Lite' },
        subscriptions: { newsletter: { email: { isSubscribed: true } } },
      });
      const lite = await client.call('accounts.search', { query: 'SELECT UID, profile FROM emailAccounts' });
      const full = await client.call('accounts.search', {
        query: 'SELECT UID FROM accounts WHERE profile.email = "lite@example.com"',
      });
      const both = await client.call('accounts.search', {
        query: 'SELECT UID FROM accounts WHERE profile.email = "lite@example.com"',
        accountTypes: 'full,lite',
      });

      // Assess
      expect(lite.results).toEqual([{ UID: r.UID, profile: { email: 'lite@example.com', firstName: 'Lite' } }]);
      expect(full.totalCount).toBe(0);
      expect(both.totalCount).toBe(1);
    });
  });

  describe('data store', () => {
    it('stores with generated ids, merges by update behaviour, gets and searches objects', async () => {
      // Prepare
      const client = emulatorClient(harness.emu);
      const uid = uids()[3] as string;

      // Act
      const auto = await client.call('ds.store', { type: 'orders', oid: 'auto', data: { total_f: 10, items: ['a'] } });
      await client.call('ds.store', { type: 'orders', oid: 'o1', UID: uid, data: { items: ['a'], status: 'open' } });
      await client.call('ds.store', { type: 'orders', oid: 'o1', UID: uid, data: { items: ['b'] } });
      const pushed = await client.call('ds.get', { type: 'orders', oid: 'o1', UID: uid });
      await client.call('ds.store', {
        type: 'orders',
        oid: 'o1',
        UID: uid,
        data: { items: ['c'] },
        updateBehavior: 'arraySet',
      });
      const set = await client.call('ds.get', { type: 'orders', oid: 'o1', UID: uid });
      await client.call('ds.store', {
        type: 'orders',
        oid: 'o1',
        UID: uid,
        data: { note: 'x' },
        updateBehavior: 'replace',
      });
      const replaced = await client.call('ds.get', { type: 'orders', oid: 'o1', UID: uid, fields: 'note' });
      const found = await client.call('ds.search', { query: 'SELECT * FROM orders WHERE data.total_f > 5' });
      const missing = await client
        .call('ds.get', { type: 'orders', oid: 'nope' })
        .catch((e: GigyaError) => e.errorCode);

      // Assess
      expect(typeof auto.oid).toBe('string');
      expect(pushed.data).toEqual({ items: ['a', 'b'], status: 'open' });
      expect(set.data).toEqual({ items: ['c'], status: 'open' });
      expect(replaced.data).toEqual({ note: 'x' });
      expect(found.results).toEqual([expect.objectContaining({ oid: auto.oid, data: { total_f: 10, items: ['a'] } })]);
      expect(missing).toBe(404000);
    });

    it('refuses data over 512 KB with 413003', async () => {
      // Act
      const { body } = await post('ds.store', {
        ...creds(),
        type: 'big',
        oid: 'x',
        data: JSON.stringify({ s: 'x'.repeat(600_000) }),
      });

      // Assess
      expect(body.errorCode).toBe(413003);
    });
  });

  describe('fault injection', () => {
    it('fails the next k calls of a method with the chosen code, then serves again', async () => {
      // Prepare
      const client = emulatorClient(harness.emu, { retry: { maxAttempts: 1 } });
      harness.emu.faults.failNext('accounts.getAccountInfo', 500001, 2);
      const call = () =>
        client.call('accounts.getAccountInfo', { UID: uids()[0] as string }).then(
          () => 0,
          (e: GigyaError) => e.errorCode,
        );

      // Act
      const codes = [await call(), await call(), await call()];

      // Assess
      expect(codes).toEqual([500001, 500001, 0]);
    });

    it('does the work of a call as it arrives and answers once its latency has passed', async () => {
      // Prepare: a search slowed by 400 ms; accounts added while it waits for its answer.
      const emu = await startGigyaEmulator({ accounts: generateAccounts({ count: 20, seed: 3, now: NOW }) });
      try {
        emu.faults.latency('accounts.search', 400);
        const client = emulatorClient(emu, { retry: { maxAttempts: 1 } });

        // Act
        const counting = client.call('accounts.search', { query: 'SELECT count(*) FROM accounts' });
        while ((emu.calls.get('accounts.search') ?? 0) === 0) await new Promise((r) => setTimeout(r, 5));
        const answeredBefore = emu.answers.get('accounts.search')?.size ?? 0;
        emu.seed({ count: 5, seed: 1000 });
        const counted = await counting;
        const recounted = await client.call('accounts.search', { query: 'SELECT count(*) FROM accounts' });

        // Assess: the count is the one at arrival; the answer had not left when the accounts came.
        expect(answeredBefore).toBe(0);
        expect(counted.totalCount).toBe(20);
        expect(recounted.totalCount).toBe(25);
      } finally {
        await emu.close();
      }
    });

    it('answers 403048 above the per-second ceiling', async () => {
      // Prepare
      const client = emulatorClient(harness.emu, { retry: { maxAttempts: 1 } });
      harness.emu.faults.rateLimit('accounts.getAccountInfo', 3);

      // Act
      const codes = await Promise.all(
        Array.from({ length: 5 }, () =>
          client.call('accounts.getAccountInfo', { UID: uids()[0] as string }).then(
            () => 0,
            (e: GigyaError) => e.errorCode,
          ),
        ),
      );
      harness.emu.faults.clear();

      // Assess
      expect(codes.filter((c) => c === 0)).toHaveLength(3);
      expect(codes.filter((c) => c === 403048)).toHaveLength(2);
    });

    it('counts a call against the ceiling from when its request came, not from when its body was read', async () => {
      // Prepare: at most one call a second; the first call's head is sent, its body only 1.2 s later.
      harness.emu.faults.rateLimit('accounts.getAccountInfo', 1);
      const body = new URLSearchParams({ ...creds(), UID: uids()[0] as string }).toString();
      const url = new URL(`${harness.emu.url}/accounts.getAccountInfo`);
      const slow = request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      });
      const answered = new Promise<Record<string, unknown>>((resolve, reject) => {
        slow.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
        });
        slow.on('error', reject);
      });
      slow.flushHeaders();
      await new Promise((r) => setTimeout(r, 1200));

      // Act: its body, then two more calls at once.
      slow.end(body);
      const first = await answered;
      const next = await Promise.all([
        post('accounts.getAccountInfo', { ...creds(), UID: uids()[0] as string }),
        post('accounts.getAccountInfo', { ...creds(), UID: uids()[0] as string }),
      ]);
      harness.emu.faults.clear();

      // Assess: the first call counts in the second it came in, over by the time the next ones come.
      expect(first.errorCode).toBe(0);
      expect(next.map((r) => r.body.errorCode).sort()).toEqual([0, 403048]);
    });
  });
});

describe('the Gigya emulator state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-gigya-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('persists accounts, data store objects and writes in its data folder across restarts', async () => {
    // Prepare
    const first = await startGigyaEmulator({ dataDir: dir });
    first.seed({ count: 20, seed: 3 });
    const client = emulatorClient(first);
    const uid = [...first.store.accounts.keys()][5] as string;
    await client.call('accounts.setAccountInfo', { UID: uid, data: { persisted: true } });
    await client.call('ds.store', { type: 't', oid: 'o', data: { a: 1 } });
    await first.close();

    // Act
    const second = await startGigyaEmulator({ dataDir: dir });
    const again = emulatorClient(second);
    const account = await again.call('accounts.getAccountInfo', { UID: uid });
    const object = await again.call('ds.get', { type: 't', oid: 'o' });
    await second.close();

    // Assess
    expect(second.store.accounts.size).toBe(20);
    expect((account.data as Record<string, unknown>).persisted).toBe(true);
    expect(object.data).toEqual({ a: 1 });
  });
});
