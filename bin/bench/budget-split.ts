/**
 * One budget shared by every partition of a read, or a fixed split of it per partition: which one reads closer to
 * the rate-limit bound. Reads 100,000 accounts of an emulator (1 s per search, 20 searches/s) in `partitions` ranges of
 * lastUpdatedTimestamp with `inFlight` cursors at once, each cursor's calls going through (a) the one budget of
 * 20/s all share, or (b) a budget of its own, 20/s ÷ inFlight. Prints wall time, searches and the ratio to the
 * bound (searches ÷ 20/s). Run with `npm run bench -- budget`.
 */
import { CallBudget, GigyaClient } from '../../lib/connectors/gigya.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../lib/scripts/util/gigya-step.ts';

const RATE = 20;
const LATENCY_MS = 1000;

/** Reads every range with its own cursor, `inFlight` at once; returns wall seconds and searches. */
async function readAll(
  url: string,
  ranges: readonly [number, number][],
  inFlight: number,
  budgetFor: (k: number) => CallBudget,
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
  const accounts = 100_000;
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
        `${LATENCY_MS} ms per search, ${RATE}/s\n\n| budget | seconds | searches | 403048 | × bound |\n| --- | ---: | ---: | ---: | ---: |\n`,
    );
    for (const kind of ['shared', 'split'] as const) {
      const before = emu.answers.get('accounts.search')?.get(403048) ?? 0;
      const shared = new CallBudget({ maxConcurrency: Number.MAX_SAFE_INTEGER, callsPerSecond: RATE });
      const own = Array.from(
        { length: inFlight },
        () => new CallBudget({ maxConcurrency: Number.MAX_SAFE_INTEGER, callsPerSecond: RATE / inFlight }),
      );
      const r = await readAll(emu.url, ranges, inFlight, (k) => (kind === 'shared' ? shared : (own[k] as CallBudget)));
      const throttled = (emu.answers.get('accounts.search')?.get(403048) ?? 0) - before;
      if (r.records !== accounts) throw new Error(`${kind}: read ${r.records} of ${accounts}`);
      process.stdout.write(
        `| ${kind === 'shared' ? `one of ${RATE}/s` : `${RATE / inFlight}/s per cursor`} | ${r.seconds.toFixed(1)} | ${r.searches} | ${throttled} | ${(r.seconds / (r.searches / RATE)).toFixed(2)} |\n`,
      );
    }
  } finally {
    await emu.close();
  }
}
