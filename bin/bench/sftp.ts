/**
 * Benchmark of SFTP transfers: a file of `IDX_BENCH_SFTP_MB` megabytes (32) uploaded and downloaded through the
 * embedded server (lib/local/sftp-server.ts) answering each read and write after 0, 5 and 20 ms (the round trip
 * of a server in the same region, in the next one, across an ocean: `IDX_BENCH_SFTP_DELAYS`), with many requests
 * in flight (lib/connectors/sftp-pipelined.ts, what the readers and writers use) and, side by side in the same run,
 * with the library's streams (ssh2-sftp-client's `put` and `createReadStream`), which the readers and writers used
 * before: one request in flight, the baseline. Prints MB/s and the most requests the server saw in flight.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SftpConnection, SftpFileSource, SftpFileTarget } from '../../lib/connectors/sftp.ts';
import type { Logger } from '../../lib/core/logger.ts';
import { startSftpServer } from '../../lib/local/sftp-server.ts';

const MB = 1024 * 1024;
const QUIET: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** One transfer measured. */
export interface SftpFigures {
  readonly delayMs: number;
  readonly how: 'many requests in flight' | 'library stream (before)';
  readonly direction: 'upload' | 'download';
  readonly mb: number;
  readonly seconds: number;
  readonly mbPerSecond: number;
  readonly peakInFlight: number;
}

/** Numbers from a comma-separated list, or the fallback. */
function numbers(name: string, raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined || raw.trim() === '') return fallback;
  const out = raw.split(',').map((x) => Number(x.trim()));
  if (out.some((n) => !Number.isFinite(n) || n < 0))
    throw new Error(`${name}: expected numbers such as 0,20; got "${raw}"`);
  return out;
}

/** The file as a stream of 64 KiB chunks, as a staged file is read. */
function chunks(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
    })(),
  );
}

/** Reads a stream to its end; resolves once it has also closed (its remote handle with it). */
async function drain(stream: Readable): Promise<number> {
  const closed = new Promise((resolve) => stream.once('close', resolve));
  let n = 0;
  for await (const part of stream) n += (part as Buffer).length;
  await closed;
  return n;
}

/** Uploads then downloads `data` both ways through a server answering after `delayMs`. */
async function measure(data: Buffer, delayMs: number, dir: string): Promise<SftpFigures[]> {
  const mb = data.length / MB;
  const rows: SftpFigures[] = [];
  const ways = ['library stream (before)', 'many requests in flight'] as const;
  for (const how of ways) {
    // A server per way, so its peak counts that way's requests alone.
    const server = await startSftpServer({
      root: join(dir, 'root'),
      hostKeyPath: join(dir, 'host-key'),
      faults: { answerDelayMs: delayMs },
    });
    const connection = new SftpConnection(
      {
        host: server.host,
        port: server.port,
        username: 'idx',
        password: 'idx',
        timeoutMs: 60_000,
        hostKeyFingerprint: server.hostKeyFingerprint,
      },
      QUIET,
    );
    try {
      const path = `/bench-${delayMs}.bin`;
      let started = performance.now();
      if (how === 'many requests in flight') await new SftpFileTarget(connection, '/').upload(path, chunks(data));
      else
        await (await connection.client()).put(chunks(data), path, { writeStreamOptions: { flags: 'w', mode: 0o644 } });
      let seconds = (performance.now() - started) / 1000;
      rows.push({
        delayMs,
        how,
        direction: 'upload',
        mb,
        seconds,
        mbPerSecond: mb / seconds,
        peakInFlight: server.traffic.peakWritesInFlight,
      });

      started = performance.now();
      const file = { name: path.slice(1), path, size: data.length, modifiedAt: 0 };
      const read =
        how === 'many requests in flight'
          ? await drain(await new SftpFileSource(connection, '/').open(file, 0))
          : await drain(
              (await connection.client()).createReadStream(path, { highWaterMark: 256 * 1024 }) as unknown as Readable,
            );
      seconds = (performance.now() - started) / 1000;
      if (read !== data.length) throw new Error(`read ${read} bytes of ${data.length}`);
      rows.push({
        delayMs,
        how,
        direction: 'download',
        mb,
        seconds,
        mbPerSecond: mb / seconds,
        peakInFlight: server.traffic.peakReadsInFlight,
      });
    } finally {
      await connection.close();
      await server.close();
    }
  }
  return rows;
}

/** Runs the SFTP benchmark and prints a table. */
export async function run(): Promise<SftpFigures[]> {
  const [size] = numbers('IDX_BENCH_SFTP_MB', process.env.IDX_BENCH_SFTP_MB, [32]);
  const delays = numbers('IDX_BENCH_SFTP_DELAYS', process.env.IDX_BENCH_SFTP_DELAYS, [0, 5, 20]);
  const data = randomBytes(Math.round((size as number) * MB));
  const dir = mkdtempSync(join(tmpdir(), 'idx-bench-sftp-'));
  process.stdout.write(
    `\n## SFTP transfers of ${size} MB: the embedded server answering each read and write after a delay\n\n` +
      '| answer delay ms | transfer | how | MB/s | seconds | most requests in flight |\n' +
      '| ---: | --- | --- | ---: | ---: | ---: |\n',
  );
  const rows: SftpFigures[] = [];
  try {
    for (const delay of delays) {
      for (const f of await measure(data, delay, dir)) {
        rows.push(f);
        process.stdout.write(
          `| ${f.delayMs} | ${f.direction} | ${f.how} | ${f.mbPerSecond.toFixed(1)} | ${f.seconds.toFixed(2)} | ${f.peakInFlight} |\n`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const delay of delays) {
    for (const direction of ['upload', 'download'] as const) {
      const pick = (how: SftpFigures['how']) =>
        rows.find((r) => r.delayMs === delay && r.direction === direction && r.how === how)?.mbPerSecond ?? Number.NaN;
      const ratio = pick('many requests in flight') / pick('library stream (before)');
      process.stdout.write(`${direction} at ${delay} ms: ${ratio.toFixed(1)}× the library stream's throughput\n`);
    }
  }
  return rows;
}
