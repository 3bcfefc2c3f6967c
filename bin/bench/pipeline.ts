/**
 * Benchmark of `idx run` on the sample dataflow (S3 CSV → parse → rename → remove → format → gzip → S3) on the
 * embedded services: records/s, MB/s of input and peak RSS at several sizes, each in a fresh child process
 * and a fresh local state folder, started as bin/idx.js starts itself (its environment and Node.js flags), so the
 * figures are the CLI's own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

/** How the CLI starts: the environment and Node.js flags on the `#!/usr/bin/env -S …` line of bin/idx.js. */
export function launcher(source = readFileSync('bin/idx.js', 'utf8')): {
  env: Record<string, string>;
  flags: string[];
} {
  const line = source.split('\n', 1)[0] ?? '';
  const words = line
    .replace(/^#!\/usr\/bin\/env -S\s+/, '')
    .split(/\s+/)
    .filter(Boolean);
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const w of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (assignment) env[assignment[1] as string] = assignment[2] as string;
    else if (w.startsWith('--')) flags.push(w);
  }
  return { env, flags };
}

/**
 * The Node.js arguments and environment that start `idx <args>` as its launcher line does (same environment and
 * flags), for a benchmark that spawns `process.execPath` with them: its figures are then the CLI's own.
 */
export function cliProcess(args: readonly string[]): { args: string[]; env: NodeJS.ProcessEnv } {
  const { env, flags } = launcher();
  return { args: [...flags, 'bin/idx.js', ...args], env: { ...process.env, ...env } };
}

/** Runs the CLI as its launcher line starts it, with `node` the running one. */
function idx(home: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const cli = cliProcess(args);
  const r = spawnSync(process.execPath, cli.args, {
    encoding: 'utf8',
    env: { ...cli.env, IDX_HOME: home },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** One measured run. */
export interface PipelineFigures {
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly peakRssMb: number;
  /** CPU seconds of the run (user + system, every thread), as `idx run --stats` prints them. */
  readonly cpuSeconds: number;
}

/** The CPU seconds (user + system, every thread) that `idx run --stats` printed on stderr, NaN when none. */
export function cpuSecondsOf(stderr: string): number {
  return Number(/CPU ([\d.]+) s/.exec(stderr)?.[1] ?? Number.NaN);
}

/** The peak RSS in MB that `idx run --stats` printed on stderr, NaN when it printed none. */
export function peakRssMbOf(stderr: string): number {
  const rss = /peak RSS ([\d.]+) (MB|GB|KB)/.exec(stderr);
  return rss ? Number(rss[1]) * (rss[2] === 'GB' ? 1024 : rss[2] === 'KB' ? 1 / 1024 : 1) : Number.NaN;
}

/** Seeds N sample accounts and runs the sample dataflow in a child process; returns its figures. */
export function measure(records: number): PipelineFigures {
  const home = mkdtempSync(join(tmpdir(), 'idx-bench-'));
  try {
    const seeded = idx(home, ['sample', '--records', String(records)]);
    if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
    const run = idx(home, ['run', 'dataflows/sample-s3-csv.json', '--json', '--stats']);
    if (run.status !== 0) throw new Error(`run failed: ${run.stderr.slice(-2000)}`);
    const job = JSON.parse(run.stdout) as {
      startTime: string;
      endTime: string;
      totalRecords: number;
      steps: Record<string, { bytesIn: number; type: string }>;
    };
    const seconds = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
    const csvBytes = Object.values(job.steps).find((s) => s.type === 'file.parse.dsv')?.bytesIn ?? 0;
    const peak = peakRssMbOf(run.stderr);
    return {
      records: job.totalRecords,
      seconds,
      recordsPerSecond: Math.round(job.totalRecords / seconds),
      mbPerSecond: csvBytes / 1024 / 1024 / seconds,
      peakRssMb: peak,
      cpuSeconds: cpuSecondsOf(run.stderr),
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Runs the pipeline benchmark at each size and prints a table. */
export async function run(options: { sizes?: readonly number[] } = {}): Promise<PipelineFigures[]> {
  const sizes = options.sizes ?? [100_000, 1_000_000];
  const rows: PipelineFigures[] = [];
  process.stdout.write('\n## idx run: sample dataflow on embedded services (S3 CSV → … → gzip → S3)\n\n');
  process.stdout.write(
    '| records | seconds | CPU s | records/s | MB/s (CSV in) | peak RSS MB | load |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  for (const n of sizes) {
    const f = measure(n);
    rows.push(f);
    process.stdout.write(
      `| ${f.records} | ${f.seconds.toFixed(1)} | ${f.cpuSeconds.toFixed(1)} | ${f.recordsPerSecond} | ${f.mbPerSecond.toFixed(1)} | ` +
        `${f.peakRssMb.toFixed(0)} | ${(loadavg()[0] ?? Number.NaN).toFixed(1)} |\n`,
    );
  }
  const growth = rows.length > 1 ? (rows[rows.length - 1]?.peakRssMb ?? 0) - (rows[0]?.peakRssMb ?? 0) : 0;
  process.stdout.write(
    `\npeak RSS growth from ${sizes[0]} to ${sizes[sizes.length - 1]} records: ${growth.toFixed(0)} MB (target: at most 200 MB at each size, and flat)\n`,
  );
  return rows;
}
