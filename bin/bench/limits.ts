/**
 * Benchmark of the per-record limits of the file readers on hostile files: one line of N MB with no line break,
 * one quoted CSV value of N MB, one JSON Lines line of N MB, for N from 2 to 100 (above the default maxLineLength
 * of 64 Mi characters the record is rejected, below it the record is read). Each file is read by file.parse.dsv
 * or file.parse.json in a fresh child process (an esbuild bundle, as a Lambda handler is deployed) that writes its
 * records and rejected records to local NDJSON files as the engine stages them; the table shows wall time, time
 * per MB (flat when the work is linear), peak RSS of the child, and the records out and rejected.
 *
 * `IDX_BENCH_LIMITS_SIZES=2,4,8` picks other sizes (MB); `IDX_BENCH_LIMITS_HEAP_MB=256` runs the children with that V8 heap cap.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChainStep } from './local-chain.ts';
import { bundle } from './scripts.ts';

const MB = 1024 * 1024;

/** The peak RSS every row must stay under. */
const RSS_LIMIT_MB = 300;

/** One hostile file: how to write it for a size, and the step that reads it. */
interface Case {
  readonly name: string;
  readonly file: string;
  readonly step: ChainStep;
  /** Writes the file: `body` is called for the N MB in the middle. */
  readonly head: string;
  readonly filler: string;
  readonly tail: string;
}

const CASES: readonly Case[] = [
  {
    name: 'CSV line of many cells, no line break',
    file: 'line.csv',
    step: { type: 'file.parse.dsv', params: {} },
    head: 'id,payload\n',
    filler: '1,2,3,4,5,',
    tail: '',
  },
  {
    name: 'CSV quoted value',
    file: 'value.csv',
    step: { type: 'file.parse.dsv', params: {} },
    head: 'id,payload\n1,"',
    filler: 'abcd""efgh',
    tail: '"\n2,next\n',
  },
  {
    name: 'JSON Lines line',
    file: 'line.jsonl',
    step: { type: 'file.parse.json', params: {} },
    head: '{"id":1,"payload":"',
    filler: 'abcdefghij',
    tail: '"}\n{"id":2}\n',
  },
];

/** Writes `head`, `filler` repeated to `mb` MB, then `tail`, without holding the file in memory. */
async function writeCase(path: string, c: Case, mb: number): Promise<void> {
  const out = createWriteStream(path);
  const block = c.filler.repeat(Math.ceil(MB / c.filler.length)).slice(0, MB);
  out.write(c.head);
  for (let i = 0; i < mb; i++) if (!out.write(block)) await once(out, 'drain');
  out.end(c.tail);
  await once(out, 'finish');
}

interface Row {
  readonly name: string;
  readonly mb: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly out: number;
  readonly rejected: number;
  readonly outcome: string;
}

/** Runs the benchmark and prints its table. */
export async function run(): Promise<void> {
  const sizes = (process.env.IDX_BENCH_LIMITS_SIZES ?? '2,4,8,16,32,64,100').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(
      `IDX_BENCH_LIMITS_SIZES: expected sizes in MB such as 2,4,8; got "${process.env.IDX_BENCH_LIMITS_SIZES}"`,
    );
  }
  process.stdout.write(`\n## limits: hostile lines and values of ${sizes.join(', ')} MB (preparing…)\n`);
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-limits-'));
  const rows: Row[] = [];
  try {
    const { child } = await bundle(dir);
    for (const c of CASES) {
      for (const mb of sizes) {
        const path = join(dir, c.file);
        await writeCase(path, c, mb);
        const outDir = join(dir, 'out');
        rmSync(outDir, { recursive: true, force: true });
        const payload = JSON.stringify({ steps: [c.step], io: { files: [path], outDir } });
        const heap = process.env.IDX_BENCH_LIMITS_HEAP_MB;
        const args = heap ? [`--max-old-space-size=${heap}`, child, payload] : [child, payload];
        const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MB });
        const last = r.stdout.trim().split('\n').pop() ?? '';
        if (r.status !== 0 || !last.startsWith('{')) {
          rows.push({
            name: c.name,
            mb,
            seconds: Number.NaN,
            peakRssMb: Number.NaN,
            out: 0,
            rejected: 0,
            outcome: `failed: ${r.stderr.trim().split('\n')[0]?.slice(0, 120)}`,
          });
          continue;
        }
        const result = JSON.parse(last) as {
          seconds: number;
          maxRssKb: number;
          counters: { counters: { recordsOut: number; recordsRejected: number } }[];
        };
        const counters = result.counters[0]?.counters;
        rows.push({
          name: c.name,
          mb,
          seconds: result.seconds,
          peakRssMb: result.maxRssKb / 1024,
          out: counters?.recordsOut ?? 0,
          rejected: counters?.recordsRejected ?? 0,
          outcome: (counters?.recordsRejected ?? 0) > 0 ? 'rejected, file read on' : 'read',
        });
        rmSync(path, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out = [
    '',
    '| file | MB | seconds | s per MB | peak RSS MB | records out | rejected | outcome |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.name} | ${r.mb} | ${r.seconds.toFixed(2)} | ${(r.seconds / r.mb).toFixed(3)} | ${r.peakRssMb.toFixed(0)} | ${r.out} | ${r.rejected} | ${r.outcome} |`,
    );
  }
  const worst = Math.max(...rows.map((r) => r.peakRssMb));
  out.push(
    '',
    `(one child process per row, no heap cap; default maxLineLength of 64 Mi characters; peak RSS ${worst.toFixed(0)} MB at most, limit ${RSS_LIMIT_MB} MB: ${worst < RSS_LIMIT_MB ? 'met' : 'NOT met'})`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
