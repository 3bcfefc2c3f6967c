/**
 * One budget shared by every partition of a read, or a fixed split of it per partition: which one reads closer to
 * the rate-limit bound. Reads 100,000 accounts of an emulator (1 s per search, 20 searches/s) in `partitions` ranges of
 * lastUpdatedTimestamp with `inFlight` cursors at once, each cursor's calls going through (a) the one budget of
 * 20/s all share, in memory, (b) the one budget all share through a DynamoDB item (lib/stores/call-budget.ts, on
 * the embedded DynamoDB: what the partitions of a Map state in concurrent Lambdas use), or (c) a budget of its own,
 * 20/s ÷ inFlight. Prints wall time, searches and the ratio to the bound (searches ÷ 20/s). Run with
 * `npm run bench -- budget`; `IDX_BENCH_BUDGET_ACCOUNTS` sets another number of accounts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallBudget, GigyaClient, type SharedBudget } from '../../lib/connectors/gigya.ts';
import type { Logger } from '../../lib/core/logger.ts';
import { startLocalEnvironment } from '../../lib/local/environment.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { TableCallBudget } from '../../lib/scripts/util/gigya-budget.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../lib/scripts/util/gigya-step.ts';
import { CallBudgetStore } from '../../lib/stores/call-budget.ts';

const RATE = 20;
const LATENCY_MS = 1000;

/** Reads every range with its own cursor, `inFlight` at once; returns wall seconds and searches. */
async function readAll(
  url: string,
  ranges: readonly [number, number][],
  inFlight: number,
  budgetFor: (k: number) => SharedBudget,
): Promise<{ seconds: number; searches: number; records: number }> {
  const started = Date.now();
  let searches = 0;
  let records = 0;
  let next = 0;
  const worker = async (k: number) => {
    const client = new GigyaClient({
      apiKey: LOCAL_GIGYA_CREDENTIALS.apiKey,
      userKey: LOCAL_GIGYA_CREDENTIALS.userKey,
      secret: LOCAL_GIGYA_CREDENTIALS.secret,
      endpoint: url,
      budget: budgetFor(k),
      maxConcurrency: 1,
      retry: { maxAttempts: 20 },
    });
    while (next < ranges.length) {
      const [lo, hi] = ranges[next++] as [number, number];
      const query = `SELECT UID FROM accounts WHERE lastUpdatedTimestamp > ${lo} AND lastUpdatedTimestamp <= ${hi} ORDER BY lastUpdatedTimestamp LIMIT 1000`;
      for await (const page of client.search('accounts.search', query)) {
        searches++;
        records += page.results.length;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, k) => worker(k)));
  return { seconds: (Date.now() - started) / 1000, searches, records };
}

/** Runs both budgets over the same ranges and prints a table. */
export async function run(): Promise<void> {
  const accounts = Number(process.env.IDX_BENCH_BUDGET_ACCOUNTS ?? 100_000);
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-budget-'));
  const env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
  const emu = await startGigyaEmulator({
    apiKey: LOCAL_GIGYA_CREDENTIALS.apiKey,
    userKey: LOCAL_GIGYA_CREDENTIALS.userKey,
    secret: LOCAL_GIGYA_CREDENTIALS.secret,
  });
  try {
    emu.seed({ count: accounts, seed: 1 });
    const times = [...emu.store.accounts.values()].map((a) => a.lastUpdatedTimestamp as number).sort((a, b) => a - b);
    const lo = (times[0] as number) - 1;
    const hi = times[times.length - 1] as number;
    const inFlight = 2 * RATE;
    const partitions = Math.max(inFlight, Math.ceil(accounts / 10_000));
    const ranges: [number, number][] = [];
    for (let i = 0; i < partitions; i++)
      ranges.push([lo + Math.round(((hi - lo) * i) / partitions), lo + Math.round(((hi - lo) * (i + 1)) / partitions)]);
    emu.faults.latency('accounts.search', LATENCY_MS);
    emu.faults.rateLimit('accounts.search', RATE);
    process.stdout.write(
      `\n## One budget or a fixed split: ${accounts} accounts, ${partitions} ranges, ${inFlight} cursors in flight, ` +
        `${LATENCY_MS} ms per search, ${RATE}/s\n\n| budget | seconds | searches | 403048 | × bound | load |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`,
    );
    const store = new CallBudgetStore(env.services.dynamo, env.config.tables.state);
    const quiet = () => undefined;
    const log: Logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
    for (const kind of ['shared', 'table', 'split'] as const) {
      const before = emu.answers.get('accounts.search')?.get(403048) ?? 0;
      const shared = new CallBudget({ maxConcurrency: Number.MAX_SAFE_INTEGER, callsPerSecond: RATE });
      const table = new TableCallBudget(
        store,
        { dataflowId: 'bench', name: 'site', jobId: `bench-${Date.now()}` },
        RATE,
        log,
      );
      const own = Array.from(
        { length: inFlight },
        () => new CallBudget({ maxConcurrency: Number.MAX_SAFE_INTEGER, callsPerSecond: RATE / inFlight }),
      );
      const r = await readAll(emu.url, ranges, inFlight, (k) =>
        kind === 'shared' ? shared : kind === 'table' ? table : (own[k] as CallBudget),
      );
      const throttled = (emu.answers.get('accounts.search')?.get(403048) ?? 0) - before;
      if (r.records !== accounts) throw new Error(`${kind}: read ${r.records} of ${accounts}`);
      const label =
        kind === 'shared'
          ? `one of ${RATE}/s in memory`
          : kind === 'table'
            ? `one of ${RATE}/s in DynamoDB`
            : `${RATE / inFlight}/s per cursor`;
      process.stdout.write(
        `| ${label} | ${r.seconds.toFixed(1)} | ${r.searches} | ${throttled} | ${(r.seconds / (r.searches / RATE)).toFixed(2)} | ${(loadavg()[0] ?? 0).toFixed(1)} |\n`,
      );
    }
  } finally {
    await emu.close();
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
