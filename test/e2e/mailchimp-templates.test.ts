/**
 * The public Mailchimp dataflows, inbound (06) and outbound (07), run locally through the compiled state machine
 * against the Mailchimp and Gigya emulators: their elided key becomes a ${secret:…} reference and their elided
 * list id the emulated list's; `apiUrl` stays `https://<dc>.api.mailchimp.com/3.0/`, which local mode points at
 * the emulator. Each test checks the resulting state record by record.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import type { GigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import {
  type EmulatedMember,
  LOCAL_MAILCHIMP,
  type MailchimpEmulator,
  mailchimpTime,
  startMailchimpEmulator,
} from '../../lib/local/mailchimp-emulator.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { localisedFixture, runFixture, runNormalThenTiny } from '../support/fixture-runs.ts';
import { keptEmulatorExtra, keptGigyaExtra, useLocalEnvironment } from '../support/local.ts';
import { writerRejects } from '../support/rejected.ts';

const INBOUND = '06-mailchimp-inbound.json';
const OUTBOUND = '07-mailchimp-outbound.json';
const LIST = LOCAL_MAILCHIMP.listId;
const DAY = 24 * 3600 * 1000;

type Account = GigyaAccount & { UID: string; profile: Record<string, unknown>; data?: Record<string, unknown> };

/** Gigya accounts: generated, each with the Mailchimp flag of the outbound template (true for every other one). */
const ACCOUNTS = [...generateAccounts({ count: 12, seed: 6 })] as Account[];
ACCOUNTS.forEach((a, i) => {
  a.data = { ...(a.data ?? {}), mailchimp: { subscribePlatformUpdates: i % 2 === 0 } };
});
const BAD_EMAIL = ACCOUNTS[3] as Account;
BAD_EMAIL.profile.email = 'not-an-address';
/** An account whose address Mailchimp refuses in the batch (a partial batch failure). */
const REFUSED = ACCOUNTS[5] as Account;
/** An account already on the list, with an old first name and another status. */
const EXISTING = ACCOUNTS[0] as Account;
const emailOf = (a: Account) => String(a.profile.email);

let gigya: GigyaEmulator | undefined;
let mailchimp: MailchimpEmulator | undefined;
const local = useLocalEnvironment({
  secrets: { MC_KEY: LOCAL_MAILCHIMP.apiKey, MC_OTHER_KEY: 'revoked0key-us1' },
  watermarkOverlapMs: 0,
  extras: [
    keptGigyaExtra(ACCOUNTS, (emu) => {
      gigya = emu;
    }),
    keptEmulatorExtra(
      () => startMailchimpEmulator(),
      (emu) => ({ mailchimp: `${emu.url}/3.0` }),
      (emu) => {
        mailchimp = emu;
      },
    ),
  ],
});

const outbound = (extra: Record<string, Record<string, unknown>> = {}) =>
  localisedFixture(OUTBOUND, {
    mailchimp: { apiKey: '${secret:MC_KEY}', listId: LIST, ...(extra.mailchimp ?? {}) },
    ...(extra.account ? { account: extra.account } : {}),
  });
const inbound = (extra: Record<string, unknown> = {}) =>
  localisedFixture(INBOUND, { mailchimp: { apiKey: '${secret:MC_KEY}', listId: LIST, ...extra } });

const run = (dataflow: Dataflow, options: { budget?: number; fullExtract?: boolean } = {}) =>
  runFixture(local.env.services, dataflow, options);

/** Clears the list and puts the given members on it. */
function resetList(members: Omit<EmulatedMember, 'id'>[] = []) {
  const list = (mailchimp as MailchimpEmulator).members(LIST) as Map<string, EmulatedMember>;
  list.clear();
  for (const m of members) list.set(m.email_address.toLowerCase(), { ...m, id: m.email_address });
}

/** The list's members by address: status and merge fields (not the change time, which differs per run). */
function listState(): Record<string, { status: string; merge_fields: Record<string, string> }> {
  const out: Record<string, { status: string; merge_fields: Record<string, string> }> = {};
  for (const [email, m] of (mailchimp as MailchimpEmulator).members(LIST))
    out[email] = { status: m.status, merge_fields: m.merge_fields };
  return out;
}

describe('the public Mailchimp dataflows', () => {
  it('validate unchanged with no error', () => {
    // Act
    const results = [INBOUND, OUTBOUND].map((f) => validateFile(join(FIXTURES_DIR, f), defaultRegistry()));

    // Assess
    for (const r of results) expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('dataflow 07 (Mailchimp outbound) run locally', () => {
  it('creates and updates members from Gigya and rejects exactly the members Mailchimp refuses, with its reason', async () => {
    // Prepare
    resetList([
      {
        email_address: emailOf(EXISTING),
        status: 'unsubscribed',
        merge_fields: { FNAME: 'Old', UID: EXISTING.UID },
        last_changed: mailchimpTime(Date.now() - DAY),
      },
    ]);
    (mailchimp as MailchimpEmulator).refuseEmail(
      emailOf(REFUSED),
      `${emailOf(REFUSED)} was permanently deleted and cannot be re-imported.`,
      'ERROR_CONTACT_EXISTS',
    );

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.mailchimp).toMatchObject({
      recordsIn: ACCOUNTS.length,
      recordsOut: ACCOUNTS.length - 2,
      recordsRejected: 2,
    });
    const state = listState();
    expect(Object.keys(state)).toHaveLength(ACCOUNTS.length - 2);
    ACCOUNTS.forEach((a, i) => {
      const member = state[emailOf(a).toLowerCase()];
      if (a === BAD_EMAIL || a === REFUSED) expect(member).toBeUndefined();
      else
        expect(member).toEqual({
          status: i % 2 === 0 ? 'subscribed' : 'unsubscribed',
          merge_fields: {
            FNAME: String(a.profile.firstName),
            LNAME: String(a.profile.lastName),
            ...(a.profile.userName === undefined ? {} : { UNAME: String(a.profile.userName) }),
            UID: a.UID,
          },
        });
    });
    const rejects = new Map(
      (await writerRejects(local.env.services, result)).map((r) => [r.UID, r._errorDetails as Record<string, unknown>]),
    );
    expect(rejects.size).toBe(2);
    expect(rejects.get(BAD_EMAIL.UID)).toMatchObject({
      code: 'IDX_MAILCHIMP_REJECTED',
      message: 'not-an-address looks fake or invalid, please enter a real email address.',
      mailchimpCode: 'ERROR_GENERIC',
    });
    expect(rejects.get(REFUSED.UID)).toMatchObject({
      message: `${emailOf(REFUSED)} was permanently deleted and cannot be re-imported.`,
      mailchimpCode: 'ERROR_CONTACT_EXISTS',
    });
  });

  it('with a 1 ms invocation budget leaves the list in the state a normal run leaves it', async () => {
    // Prepare: pages of 3 accounts and calls of 2 members, so the budget cuts between calls.
    const small = { account: { batchSize: 3 }, mailchimp: { batchSize: 2 } };
    const emu = mailchimp as MailchimpEmulator;
    const sentBefore = emu.sent;

    // Act
    const { tiny, normalState, tinyState } = await runNormalThenTiny(local.env.services, outbound(small), {
      reset: () => resetList(),
      state: listState,
    });

    // Assess
    expect(tiny.job?.steps.mailchimp?.invocations).toBeGreaterThan(1);
    expect(tinyState).toEqual(normalState);
    expect(Object.keys(normalState)).toHaveLength(ACCOUNTS.length - 2);
    expect(tiny.job?.steps.mailchimp).toMatchObject({ recordsOut: ACCOUNTS.length - 2, recordsRejected: 2 });
    // No member was sent twice: each of the two runs sent every record once.
    expect(emu.sent - sentBefore).toBe(2 * ACCOUNTS.length);
  });

  it('waits out a 429 with its Retry-After and then writes every member', async () => {
    // Prepare
    resetList();
    const emu = mailchimp as MailchimpEmulator;
    const before = emu.calls.length;
    emu.fault({ method: 'POST', path: /^\/3\.0\/lists\//, status: 429, headers: { 'retry-after': '1' } });

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.calls.slice(before).filter((c) => c.startsWith('POST'))).toHaveLength(2);
    expect(Object.keys(listState())).toHaveLength(ACCOUNTS.length - 2);
  });

  it('fails the job with a coded error carrying Mailchimp’s title and detail when the server keeps failing', async () => {
    // Prepare
    resetList();
    (mailchimp as MailchimpEmulator).fault({
      method: 'POST',
      path: /^\/3\.0\/lists\//,
      status: 503,
      title: 'Service Unavailable',
      detail: 'The Mailchimp API is down for maintenance.',
      times: 1000,
    });

    // Act
    const result = await run(outbound({ mailchimp: { maxAttempts: 1 } }));

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error?.Cause).toContain('IDX_MAILCHIMP_API');
    expect(result.error?.Cause).toContain('HTTP 503 Service Unavailable');
    expect(result.error?.Cause).toContain('The Mailchimp API is down for maintenance.');
    expect(listState()).toEqual({});
    (mailchimp as MailchimpEmulator).clearFaults();
  });

  it('fails at once with IDX_MAILCHIMP_AUTH when Mailchimp refuses the API key', async () => {
    // Prepare
    resetList();
    const emu = mailchimp as MailchimpEmulator;
    const before = emu.calls.length;

    // Act
    const result = await run(outbound({ mailchimp: { apiKey: '${secret:MC_OTHER_KEY}' } }));

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error?.Cause).toContain('IDX_MAILCHIMP_AUTH');
    expect(result.error?.Cause).toContain('API Key Invalid');
    // Not retried within the step: one call per step attempt.
    expect(emu.calls.length - before).toBeLessThanOrEqual(3);
  });
});

describe('dataflow 06 (Mailchimp inbound) run locally', () => {
  /** Members for the first 8 accounts (subscribed for every third), changed days ago, and one unknown to Gigya. */
  const MEMBERS = ACCOUNTS.slice(0, 8).map((a, i) => ({
    email_address: emailOf(a),
    status: i % 3 === 0 ? 'subscribed' : 'unsubscribed',
    merge_fields: { FNAME: String(a.profile.firstName), UID: a.UID },
    last_changed: mailchimpTime(Date.now() - (10 - i) * DAY),
  }));
  const STRANGER = {
    email_address: 'stranger@example.com',
    status: 'subscribed',
    merge_fields: { UID: 'not-a-gigya-uid' },
    last_changed: mailchimpTime(Date.now() - DAY),
  };
  const flags = () =>
    Object.fromEntries(
      ACCOUNTS.map((a) => [
        a.UID,
        ((gigya as GigyaEmulator).store.accounts.get(a.UID)?.data as Record<string, unknown> | undefined)
          ?.subscribeToOurNewsletter as boolean | undefined,
      ]),
    );
  const clearFlags = () => {
    for (const a of (gigya as GigyaEmulator).store.accounts.values())
      delete (a.data as Record<string, unknown> | undefined)?.subscribeToOurNewsletter;
  };

  it('sets each member’s subscription on its Gigya account and rejects the member Gigya does not know', async () => {
    // Prepare
    resetList([...MEMBERS, STRANGER]);
    clearFlags();

    // Act
    const result = await run(inbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.mailchimp).toMatchObject({ recordsOut: MEMBERS.length + 1 });
    expect(flags()).toEqual(Object.fromEntries(ACCOUNTS.map((a, i) => [a.UID, i < 8 ? i % 3 === 0 : undefined])));
    const rejected = await writerRejects(local.env.services, result);
    expect(rejected.map((r) => r.UID)).toEqual(['not-a-gigya-uid']);
    expect(gigya?.store.accounts.has('not-a-gigya-uid')).toBe(false);
  });

  it('reads only the members changed since the last successful run', async () => {
    // Prepare: a first run (a full extract) sets the watermark; then one member changes on Mailchimp's side, a
    // second later, since Mailchimp's change times have whole seconds.
    const id = 'mailchimp-inbound-delta';
    resetList(MEMBERS);
    clearFlags();
    const first = await run({ ...inbound(), id });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const changed = (mailchimp as MailchimpEmulator).members(LIST).get(MEMBERS[1]!.email_address.toLowerCase())!;
    changed.status = 'subscribed';
    changed.last_changed = mailchimpTime(Date.now());

    // Act
    const second = await run({ ...inbound(), id }, { fullExtract: false });

    // Assess
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.job?.steps.mailchimp?.recordsOut).toBe(MEMBERS.length);
    expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
    expect(second.job?.steps.mailchimp?.recordsOut).toBe(1);
    expect(flags()[ACCOUNTS[1]!.UID]).toBe(true);
  });

  it('with a 1 ms invocation budget and pages of 2 brings the same subscriptions to Gigya', async () => {
    // Prepare
    resetList([...MEMBERS, STRANGER]);

    // Act
    const { tiny, normalState, tinyState } = await runNormalThenTiny(local.env.services, inbound({ pageSize: 2 }), {
      reset: clearFlags,
      state: flags,
    });

    // Assess
    expect(tiny.job?.steps.mailchimp?.invocations).toBeGreaterThan(1);
    expect(tiny.job?.steps.mailchimp?.recordsOut).toBe(MEMBERS.length + 1);
    expect(tinyState).toEqual(normalState);
  });
});
