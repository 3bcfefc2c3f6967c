/**
 * The public Marketo dataflow (12), run locally through the compiled state machine against the Marketo emulator:
 * its elided client id and secret become the emulated service's (the secret as a ${secret:…} reference) and its
 * elided `baseUrl` stays, which in local mode means the emulator. Each test checks the leads record by record.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFile, validateText } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import { LOCAL_MARKETO, type MarketoEmulator, startMarketoEmulator } from '../../lib/local/marketo-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { keptEmulatorExtra, keptGigyaExtra, useLocalEnvironment } from '../support/local.ts';
import { rejectedRecords } from '../support/rejected.ts';

const FILE = '12-marketo-outbound.json';

/** Accounts of the Gigya emulator: generated ones, some with likes, one with an address Marketo refuses. */
const ACCOUNTS: GigyaAccount[] = [...generateAccounts({ count: 20, seed: 12 })];
const profileOf = (a: GigyaAccount) => (a as unknown as { profile: Record<string, unknown> }).profile;
const uidOf = (a: GigyaAccount) => (a as { UID: string }).UID;
for (const [i, a] of ACCOUNTS.entries())
  if (i % 3 === 0) profileOf(a).likes = [{ name: 'Golf, "links"', category: 'Sport' }];
const BAD_EMAIL = ACCOUNTS[4] as GigyaAccount;
profileOf(BAD_EMAIL).email = 'not-an-address';

let marketo: MarketoEmulator | undefined;
const local = useLocalEnvironment({
  secrets: { MKTO_SECRET: LOCAL_MARKETO.clientSecret },
  extras: [
    keptGigyaExtra(ACCOUNTS),
    keptEmulatorExtra(
      () => startMarketoEmulator(),
      (emu) => ({ marketo: emu.url }),
      (emu) => {
        marketo = emu;
      },
    ),
  ],
});

/** Dataflow 12 with the emulated service, polls without waiting, and pages of 5 accounts. */
function flow(extra: Record<string, unknown> = {}) {
  const source = JSON.parse(readFileSync(join(FIXTURES_DIR, FILE), 'utf8')) as {
    steps: { id: string; params?: Record<string, unknown> }[];
  };
  for (const step of source.steps) {
    if (step.id === 'marketo')
      step.params = {
        ...step.params,
        clientId: LOCAL_MARKETO.clientId,
        clientSecret: '${secret:MKTO_SECRET}',
        pollSeconds: 0,
        rateLimitWaitSeconds: 0.2,
        ...extra,
      };
    if (step.id === 'account') step.params = { ...step.params, batchSize: 5 };
  }
  const { dataflow, valid, problems } = validateText(JSON.stringify(source), defaultRegistry(), { file: FILE });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

async function run(dataflow: ReturnType<typeof flow>, invocationBudgetMs?: number) {
  return runLocal(dataflow, {
    services: local.env.services,
    registry: defaultRegistry(),
    input: { fullExtract: true },
    ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
  });
}

/** The leads by email, fields only. */
function leadsByEmail(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const l of (marketo as MarketoEmulator).leads.values()) out[l.fields.email ?? ''] = l.fields;
  return out;
}

describe('the public Marketo dataflow', () => {
  it('validates unchanged with no error', () => {
    // Act
    const result = validateFile(join(FIXTURES_DIR, FILE), defaultRegistry());

    // Assess
    expect(result.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('dataflow 12 (Marketo outbound) run locally', () => {
  it('creates and updates leads by email and rejects exactly the rows Marketo refused, with its reason', async () => {
    // Prepare: one lead already in Marketo, one row refused.
    const emu = marketo as MarketoEmulator;
    emu.clear();
    const existing = ACCOUNTS[0] as GigyaAccount;
    const before = emu.insert({ email: String(profileOf(existing).email), firstName: 'Old', gUID: 'old' });
    const refused = ACCOUNTS[9] as GigyaAccount;
    emu.refuseRow(String(profileOf(refused).email), 'Lead is blocklisted');

    // Act
    const result = await run(flow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.marketo).toMatchObject({ recordsOut: ACCOUNTS.length - 2, recordsRejected: 2 });
    const leads = leadsByEmail();
    expect(Object.keys(leads)).toHaveLength(ACCOUNTS.length - 2);
    for (const account of ACCOUNTS) {
      const profile = profileOf(account);
      const lead = leads[String(profile.email)];
      if (account === BAD_EMAIL || account === refused) {
        expect(lead).toBeUndefined();
        continue;
      }
      expect(lead).toEqual({
        email: profile.email,
        firstName: profile.firstName,
        lastName: profile.lastName,
        gUID: uidOf(account),
        ...(profile.likes ? { fblikes: JSON.stringify(profile.likes) } : {}),
      });
    }
    expect(emu.leads.get(before.id)?.fields.gUID).toBe(uidOf(existing));
    const rejects = new Map(
      (await rejectedRecords(local.env.services.s3, result.job, 'marketo')).map((r) => [
        r.gUID,
        (r._errorDetails as { message: string }).message,
      ]),
    );
    expect(rejects).toEqual(
      new Map([
        [uidOf(BAD_EMAIL), 'Invalid email address: not-an-address'],
        [uidOf(refused), 'Lead is blocklisted'],
      ]),
    );
  });

  it('with a 1 ms invocation budget leaves the leads a normal run leaves', async () => {
    // Prepare
    const emu = marketo as MarketoEmulator;
    emu.clear();
    await run(flow());
    const normal = leadsByEmail();
    const normalRows = emu.imports.reduce((n, b) => n + b.rows, 0);
    emu.clear();

    // Act
    const tiny = await run(flow(), 1);

    // Assess
    expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
    expect(leadsByEmail()).toEqual(normal);
    expect(Object.keys(normal)).toHaveLength(ACCOUNTS.length - 1);
    expect(tiny.job?.steps.marketo?.invocations).toBeGreaterThan(1);
    // Every record reached Marketo once.
    expect(emu.imports.reduce((n, b) => n + b.rows, 0)).toBe(normalRows);
  });

  it('renews an expired token once and waits out a 606 rate limit and a 502', async () => {
    // Prepare
    const emu = marketo as MarketoEmulator;
    emu.clear();
    emu.fault({ path: /^\/bulk\/v1\/leads\.json$/, code: '602' });
    emu.fault({ path: /^\/bulk\/v1\/leads\/batch\/\d+\.json$/, code: '606' });
    emu.fault({ path: /^\/bulk\/v1\/leads\/batch\/\d+\.json$/, status: 502 });

    // Act
    const result = await run(flow({ batchSize: 100 }));

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(Object.keys(leadsByEmail())).toHaveLength(ACCOUNTS.length - 1);
    expect(emu.calls.filter((c) => c.endsWith('/identity/oauth/token')).length).toBeGreaterThanOrEqual(2);
    expect(emu.imports.reduce((n, b) => n + b.rows, 0)).toBe(ACCOUNTS.length);
  });

  it('fails the job with Marketo’s message when a batch fails server-side', async () => {
    // Prepare
    const emu = marketo as MarketoEmulator;
    emu.clear();
    emu.failNextImport('Import failed: the lead database is being migrated');

    // Act
    const result = await run(flow());

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_MARKETO_JOB_FAILED');
    expect(JSON.stringify(result.error)).toContain('the lead database is being migrated');
  });

  it('fails with a coded error when a column is not a Marketo field', async () => {
    // Prepare
    const emu = marketo as MarketoEmulator;
    emu.clear();
    const source = flow();
    const rename = source.steps.find((s) => s.id === 'rename') as unknown as {
      params: { fields: { targetField: string }[] };
    };
    (rename.params.fields[4] as { targetField: string }).targetField = 'facebookLikes';

    // Act
    const result = await run(source);

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_MARKETO_JOB_FAILED');
    expect(JSON.stringify(result.error)).toContain("Field 'facebookLikes' not found");
  });
});
