/**
 * The public Constant Contact dataflow (14, outbound) run locally through the compiled state machine against the
 * Constant Contact and Gigya emulators: its elided access token becomes a ${secret:…} reference and its elided list
 * id the emulated list's. Each test checks the account's resulting contacts record by record.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import {
  type ConstantContactEmulator,
  LOCAL_CONSTANT_CONTACT,
  startConstantContactEmulator,
} from '../../lib/local/constant-contact-emulator.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { localisedFixture, runFixture, runNormalThenTiny } from '../support/fixture-runs.ts';
import { keptEmulatorExtra, keptGigyaExtra, useLocalEnvironment } from '../support/local.ts';
import { writerRejects } from '../support/rejected.ts';

const OUTBOUND = '14-constant-contact-outbound.json';
const LIST = LOCAL_CONSTANT_CONTACT.listId;

type Account = GigyaAccount & { UID: string; profile: Record<string, unknown>; data?: Record<string, unknown> };

/** Gigya accounts: generated, subscribed but every third one. */
const ACCOUNTS = [...generateAccounts({ count: 12, seed: 14 })] as Account[];
ACCOUNTS.forEach((a, i) => {
  a.data = { ...(a.data ?? {}), subscribe: i % 3 !== 2 };
});
const subscribed = (a: Account) => a.data?.subscribe === true;
const BAD_EMAIL = ACCOUNTS[3] as Account;
BAD_EMAIL.profile.email = 'not-an-address';
/** An account whose address Constant Contact refuses in the activity (a partial failure). */
const REFUSED = ACCOUNTS[4] as Account;
/** An account already a contact, with another custom field value and no list. */
const EXISTING = ACCOUNTS[0] as Account;
const emailOf = (a: Account) => String(a.profile.email);
const SUBSCRIBED = ACCOUNTS.filter(subscribed);
const IMPORTED = SUBSCRIBED.filter((a) => a !== BAD_EMAIL && a !== REFUSED);

let cc: ConstantContactEmulator | undefined;
const local = useLocalEnvironment({
  secrets: { CC_TOKEN: LOCAL_CONSTANT_CONTACT.accessToken, CC_EXPIRED: 'expired0token', CC_KEY: 'app-key' },
  watermarkOverlapMs: 0,
  extras: [
    keptGigyaExtra(ACCOUNTS),
    keptEmulatorExtra(
      () => startConstantContactEmulator(),
      (emu) => ({ constantContact: `${emu.url}/v3` }),
      (emu) => {
        cc = emu;
      },
    ),
  ],
});

const outbound = (extra: Record<string, Record<string, unknown>> = {}) =>
  localisedFixture(OUTBOUND, {
    constantcontact: {
      apiKey: '${secret:CC_KEY}',
      accessToken: '${secret:CC_TOKEN}',
      listId: LIST,
      pollSeconds: 0,
      ...(extra.constantcontact ?? {}),
    },
    ...(extra.account ? { account: extra.account } : {}),
  });

const run = (dataflow: Dataflow, options: { budget?: number } = {}) =>
  runFixture(local.env.services, dataflow, options);

const emu = () => cc as ConstantContactEmulator;

/** Clears the account and puts the existing contact back (not on the list, with an old custom field). */
function resetContacts() {
  emu().contacts.clear();
  emu().contacts.set(emailOf(EXISTING).toLowerCase(), {
    email_address: emailOf(EXISTING),
    properties: { first_name: 'Kept' },
    custom_fields: { custom_field_1: 'old' },
    list_memberships: [],
  });
}

/** The account's contacts by address: properties, custom fields and lists. */
function contactState() {
  return Object.fromEntries(
    [...emu().contacts].map(([email, c]) => [
      email,
      { properties: { ...c.properties }, custom_fields: { ...c.custom_fields }, lists: [...c.list_memberships] },
    ]),
  );
}

describe('the public Constant Contact dataflow', () => {
  it('validates unchanged with no error', () => {
    // Act
    const result = validateFile(join(FIXTURES_DIR, OUTBOUND), defaultRegistry());

    // Assess
    expect(result.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('dataflow 14 (Constant Contact outbound) run locally', () => {
  it('creates and updates the subscribed contacts on the list, drops the others and rejects exactly those Constant Contact refuses', async () => {
    // Prepare
    resetContacts();
    emu().refuseEmail(emailOf(REFUSED), 'The contact was permanently removed and cannot be re-imported.');

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.constantcontact).toMatchObject({
      recordsIn: ACCOUNTS.length,
      recordsOut: IMPORTED.length,
      recordsRejected: 2,
      recordsDropped: ACCOUNTS.length - SUBSCRIBED.length,
    });
    const state = contactState();
    for (const a of ACCOUNTS) {
      const contact = state[emailOf(a).toLowerCase()];
      if (a === EXISTING)
        expect(contact).toEqual({
          properties: { first_name: 'Kept' },
          custom_fields: { custom_field_1: a.UID },
          lists: [LIST],
        });
      else if (IMPORTED.includes(a))
        expect(contact).toEqual({ properties: {}, custom_fields: { custom_field_1: a.UID }, lists: [LIST] });
      else expect(contact).toBeUndefined();
    }
    expect(Object.keys(state)).toHaveLength(IMPORTED.length);
    const rejects = new Map(
      (await writerRejects(local.env.services, result)).map((r) => [
        r['Custom Field 1'],
        r._errorDetails as Record<string, unknown>,
      ]),
    );
    expect([...rejects.keys()].sort()).toEqual([BAD_EMAIL.UID, REFUSED.UID].sort());
    expect(rejects.get(BAD_EMAIL.UID)).toMatchObject({
      code: 'IDX_CONSTANTCONTACT_REJECTED',
      message: 'The email address "not-an-address" is invalid.',
    });
    expect(rejects.get(REFUSED.UID)).toMatchObject({
      code: 'IDX_CONSTANTCONTACT_REJECTED',
      message: 'The contact was permanently removed and cannot be re-imported.',
    });
  });

  it('with a 1 ms invocation budget leaves the account in the state a normal run leaves it, importing nobody twice', async () => {
    // Prepare: pages of 3 accounts and activities of 2 contacts, so the budget cuts between activities.
    const small = { account: { batchSize: 3 }, constantcontact: { batchSize: 2 } };
    const sentBefore = emu().sent;

    // Act
    const { tiny, normalState, tinyState } = await runNormalThenTiny(local.env.services, outbound(small), {
      reset: resetContacts,
      state: contactState,
    });

    // Assess
    expect(tiny.job?.steps.constantcontact?.invocations).toBeGreaterThan(1);
    expect(tinyState).toEqual(normalState);
    expect(Object.keys(normalState)).toHaveLength(IMPORTED.length);
    expect(tiny.job?.steps.constantcontact).toMatchObject({ recordsOut: IMPORTED.length, recordsRejected: 2 });
    expect(emu().sent - sentBefore).toBe(2 * SUBSCRIBED.length);
  });

  it('resumes the recorded activity when a status poll fails, rather than importing the contacts again', async () => {
    // Prepare
    resetContacts();
    const sentBefore = emu().sent;
    const before = emu().calls.length;
    emu().fault({ method: 'GET', path: /^\/v3\/activities\//, status: 503, message: 'Service unavailable.' });

    // Act
    const result = await run(outbound({ constantcontact: { maxAttempts: 1 } }));

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu().sent - sentBefore).toBe(SUBSCRIBED.length);
    expect(
      emu()
        .calls.slice(before)
        .filter((c) => c.startsWith('POST')),
    ).toHaveLength(1);
    expect(Object.keys(contactState())).toHaveLength(IMPORTED.length);
  });

  it('waits out a 429 with its Retry-After and then imports every contact', async () => {
    // Prepare
    resetContacts();
    const before = emu().calls.length;
    emu().fault({ method: 'POST', path: /contacts_json_import$/, status: 429, headers: { 'retry-after': '1' } });

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(
      emu()
        .calls.slice(before)
        .filter((c) => c.startsWith('POST')),
    ).toHaveLength(2);
    expect(Object.keys(contactState())).toHaveLength(IMPORTED.length);
  });

  it('fails the job with IDX_CONSTANTCONTACT_API and Constant Contact’s error when the server keeps failing', async () => {
    // Prepare
    resetContacts();
    emu().fault({
      method: 'POST',
      path: /contacts_json_import$/,
      status: 503,
      errorKey: 'service_unavailable',
      message: 'The service is down for maintenance.',
      times: 1000,
    });

    // Act
    const result = await run(outbound({ constantcontact: { maxAttempts: 1 } }));

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error?.Cause).toContain('IDX_CONSTANTCONTACT_API');
    expect(result.error?.Cause).toContain('HTTP 503 service_unavailable');
    expect(result.error?.Cause).toContain('The service is down for maintenance.');
    expect(Object.keys(contactState())).toEqual([emailOf(EXISTING).toLowerCase()]);
    emu().clearFaults();
  });

  it('fails the job with IDX_CONSTANTCONTACT_ACTIVITY and Constant Contact’s message when the activity fails', async () => {
    // Prepare
    resetContacts();
    emu().failNextActivity('The contact list was deleted while the import was queued.');

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error?.Cause).toContain('IDX_CONSTANTCONTACT_ACTIVITY');
    expect(result.error?.Cause).toContain('The contact list was deleted while the import was queued.');
    expect(Object.keys(contactState())).toEqual([emailOf(EXISTING).toLowerCase()]);
  });

  it('fails with IDX_CONSTANTCONTACT_AUTH, saying the token must be renewed, when the access token has expired', async () => {
    // Prepare
    resetContacts();
    const before = emu().calls.length;

    // Act
    const result = await run(outbound({ constantcontact: { accessToken: '${secret:CC_EXPIRED}' } }));

    // Assess
    expect(result.status).toBe('failed');
    expect(result.error?.Cause).toContain('IDX_CONSTANTCONTACT_AUTH');
    expect(result.error?.Cause).toContain('HTTP 401 unauthorized');
    expect(result.error?.Cause).toContain('refresh token');
    expect(emu().calls.length - before).toBeLessThanOrEqual(3);
  });
});
