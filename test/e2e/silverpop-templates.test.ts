/**
 * The public Silverpop dataflows (10 inbound, 11 outbound), run locally through the compiled state machine against
 * the Acoustic Campaign emulator over the embedded SFTP server: their elided credentials become ${secret:…}
 * references and their elided list id the emulated database's; `host`, `username` and `password` stay elided,
 * which in local mode means the embedded SFTP server. Each test checks the platform's state (or, inbound, the Gigya
 * accounts) record by record.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { validateFile, validateText } from '../../lib/dataflow/validate.ts';
import { type AcousticEmulator, LOCAL_ACOUSTIC, startAcousticEmulator } from '../../lib/local/acoustic-emulator.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import type { GigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { sftpExtra } from '../../lib/local/sftp-server.ts';
import { datasourceReadSilverpop } from '../../lib/scripts/datasource.read.silverpop.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { CSV_SYNTAX } from '../../lib/scripts/util/csv-rows.ts';
import { dsvChunks } from '../../lib/scripts/util/split.ts';
import { runScript } from '../../lib/testing/harness.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { keptGigyaExtra, useLocalEnvironment } from '../support/local.ts';
import { rejectedRecords } from '../support/rejected.ts';

const INBOUND_FILE = '10-silverpop-inbound.json';
const OUTBOUND_FILE = '11-silverpop-outbound.json';
const LIST_ID = '1000';

/** Accounts of the Gigya emulator: generated ones, one with an address Acoustic refuses. */
const ACCOUNTS: GigyaAccount[] = [...generateAccounts({ count: 20, seed: 11 })];
const profileOf = (a: GigyaAccount) => (a as unknown as { profile: Record<string, unknown> }).profile;
const uidOf = (a: GigyaAccount) => (a as { UID: string }).UID;
const dataOf = (a: GigyaAccount) => (a as unknown as { data: { subscribed: unknown } }).data;
// The published outbound expression compares data.subscribed with the string 'true', as the field is kept in sites
// whose schema declares it a string.
for (const a of ACCOUNTS) dataOf(a).subscribed = String(dataOf(a).subscribed);
const subscribedOf = (a: GigyaAccount) => dataOf(a).subscribed === 'true';
const BAD_EMAIL = ACCOUNTS[3] as GigyaAccount;
profileOf(BAD_EMAIL).email = 'not-an-address';

let acoustic: AcousticEmulator | undefined;
let gigya: GigyaEmulator | undefined;
/** The folder the embedded SFTP server serves, where Acoustic's export files land. */
let sftpRoot = '';
const local = useLocalEnvironment({
  secrets: { AC_SECRET: LOCAL_ACOUSTIC.clientSecret, AC_REFRESH: LOCAL_ACOUSTIC.refreshToken },
  extras: [
    keptGigyaExtra(ACCOUNTS, (emu) => {
      gigya = emu;
    }),
    sftpExtra(),
    async ({ dir }) => {
      sftpRoot = join(dir, 'sftp');
      acoustic = await startAcousticEmulator({ root: sftpRoot });
      const emu = acoustic;
      return { endpoints: { acoustic: emu.url }, close: () => emu.close() };
    },
  ],
});

/** The emulated application and database; polls without waiting, so a job takes three quick calls. */
const ACOUSTIC_PARAMS = {
  clientId: LOCAL_ACOUSTIC.clientId,
  clientSecret: '${secret:AC_SECRET}',
  refreshToken: '${secret:AC_REFRESH}',
  listId: LIST_ID,
  pollSeconds: 0,
};

/** A public dataflow with some params of its steps replaced (by step id), validated with no error. */
function localised(file: string, replace: Record<string, Record<string, unknown>>) {
  const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as {
    steps: { id: string; params?: Record<string, unknown> }[];
  };
  for (const [stepId, params] of Object.entries(replace)) {
    const step = flow.steps.find((s) => s.id === stepId);
    if (step) step.params = { ...step.params, ...params };
  }
  const { dataflow, valid, problems } = validateText(JSON.stringify(flow), defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

/** Pages of 5 accounts, so a 1 ms budget cuts the outbound flow between batches. */
const outbound = (extra: Record<string, Record<string, unknown>> = {}) =>
  localised(OUTBOUND_FILE, { silverpop: ACOUSTIC_PARAMS, account: { batchSize: 5 }, ...extra });
const inbound = (extra: Record<string, unknown> = {}) =>
  localised(INBOUND_FILE, { silverpop: { ...ACOUSTIC_PARAMS, ...extra } });

async function run(dataflow: ReturnType<typeof outbound>, options: { budgetMs?: number; fullExtract?: boolean } = {}) {
  return runLocal(dataflow, {
    services: local.env.services,
    registry: defaultRegistry(),
    input: { fullExtract: options.fullExtract ?? true },
    ...(options.budgetMs === undefined ? {} : { invocationBudgetMs: options.budgetMs }),
  });
}

/** The database's contacts by email, fields only. */
function contactsByEmail(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const c of (acoustic as AcousticEmulator).contacts(LIST_ID).values()) out[c.fields.EMAIL ?? ''] = c.fields;
  return out;
}

describe('the public Silverpop dataflows', () => {
  it('validate unchanged with no error', () => {
    // Prepare
    const files = [INBOUND_FILE, OUTBOUND_FILE].map((f) => join(FIXTURES_DIR, f));

    // Act
    const results = files.map((f) => validateFile(f, defaultRegistry()));

    // Assess
    for (const r of results) expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describe('dataflow 11 (Silverpop outbound) run locally', () => {
  it('adds and updates contacts by email and rejects exactly the rows Acoustic refused, with its reason', async () => {
    // Prepare: one contact already in the database, one row refused by Acoustic.
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    const existing = ACCOUNTS[0] as GigyaAccount;
    const existingEmail = String(profileOf(existing).email);
    emu.insert(LIST_ID, { EMAIL: existingEmail, GigyaUid: 'old', Subscribed: 'Maybe' });
    const suppressed = ACCOUNTS[7] as GigyaAccount;
    emu.refuseRow(String(profileOf(suppressed).email).toLowerCase(), 'Contact is on a suppression list.');

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.silverpop).toMatchObject({ recordsOut: ACCOUNTS.length - 2, recordsRejected: 2 });
    const state = contactsByEmail();
    expect(Object.keys(state)).toHaveLength(ACCOUNTS.length - 2);
    for (const account of ACCOUNTS) {
      const email = String(profileOf(account).email);
      if (account === BAD_EMAIL || account === suppressed) {
        expect(state[email]).toBeUndefined();
        continue;
      }
      expect(state[email]).toEqual({
        EMAIL: email,
        GigyaUid: uidOf(account),
        Subscribed: subscribedOf(account) ? 'Yes' : 'No',
      });
    }
    expect(emu.jobs.map((j) => [j.parameters.SQL_ADDED, j.parameters.SQL_UPDATED])).toEqual([
      [String(ACCOUNTS.length - 3), '1'],
    ]);
    const rejects = new Map(
      (await rejectedRecords(local.env.services.s3, result.job, 'silverpop')).map((r) => [
        r.GigyaUid,
        (r._errorDetails as { message: string; code: string }).message,
      ]),
    );
    expect(rejects).toEqual(
      new Map([
        [uidOf(BAD_EMAIL), 'Invalid email address: not-an-address'],
        [uidOf(suppressed), 'Contact is on a suppression list.'],
      ]),
    );
  });

  it('with a 1 ms invocation budget leaves the database in the state a normal run leaves it', async () => {
    // Prepare
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    await run(outbound());
    const normal = contactsByEmail();
    emu.clear();

    // Act
    const tiny = await run(outbound(), { budgetMs: 1 });

    // Assess
    expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
    expect(contactsByEmail()).toEqual(normal);
    expect(Object.keys(normal)).toHaveLength(ACCOUNTS.length - 1);
    expect(emu.jobs).toHaveLength(1);
  });

  it('renews an access token refused once and waits out a 429 and a 503 with backoff', async () => {
    // Prepare
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    emu.fault({ operation: 'ImportList', status: 401 });
    emu.fault({ operation: 'GetJobStatus', status: 429 });
    emu.fault({ operation: 'GetJobStatus', status: 503 });

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(Object.keys(contactsByEmail())).toHaveLength(ACCOUNTS.length - 1);
    expect(emu.calls.filter((c) => c === 'token')).toHaveLength(2);
    expect(emu.calls.filter((c) => c === 'ImportList')).toHaveLength(2);
    expect(emu.jobs).toHaveLength(1);
  });

  it('fails the job with Acoustic’s description when the import job ends in ERROR', async () => {
    // Prepare
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    emu.failNextJob('Database 1000 is locked by another import.');

    // Act
    const result = await run(outbound());

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_ACOUSTIC_JOB_FAILED');
    expect(JSON.stringify(result.error)).toContain('Database 1000 is locked by another import.');
    expect(contactsByEmail()).toEqual({});
  });

  it('fails with Acoustic’s refusal when the refresh token is wrong', async () => {
    // Prepare
    const flow = outbound({ silverpop: { ...ACOUSTIC_PARAMS, clientId: 'someone-else' } });

    // Act
    const result = await run(flow);

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_ACOUSTIC_AUTH');
  });
});

describe('dataflow 10 (Silverpop inbound) run locally', () => {
  /** Contacts for half of the accounts, each with the opposite of its Gigya subscription, last modified in 2020. */
  function seedContacts(emu: AcousticEmulator): GigyaAccount[] {
    const chosen = ACCOUNTS.filter((_, i) => i % 2 === 0);
    for (const a of chosen)
      emu.insert(
        LIST_ID,
        { EMAIL: String(profileOf(a).email), GigyaUid: uidOf(a), Subscribed: subscribedOf(a) ? 'No' : 'Yes' },
        new Date('2020-01-01T00:00:00Z'),
      );
    return chosen;
  }
  const subscribedInGigya = (uid: string) =>
    ((gigya as GigyaEmulator).store.accounts.get(uid) as { data?: { subscribed?: unknown } } | undefined)?.data
      ?.subscribed;

  it('brings every contact’s subscription to its Gigya account, and a 1 ms budget reads the same', async () => {
    // Prepare
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    const chosen = seedContacts(emu);

    // Act
    const normal = await run(inbound());
    const afterNormal = chosen.map((a) => subscribedInGigya(uidOf(a)));
    const tiny = await run(inbound(), { budgetMs: 1 });

    // Assess
    expect(normal.status, JSON.stringify(normal.error)).toBe('succeeded');
    expect(tiny.status, JSON.stringify(tiny.error)).toBe('succeeded');
    expect(normal.job?.steps.silverpop).toMatchObject({ recordsOut: chosen.length, recordsRejected: 0 });
    expect(tiny.job?.steps.silverpop).toMatchObject({ recordsOut: chosen.length, recordsRejected: 0 });
    expect(tiny.job?.steps.silverpop?.invocations).toBeGreaterThan(2);
    for (const [i, a] of chosen.entries()) {
      const expected = subscribedOf(a) ? 'false' : 'true';
      expect([uidOf(a), afterNormal[i]]).toEqual([uidOf(a), expected]);
      expect([uidOf(a), subscribedInGigya(uidOf(a))]).toEqual([uidOf(a), expected]);
    }
  });

  it('reads only the contacts modified since the last successful run', async () => {
    // Prepare: a first run reads everything and sets the watermark; then one contact changes.
    const emu = acoustic as AcousticEmulator;
    emu.clear();
    const chosen = seedContacts(emu);
    const first = await run(inbound());
    const changed = chosen[1] as GigyaAccount;
    emu.insert(LIST_ID, { EMAIL: String(profileOf(changed).email), GigyaUid: uidOf(changed), Subscribed: 'Yes' });

    // Act
    const second = await run(inbound(), { fullExtract: false });

    // Assess
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
    expect(first.job?.steps.silverpop?.recordsOut).toBe(chosen.length);
    expect(second.job?.steps.silverpop?.recordsOut).toBe(1);
    expect(subscribedInGigya(uidOf(changed))).toBe('true');
  });

  it('fails with Acoustic’s fault when the database does not exist', async () => {
    // Act
    const result = await run(inbound({ listId: '999' }));

    // Assess
    expect(result.status).toBe('failed');
    expect(JSON.stringify(result.error)).toContain('IDX_ACOUSTIC_FAULT');
    expect(JSON.stringify(result.error)).toContain('List 999 not found.');
  });
});

describe('datasource.read.silverpop across invocations', () => {
  /** The reader's params as dataflow 10 has them, the SFTP elided (the embedded server). */
  const params = {
    ...ACOUSTIC_PARAMS,
    podNumber: 5,
    host: '...',
    username: '...',
    password: '...',
    columns: 'GigyaUid,EMAIL,Subscribed',
  };
  const job = { fullExtract: true } as const;
  type State = { filePath: string; rows: number; at?: { offset: number; line: number; skip: number } };

  /** Enough contacts for an export file of two pieces of about 1 MiB and more (split.ts). */
  function seedMany(emu: AcousticEmulator): void {
    emu.clear();
    for (let i = 0; i < 24_000; i++)
      emu.insert(
        LIST_ID,
        {
          EMAIL: `contact-${i}@example.com`,
          GigyaUid: `uid-${String(i).padStart(6, '0')}-${'u'.repeat(24)}`,
          Subscribed: i % 3 ? 'Yes' : 'No',
        },
        new Date('2020-01-01T00:00:00Z'),
      );
  }

  /** Invocations cut as soon as they may (the export, its poll, then one row each) until one row is handed on. */
  async function stateAfterFirstRow(): Promise<State> {
    let continuation: unknown;
    for (let invocation = 0; invocation < 10; invocation++) {
      const out = await runScript(datasourceReadSilverpop, params, {
        services: local.env.services,
        job,
        deadline: Date.now(),
        ...(continuation === undefined ? {} : { continuation }),
      });
      continuation = out.continuation;
      if ((continuation as State | undefined)?.rows) return continuation as State;
    }
    throw new Error(`no row was handed on in 10 invocations: ${JSON.stringify(continuation)}`);
  }

  /** The export's pieces as split.ts cuts them: where each starts, and its rows (no value holds a line break). */
  async function piecesOf(file: string): Promise<{ offset: number; line: number; rows: number }[]> {
    let offset = 0;
    const pieces: { offset: number; line: number; rows: number }[] = [];
    const syntax = { ...CSV_SYNTAX, header: true };
    for await (const item of dsvChunks(Readable.from([readFileSync(file)]), syntax, (header) => {
      offset += header.length;
    })) {
      if (item.kind !== 'chunk') throw new Error('the export was not cut into pieces');
      const rows = item.chunk.data
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length;
      pieces.push({ offset, line: item.chunk.firstLine, rows });
      offset += item.chunk.data.length;
    }
    return pieces;
  }

  it('reads on from the piece that holds the next row, whatever the bytes before it', async () => {
    // Prepare: the records of one invocation, then a reading stopped within the second piece of the same export.
    const emu = acoustic as AcousticEmulator;
    seedMany(emu);
    const whole = await runScript(datasourceReadSilverpop, params, { services: local.env.services, job });
    const first = await stateAfterFirstRow();
    const file = join(sftpRoot, 'download', first.filePath.replace(/^.*\//, ''));
    const pieces = await piecesOf(file);
    const second = pieces[1] as (typeof pieces)[number];
    const before = (pieces[0] as (typeof pieces)[number]).rows;
    const stopped: State = { ...first, rows: before + 7, at: { offset: second.offset, line: second.line, skip: 7 } };
    // What comes before the second piece is overwritten with blanks and no line break: a reader that read it again,
    // to skip the rows already handed on, would find neither the header nor those rows.
    const bytes = readFileSync(file);
    bytes.fill(0x20, 0, second.offset);
    writeFileSync(file, bytes);

    // Act
    const rest = await runScript(datasourceReadSilverpop, params, {
      services: local.env.services,
      job,
      continuation: stopped,
    });

    // Assess
    expect(pieces.length).toBeGreaterThan(1);
    expect(first.at).toMatchObject({ offset: (pieces[0] as (typeof pieces)[number]).offset, skip: 1 });
    expect(whole.records).toHaveLength(24_000);
    expect(rest.continuation).toBeUndefined();
    expect(rest.records).toEqual(whole.records.slice(before + 7));
  });

  it('reads on from a state that names no piece by skipping the rows handed on from the file’s start', async () => {
    // Prepare: a state as the reader wrote it before it kept pieces.
    const emu = acoustic as AcousticEmulator;
    seedMany(emu);
    const whole = await runScript(datasourceReadSilverpop, params, { services: local.env.services, job });
    const { at: _, ...first } = await stateAfterFirstRow();

    // Act
    const rest = await runScript(datasourceReadSilverpop, params, {
      services: local.env.services,
      job,
      continuation: { ...first, rows: 20_000 },
    });

    // Assess
    expect(rest.records).toEqual(whole.records.slice(20_000));
  });
});
