/**
 * A child process for the LZO memory test: streams `megabytes` of generated CSV through lzop compression and
 * straight back through decompression, and prints what went in and came out with the process's peak RSS as JSON.
 *
 *   node --import tsx test/support/lzo-stream.ts <megabytes>
 */
import { createHash } from 'node:crypto';
import { lzopCompress, lzopDecompress } from '../../lib/connectors/lzo/lzop.ts';

const total = Number(process.argv[2]) * 1024 * 1024;
const inHash = createHash('sha256');
let compressedBytes = 0;
let blocks = 0;

/** Generated rows, 64 KiB at a time, each chunk different so the compressor finds matches but no long repeats. */
async function* generated(): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0, n = 0; sent < total; sent += chunk.length, n++) {
    chunk.fill(`uid-${(n * 2_654_435_761) >>> 0},user${n}@example.com,First${n % 997}\n`);
    const part = Buffer.from(chunk.subarray(0, Math.min(chunk.length, total - sent)));
    inHash.update(part);
    yield part;
  }
}

/** Counts the compressed bytes on their way to decompression. */
async function* counted(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const part of source) {
    compressedBytes += part.length;
    yield part;
  }
}

const compressed = lzopCompress(generated(), { name: 'big.csv', mtime: new Date(), onBlock: () => blocks++ });
const outHash = createHash('sha256');
let bytesOut = 0;
for await (const part of lzopDecompress(counted(compressed))) {
  outHash.update(part);
  bytesOut += part.length;
}
process.stdout.write(
  `${JSON.stringify({
    bytesIn: total,
    bytesOut,
    compressedBytes,
    blocks,
    inHash: inHash.digest('hex'),
    outHash: outHash.digest('hex'),
    peakRss: process.resourceUsage().maxRSS * 1024,
  })}\n`,
);
