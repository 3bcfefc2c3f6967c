/**
 * Benchmark of the LZO codec (lib/connectors/lzo) beside the reference tool, `lzop`: compression and
 * decompression throughput in MB/s of input, and the compressed size, over a CSV export of `IDX_BENCH_LZO_MB`
 * megabytes (64 by default) written to a temporary file. Ours streams file to file as the scripts do (one block
 * in memory); the peak RSS of this process over our runs shows that memory does not follow the input. `lzop` runs
 * as a child process at its default level and with `-1`, reading and writing files.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lzopCompress, lzopDecompress } from '../../lib/connectors/lzo/lzop.ts';

const MB = 1024 * 1024;

/** Writes a CSV export of about `bytes` bytes. */
async function writeCsv(path: string, bytes: number): Promise<void> {
  async function* rows(): AsyncGenerator<string> {
    yield 'UID,MAIL,FIRST_NAME,LAST_NAME,CITY,SUBSCRIBED\n';
    let size = 0;
    const cities = ['Paris', 'Lyon', 'Berlin', 'Hamburg', 'Madrid', 'Rome', 'Oslo'];
    for (let i = 0; size < bytes; i++) {
      const lines: string[] = [];
      for (let k = 0; k < 1000; k++, i++) {
        const uid = ((i * 2_654_435_761) >>> 0).toString(16).padStart(8, '0');
        lines.push(
          `${uid}${uid},user${i}@example.com,First${i % 997},Last${i % 1_231},${cities[i % 7]},${i % 3 === 0}\n`,
        );
      }
      const chunk = lines.join('');
      size += chunk.length;
      yield chunk;
    }
  }
  await pipeline(Readable.from(rows()), createWriteStream(path));
}

/** Runs `work`, sampling this process's RSS; returns seconds and the peak RSS in MB. */
async function measured(work: () => Promise<void>): Promise<{ seconds: number; peakMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const start = process.hrtime.bigint();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, peakMb: Math.max(peak, process.memoryUsage().rss) / MB };
}

function timedChild(args: string[]): number | undefined {
  const start = process.hrtime.bigint();
  const run = spawnSync('lzop', args, { stdio: 'ignore' });
  if (run.error || run.status !== 0) return undefined;
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs the benchmark and prints its table. */
export async function run(): Promise<void> {
  const size = Number(process.env.IDX_BENCH_LZO_MB ?? 64) * MB;
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-lzo-'));
  try {
    const csv = join(dir, 'export.csv');
    await writeCsv(csv, size);
    const input = statSync(csv).size;
    const rows: string[][] = [];
    const mbps = (seconds: number) => (input / MB / seconds).toFixed(1);

    const ours = join(dir, 'ours.csv.lzo');
    const packed = await measured(() =>
      pipeline(
        createReadStream(csv),
        (s: AsyncIterable<Buffer>) => lzopCompress(s, { name: 'export.csv', mtime: new Date() }),
        createWriteStream(ours),
      ),
    );
    const unpacked = await measured(() =>
      pipeline(
        createReadStream(ours),
        (s: AsyncIterable<Buffer>) => lzopDecompress(s),
        createWriteStream(join(dir, 'ours.out')),
      ),
    );
    const oursSize = statSync(ours).size;
    rows.push([
      'identity-sync (LZO1X, 256 KiB blocks)',
      mbps(packed.seconds),
      mbps(unpacked.seconds),
      `${((100 * oursSize) / input).toFixed(1)} %`,
      `${Math.max(packed.peakMb, unpacked.peakMb).toFixed(0)} MB`,
    ]);

    for (const [label, level] of [
      ['lzop (default, -3)', '-3'],
      ['lzop -1', '-1'],
    ] as const) {
      const out = join(dir, `lzop${level}.lzo`);
      const c = timedChild([level, '-f', '-o', out, csv]);
      const d = c === undefined ? undefined : timedChild(['-d', '-f', '-o', join(dir, `lzop${level}.out`), out]);
      // lzop reading our file shows the decompression speed of the reference tool on our output.
      rows.push(
        c === undefined || d === undefined
          ? [label, 'lzop not found', '', '', '']
          : [label, mbps(c), mbps(d), `${((100 * statSync(out).size) / input).toFixed(1)} %`, '(child process)'],
      );
    }

    console.log(`\nLZO: ${(input / MB).toFixed(0)} MB CSV export, compressed and decompressed file to file\n`);
    const head = ['', 'compress MB/s', 'decompress MB/s', 'size', 'peak RSS'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
    console.log(line(head));
    for (const r of rows) console.log(line(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
