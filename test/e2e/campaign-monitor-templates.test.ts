/**
 * The public Campaign Monitor dataflow (13, inbound) run locally through the compiled state machine against the
 * Campaign Monitor and Gigya emulators: its elided key becomes a ${secret:…} reference and its elided list id the
 * emulated list's, nothing else changes. The tests check what reached Gigya account by account.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile } from '../../lib/dataflow/validate.ts';
import {
  type CampaignMonitorEmulator,
  createsendDate,
  type EmulatedSubscriber,
  LOCAL_CAMPAIGN_MONITOR,
  startCampaignMonitorEmulator,
} from '../../lib/local/campaign-monitor-emulator.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import type { GigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { localisedFixture, runFixture, runNormalThenTiny } from '../support/fixture-runs.ts';
import { keptEmulatorExtra, keptGigyaExtra, useLocalEnvironment } from '../support/local.ts';
import { writerRejects } from '../support/rejected.ts';

const FILE = '13-campaign-monitor-inbound.json';
const LIST = LOCAL_CAMPAIGN_MONITOR.listId;
const DAY = 24 * 3600 * 1000;
type Account = GigyaAccount & { UID: string; profile: Record<string, unknown>; data?: Record<string, unknown> };

const ACCOUNTS = [...generateAccounts({ count: 24, seed: 13 })] as Account[];
/** What the dataflow may change of each account, as generated. */
const ORIGINAL = ACCOUNTS.map((a) => ({ subscribed: a.data?.subscribed, firstName: a.profile.firstName }));
/** The first 20 accounts unsubscribed in Campaign Monitor, 18 and 19 at the same second (a page boundary at pages of 10); 2 others active. */
const SUBSCRIBERS: EmulatedSubscriber[] = ACCOUNTS.slice(0, 22).map((a, i) => ({
  EmailAddress: String(a.profile.email),
  Name: `CM ${i}`,
  Date: createsendDate(Date.now() - (30 - Math.min(i, 18)) * DAY),
  ListJoinedDate: createsendDate(Date.now() - 60 * DAY),
  State: i < 20 ? 'Unsubscribed' : 'Active',
  CustomFields: { GigyaUID: a.UID },
}));
const STRANGER: EmulatedSubscriber = {
  EmailAddress: 'stranger@example.com',
  Name: 'Stranger',
  Date: createsendDate(Date.now() - DAY),
  ListJoinedDate: createsendDate(Date.now() - 60 * DAY),
  State: 'Unsubscribed',
  CustomFields: { GigyaUID: 'not-a-gigya-uid' },
};

let gigya: GigyaEmulator | undefined;
let cm: CampaignMonitorEmulator | undefined;
const local = useLocalEnvironment({
  secrets: { CM_KEY: LOCAL_CAMPAIGN_MONITOR.apiKey, CM_OTHER_KEY: 'revoked-createsend-key' },
  watermarkOverlapMs: 0,
  extras: [
    keptGigyaExtra(ACCOUNTS, (emu) => {
      gigya = emu;
    }),
    keptEmulatorExtra(
      () => startCampaignMonitorEmulator(),
      (emu) => ({ campaignMonitor: `${emu.url}/api/v3.3` }),
      (emu) => {
        cm = emu;
      },
    ),
  ],
});

/** Dataflow 13 with the emulated key and list (and further params of its reader), validated with no error. */
const dataflow = (extra: Record<string, unknown> = {}) =>
  localisedFixture(FILE, { campaignmonitor: { apiKey: '${secret:CM_KEY}', listId: LIST, ...extra } });

const run = (df: Dataflow, options: { budget?: number; fullExtract?: boolean } = {}) =>
  runFixture(local.env.services, df, options);

function resetList(subscribers: EmulatedSubscriber[]) {
  const list = (cm as CampaignMonitorEmulator).subscribers(LIST);
  list.clear();
  for (const s of subscribers) list.set(s.EmailAddress.toLowerCase(), { ...s, CustomFields: { ...s.CustomFields } });
}

/** Each account's data.subscribed and first name as Gigya holds them. */
function gigyaState() {
  const out: Record<string, { subscribed: unknown; firstName: unknown }> = {};
  for (const a of ACCOUNTS) {
    const stored = (gigya as GigyaEmulator).store.accounts.get(a.UID) as Account | undefined;
    out[a.UID] = { subscribed: stored?.data?.subscribed, firstName: stored?.profile.firstName };
  }
  return out;
}

function resetGigya() {
  ACCOUNTS.forEach((a, i) => {
    const stored = (gigya as GigyaEmulator).store.accounts.get(a.UID) as Account | undefined;
    if (!stored) return;
    stored.data = { ...stored.data, subscribed: ORIGINAL[i]?.subscribed };
    stored.profile.firstName = ORIGINAL[i]?.firstName;
  });
}

describe('dataflow 13 (Campaign Monitor inbound)', () => {
  it('validates unchanged with no error', () => {
    // Act
    const result = validateFile(join(FIXTURES_DIR, FILE), defaultRegistry());

    // Assess
    expect(result.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('marks every unsubscribed subscriber unsubscribed in Gigya and rejects the one Gigya does not know', async () => {
    // Prepare
    resetList([...SUBSCRIBERS, STRANGER]);
    resetGigya();

    // Act
    const result = await run(dataflow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.campaignmonitor).toMatchObject({ recordsOut: 21 });
    const state = gigyaState();
    ACCOUNTS.forEach((a, i) => {
      if (i < 20) expect(state[a.UID]).toEqual({ subscribed: 'false', firstName: `CM ${i}` });
      else expect(state[a.UID]).toEqual(ORIGINAL[i]);
    });
    const rejected = await writerRejects(local.env.services, result);
    expect(rejected.map((r) => r.UID)).toEqual(['not-a-gigya-uid']);
  });

  it('with a 1 ms invocation budget and pages of 10 brings the same changes to Gigya', async () => {
    // Prepare
    resetList([...SUBSCRIBERS, STRANGER]);

    // Act
    const { tiny, normalState, tinyState } = await runNormalThenTiny(local.env.services, dataflow({ pageSize: 10 }), {
      reset: resetGigya,
      state: gigyaState,
    });

    // Assess
    expect(tiny.job?.steps.campaignmonitor?.invocations).toBeGreaterThan(1);
    expect(tiny.job?.steps.campaignmonitor?.recordsOut).toBe(21);
    expect(tinyState).toEqual(normalState);
  });

  it('reads only the subscribers whose state changed since the last successful run', async () => {
    // Prepare
    const id = 'campaign-monitor-delta';
    resetList(SUBSCRIBERS);
    resetGigya();
    const first = await run({ ...dataflow(), id });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const moved = (cm as CampaignMonitorEmulator)
      .subscribers(LIST)
      .get(String(ACCOUNTS[21]?.profile.email).toLowerCase());
    if (moved) {
      moved.State = 'Unsubscribed';
      moved.Date = createsendDate(Date.now());
    }

    // Act
    const second = await run({ ...dataflow(), id }, { fullExtract: false });

    // Assess
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.job?.steps.campaignmonitor?.recordsOut).toBe(20);
    expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
    expect(second.job?.steps.campaignmonitor?.recordsOut).toBe(1);
    expect(gigyaState()[ACCOUNTS[21]!.UID]).toEqual({ subscribed: 'false', firstName: 'CM 21' });
  });

  it('waits out a 429 and a 500, then reads every subscriber', async () => {
    // Prepare
    resetList(SUBSCRIBERS);
    const emu = cm as CampaignMonitorEmulator;
    const before = emu.calls.length;
    emu.fault({
      path: /\.json$/,
      status: 429,
      code: 429,
      message: 'Rate limit exceeded',
      headers: { 'retry-after': '1' },
    });
    emu.fault({ path: /\.json$/, status: 500, code: 500, message: 'Server error' });

    // Act
    const result = await run(dataflow());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(emu.calls.length - before).toBe(3);
    expect(result.job?.steps.campaignmonitor?.recordsOut).toBe(20);
  });

  it('fails the job with a coded error carrying Campaign Monitor’s Code and Message', async () => {
    // Act
    const badList = await run(dataflow({ listId: 'no-such-list' }));
    const badKey = await run(dataflow({ apiKey: '${secret:CM_OTHER_KEY}' }));

    // Assess
    expect(badList.status).toBe('failed');
    expect(badList.error?.Cause).toContain('IDX_CAMPAIGN_MONITOR_API');
    expect(badList.error?.Cause).toContain('HTTP 400 Code 101');
    expect(badList.error?.Cause).toContain('Invalid ListID');
    expect(badKey.status).toBe('failed');
    expect(badKey.error?.Cause).toContain('IDX_CAMPAIGN_MONITOR_AUTH');
    expect(badKey.error?.Cause).toContain('Invalid API Key');
  });
});
