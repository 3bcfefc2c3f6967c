/**
 * The public Salesforce (08) and Marketing Cloud (09) dataflows, run locally through the compiled state machine
 * against the Salesforce and Marketing Cloud emulators: their elided credentials become ${secret:…} references and
 * their elided ids the emulated org's, nothing else changes. Each test checks the platform's state record by
 * record: created, updated, or rejected with the platform's reason.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile, validateText } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import {
  LOCAL_MARKETING_CLOUD,
  type MarketingCloudEmulator,
  startMarketingCloudEmulator,
} from '../../lib/local/marketing-cloud-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import {
  LOCAL_SALESFORCE,
  type SalesforceEmulator,
  startSalesforceEmulator,
} from '../../lib/local/salesforce-emulator.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { useLocalEnvironment } from '../support/local.ts';
import { writerRejects } from '../support/rejected.ts';

const SALESFORCE_FILE = '08-salesforce-outbound.json';
const MARKETING_CLOUD_FILE = '09-sfmc-exacttarget-outbound.json';

/** The columns dataflow 08 sends: its rename targets, the evaluated field, and the Person Account's LastName. */
const ACCOUNT_FIELDS = [
  'FirstName',
  'LastName',
  'PersonMailingPostalCode',
  'PersonMailingCity',
  'PersonMailingCountry',
  'Unique_Email_Gigya__c',
  'AddressTest__c',
  'Verified__c',
  'Create_time__c',
  'Last_login_time__c',
  'Age__c',
  'Bio__c',
  'BirthDay__c',
  'BirthMonth__c',
  'BirthYear__c',
  'Gender__c',
  'Phone',
  'Golf_Handicap_Number__pc',
];

/** Accounts of the Gigya emulator: generated ones, one with a bad address and one without a last name. */
const ACCOUNTS: GigyaAccount[] = [...generateAccounts({ count: 24, seed: 8 })];
const BAD_EMAIL = ACCOUNTS[3] as GigyaAccount & { profile: Record<string, unknown> };
BAD_EMAIL.profile.email = 'not-an-address';
const NO_LAST_NAME = ACCOUNTS[5] as GigyaAccount & { profile: Record<string, unknown> };
delete NO_LAST_NAME.profile.lastName;
const uidOf = (a: GigyaAccount) => (a as { UID: string }).UID;
const profileOf = (a: GigyaAccount) => (a as unknown as { profile: Record<string, unknown> }).profile;

let salesforce: SalesforceEmulator | undefined;
let marketingCloud: MarketingCloudEmulator | undefined;
const local = useLocalEnvironment({
  secrets: {
    SF_PASSWORD: LOCAL_SALESFORCE.password,
    SF_TOKEN: LOCAL_SALESFORCE.securityToken,
    MC_SECRET: LOCAL_MARKETING_CLOUD.clientSecret,
  },
  extras: [
    async () => {
      const started = await startGigyaEmulator({ accounts: ACCOUNTS });
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
    async () => {
      salesforce = await startSalesforceEmulator({
        // A closed job is in progress at the first poll, so each group costs one 200 ms wait.
        pollsToComplete: 0,
        objects: [
          {
            name: 'Account',
            externalIds: ['ZZ00_rtl_id__c'],
            fields: ACCOUNT_FIELDS,
            required: ['LastName'],
            emails: ['Unique_Email_Gigya__c'],
          },
        ],
      });
      const emu = salesforce;
      return { endpoints: { salesforce: emu.url }, close: () => emu.close() };
    },
    async () => {
      marketingCloud = await startMarketingCloudEmulator();
      const emu = marketingCloud;
      return { endpoints: { marketingCloud: emu.url }, close: () => emu.close() };
    },
  ],
});

/** A public dataflow with some params of its steps replaced (by step id), validated with no error. */
function localised(file: string, replace: Record<string, Record<string, unknown>>) {
  const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as {
    steps: { id: string; params: Record<string, unknown> }[];
  };
  for (const [stepId, params] of Object.entries(replace))
    Object.assign(flow.steps.find((s) => s.id === stepId)?.params ?? {}, params);
  const { dataflow, valid, problems } = validateText(JSON.stringify(flow), defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

/**
 * Pages of 12 accounts for the runs that compare budgets, so 24 accounts arrive in several batches and a 1 ms
 * budget cuts the writer between them (the default page, 1000, would bring them in one).
 */
const SMALL_PAGES = { account: { batchSize: 12 } };

/** Dataflow 08 with the emulated org's user and its External ID field; authEndpoint stays test.salesforce.com. */
function salesforceFlow(extra: Record<string, Record<string, unknown>> = {}) {
  return localised(SALESFORCE_FILE, {
    salesforce: {
      username: LOCAL_SALESFORCE.username,
      password: '${secret:SF_PASSWORD}',
      token: '${secret:SF_TOKEN}',
      primaryId: 'ZZ00_rtl_id__c',
    },
    ...extra,
  });
}

/** Dataflow 09 with the emulated package's credentials; authBaseUrl left out (the emulator in local mode). */
function marketingCloudFlow(extra: Record<string, Record<string, unknown>> = {}) {
  return localised(MARKETING_CLOUD_FILE, {
    exacttarget: { clientId: LOCAL_MARKETING_CLOUD.clientId, clientSecret: '${secret:MC_SECRET}' },
    ...extra,
  });
}

async function run(dataflow: ReturnType<typeof salesforceFlow>, invocationBudgetMs?: number, oneAttempt = false) {
  return runLocal(dataflow, {
    services: local.env.services,
    registry: defaultRegistry(),
    input: { fullExtract: true },
    ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    // A job that fails is not run again: the test is about its first failure.
    ...(oneAttempt ? { attempts: { maxAttempts: 1 } } : {}),
  });
}

/** The Account records of the emulated org by external id, without their Ids and timestamps. */
function accountsByUid(): Record<string, Record<string, string | null>> {
  const out: Record<string, Record<string, string | null>> = {};
  for (const r of (salesforce as SalesforceEmulator).records('Account').values()) {
    const { SystemModstamp: _, ...fields } = r.fields;
    out[String(fields.ZZ00_rtl_id__c)] = fields;
  }
  return out;
}

describe('the public Salesforce and Marketing Cloud dataflows', () => {
  it('validate unchanged with no error', () => {
    // Prepare
    const files = [SALESFORCE_FILE, MARKETING_CLOUD_FILE].map((f) => join(FIXTURES_DIR, f));

    // Act
    const results = files.map((f) => validateFile(f, defaultRegistry()));

    // Assess
    for (const r of results) expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('dataflow 08 (Salesforce) run locally', () => {
  it('creates and updates Accounts by the UID External ID and rejects exactly the rows Salesforce fails, with its reason', async () => {
    // Prepare: one account already in Salesforce, one row refused by a validation rule.
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    const existing = ACCOUNTS[0] as GigyaAccount;
    const before = emu.insert('Account', { ZZ00_rtl_id__c: uidOf(existing), LastName: 'Old', Bio__c: 'kept' });
    const ruled = ACCOUNTS[7] as GigyaAccount;
    emu.refuseRow(uidOf(ruled), 'FIELD_CUSTOM_VALIDATION_EXCEPTION:Country is not served:--');

    // Act
    const result = await run(salesforceFlow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const step = result.job?.steps.salesforce;
    expect(step).toMatchObject({ recordsIn: ACCOUNTS.length, recordsOut: ACCOUNTS.length - 3, recordsRejected: 3 });
    const state = accountsByUid();
    expect(Object.keys(state)).toHaveLength(ACCOUNTS.length - 3);
    for (const account of ACCOUNTS) {
      const uid = uidOf(account);
      const profile = profileOf(account);
      if (account === BAD_EMAIL || account === NO_LAST_NAME || account === ruled) {
        expect(state[uid]).toBeUndefined();
        continue;
      }
      expect(state[uid]).toMatchObject({
        FirstName: profile.firstName,
        LastName: profile.lastName,
        PersonMailingCity: profile.city,
        Unique_Email_Gigya__c: profile.email,
        BirthYear__c: String(profile.birthYear),
        // The dataflow's evaluate step writes Salesforce's #N/A, which clears the field.
        Golf_Handicap_Number__pc: null,
      });
    }
    // Updated in place: the same Id, the fields the row did not carry kept.
    expect(emu.records('Account').get(before.Id)?.fields).toMatchObject({
      LastName: profileOf(existing).lastName,
      Bio__c: 'kept',
    });
    const rejects = await rejectedOf(result);
    expect(rejects.get(uidOf(BAD_EMAIL))).toMatch(/^INVALID_EMAIL_ADDRESS:/);
    expect(rejects.get(uidOf(NO_LAST_NAME))).toMatch(/^REQUIRED_FIELD_MISSING:.*LastName/);
    expect(rejects.get(uidOf(ruled))).toBe('FIELD_CUSTOM_VALIDATION_EXCEPTION:Country is not served:--');
    expect(rejects.size).toBe(3);
  });

  it('with a 1 ms invocation budget leaves Salesforce in the state a normal run leaves it', async () => {
    // Prepare
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    const normal = await run(salesforceFlow(SMALL_PAGES));
    const normalState = accountsByUid();
    emu.clear();

    // Act
    const tiny = await run(salesforceFlow(SMALL_PAGES), 1);

    // Assess
    expect(normal.status, JSON.stringify(normal.error)).toBe('succeeded');
    expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
    expect(accountsByUid()).toEqual(normalState);
    expect(Object.keys(normalState)).toHaveLength(ACCOUNTS.length - 2);
    expect(tiny.job?.steps.salesforce?.invocations).toBeGreaterThan(1);
    // Every record reached Salesforce once: no group was uploaded twice.
    expect(emu.jobs.reduce((n, j) => n + j.rows, 0)).toBe(ACCOUNTS.length);
  });

  it('writes groups of batchSize records as one ingest job each, leaving the state one job leaves', async () => {
    // Prepare
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    await run(salesforceFlow());
    const oneJob = accountsByUid();
    emu.clear();
    const params = salesforceFlow().steps.find((s) => s.id === 'salesforce')?.params;

    // Act
    const result = await run(salesforceFlow({ salesforce: { ...params, batchSize: 10 } }));

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.jobs.map((j) => j.rows)).toEqual([10, 10, 4]);
    expect(accountsByUid()).toEqual(oneJob);
  });

  it('logs in again once when the session expires, and waits out 429 and REQUEST_LIMIT_EXCEEDED', async () => {
    // Prepare
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    emu.fault({
      method: 'PUT',
      path: /\/batches$/,
      status: 401,
      body: [{ errorCode: 'INVALID_SESSION_ID', message: 'Session expired or invalid' }],
    });
    emu.fault({
      method: 'POST',
      path: /^\/jobs\/ingest$/,
      status: 429,
      body: [{ errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'ConcurrentRequests' }],
    });
    emu.fault({
      method: 'PATCH',
      path: /^\/jobs\/ingest\//,
      status: 403,
      body: [{ errorCode: 'REQUEST_LIMIT_EXCEEDED', message: 'TotalRequests Limit exceeded.' }],
    });

    // Act
    const result = await run(salesforceFlow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.calls.filter((c) => c.startsWith('POST /services/Soap/u/64.0'))).toHaveLength(2);
    expect(emu.calls.filter((c) => c === 'POST /jobs/ingest')).toHaveLength(2);
    expect(emu.calls.filter((c) => /^PUT .*\/batches$/.test(c))).toHaveLength(2);
    expect(emu.jobs.filter((j) => j.state === 'JobComplete')).toHaveLength(1);
    expect(Object.keys(accountsByUid())).toHaveLength(ACCOUNTS.length - 2);
  });

  it('resumes the ingest job by id when the invocation that started it dies, uploading no record twice', async () => {
    // Prepare
    const emu = salesforce as SalesforceEmulator;
    emu.clear();

    // Act: the first invocation of the Task that writes does its work, then dies before it answers.
    const result = await runLocal(salesforceFlow(), {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
      faults: { crashStepInvocations: [1], crashCountsOnlyStep: 'salesforce' },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.jobs).toHaveLength(1);
    expect(emu.calls.filter((c) => /^PUT .*\/batches$/.test(c))).toHaveLength(1);
    expect(emu.calls.filter((c) => /^GET \/jobs\/ingest\/[^/]+\/successfulResults\/$/.test(c))).toHaveLength(2);
    expect(Object.keys(accountsByUid())).toHaveLength(ACCOUNTS.length - 2);
  });

  it('aborts a job left open by a failed close and sends its group once in a new job', async () => {
    // Prepare: the close fails once, with no attempt left in the invocation, so the step is retried.
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    emu.fault({
      method: 'PATCH',
      path: /^\/jobs\/ingest\//,
      status: 503,
      body: [{ errorCode: 'SERVER_UNAVAILABLE', message: 'try later' }],
    });

    // Act
    const result = await run(
      salesforceFlow({
        salesforce: { ...salesforceFlow().steps.find((s) => s.id === 'salesforce')?.params, maxAttempts: 1 },
      }),
    );

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.jobs.map((j) => j.state)).toEqual(['Aborted', 'JobComplete']);
    expect(emu.jobs.reduce((n, j) => n + j.rows, 0)).toBe(ACCOUNTS.length);
    expect(Object.keys(accountsByUid())).toHaveLength(ACCOUNTS.length - 2);
  });

  it('fails the job with IDX_SALESFORCE_JOB and Salesforce’s message when the ingest job fails server-side', async () => {
    // Prepare
    const emu = salesforce as SalesforceEmulator;
    emu.clear();
    emu.failNextJob('InvalidBatch : Failed to process query: UNABLE_TO_LOCK_ROW');

    // Act
    const result = await run(salesforceFlow());

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_SALESFORCE_JOB');
    expect(JSON.stringify(result.error)).toContain('UNABLE_TO_LOCK_ROW');
    expect(Object.keys(accountsByUid())).toHaveLength(0);
  });
});

describe('dataflow 09 (Marketing Cloud) run locally', () => {
  it('upserts every account into the data extension by GUID and EMAIL, rejecting exactly the refused rows with Marketing Cloud’s message', async () => {
    // Prepare: a row already there for the first account; one row refused by the data extension.
    const emu = marketingCloud as MarketingCloudEmulator;
    const first = ACCOUNTS[0] as GigyaAccount;
    const table = emu.rows('GigyaSubscribers') as Map<string, Record<string, string>>;
    table.clear();
    table.set(`${uidOf(first)}|${String(profileOf(first).email)}`, {
      GUID: uidOf(first),
      EMAIL: String(profileOf(first).email),
      FNAME: 'Old',
      UNAME: 'kept',
    });
    const refused = ACCOUNTS[9] as GigyaAccount;
    emu.refuseRow(`${uidOf(refused)}|${String(profileOf(refused).email)}`, 'The value for column [FNAME] is blocked.');

    // Act
    const result = await run(marketingCloudFlow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.exacttarget).toMatchObject({ recordsIn: ACCOUNTS.length, recordsRejected: 2 });
    const rows = emu.rows('GigyaSubscribers');
    expect(rows.size).toBe(ACCOUNTS.length - 2);
    for (const account of ACCOUNTS) {
      const profile = profileOf(account);
      const row = rows.get(`${uidOf(account)}|${String(profile.email)}`);
      if (account === BAD_EMAIL || account === refused) {
        expect(row).toBeUndefined();
        continue;
      }
      expect(row).toMatchObject({ GUID: uidOf(account), EMAIL: profile.email, FNAME: profile.firstName });
    }
    expect(rows.get(`${uidOf(first)}|${String(profileOf(first).email)}`)?.UNAME).toBe('kept');
    const rejects = await rejectedOf(result, 'GUID');
    expect(rejects.get(uidOf(BAD_EMAIL))).toMatch(/not a valid email address/);
    expect(rejects.get(uidOf(refused))).toBe('The value for column [FNAME] is blocked.');
  });

  it('fails the job with IDX_MARKETING_CLOUD_API and Marketing Cloud’s message when the server keeps failing', async () => {
    // Prepare: every rowset call fails, in every attempt of the job.
    const emu = marketingCloud as MarketingCloudEmulator;
    emu.fault({
      path: /rowset$/,
      status: 500,
      body: { message: 'An error occurred while saving rows', errorcode: 10000, documentation: '' },
      times: 100,
    });

    // Act
    const result = await run(
      marketingCloudFlow({ exacttarget: { ...marketingCloudFlow().steps[2]?.params, maxAttempts: 1 } }),
      undefined,
      true,
    );
    emu.clearFaults();

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_MARKETING_CLOUD_API');
    expect(JSON.stringify(result.error)).toContain('An error occurred while saving rows');
  });

  it('gets a new token once when it expires, waits out a 429 with Retry-After, and with a 1 ms budget leaves the same rows', async () => {
    // Prepare
    const emu = marketingCloud as MarketingCloudEmulator;
    const table = emu.rows('GigyaSubscribers') as Map<string, Record<string, string>>;
    table.clear();
    await run(marketingCloudFlow(SMALL_PAGES));
    const normal = new Map(table);
    expect(normal.size).toBe(ACCOUNTS.length - 2);
    table.clear();
    emu.expireTokens();
    emu.fault({
      path: /rowset$/,
      status: 429,
      body: { message: 'Rate limit exceeded', errorcode: 50100, retryAfter: 1 },
      headers: { 'retry-after': '1' },
    });
    const callsBefore = emu.calls.length;

    // Act
    const result = await run(marketingCloudFlow(SMALL_PAGES), 1);

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(new Map(table)).toEqual(normal);
    expect(result.job?.steps.exacttarget?.invocations).toBeGreaterThan(1);
    const calls = emu.calls.slice(callsBefore).map((c) => c.call);
    expect(calls.filter((c) => c === 'POST /v2/token').length).toBeGreaterThanOrEqual(1);
  });
});

/** The rejected records of a run, by their key field (the UID under its Salesforce name), with their message. */
async function rejectedOf(
  result: Awaited<ReturnType<typeof run>>,
  keyField = 'ZZ00_rtl_id__c',
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of await writerRejects(local.env.services, result))
    out.set(String(r[keyField]), String((r._errorDetails as { message: string }).message));
  return out;
}
