import { describe, expect, it } from 'vitest';
import type { GigyaClient } from '../../../lib/connectors/gigya.ts';
import type { DataRecord, ScriptContext } from '../../../lib/core/script.ts';
import { generateAccounts } from '../../../lib/local/gigya-accounts.ts';
import { datasourceReadGigyaAccount } from '../../../lib/scripts/datasource.read.gigya.account.ts';
import { datasourceReadGigyaAudit } from '../../../lib/scripts/datasource.read.gigya.audit.ts';
import { datasourceReadGigyaDs } from '../../../lib/scripts/datasource.read.gigya.ds.ts';
import {
  equalRanges,
  type PartitionedContinuation,
  partitionCount,
  planPartitions,
  taperRanges,
} from '../../../lib/scripts/util/gigya-partitions.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const START = '2026-01-02T03:04:05.000Z';
const T0 = Date.parse(START);
const ACCOUNTS = 2_400;
const harness = useGigyaEmulator({ accounts: generateAccounts({ count: ACCOUNTS, seed: 11, now: T0 }) });

const services = () => emulatorServices(harness.emu);
const uids = (records: readonly DataRecord[]) => records.map((r) => r.UID as string);
const FULL = { startTime: START, fullExtract: true } as const;

/** Reads with a 1 ms budget, one invocation after another, as the state machine's loop does. */
async function readSliced(params: Record<string, unknown>, job: Record<string, unknown>) {
  const records: DataRecord[] = [];
  const states: PartitionedContinuation[] = [];
  let continuation: unknown;
  for (let i = 0; i < 10_000; i++) {
    const out = await runScript(datasourceReadGigyaAccount, params, {
      services: services(),
      job,
      deadline: Date.now(),
      ...(continuation === undefined ? {} : { continuation }),
    });
    records.push(...out.records);
    continuation = out.continuation;
    if (continuation === undefined) return { records, states };
    states.push(continuation as PartitionedContinuation);
  }
  throw new Error('the reader never finished');
}

describe('equalRanges', () => {
  it('cuts a span into ranges of equal width that meet end to end', () => {
    // Act
    const bounds = equalRanges(100, 200, 4);

    // Assess
    expect(bounds).toEqual([100, 125, 150, 175, 200]);
  });

  it('makes no empty range when the span is narrower than the number asked for', () => {
    // Act
    const bounds = equalRanges(10, 12, 8);

    // Assess
    expect(bounds).toEqual([10, 11, 12]);
  });
});

describe('taperRanges', () => {
  it('halves the last ranges of a plan with more ranges than cursors in flight', () => {
    // Prepare: 10 ranges of 100, 4 cursors in flight.
    const bounds = equalRanges(0, 1000, 10);

    // Act
    const tapered = taperRanges(bounds, 4, 256);

    // Assess: the last two ranges (4 ÷ 2) are cut in two, the rest kept, end to end.
    expect(tapered).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 850, 900, 950, 1000]);
  });

  it('keeps a plan with no more ranges than cursors in flight, or at the most ranges allowed', () => {
    // Prepare
    const bounds = equalRanges(0, 1000, 10);

    // Act
    const fewer = taperRanges(bounds, 10, 256);
    const full = taperRanges(bounds, 4, 10);
    const room = taperRanges(bounds, 4, 11);

    // Assess
    expect(fewer).toEqual(bounds);
    expect(full).toEqual(bounds);
    expect(room).toHaveLength(bounds.length + 1);
  });
});

describe('planPartitions', () => {
  /** A site whose searches match `total` records with the field between `oldest` and `newest`. */
  const site = (total: number, oldest: number, newest: number) =>
    ({
      searchPage: async (_method: string, request: { query?: string }) => ({
        results: [{ lastUpdatedTimestamp: request.query?.includes(' DESC ') ? newest : oldest }],
        totalCount: total,
      }),
    }) as unknown as GigyaClient;
  const ctx = { stepId: 'account', log: { info: () => undefined } } as unknown as ScriptContext;
  const query = {
    method: 'accounts.search',
    select: 'UID',
    from: 'accounts',
    conditions: [],
    field: 'lastUpdatedTimestamp',
    format: 'epochMillis',
    nulls: true,
    pageSize: 1000,
  } as const;

  it('never plans more partitions than a Map takes, the range of records without the field included', async () => {
    // Act: 10,000,000 matching records would be 1,000 ranges of 10 pages.
    const planned = await planPartitions({
      client: site(10_000_000, 1_000_000, 9_000_000_000),
      q: query,
      ctx,
      partitions: undefined,
      concurrency: 40,
      max: 256,
    });

    // Assess
    expect(planned.plan && partitionCount(planned.plan)).toBe(256);
  });

  it('tapers the ranges it chooses itself, and keeps the number a dataflow sets', async () => {
    // Act: 1,000,000 records, 100 ranges of 10 pages, 40 cursors in flight.
    const chosen = await planPartitions({
      client: site(1_000_000, 1_000_000, 2_000_000),
      q: query,
      ctx,
      partitions: undefined,
      concurrency: 40,
      max: 256,
    });
    const set = await planPartitions({
      client: site(1_000_000, 1_000_000, 2_000_000),
      q: query,
      ctx,
      partitions: 100,
      concurrency: 40,
      max: 256,
    });

    // Assess: the last 20 of the 100 ranges are halved; the null range follows either way.
    expect(chosen.plan && partitionCount(chosen.plan)).toBe(121);
    expect(set.plan && partitionCount(set.plan)).toBe(101);
    const widths = (chosen.plan?.bounds ?? []).slice(1).map((b, i) => b - (chosen.plan?.bounds[i] as number));
    expect(Math.max(...widths.slice(-40))).toBeLessThan(Math.min(...widths.slice(0, 80)));
  });
});

describe('partitioned account reads', () => {
  it('give the same records in the same order as one cursor, whatever the number of partitions', async () => {
    // Prepare
    const params = { select: 'UID,lastUpdatedTimestamp', batchSize: 50 };
    const single = await runScript(
      datasourceReadGigyaAccount,
      { ...params, partitions: 1 },
      { services: services(), job: FULL },
    );

    // Act
    const runs = await Promise.all(
      [2, 5, 16, undefined].map((partitions) =>
        runScript(
          datasourceReadGigyaAccount,
          { ...params, ...(partitions === undefined ? {} : { partitions }) },
          { services: services(), job: FULL },
        ),
      ),
    );

    // Assess
    expect(single.records).toHaveLength(ACCOUNTS);
    for (const run of runs) expect(uids(run.records)).toEqual(uids(single.records));
    expect(runs[2]?.trace.some((l) => / 1[67] partitions of lastUpdatedTimestamp/.test(l))).toBe(true);
    // 2,400 accounts in pages of 50 are 48 pages: as many ranges as cursors in flight (40 at 20 calls/s) would be
    // under 2 pages, so 24 ranges of 2 pages, and one of the accounts without the field.
    expect(runs[3]?.trace.some((l) => / 25 partitions of lastUpdatedTimestamp/.test(l))).toBe(true);
  });

  it('keeps the where clause and the delta window in every partition', async () => {
    // Prepare
    const job = { startTime: START, delta: { from: new Date(T0 - 30 * 86_400_000).toISOString(), to: START } };
    const params = { select: 'UID', where: 'profile.country = "DE" OR profile.country = "FR"', batchSize: 20 };

    // Act
    const single = await runScript(
      datasourceReadGigyaAccount,
      { ...params, partitions: 1 },
      { services: services(), job },
    );
    const split = await runScript(
      datasourceReadGigyaAccount,
      { ...params, partitions: 6 },
      { services: services(), job },
    );

    // Assess
    expect(single.records.length).toBeGreaterThan(50);
    expect(uids(split.records)).toEqual(uids(single.records));
    const queries = split.trace.filter((l) => l.includes('ORDER BY lastUpdatedTimestamp DESC LIMIT 1'));
    expect(queries.length).toBe(0);
    expect(split.trace.some((l) => l.includes(' 6 partitions of lastUpdatedTimestamp'))).toBe(true);
  });

  it('cuts a range again when its first page counts far more than the plan expected', async () => {
    // Prepare: most accounts changed within one minute, a few spread over three months.
    const skewed = await import('../../../lib/local/gigya-emulator.ts').then((m) =>
      m.startGigyaEmulator({
        accounts: [...generateAccounts({ count: 600, seed: 3, now: T0 })].map((a, i) => ({
          ...a,
          lastUpdatedTimestamp: i % 20 === 0 ? (a.lastUpdatedTimestamp as number) : T0 - 60_000 + i,
        })),
      }),
    );
    try {
      const params = { select: 'UID', batchSize: 20 };
      const svc = emulatorServices(skewed);

      // Act
      const single = await runScript(
        datasourceReadGigyaAccount,
        { ...params, partitions: 1 },
        { services: svc, job: FULL },
      );
      const split = await runScript(
        datasourceReadGigyaAccount,
        { ...params, partitions: 4 },
        { services: svc, job: FULL },
      );

      // Assess
      expect(uids(split.records)).toEqual(uids(single.records));
      const over = split.trace.find((l) => / over \d+ partitions/.test(l)) ?? '';
      expect(Number(/ over (\d+) partitions/.exec(over)?.[1])).toBeGreaterThan(5);
    } finally {
      await skewed.close();
    }
  });

  it('continues each partition on its own across invocations with a 1 ms budget', async () => {
    // Prepare
    const params = { select: 'UID', batchSize: 100, partitions: 4 };
    const whole = await runScript(datasourceReadGigyaAccount, params, { services: services(), job: FULL });

    // Act
    const sliced = await readSliced(params, FULL);

    // Assess
    expect(uids(sliced.records)).toEqual(uids(whole.records));
    const plan = sliced.states[0]?.plan;
    expect(plan && partitionCount(plan)).toBe(5);
    // Each of the four ranges (the fifth holds accounts without the field: none) went on from its own cursor.
    for (const head of [0, 1, 2, 3]) {
      expect(sliced.states.some((s) => s.head === head && s.cursorId !== undefined)).toBe(true);
    }
    expect(sliced.states.length).toBeGreaterThanOrEqual(ACCOUNTS / 100);
  });

  it('drops the ranges read ahead that are unfinished at the deadline and reads them again in the next invocation', async () => {
    // Prepare: searches slow enough that a 1.5 s budget ends with several ranges part-read.
    const params = { select: 'UID', batchSize: 100, partitions: 12 };
    const whole = await runScript(datasourceReadGigyaAccount, params, { services: services(), job: FULL });
    harness.emu.faults.latency('accounts.search', 150);
    try {
      // Act
      const records: DataRecord[] = [];
      const states: PartitionedContinuation[] = [];
      let continuation: unknown;
      let trace: string[] = [];
      do {
        const out = await runScript(datasourceReadGigyaAccount, params, {
          services: services(),
          job: FULL,
          deadline: Date.now() + 1500,
          ...(continuation === undefined ? {} : { continuation }),
        });
        records.push(...out.records);
        continuation = out.continuation;
        trace = out.trace;
        if (continuation) states.push(continuation as PartitionedContinuation);
      } while (continuation !== undefined && states.length < 200);

      // Assess
      expect(uids(records)).toEqual(uids(whole.records));
      expect(states.length).toBeGreaterThan(1);
      // Ranges were read ahead and dropped: more searches in all than one invocation needs.
      const searches = (t: string[]) => Number(/ in (\d+) searches over /.exec(t.join('\n'))?.[1]);
      expect(searches(trace)).toBeGreaterThan(searches(whole.trace));
    } finally {
      harness.emu.faults.latency('accounts.search', 0);
    }
  });

  it('slows the partitions together under a ceiling far below their rate, and loses nothing', async () => {
    // Prepare
    const params = {
      select: 'UID',
      batchSize: 100,
      partitions: 6,
      maxCallsPerSecond: 50,
      maxRetries: 20,
      retryBaseDelayMs: 20,
    };
    const calm = await runScript(datasourceReadGigyaAccount, params, { services: services(), job: FULL });
    harness.emu.faults.rateLimit('accounts.search', 4);
    try {
      // Act
      const stormy = await runScript(datasourceReadGigyaAccount, params, {
        services: services(),
        job: { ...FULL, logLevel: 'debug' },
      });

      // Assess
      expect(uids(stormy.records)).toEqual(uids(calm.records));
      const lines = stormy.trace.filter((l) => / partition \d+\/\d+ .* calls held by a throttling pause/.test(l));
      expect(lines).toHaveLength(7);
      const held = lines.map((l) => Number(/; (\d+) calls held/.exec(l)?.[1]));
      // The pauses held the partitions' calls back; how many of them depends on when each partition opened, as
      // the cut pace soon keeps under the ceiling (test/e2e/gigya-map.test.ts refuses every partition at once).
      expect(held.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(stormy.trace.some((l) => l.includes('403048'))).toBe(true);
    } finally {
      harness.emu.faults.rateLimit('accounts.search', undefined);
    }
  });

  it('reads every account once when accounts change during the export, and the next delta run reads the rest', async () => {
    // Prepare: a slow budget, so that some ranges open only after the changes.
    const { emu } = harness;
    const params = { select: 'UID,lastUpdatedTimestamp', batchSize: 100, partitions: 8, maxCallsPerSecond: 2 };
    const before = new Map([...emu.store.accounts.values()].map((a) => [a.UID as string, a.lastUpdatedTimestamp]));
    const byTime = [...before].sort((a, b) => (a[1] as number) - (b[1] as number)).map(([uid]) => uid);
    const changed = byTime.filter((_, i) => i % 97 === 5);
    const searchesBefore = emu.calls.get('accounts.search') ?? 0;

    // Act
    const reading = runScript(datasourceReadGigyaAccount, params, { services: services(), job: FULL });
    while ((emu.calls.get('accounts.search') ?? 0) < searchesBefore + 6) await new Promise((r) => setTimeout(r, 20));
    const release = emu.faults.hold('accounts.search');
    const changedAt = Date.now();
    for (const uid of changed) emu.store.setAccount(uid, { data: { touched: true } }, changedAt);
    release();
    const job1 = await reading;
    const next = await runScript(
      datasourceReadGigyaAccount,
      { select: 'UID', partitions: 1 },
      {
        services: services(),
        job: {
          startTime: new Date(changedAt + 1000).toISOString(),
          delta: { from: START, to: new Date(changedAt + 1000).toISOString() },
        },
      },
    );

    // Assess
    const read = uids(job1.records);
    expect(new Set(read).size).toBe(read.length);
    const unchanged = byTime.filter((uid) => !changed.includes(uid));
    const inJob = new Set(read);
    expect(unchanged.every((uid) => inJob.has(uid))).toBe(true);
    const missed = changed.filter((uid) => !inJob.has(uid));
    // Some changed accounts were read (their range was open), some were left to the next run (it was not yet).
    expect(missed.length).toBeGreaterThan(0);
    expect(missed.length).toBeLessThan(changed.length);
    expect(read.length + missed.length).toBe(ACCOUNTS);
    expect(new Set(uids(next.records))).toEqual(new Set(changed));
  });
});

describe('partitioned Data Store and audit reads', () => {
  it('refuses partitions on a Data Store reader without a deltaField', () => {
    // Act
    const problems = datasourceReadGigyaDs.check?.({ from: 'purchases', partitions: 4 } as never);

    // Assess
    expect(problems?.map((p) => p.code)).toEqual(['IDX_GIGYA_PARTITION_FIELD']);
  });

  it('read Data Store objects and audit entries in the order of one cursor', async () => {
    // Prepare
    const { emu } = harness;
    for (let i = 0; i < 300; i++) {
      await fetch(`${emu.url}/ds.store`, {
        method: 'POST',
        body: new URLSearchParams({
          apiKey: emu.apiKey,
          userKey: emu.userKey,
          secret: emu.secret,
          type: 'partitioned',
          oid: `o${String(i).padStart(4, '0')}`,
          data: JSON.stringify({ n: i }),
        }),
      });
    }
    const ds = { from: 'partitioned', select: 'oid', deltaField: 'lastUpdated', batchSize: 20 };
    const audit = { select: 'callID', where: 'endpoint = "ds.store"', batchSize: 20 };

    // Act
    const ds1 = await runScript(datasourceReadGigyaDs, { ...ds, partitions: 1 }, { services: services(), job: FULL });
    const ds4 = await runScript(datasourceReadGigyaDs, { ...ds, partitions: 4 }, { services: services(), job: FULL });
    const au1 = await runScript(
      datasourceReadGigyaAudit,
      { ...audit, partitions: 1 },
      { services: services(), job: FULL },
    );
    const au4 = await runScript(
      datasourceReadGigyaAudit,
      { ...audit, partitions: 4 },
      { services: services(), job: FULL },
    );

    // Assess
    expect(ds1.records).toHaveLength(300);
    expect(ds4.records).toEqual(ds1.records);
    expect(au1.records.length).toBeGreaterThanOrEqual(300);
    expect(au4.records).toEqual(au1.records);
    expect(au4.trace.some((l) => l.includes('partitions of @timestamp'))).toBe(true);
  });
});
