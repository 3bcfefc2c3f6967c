/**
 * Benchmark of a full export from Gigya at the speed its rate limit allows. Seeds N accounts into the emulator
 * (`idx gigya seed`), serves them with `idx gigya serve` in a process of its own, as a remote site would be, with
 * 1 s of latency per `accounts.search` and at most 20 searches/s, then runs an Eloqua-outbound-like dataflow
 * (account reader → rename → dsv → embedded SFTP) with `idx run --full-extract` pointed at it through
 * `IDX_GIGYA_ENDPOINT`. Prints the job's wall time, the pages read, the searches/s achieved and the ratio to the
 * rate-limit bound (pages ÷ 20 s: the time the limit alone would need).
 *
 * Each case is a number of accounts and a number of `partitions` for the reader: 0 leaves the param out (the
 * reader chooses from its count), 1 is the single cursor, other values set it. By default two cases run side by
 * side: 1,000,000 accounts partitioned as the reader chooses, and 200,000 with one cursor. Environment:
 * `IDX_BENCH_EXTRACT_ACCOUNTS` and `IDX_BENCH_EXTRACT_PARTITIONS` (a comma list) replace them with one count of
 * accounts read with each number of partitions. `IDX_GIGYA_BUDGET=table` makes the partitions of the Map share their
 * budget through the state table (embedded DynamoDB), as deployed, instead of this process's memory.
 * `IDX_BENCH_EXTRACT_SITE_LIMIT` sets the site's searches per second (20); the dataflow keeps the default
 * `maxCallsPerSecond` (20), so a lower limit shows the budget finding a ceiling below it (10/s: sites licensed for up
 * to 5M contacts, apis.md §A.9), and the bound is pages ÷ that limit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliProcess, cpuSecondsOf, peakRssMbOf } from './pipeline.ts';

/** One export to measure. */
export interface ExtractCase {
  readonly accounts: number;
  /** Partitions of the reader; 1 is the single cursor, 0 the reader's own choice. */
  readonly partitions: number;
}

/** The site the export reads from. */
export interface ExtractSite {
  /** Latency of each accounts.search, ms. */
  readonly latencyMs: number;
  /** accounts.search calls per second above which the site answers 403048. */
  readonly searchesPerSecond: number;
}

/** What one export measured. */
export interface ExtractFigures extends ExtractCase {
  readonly seedSeconds: number;
  readonly records: number;
  /** The job's wall time (start to end, as its record says). */
  readonly seconds: number;
  /** Searches answered with results (pages, and any counting probes). */
  readonly pages: number;
  /** Searches refused with 403048. */
  readonly throttled: number;
  readonly searchesPerSecond: number;
  /** What the rate limit alone would need: pages ÷ the limit. */
  readonly boundSeconds: number;
  /** Wall time ÷ bound. */
  readonly ratio: number;
  readonly peakRssMb: number;
  /** CPU seconds of the emulator (the site) and of idx run: on a busy machine they, not the site, may bound the run. */
  readonly siteCpuSeconds: number;
  readonly runCpuSeconds: number;
  /** The machine's load average (1 minute) when the export ended: the machine is shared. */
  readonly load: number;
  /** The reader's invocations, and their durations summed (the Lambda time a deployed reader is billed for). */
  readonly readerInvocations: number;
  readonly readerSeconds: number;
}

const SITE: ExtractSite = { latencyMs: 1000, searchesPerSecond: 20 };

/** The dataflow: the account reader of dataflows/eloqua-outbound.json, renamed columns as CSV to the SFTP. */
export function exportDataflow(partitions: number): Record<string, unknown> {
  return {
    id: 'bench-extract',
    name: 'Benchmark: full export of Gigya accounts to CSV on SFTP',
    steps: [
      {
        id: 'account',
        type: 'datasource.read.gigya.account',
        params: {
          select: 'UID,profile.email,profile.firstName,profile.lastName,data.subscribed',
          where: 'profile.email IS NOT NULL',
          ...(partitions === 0 ? {} : { partitions }),
        },
        next: ['rename'],
      },
      {
        id: 'rename',
        type: 'field.rename',
        params: {
          fields: [
            { sourceField: 'UID', targetField: 'C_Gigya_UID1' },
            { sourceField: 'profile.email', targetField: 'C_EmailAddress' },
            { sourceField: 'profile.firstName', targetField: 'C_FirstName' },
            { sourceField: 'profile.lastName', targetField: 'C_LastName' },
            { sourceField: 'data.subscribed', targetField: 'C_Subscribed1' },
          ],
        },
        next: ['dsv'],
      },
      {
        id: 'dsv',
        type: 'file.format.dsv',
        params: {
          fileName: 'gigya_export_${now}.csv',
          columnSeparator: ',',
          quoteFields: true,
          writeHeader: true,
          columns: ['C_Gigya_UID1', 'C_EmailAddress', 'C_FirstName', 'C_LastName', 'C_Subscribed1'],
        },
        next: ['sftp'],
      },
      {
        id: 'sftp',
        type: 'datasource.write.sftp',
        params: { host: '', username: '', remotePath: 'export', temporaryUploadExtension: true },
      },
    ],
  };
}

/** Starts `idx <args>` as its launcher line starts it, with a state folder; stdout and stderr are collected. */
function idx(
  home: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; out: { stdout: string; stderr: string } } {
  const cli = cliProcess(args);
  const child = spawn(process.execPath, cli.args, {
    env: { ...cli.env, IDX_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  return { child, out };
}

async function finished(run: ReturnType<typeof idx>, what: string): Promise<{ stdout: string; stderr: string }> {
  const [code] = (await once(run.child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${what} failed (${code}): ${run.out.stderr.slice(-2000)}`);
  return run.out;
}

/** Seeds, serves and exports one case; returns its figures. */
export async function measure(c: ExtractCase, site: ExtractSite = SITE): Promise<ExtractFigures> {
  const home = mkdtempSync(join(tmpdir(), 'idx-bench-extract-'));
  let serve: ReturnType<typeof idx> | undefined;
  try {
    const seedStart = Date.now();
    await finished(idx(home, ['gigya', 'seed', '--accounts', String(c.accounts)]), 'idx gigya seed');
    const seedSeconds = (Date.now() - seedStart) / 1000;
    const flow = join(home, 'extract.json');
    writeFileSync(flow, JSON.stringify(exportDataflow(c.partitions), null, 2));

    serve = idx(home, [
      'gigya',
      'serve',
      '--latency',
      String(site.latencyMs),
      '--rate-limit',
      String(site.searchesPerSecond),
      '--method',
      'accounts.search',
    ]);
    const server = serve;
    while (!/IDX_GIGYA_ENDPOINT=\S+/.test(server.out.stdout)) {
      if (server.child.exitCode !== null) throw new Error(`idx gigya serve ended: ${server.out.stderr.slice(-2000)}`);
      await once(server.child.stdout as NodeJS.ReadableStream, 'data');
    }
    const endpoint = /IDX_GIGYA_ENDPOINT=(\S+)/.exec(server.out.stdout)?.[1] as string;

    const run = await finished(
      idx(home, ['run', flow, '--full-extract', '--json', '--stats'], {
        IDX_GIGYA_ENDPOINT: endpoint,
        ...(process.env.IDX_GIGYA_BUDGET ? { IDX_GIGYA_BUDGET: process.env.IDX_GIGYA_BUDGET } : {}),
      }),
      'idx run',
    );
    server.child.kill('SIGTERM');
    const { stdout: served } = await finished(server, 'idx gigya serve');
    serve = undefined;

    const job = JSON.parse(run.stdout) as {
      startTime: string;
      endTime: string;
      totalRecords: number;
      steps?: Record<string, { durationMs?: number; invocations?: number }>;
    };
    const reader = job.steps?.account;
    const seconds = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
    const calls = /calls: accounts\.search \d+ \(([^)]*)\)/.exec(served)?.[1] ?? '';
    const pages = Number(/(\d+) OK/.exec(calls)?.[1] ?? 0);
    const throttled = Number(/(\d+) × 403048/.exec(calls)?.[1] ?? 0);
    const runCpu = cpuSecondsOf(run.stderr);
    const siteCpu = Number(/cpu: ([\d.]+) s/.exec(served)?.[1] ?? Number.NaN);
    const boundSeconds = pages / site.searchesPerSecond;
    return {
      ...c,
      seedSeconds,
      records: job.totalRecords,
      seconds,
      pages,
      throttled,
      searchesPerSecond: pages / seconds,
      boundSeconds,
      ratio: seconds / boundSeconds,
      peakRssMb: peakRssMbOf(run.stderr),
      siteCpuSeconds: siteCpu,
      runCpuSeconds: runCpu,
      load: loadavg()[0] ?? Number.NaN,
      readerInvocations: reader?.invocations ?? Number.NaN,
      readerSeconds: (reader?.durationMs ?? Number.NaN) / 1000,
    };
  } finally {
    serve?.child.kill('SIGTERM');
    rmSync(home, { recursive: true, force: true });
  }
}

/** Numbers from a comma-separated list. */
function list(name: string, raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined || raw.trim() === '') return fallback;
  const out = raw.split(',').map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Error(`${name}: expected whole numbers such as 0,1,8; got "${raw}"`);
  }
  return out;
}

/** Runs the extraction benchmark over its cases and prints a table. */
export async function run(
  options: { cases?: readonly ExtractCase[]; site?: ExtractSite } = {},
): Promise<ExtractFigures[]> {
  const limit = list('IDX_BENCH_EXTRACT_SITE_LIMIT', process.env.IDX_BENCH_EXTRACT_SITE_LIMIT, [
    SITE.searchesPerSecond,
  ])[0] as number;
  if (limit <= 0) throw new Error(`IDX_BENCH_EXTRACT_SITE_LIMIT: expected searches per second above 0, got ${limit}`);
  const site = options.site ?? { ...SITE, searchesPerSecond: limit };
  const custom =
    process.env.IDX_BENCH_EXTRACT_ACCOUNTS !== undefined || process.env.IDX_BENCH_EXTRACT_PARTITIONS !== undefined;
  const [accounts] = list('IDX_BENCH_EXTRACT_ACCOUNTS', process.env.IDX_BENCH_EXTRACT_ACCOUNTS, [1_000_000]);
  const cases =
    options.cases ??
    (custom
      ? list('IDX_BENCH_EXTRACT_PARTITIONS', process.env.IDX_BENCH_EXTRACT_PARTITIONS, [0]).map((partitions) => ({
          accounts: accounts as number,
          partitions,
        }))
      : [
          { accounts: 1_000_000, partitions: 0 },
          { accounts: 200_000, partitions: 1 },
        ]);
  process.stdout.write(
    `\n## Full export from Gigya: emulator with ${site.latencyMs} ms per accounts.search and at most ` +
      `${site.searchesPerSecond} searches/s → rename → CSV → SFTP\n\n` +
      '| accounts | partitions | seed s | records | seconds | pages | searches/s | 403048 | bound s | × bound | peak RSS MB | site CPU s | run CPU s | load | reader invocations | reader s |\n' +
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  const rows: ExtractFigures[] = [];
  for (const c of cases) {
    const f = await measure(c, site);
    rows.push(f);
    process.stdout.write(
      `| ${f.accounts} | ${f.partitions === 0 ? 'default' : f.partitions} | ${f.seedSeconds.toFixed(1)} | ${f.records} | ${f.seconds.toFixed(1)} | ` +
        `${f.pages} | ${f.searchesPerSecond.toFixed(2)} | ${f.throttled} | ${f.boundSeconds.toFixed(1)} | ` +
        `${f.ratio.toFixed(2)} | ${f.peakRssMb.toFixed(0)} | ${f.siteCpuSeconds.toFixed(0)} | ${f.runCpuSeconds.toFixed(0)} | ` +
        `${f.load.toFixed(1)} | ${f.readerInvocations} | ${f.readerSeconds.toFixed(0)} |\n`,
    );
  }
  process.stdout.write(
    `\nbound: pages ÷ ${site.searchesPerSecond}/s, the time the rate limit alone allows; seed s: idx gigya seed; ` +
      `site CPU s: the emulator's CPU time, run CPU s: idx run's (both share this machine, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})\n`,
  );
  return rows;
}
