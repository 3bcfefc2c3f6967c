/**
 * Benchmark of the script repository against Miller 6 on the same work, in the same run:
 *
 * (a) export: staged NDJSON accounts → field.rename (10 fields) → field.evaluate (C_FirstName + " " +
 *     C_LastName) → file.format.dsv → file.compress.gzip; Miller: `mlr --icsv --ocsv rename … then put … | gzip -6`.
 * (b) import: a gzipped CSV → file.uncompress.gzip → file.parse.dsv → field.rename → staged NDJSON records;
 *     Miller: `mlr --gzin --icsv --ojsonl rename …`.
 *
 * Our pipeline runs as an esbuild bundle (as a Lambda handler is deployed) in a fresh child process, timed from
 * start to exit, with the trailing gzip step fused after the formatter as the engine fuses it, fed while the CSV is
 * written (Miller's gzip is a second process). It runs with one lane (the main thread: through a byte kernel in its
 * own lane where one takes the run, lib/engine/lanes/kernel.ts, else the scripts; deflate in Node's thread pool)
 * and with one lane per core (lib/engine/lanes/: the main thread and worker threads parse, transform, format and
 * gzip chunks of the input, each chunk's CSV a gzip member of its own; the main thread also moves the bytes). Next to
 * Miller, both also run with kernels off (every chunk through the scripts), which shows what the kernels bring.
 *
 * Peak RSS and CPU time (user + system, every thread and process) come from GNU time for both tools; CPU time shows
 * the work done even when other load on a shared machine slows the wall clock. Each figure is the fastest of three
 * runs (the highest RSS and the least CPU time of the three), which keeps a shared machine's noise out of the ratios.
 * MB/s counts the uncompressed CSV of each pipeline (the CSV written in (a), the CSV read in (b)), the same bytes for
 * both tools. Our pipeline also runs at 200k records to show that its memory does not grow with the input.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { BUNDLING } from '../../lib/infra/bundling.ts';
import { copyRe2Wasm } from '../../lib/infra/lane-worker-build.ts';
import { RENAMES, writeAccounts } from './accounts.ts';
import type { ChainStep } from './local-chain.ts';

const TIME = '/usr/bin/time';
const HERE = new URL('.', import.meta.url).pathname;
const ROOT = join(HERE, '..', '..');

/** One measured run. */
export interface Figures {
  readonly tool: string;
  readonly pipeline: 'a' | 'b' | 'c';
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly peakRssMb: number;
  /** User plus system CPU seconds of the whole run, all threads and processes (for Miller, gzip too). */
  readonly cpuSeconds: number;
}

function findMiller(): string {
  for (const p of ['/usr/bin/mlr', '/usr/local/bin/mlr']) if (existsSync(p)) return p;
  throw new Error('Miller 6 (`mlr`) is needed for the comparison: apt-get install -y miller');
}

/** Measurements per figure; the fastest run counts (the machine may be shared), the highest RSS is kept. */
const REPEAT = 3;

/** What one run costs: wall seconds, peak RSS and CPU seconds. */
interface Cost {
  seconds: number;
  peakRssMb: number;
  cpuSeconds: number;
}

type Measure = () => Cost;

/**
 * Runs every measure REPEAT times, taking turns (one of each, then again), so a busy moment of a shared machine
 * falls on all tools alike; keeps each one's fastest time, highest peak RSS and least CPU time.
 */
function bestOf(measures: Record<string, Measure>): Record<string, Cost> {
  const out: Record<string, Cost> = {};
  for (let i = 0; i < REPEAT; i++) {
    for (const [name, measure] of Object.entries(measures)) {
      const m = measure();
      const prev = out[name];
      out[name] = {
        seconds: Math.min(prev?.seconds ?? Number.POSITIVE_INFINITY, m.seconds),
        peakRssMb: Math.max(prev?.peakRssMb ?? 0, m.peakRssMb),
        cpuSeconds: Math.min(prev?.cpuSeconds ?? Number.POSITIVE_INFINITY, m.cpuSeconds),
      };
    }
  }
  return out;
}

/** Runs a command under GNU time; returns wall seconds, peak RSS in MB, CPU seconds and stdout. */
function timed(command: string[], options: { cwd?: string } = {}): Cost & { stdout: string } {
  if (!existsSync(TIME))
    throw new Error('GNU time (/usr/bin/time) is needed to measure peak memory: apt-get install -y time');
  const started = performance.now();
  const r = spawnSync(TIME, ['-v', ...command], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    cwd: options.cwd ?? ROOT,
  });
  const seconds = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`${command.join(' ')} failed (${r.status}): ${r.stderr.slice(-3000)}`);
  const figure = (label: string) => {
    const m = new RegExp(`${label}: ([\\d.]+)`).exec(r.stderr);
    return m ? Number(m[1]) : Number.NaN;
  };
  return {
    seconds,
    peakRssMb: figure('Maximum resident set size \\(kbytes\\)') / 1024,
    cpuSeconds: figure('User time \\(seconds\\)') + figure('System time \\(seconds\\)'),
    stdout: r.stdout,
  };
}

/** Bundles the child process and the lane worker that deployed step functions carry, as a Lambda handler is bundled. */
export async function bundle(dir: string): Promise<{ child: string; lane: string }> {
  await build({
    entryPoints: {
      child: join(HERE, 'scripts-child.ts'),
      lane: join(ROOT, 'lib', 'engine', 'lanes', 'worker-entry.ts'),
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    // As the handlers are bundled: CommonJS dependencies (re2-wasm, ssh2) need `require` and `__dirname`.
    banner: { js: BUNDLING.banner ?? '' },
    logLevel: 'warning',
  });
  copyRe2Wasm(dir);
  return { child: join(dir, 'child.mjs'), lane: join(dir, 'lane.mjs') };
}

/**
 * V8 heap cap of our child process. The pipeline's live heap is 10–15 MB; without a cap V8 lets garbage grow
 * the heap towards ~100 MB between full collections, so peak RSS would reflect that heuristic, not the data.
 * Deployed, V8 sizes the heap from the function's memory instead.
 */
export const OLD_SPACE_MB = 96;

function ours(child: string, steps: ChainStep[], io: Record<string, unknown>): Cost {
  const payload = JSON.stringify({ steps, io });
  const r = timed([process.execPath, `--max-old-space-size=${OLD_SPACE_MB}`, child, payload]);
  const line = r.stdout.trim().split('\n').pop() ?? '{}';
  JSON.parse(line);
  return r;
}

/**
 * Lane counts measured: one (the main thread's lane, with a byte kernel where one takes the run, else the scripts
 * on the main thread) and one per core (the main thread then mostly moves bytes). On a one-core machine only the
 * first.
 */
const LANES = [...new Set([1, Math.min(4, availableParallelism())])];

/** The tool column of our rows. */
function tool(lanes: number, kernels = true): string {
  return `identity-sync, ${lanes === 1 ? '1 lane' : `${lanes} lanes`}${kernels ? '' : ', kernels off'}`;
}

/**
 * The configurations measured at a size: each lane count with kernels, and, next to Miller, without them (every
 * record through the scripts), which shows what the kernels bring.
 */
function configurations(withMiller: boolean): { lanes: number; kernels: boolean }[] {
  const on = LANES.map((lanes) => ({ lanes, kernels: true }));
  return withMiller ? [...on, ...LANES.map((lanes) => ({ lanes, kernels: false }))] : on;
}

const renameStep: ChainStep = {
  type: 'field.rename',
  params: { fields: RENAMES.map(([sourceField, targetField]) => ({ sourceField, targetField })) },
};
const exportColumns = [
  'UID',
  ...RENAMES.map(([, t]) => t),
  'created',
  'lastUpdatedTimestamp',
  'isVerified',
  'C_FullName',
];

/** Pipeline (a) as a dataflow author writes it. */
export const EXPORT_STEPS: ChainStep[] = [
  renameStep,
  {
    type: 'field.evaluate',
    params: { language: 'jexl', fields: [{ field: 'C_FullName', expression: 'C_FirstName + " " + C_LastName' }] },
  },
  {
    type: 'file.format.dsv',
    params: { fileName: 'export.csv', columnSeparator: ',', quoteFields: false, columns: exportColumns },
  },
  { type: 'file.compress.gzip', params: {} },
];

/** The record.evaluate script of pipeline (c): a few derived fields, a filter and a shared counter. */
export const EVALUATE_SCRIPT = `function process(record, ctx) {
  var p = record.profile || {};
  if (!record.isVerified) return null;
  record.C_FullName = p.firstName + ' ' + p.lastName;
  record.C_EmailDomain = String(p.email).split('@')[1];
  record.C_Age = 2026 - p.birthYear;
  ctx.setSharedVariable('kept', (ctx.getSharedVariable('kept') || 0) + 1);
  return record;
}`;

/** Pipeline (c): staged NDJSON → record.evaluate → staged NDJSON, in the sandbox of `type`. */
export const evaluateSteps = (type: 'record.evaluate' | 'record.evaluate.vm'): ChainStep[] => [
  { type, params: { script: Buffer.from(EVALUATE_SCRIPT).toString('base64') } },
];

/** Records of pipeline (c): `IDX_BENCH_EVALUATE_RECORDS`, else 100k (an interpreter is slower than V8's JIT). */
function evaluateRecords(): number {
  const n = Number(process.env.IDX_BENCH_EVALUATE_RECORDS ?? 100_000);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`IDX_BENCH_EVALUATE_RECORDS: expected a record count, got ${n}`);
  return n;
}

/**
 * Pipeline (c) in both sandboxes, taking turns: record.evaluate in QuickJS (lib/scripts/util/sandbox.ts) and in
 * the former node:vm sandbox (bin/bench/vm-sandbox.ts), the same script, records and pipeline around it.
 */
export async function runEvaluate(child?: string): Promise<Figures[]> {
  const records = evaluateRecords();
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-evaluate-'));
  try {
    const code = child ?? (await bundle(join(dir, 'bundle'))).child;
    const input = { ndjson: join(dir, 'a.ndjson'), csv: join(dir, 'a.csv'), csvGz: join(dir, 'a.csv.gz') };
    process.stdout.write(
      `\n## record.evaluate, QuickJS vs node:vm: ${records} generated accounts (preparing input…)\n`,
    );
    await writeAccounts(records, input);
    const bytes = statSync(input.ndjson).size;
    const outDir = join(dir, 'out');
    const runs = bestOf({
      [EVALUATE_TOOLS.quickjs]: () => ours(code, evaluateSteps('record.evaluate'), { records: input.ndjson, outDir }),
      [EVALUATE_TOOLS.vm]: () => ours(code, evaluateSteps('record.evaluate.vm'), { records: input.ndjson, outDir }),
    });
    const rows = Object.entries(runs).map(([name, m]) => figures(name, 'c', records, bytes, m));
    printEvaluate(rows);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const EVALUATE_TOOLS = {
  quickjs: 'identity-sync, record.evaluate in QuickJS (WebAssembly)',
  vm: 'identity-sync, record.evaluate in node:vm (former, not a boundary)',
} as const;

function printEvaluate(rows: readonly Figures[]): void {
  const out = [
    '',
    '| pipeline | sandbox | records | seconds | records/s | MB/s (NDJSON in) | peak RSS MB | CPU s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| (c) NDJSON → record.evaluate → NDJSON | ${r.tool} | ${r.records} | ${r.seconds.toFixed(2)} | ${r.recordsPerSecond} | ${r.mbPerSecond.toFixed(1)} | ${r.peakRssMb.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} |`,
    ),
  ];
  const quick = rows.find((r) => r.tool === EVALUATE_TOOLS.quickjs);
  const vm = rows.find((r) => r.tool === EVALUATE_TOOLS.vm);
  if (quick && vm) {
    out.push(
      '',
      `QuickJS: ${(quick.recordsPerSecond / vm.recordsPerSecond).toFixed(2)}× the node:vm throughput, ${(quick.cpuSeconds / vm.cpuSeconds).toFixed(2)}× its CPU time, peak RSS ${quick.peakRssMb.toFixed(0)} MB vs ${vm.peakRssMb.toFixed(0)} MB (fastest of ${REPEAT} runs each, in turns, as an esbuild bundle)`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Pipeline (b) as a dataflow author writes it. */
export const IMPORT_STEPS: ChainStep[] = [
  { type: 'file.uncompress.gzip', params: {} },
  { type: 'file.parse.dsv', params: { columnSeparator: ',', fileCharset: 'UTF-8', inferTypes: false } },
  renameStep,
];

function gunzippedSize(path: string): number {
  const r = spawnSync('sh', ['-c', `gzip -dc '${path}' | wc -c`], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function figures(tool: string, pipeline: 'a' | 'b' | 'c', records: number, csvBytes: number, m: Cost): Figures {
  return {
    tool,
    pipeline,
    records,
    seconds: m.seconds,
    recordsPerSecond: Math.round(records / m.seconds),
    mbPerSecond: csvBytes / 1024 / 1024 / m.seconds,
    peakRssMb: m.peakRssMb,
    cpuSeconds: m.cpuSeconds,
  };
}

/**
 * Measures both pipelines, ours and Miller's, at `records`, plus ours at 200k and at each of `alsoAt` (to show
 * that peak memory does not follow the input); prints a table.
 */
export async function run(options: { records?: number; alsoAt?: readonly number[] } = {}): Promise<Figures[]> {
  const records = options.records ?? 1_000_000;
  const small = Math.min(200_000, records);
  const mlr = findMiller();
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-scripts-'));
  const rows: Figures[] = [];
  try {
    const code = await bundle(join(dir, 'bundle'));
    rows.push(...(await runEvaluate(code.child)));
    process.stdout.write(`\n## scripts vs Miller 6: ${records} generated accounts (preparing input…)\n`);
    const sizes = [...new Set([small, ...(options.alsoAt ?? []), records])].sort((x, y) => x - y);
    for (const n of sizes) {
      const input = {
        ndjson: join(dir, `accounts-${n}.ndjson`),
        csv: join(dir, `accounts-${n}.csv`),
        csvGz: join(dir, `accounts-${n}.csv.gz`),
      };
      await writeAccounts(n, input);
      const importCsvBytes = statSync(input.csv).size;
      const outA = join(dir, `a-${n}`);
      const outB = join(dir, `b-${n}`);
      const withMiller = n === records;
      const renames = RENAMES.flat().join(',');
      const laneIo = (lanes: number, kernels: boolean) => ({
        ...(lanes > 1 ? { lanes, laneWorker: code.lane } : {}),
        kernels,
      });

      // (a) export
      const exportRuns: Record<string, Measure> = {};
      for (const { lanes, kernels } of configurations(withMiller)) {
        exportRuns[tool(lanes, kernels)] = () =>
          ours(code.child, EXPORT_STEPS, {
            records: input.ndjson,
            outDir: outA,
            ...laneIo(lanes, kernels),
          });
      }
      if (withMiller) {
        exportRuns['Miller 6'] = () =>
          timed([
            'sh',
            '-c',
            `'${mlr}' --icsv --ocsv rename '${renames}' then put '$C_FullName = $C_FirstName . " " . $C_LastName' '${input.csv}' | gzip -6 > '${join(dir, 'mlr-a.csv.gz')}'`,
          ]);
      }
      const a = bestOf(exportRuns);
      const exportCsvBytes = gunzippedSize(join(outA, 'export.csv.gz'));
      for (const [name, m] of Object.entries(a)) rows.push(figures(name, 'a', n, exportCsvBytes, m));

      // (b) import
      const importRuns: Record<string, Measure> = {};
      for (const { lanes, kernels } of configurations(withMiller)) {
        importRuns[tool(lanes, kernels)] = () =>
          ours(code.child, IMPORT_STEPS, { files: [input.csvGz], outDir: outB, ...laneIo(lanes, kernels) });
      }
      if (withMiller) {
        importRuns['Miller 6'] = () =>
          timed([
            'sh',
            '-c',
            `'${mlr}' --gzin --icsv --ojsonl rename '${renames}' '${input.csvGz}' > '${join(dir, 'mlr-b.ndjson')}'`,
          ]);
      }
      const b = bestOf(importRuns);
      for (const [name, m] of Object.entries(b)) rows.push(figures(name, 'b', n, importCsvBytes, m));
      rmSync(outA, { recursive: true, force: true });
      rmSync(outB, { recursive: true, force: true });
      for (const f of Object.values(input)) rmSync(f, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  print(rows, records);
  return rows;
}

function print(rows: Figures[], records: number): void {
  const label = {
    a: '(a) NDJSON → rename → evaluate → dsv → gzip',
    b: '(b) csv.gz → gunzip → parse dsv → rename → NDJSON',
    c: '(c) NDJSON → record.evaluate → NDJSON',
  };
  const out: string[] = [
    '',
    '| pipeline | tool | records | seconds | records/s | MB/s (CSV) | peak RSS MB | CPU s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    if (r.pipeline === 'c') continue;
    out.push(
      `| ${label[r.pipeline]} | ${r.tool} | ${r.records} | ${r.seconds.toFixed(2)} | ${r.recordsPerSecond} | ${r.mbPerSecond.toFixed(1)} | ${r.peakRssMb.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} |`,
    );
  }
  out.push(
    '',
    `(fastest of ${REPEAT} runs taken in turns with the other tools, highest RSS and least CPU time (user + system, every thread and process) of the ${REPEAT}; identity-sync runs as an esbuild bundle with --max-old-space-size=${OLD_SPACE_MB}; gzip in (a) is fused after the CSV formatter as the engine fuses it: with one lane on the main thread, with deflate in Node's thread pool; with more than one lane, the lanes do the record work and gzip each chunk into a member of the file; with kernels, a byte kernel takes the plain chunks' record work, in the main thread's own lane when there is one lane)`,
  );
  for (const p of ['a', 'b'] as const) {
    const them = rows.find((r) => r.tool === 'Miller 6' && r.pipeline === p);
    if (!them) continue;
    const target = p === 'a' ? 2 : 2.2;
    for (const { lanes, kernels } of configurations(true)) {
      const name = tool(lanes, kernels);
      const us = rows.find((r) => r.tool === name && r.pipeline === p && r.records === records);
      const others = rows.filter((r) => r.tool === name && r.pipeline === p && r.records !== records);
      if (!us) continue;
      const ratio = us.recordsPerSecond / them.recordsPerSecond;
      out.push(
        `${label[p]}, ${name}: ${ratio.toFixed(2)}× Miller's throughput (target ≥ ${target}×), Miller takes ${(them.cpuSeconds / us.cpuSeconds).toFixed(2)}× our CPU time, peak RSS ${us.peakRssMb.toFixed(0)} MB vs ${them.peakRssMb.toFixed(0)} MB` +
          others.map((r) => `; at ${r.records} records: ${r.peakRssMb.toFixed(0)} MB`).join(''),
      );
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
