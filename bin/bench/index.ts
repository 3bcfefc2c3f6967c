/**
 * `npm run bench`: every benchmark of the project in one run, each printing its own table. Pass names to run a
 * subset: `npm run bench -- pipeline`. `extract` reads its sizes from `IDX_BENCH_EXTRACT_ACCOUNTS` and
 * `IDX_BENCH_EXTRACT_PARTITIONS`, its site's ceiling from `IDX_BENCH_EXTRACT_SITE_LIMIT` (see bin/bench/extract.ts); `limits` its sizes from `IDX_BENCH_LIMITS_SIZES`. `IDX_BENCH_ALSO_AT=3000000` also runs the scripts suite at that many records
 * (identity-sync only), to show that its peak memory does not follow the input. The scripts suite also measures
 * record.evaluate in QuickJS against the former node:vm sandbox, over `IDX_BENCH_EVALUATE_RECORDS` records (100k).
 * `escapes` runs the known node:vm escapes (lib/testing/escapes.ts) against both sandboxes. `eloqua` imports
 * 100,000 contacts through the Eloqua Bulk writer against the emulator (see bin/bench/eloqua.ts). `lzo` compares
 * our LZO codec with `lzop` over a CSV of `IDX_BENCH_LZO_MB` megabytes (64). `sftp` uploads and downloads a file of
 * `IDX_BENCH_SFTP_MB` megabytes (32) through the embedded server answering after `IDX_BENCH_SFTP_DELAYS` ms (0,5,20),
 * with many requests in flight and with the library's streams side by side (see bin/bench/sftp.ts).
 */
import '../../lib/local/polyfills.ts';

const suites: Record<string, () => Promise<unknown>> = {
  pipeline: async () => (await import('./pipeline.ts')).run(),
  scripts: async () => (await import('./scripts.ts')).run({ alsoAt: sizes(process.env.IDX_BENCH_ALSO_AT) }),
  extract: async () => (await import('./extract.ts')).run(),
  limits: async () => (await import('./limits.ts')).run(),
  budget: async () => (await import('./budget-split.ts')).run(),
  escapes: async () => (await import('./escapes.ts')).run(),
  eloqua: async () => (await import('./eloqua.ts')).run(),
  lzo: async () => (await import('./lzo.ts')).run(),
  sftp: async () => (await import('./sftp.ts')).run(),
};

/** Record counts from a comma-separated list such as `3000000,5000000`. */
function sizes(list: string | undefined): number[] {
  const out = (list ?? '')
    .split(',')
    .filter((x) => x.trim() !== '')
    .map(Number);
  const bad = out.find((n) => !Number.isInteger(n) || n <= 0);
  if (bad !== undefined)
    throw new Error(`IDX_BENCH_ALSO_AT: expected record counts such as 3000000,5000000; got "${list}"`);
  return out;
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const [name, suite] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await suite();
}
