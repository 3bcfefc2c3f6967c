/**
 * Jobs of any size: every dataflow in `dataflows/` and every runnable public dataflow runs over the same records
 * ({@link RECORDS}) twice, each time into a fresh world: once with the default invocation budget (every step
 * finishes in one invocation) and once with a 1 ms budget (every step that can continue does so after each batch).
 * Every target must come out identical record for record.
 *
 * Which public dataflows run: those that validate with the script types this build implements and whose sources
 * and targets the embedded services serve. 01 (Gigya → gzip CSV → SFTP), 03 (Gigya → JSON + .ok → SFTP, split
 * and fan-in), 04 (SFTP CSV → Gigya setAccountInfo) and 20 (SFTP JSON → importLiteAccount) run. The others do
 * not: 02 (file.format.aam), 06/07 (Mailchimp), 08 (Salesforce), 09 (Marketing Cloud), 10/11 (Silverpop), 12
 * (Marketo), 13 (Campaign Monitor), 14 (Constant Contact), 15 (file.format.krux, file.compress.lzo), 16 (BlueKai)
 * and 17/18/19 (Azure) use script types this build does not implement (`IDX_STEP_TYPE_NOT_IMPLEMENTED`), so they
 * cannot be run at all. 05 (Game Mechanics) and 21 (comment streams) run in comments-gm-templates.test.ts, with
 * the same 1 ms comparison, at their own sizes: 05 makes one gm.getChallengeStatus call per account within the
 * default 20 calls/s (75 s a run at 1,500 accounts), and 21 reads the emulator's fixed sample of comment streams.
 *
 * The Gigya-writing cases (eloqua-inbound, 04, 20) are bound by the emulator's round trips: one call per record,
 * in each of the two runs.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataflow } from '../../lib/dataflow/load.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateDataflow } from '../../lib/dataflow/validate.ts';
import { type LocalRunResult, runLocal } from '../../lib/local/runner.ts';
import { SAMPLE, seedSample } from '../../lib/local/sample.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { type SizeWorld, snapshotTargets, startSizeWorld, type TargetSnapshot } from '../support/targets.ts';

/**
 * Records per case. `npm test` runs 2,500: past two batches of 1,000, the unit by which record steps stop at their
 * deadline, so at a 1 ms budget each of them runs three invocations (600, less than a batch, continued nothing).
 * The proof at the size the issue asks for is
 * `IDX_SIZE_PROOF=1 npx vitest run test/e2e/any-size.test.ts test/e2e/inbound-size.test.ts` (20,000 records here,
 * 100,000 rows inbound), too long for every test run on two cores.
 */
const PROOF = process.env.IDX_SIZE_PROOF === '1';
const RECORDS = PROOF ? 20_000 : 2_500;
const registry = defaultRegistry();

/**
 * The override layer for public dataflows: they name partner hosts, logins and keys as placeholders
 * (`{{hostname}}`, `********`). Emptying them points each step at the embedded service of the local runtime
 * (an empty SFTP host is the embedded server with its login; empty Gigya keys are the emulator's). The fixture
 * files themselves are read in place and never changed.
 */
const LOCAL_OVERRIDES: Record<string, readonly string[]> = {
  'datasource.read.sftp': ['host', 'username', 'password'],
  'datasource.write.sftp': ['host', 'username', 'password'],
  'datasource.write.gigya.generic': ['userKey', 'secret', 'privateKey'],
};

/**
 * The pace of the Gigya writers in these runs. At their default (50 calls/s, paced at 95 % of it) each run of
 * 2,500 writes would wait about 53 s for its slots, twice per case; the emulator of this world has no ceiling, and a
 * case is about continuations, not pacing (test/e2e/gigya-map.test.ts and the budget's tests cover that).
 */
const WRITER_PACE = 500;

function localised(json: { steps?: { type?: string; params?: Record<string, unknown> }[] }) {
  for (const step of json.steps ?? []) {
    const names = LOCAL_OVERRIDES[step.type ?? ''] ?? [];
    for (const n of names) if (step.params && n in step.params) step.params[n] = '';
    if (step.type?.startsWith('datasource.write.gigya.'))
      step.params = { ...step.params, maxCallsPerSecond: WRITER_PACE };
  }
  return json;
}

function load(file: string): Dataflow {
  const loaded = readDataflow(localised(JSON.parse(readFileSync(file, 'utf8'))));
  const problems = [...loaded.problems, ...(loaded.dataflow ? validateDataflow(loaded.dataflow, registry) : [])];
  expect(
    problems.filter((p) => p.severity === 'error'),
    file,
  ).toEqual([]);
  return loaded.dataflow as Dataflow;
}

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const csv = (rows: Record<string, string>[]) => {
  const header = Object.keys(rows[0] ?? {});
  return `${[header.join(','), ...rows.map((r) => header.map((h) => csvCell(r[h] ?? '')).join(','))].join('\n')}\n`;
};
const uidsOf = (w: SizeWorld) => [...w.seededUids].slice(0, RECORDS);
const emailsWith = (w: SizeWorld) =>
  [...w.emu.store.accounts.values()].filter((a) => (a.profile as { email?: string } | undefined)?.email).length;

/** One dataflow to run at size: what to seed, and what its targets must hold. */
interface SizeCase {
  readonly file: string;
  readonly seed: (w: SizeWorld) => Promise<void>;
  readonly input?: Record<string, unknown>;
  /** Checks of the normal run's snapshot, so the comparison compares complete deliveries. */
  readonly check: (s: TargetSnapshot, w: SizeWorld) => void;
  /**
   * Whether a step of the 1 ms run continues at this size. @default true. The sample's steps each take one file
   * or one staged part whole (a part is the unit a byte kernel continues by), so it continues only at proof size.
   */
  readonly continues?: boolean;
}

const rowsIn = (files: TargetSnapshot['sftp'], pattern: RegExp) =>
  Object.entries(files)
    .filter(([name]) => pattern.test(name))
    .map(([, f]) => f.records.length);

const CASES: SizeCase[] = [
  {
    file: 'dataflows/sample-s3-csv.json',
    continues: false,
    seed: async (w) => {
      await seedSample(w.env.services.s3, RECORDS);
    },
    check: (s) => {
      expect(rowsIn(s.s3, new RegExp(`^${SAMPLE.bucket}/${SAMPLE.outputPrefix}`))).toEqual([RECORDS]);
    },
  },
  {
    file: 'dataflows/eloqua-outbound.json',
    seed: async () => undefined,
    input: { fullExtract: true },
    check: (s, w) => {
      expect(rowsIn(s.sftp, /^to-eloqua\//)).toEqual([emailsWith(w)]);
      expect(s.uidMap).toHaveLength(emailsWith(w));
    },
  },
  {
    file: 'dataflows/eloqua-inbound.json',
    seed: async (w) => {
      // Every contact but the last ten carries its Gigya UID; the last ten are strangers the UID map cannot find.
      const rows = uidsOf(w).map((uid, i) =>
        i < RECORDS - 10
          ? { C_EmailAddress: `c${i}@example.com`, C_Gigya_UID1: uid, isSubscribed: String(i % 2 === 0) }
          : { C_EmailAddress: `stranger${i}@example.com`, C_Gigya_UID1: '', isSubscribed: 'true' },
      );
      const dir = join(w.sftpRoot, 'from-eloqua');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'eloqua_export_20261123.csv'), csv(rows));
    },
    check: (s) => {
      expect(s.writes).toEqual({ 'accounts.setAccountInfo': RECORDS - 10 });
      expect(rowsIn(s.sftp, /^errors\//)).toEqual([10]);
    },
  },
  {
    file: join(FIXTURES_DIR, '01-export-gigya-to-sftp.json'),
    seed: async () => undefined,
    input: { fullExtract: true },
    check: (s) => {
      expect(rowsIn(s.sftp, /^GIGYA_TO_SFTP_<now>\.csv\.gz$/)).toEqual([RECORDS]);
    },
  },
  {
    file: join(FIXTURES_DIR, '03-epsilon-split-json-okfile-sftp.json'),
    seed: async () => undefined,
    input: { fullExtract: true },
    check: (s) => {
      expect(rowsIn(s.sftp, /^gigya-<now>\.json$/)).toEqual([RECORDS]);
      expect(Object.keys(s.sftp)).toContain('gigya.ok');
    },
  },
  {
    file: join(FIXTURES_DIR, '04-import-sftp-to-gigya.json'),
    seed: async (w) => {
      const rows = uidsOf(w).map((UID, i) => ({
        UID,
        EVENING_ABC: String(i % 2 === 0),
        EVENING_HOY: String(i % 3 === 0),
      }));
      writeFileSync(join(w.sftpRoot, 'newsletters.csv'), csv(rows));
    },
    check: (s) => {
      expect(s.writes).toEqual({ 'accounts.setAccountInfo': RECORDS });
    },
  },
  {
    file: join(FIXTURES_DIR, '20-toolkit-sftp-import-lite-account.json'),
    seed: async (w) => {
      const records = Array.from({ length: RECORDS }, (_, i) => ({
        email: `lite${i}@example.com`,
        profile: { firstName: `Lite ${i}`, lastName: i % 7 === 0 ? 'O"Brien, Jr.' : `Number ${i}` },
        data: { n: i },
      }));
      writeFileSync(join(w.sftpRoot, 'lite.json'), JSON.stringify(records));
    },
    check: (s) => {
      expect(s.writes).toEqual({ 'accounts.importLiteAccount': RECORDS });
    },
  },
];

/** Runs a case in a fresh world; returns the run and its targets. */
async function runInFreshWorld(
  c: SizeCase,
  dataflow: Dataflow,
  invocationBudgetMs?: number,
): Promise<{ run: LocalRunResult; snapshot: TargetSnapshot; world: SizeWorld }> {
  const world = await startSizeWorld(RECORDS);
  try {
    await c.seed(world);
    const run = await runLocal(dataflow, {
      services: world.env.services,
      registry,
      jobId: `size-${dataflow.id}`,
      input: c.input ?? {},
      retryIntervalMs: 10,
      ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    });
    return { run, snapshot: await snapshotTargets(world), world };
  } finally {
    await world.close();
  }
}

/** The invocations of every step of a run, summed. */
const invocations = (run: LocalRunResult) =>
  Object.values(run.job?.steps ?? {}).reduce((n, step) => n + (step.invocations ?? 0), 0);

/** A summary first (names and counts), so a failure says where the runs differ before the full comparison. */
const outline = (s: TargetSnapshot) => ({
  sftp: Object.fromEntries(Object.entries(s.sftp).map(([k, f]) => [k, f.records.length])),
  s3: Object.fromEntries(Object.entries(s.s3).map(([k, f]) => [k, f.records.length])),
  accounts: s.accounts.length,
  writes: s.writes,
  rewritten: s.rewritten,
  uidMap: s.uidMap.length,
});

describe('a job of any size', () => {
  it.each(CASES.map((c) => [basename(c.file), c] as const))(
    '%s delivers the same targets record for record with a 1 ms invocation budget',
    async (_name, c) => {
      // Prepare
      const dataflow = load(c.file);

      // Act
      const normal = await runInFreshWorld(c, dataflow);
      const sliced = await runInFreshWorld(c, dataflow, 1);

      // Assess
      expect(normal.run.status, JSON.stringify(normal.run.error)).toBe('succeeded');
      c.check(normal.snapshot, normal.world);
      expect(sliced.run.status, JSON.stringify(sliced.run.error)).toBe('succeeded');
      for (const s of [normal.snapshot, sliced.snapshot]) {
        expect(s.rewritten).toEqual({});
        for (const [name, f] of Object.entries({ ...s.sftp, ...s.s3 }))
          if (name.endsWith('.gz')) expect(f.gzipValid, name).toBe(true);
      }
      // The sliced run did continue: the steps that stop at the deadline between batches did.
      if (c.continues !== false) expect(invocations(sliced.run)).toBeGreaterThan(invocations(normal.run));
      expect(outline(sliced.snapshot)).toEqual(outline(normal.snapshot));
      expect(sliced.snapshot).toEqual(normal.snapshot);
    },
    PROOF ? 3_600_000 : 900_000,
  );
});
