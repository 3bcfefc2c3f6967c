/**
 * The Eloqua Bulk API client against the Eloqua emulator on loopback: discovery, both ways of authenticating,
 * retries on 429 and 5xx with a cap, and Eloqua's own words in coded errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EloquaClient, type EloquaClientOptions } from '../../../lib/connectors/eloqua.ts';
import { IdxError } from '../../../lib/core/errors.ts';
import { type EloquaEmulator, startEloquaEmulator } from '../../../lib/local/eloqua-emulator.ts';
import { LOCAL_ELOQUA } from '../../../lib/scripts/util/eloqua-step.ts';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
let emu: EloquaEmulator;

beforeAll(async () => {
  emu = await startEloquaEmulator({ pollsToComplete: 2 });
});
afterAll(async () => {
  await emu.close();
});
afterEach(() => {
  emu.faults.clear();
});

const basic = (overrides: Partial<EloquaClientOptions> = {}) =>
  new EloquaClient({
    auth: {
      kind: 'basic',
      company: LOCAL_ELOQUA.company,
      username: LOCAL_ELOQUA.username,
      password: LOCAL_ELOQUA.password,
    },
    loginUrl: emu.url,
    log: quiet,
    baseDelayMs: 5,
    maxDelayMs: 20,
    ...overrides,
  });
const oauth = () =>
  new EloquaClient({
    auth: {
      kind: 'oauth2',
      clientId: LOCAL_ELOQUA.clientId,
      clientSecret: LOCAL_ELOQUA.clientSecret,
      grant: { refreshToken: LOCAL_ELOQUA.refreshToken },
    },
    loginUrl: emu.url,
    log: quiet,
    baseDelayMs: 5,
    maxDelayMs: 20,
  });
const poll = { firstPollMs: 1, maxPollMs: 5, timeoutMs: 10_000 };
const definition = (name: string) => ({
  name,
  fields: { uid: '{{Contact.Field(C_Gigya_UID1)}}', email: '{{Contact.Field(C_EmailAddress)}}' },
  identifierFieldName: 'uid',
  isSyncTriggeredOnImport: false,
});

describe('EloquaClient', () => {
  it('discovers the base URL with /id and imports contacts through a definition, data and a polled sync', async () => {
    // Prepare
    const client = basic();

    // Act
    const uri = await client.createImport(definition('discovery'));
    await client.upload(uri, JSON.stringify([{ uid: 'u-1', email: 'one@example.com' }]));
    const sync = await client.sync(uri);
    const done = await client.waitForSync(sync.uri, poll);

    // Assess
    expect(client.where).toBe(`${emu.base()}/api/bulk/2.0`);
    expect(client.where).not.toContain(`${emu.url}/api`);
    expect(done.status).toBe('success');
    expect(emu.find('C_Gigya_UID1', 'u-1')?.fields.C_EmailAddress).toBe('one@example.com');
    const logs = await client.logs(sync.uri);
    expect(logs.find((l) => l.statusCode === 'ELQ-00004')?.count).toBe(1);
  });

  it('refreshes an expired OAuth2 access token once and repeats the request', async () => {
    // Prepare
    const client = oauth();
    await client.createImport(definition('before expiry'));
    const issued = emu.tokensIssued();
    emu.faults.expireTokens();

    // Act
    const uri = await client.createImport(definition('after expiry'));

    // Assess
    expect(uri).toMatch(/^\/contacts\/imports\/\d+$/);
    expect(emu.tokensIssued()).toBe(issued + 1);
    expect(client.refreshes).toBe(2);
  });

  it('answers a refused refresh token with IDX_ELOQUA_AUTH', async () => {
    // Prepare
    const client = new EloquaClient({
      auth: {
        kind: 'oauth2',
        clientId: LOCAL_ELOQUA.clientId,
        clientSecret: LOCAL_ELOQUA.clientSecret,
        grant: { refreshToken: 'revoked' },
      },
      loginUrl: emu.url,
      log: quiet,
    });

    // Act
    const error = await client.createImport(definition('x')).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(IdxError);
    expect((error as IdxError).code).toBe('IDX_ELOQUA_AUTH');
  });

  it('obtains tokens with the password grant when it has no refresh token', async () => {
    // Prepare
    const client = new EloquaClient({
      auth: {
        kind: 'oauth2',
        clientId: LOCAL_ELOQUA.clientId,
        clientSecret: LOCAL_ELOQUA.clientSecret,
        grant: { company: LOCAL_ELOQUA.company, username: LOCAL_ELOQUA.username, password: LOCAL_ELOQUA.password },
      },
      loginUrl: emu.url,
      log: quiet,
    });

    // Act
    const uri = await client.createImport(definition('password grant'));

    // Assess
    expect(uri).toMatch(/^\/contacts\/imports\/\d+$/);
    expect(client.refreshes).toBe(1);
  });

  it('refuses a wrong password with IDX_ELOQUA_AUTH, never retried', async () => {
    // Prepare
    const client = basic({
      auth: { kind: 'basic', company: LOCAL_ELOQUA.company, username: 'idx', password: 'wrong' },
    });

    // Act
    const error = (await client.createImport(definition('x')).catch((e: unknown) => e)) as IdxError;

    // Assess
    expect(error.code).toBe('IDX_ELOQUA_AUTH');
    expect(error.transient).toBe(false);
    expect(client.retries).toBe(0);
  });

  it('backs off on 429 and 503 and then succeeds', async () => {
    // Prepare
    const client = basic();
    await client.createImport(definition('warm up'));
    emu.faults.failNext(/^POST \/contacts\/imports$/, 429, 2, { retryAfter: 0 });
    emu.faults.failNext(/^POST \/contacts\/imports$/, 503, 1);

    // Act
    const uri = await client.createImport(definition('after throttling'));

    // Assess
    expect(uri).toMatch(/^\/contacts\/imports\/\d+$/);
    expect(client.retries).toBe(3);
  });

  it('gives up after its attempts with a transient IDX_ELOQUA_API carrying Eloqua’s message', async () => {
    // Prepare
    const client = basic({ attempts: 3 });
    emu.faults.failNext(/^POST \/contacts\/imports$/, 503, 5);

    // Act
    const error = (await client.createImport(definition('x')).catch((e: unknown) => e)) as IdxError;

    // Assess
    expect(error.code).toBe('IDX_ELOQUA_API');
    expect(error.transient).toBe(true);
    expect(error.message).toContain('There was a timeout processing the request.');
    expect(client.retries).toBe(2);
  });

  it('reports a validation error with Eloqua’s failures, never retried', async () => {
    // Prepare
    const client = basic();

    // Act
    const error = (await client
      .createImport({ ...definition('bad'), identifierFieldName: 'nope' })
      .catch((e: unknown) => e)) as IdxError;

    // Assess
    expect(error.code).toBe('IDX_ELOQUA_API');
    expect(error.transient).toBe(false);
    expect(error.message).toContain('identifierFieldName: Must be one of the keys of fields');
    expect(client.retries).toBe(0);
  });

  it('discovers the base URL again when the instance moved to another pod', async () => {
    // Prepare
    const client = basic();
    await client.createImport(definition('before the move'));
    const before = client.where;
    emu.movePod();

    // Act
    const uri = await client.createImport(definition('after the move'));

    // Assess
    expect(uri).toMatch(/^\/contacts\/imports\/\d+$/);
    expect(client.where).not.toBe(before);
    expect(client.where).toBe(`${emu.base()}/api/bulk/2.0`);
  });

  it('exports contacts matching a delta filter and pages their data with hasMore', async () => {
    // Prepare
    const client = basic();
    for (let i = 0; i < 25; i++) emu.put({ C_EmailAddress: `page${i}@example.com`, C_Gigya_UID1: `p-${i}` });
    const uri = await client.createExport({
      name: 'paged',
      fields: { email: '{{Contact.Field(C_EmailAddress)}}', subscribed: '{{Contact.Email.IsSubscribed}}' },
      filter:
        "'{{Contact.Field(C_EmailAddress)}}' ~ 'page%' AND '{{Contact.Field(C_DateModified)}}' >= '2000-01-01 00:00:00'",
    });
    const sync = await client.sync(uri);
    await client.waitForSync(sync.uri, poll);

    // Act
    const pages = [];
    for (let offset = 0; ; offset += 10) {
      const page = await client.data(sync.uri, offset, 10);
      pages.push(page);
      if (!page.hasMore) break;
    }

    // Assess
    expect(pages.map((p) => p.items.length)).toEqual([10, 10, 5]);
    expect(pages[0]?.totalResults).toBe(25);
    expect(pages[0]?.items[0]).toEqual({ email: 'page0@example.com', subscribed: 'True' });
  });
});

describe('the Eloqua emulator', () => {
  it('answers a data POST over its size limit with 404 and the 501st POST before a sync with 400, as Eloqua does', async () => {
    // Prepare
    const small = await startEloquaEmulator({ maxPostBytes: 1000 });
    const client = new EloquaClient({
      auth: {
        kind: 'basic',
        company: LOCAL_ELOQUA.company,
        username: LOCAL_ELOQUA.username,
        password: LOCAL_ELOQUA.password,
      },
      loginUrl: small.url,
      log: quiet,
    });
    try {
      const uri = await client.createImport(definition('limits'));
      const row = JSON.stringify([{ uid: 'u', email: 'u@example.com' }]);

      // Act
      const big = (await client.upload(uri, `[${'{"uid":"x"},'.repeat(100)}{}]`).catch((e: unknown) => e)) as IdxError;
      for (let i = 0; i < 500; i++) await client.upload(uri, row);
      const tooMany = (await client.upload(uri, row).catch((e: unknown) => e)) as IdxError;

      // Assess
      expect(big.details).toMatchObject({ status: 404 });
      expect(tooMany.details).toMatchObject({ status: 400 });
      expect(tooMany.message).toContain('At most 500 data files per sync');
    } finally {
      await small.close();
    }
  });

  it('syncs each data POST on its own when isSyncTriggeredOnImport is left to its default, and reads CSV', async () => {
    // Prepare
    const client = basic();
    const uri = await client.createImport({ ...definition('triggered'), isSyncTriggeredOnImport: undefined });

    // Act
    const sync = await client.call<{ uri: string; status: string }>(
      'POST',
      `${uri}/data`,
      'uid,email\r\ncsv-1,"csv.one@example.com"\r\n',
      'text/csv',
    );
    const done = await client.waitForSync(sync.uri, poll);

    // Assess
    expect(sync.status).toBe('pending');
    expect(done.status).toBe('success');
    expect(emu.find('C_Gigya_UID1', 'csv-1')?.fields.C_EmailAddress).toBe('csv.one@example.com');
  });
});
