/**
 * The Salesforce client against the Salesforce emulator on loopback: SOAP login and its faults, the OAuth flows,
 * a session renewed once, retries that run out, and CSV cells that need quoting going through an ingest job and
 * its result sets unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvLine } from '../../../lib/connectors/csv-cells.ts';
import { type SalesforceAuth, SalesforceClient } from '../../../lib/connectors/salesforce.ts';
import type { Logger } from '../../../lib/core/logger.ts';
import {
  LOCAL_SALESFORCE,
  type SalesforceEmulator,
  startSalesforceEmulator,
} from '../../../lib/local/salesforce-emulator.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
let emu: SalesforceEmulator;

beforeAll(async () => {
  emu = await startSalesforceEmulator({
    objects: [{ name: 'Contact', externalIds: ['Gigya_UID__c'], fields: ['LastName', 'Description'] }],
    blockUsernamePassword: true,
  });
});
afterAll(() => emu.close());

function soap(overrides: Partial<Extract<SalesforceAuth, { kind: 'soap' }>> = {}): SalesforceClient {
  return new SalesforceClient({
    auth: {
      kind: 'soap',
      loginUrl: `${emu.url}/services/Soap/u/64.0`,
      username: LOCAL_SALESFORCE.username,
      password: LOCAL_SALESFORCE.password,
      securityToken: LOCAL_SALESFORCE.securityToken,
      ...overrides,
    },
    log: quiet,
    baseDelayMs: 1,
    maxDelayMs: 2,
    attempts: 3,
  });
}

describe('SalesforceClient', () => {
  it('refuses a wrong security token with IDX_SALESFORCE_AUTH carrying the SOAP fault', async () => {
    // Prepare
    const client = soap({ securityToken: 'wrong' });

    // Act
    const failure = await client.createUpsertJob('Contact', 'Gigya_UID__c').catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({ code: 'IDX_SALESFORCE_AUTH', received: expect.stringContaining('INVALID_LOGIN') });
  });

  it('gets UNSUPPORTED_API_VERSION from SOAP login at v65.0, where Salesforce no longer offers it', async () => {
    // Prepare
    const client = soap({ loginUrl: `${emu.url}/services/Soap/u/65.0` });

    // Act
    const failure = await client.getJob('750x').catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({
      code: 'IDX_SALESFORCE_AUTH',
      received: expect.stringContaining('UNSUPPORTED_API_VERSION'),
    });
  });

  it('logs in with OAuth client credentials, and is refused the username-password flow an org blocks', async () => {
    // Prepare
    const oauth = (username?: string) =>
      new SalesforceClient({
        auth: {
          kind: 'oauth2',
          tokenUrl: `${emu.url}/services/oauth2/token`,
          clientId: LOCAL_SALESFORCE.clientId,
          clientSecret: LOCAL_SALESFORCE.clientSecret,
          ...(username
            ? { username, password: LOCAL_SALESFORCE.password, securityToken: LOCAL_SALESFORCE.securityToken }
            : {}),
        },
        log: quiet,
      });

    // Act
    const job = await oauth().createUpsertJob('contact', 'Gigya_UID__c');
    const blocked = await oauth(LOCAL_SALESFORCE.username)
      .createUpsertJob('Contact', 'Gigya_UID__c')
      .catch((e: unknown) => e);

    // Assess
    expect(job).toMatchObject({ state: 'Open', object: 'Contact' });
    expect(blocked).toMatchObject({ code: 'IDX_SALESFORCE_AUTH', received: expect.stringContaining('invalid_grant') });
  });

  it('logs in again once on a 401 and gives up with IDX_SALESFORCE_AUTH on the second', async () => {
    // Prepare
    const client = soap();
    const expired = [{ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' }];
    emu.fault({ method: 'GET', path: /^\/jobs\/ingest\/once$/, status: 401, body: expired, times: 1 });
    emu.fault({ method: 'GET', path: /^\/jobs\/ingest\/twice$/, status: 401, body: expired, times: 2 });

    // Act
    const once = await client.getJob('once').catch((e: unknown) => e);
    const twice = await client.getJob('twice').catch((e: unknown) => e);

    // Assess
    expect(once).toMatchObject({ code: 'IDX_SALESFORCE_API', received: 'HTTP 404 NOT_FOUND' });
    expect(twice).toMatchObject({ code: 'IDX_SALESFORCE_AUTH' });
    expect(client.logins).toBe(3);
  });

  it('retries 503 and REQUEST_LIMIT_EXCEEDED, then reports a transient IDX_SALESFORCE_API when attempts run out', async () => {
    // Prepare
    const client = soap();
    const limit = [{ errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'TotalRequests Limit exceeded.' }];
    emu.fault({ method: 'POST', path: /^\/jobs\/ingest$/, status: 403, body: limit, times: 3 });

    // Act
    const failure = await client.createUpsertJob('Contact', 'Gigya_UID__c').catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({
      code: 'IDX_SALESFORCE_API',
      transient: true,
      received: 'HTTP 403 REQUEST_LIMIT_EXCEEDED',
    });
    expect(client.retries).toBe(2);
  });

  it('carries cells with commas, quotes and line breaks through a job and its results unchanged', async () => {
    // Prepare
    const client = soap();
    const tricky = 'a "quoted", multi\nline value';
    const job = await client.createUpsertJob('Contact', 'Gigya_UID__c');

    // Act
    await client.upload(
      job.id,
      `${csvLine(['Gigya_UID__c', 'LastName', 'Description'])}\n${csvLine(['u-1', 'Doe', tricky])}\n`,
    );
    await client.close(job.id);
    const done = await client.waitForJob(job.id, { firstPollMs: 1, maxPollMs: 5, timeoutMs: 5000 });
    const results = await client.results(job.id, 'successfulResults');

    // Assess
    expect(done).toMatchObject({ state: 'JobComplete', numberRecordsProcessed: 1, numberRecordsFailed: 0 });
    expect(results).toEqual([
      {
        sf__Id: expect.stringMatching(/^003/),
        sf__Created: 'true',
        Gigya_UID__c: 'u-1',
        LastName: 'Doe',
        Description: tricky,
      },
    ]);
    expect(emu.find('Contact', 'Gigya_UID__c', 'u-1')?.fields.Description).toBe(tricky);
  });

  it('sees a job with a column the object does not have end Failed with Salesforce’s message, every row unprocessed', async () => {
    // Prepare
    const client = soap();
    const job = await client.createUpsertJob('Contact', 'Gigya_UID__c');

    // Act
    await client.upload(job.id, 'Gigya_UID__c,Nickname__c\nu-2,x\n');
    await client.close(job.id);
    const done = await client.waitForJob(job.id, { firstPollMs: 1, maxPollMs: 5, timeoutMs: 5000 });
    const unprocessed = await client.results(job.id, 'unprocessedrecords');

    // Assess
    expect(done).toMatchObject({ state: 'Failed', errorMessage: expect.stringContaining('Nickname__c') });
    expect(unprocessed).toEqual([{ Gigya_UID__c: 'u-2', Nickname__c: 'x' }]);
  });
});
