/**
 * A child process for the LZO memory test: streams `megabytes` of generated CSV through lzop compression and
 * straight back through decompression, and prints what went in and came out with the process's peak RSS as JSON.
 *
 *   node --import tsx test/support/lzo-stream.ts <megabytes>
 */
import { createHash } from 'node:crypto';
import { lzopCompress, lzopDecompress } from '../../lib/connectors/lzo/lzop.ts';
import { counting, generatedText, printStreamRun } from './byte-streams.ts';

const total = Number(process.argv[2]) * 1024 * 1024;
const inHash = createHash('sha256');
let compressedBytes = 0;
let blocks = 0;

const compressed = lzopCompress(
  generatedText(
    total,
    (n) => `uid-${(n * 2_654_435_761) >>> 0},user${n}@example.com,First${n % 997}\n`,
    (part) => inHash.update(part),
  ),
  { name: 'big.csv', mtime: new Date(), onBlock: () => blocks++ },
);
const outHash = createHash('sha256');
let bytesOut = 0;
for await (const part of lzopDecompress(
  counting(compressed, (n) => {
    compressedBytes += n;
  }),
)) {
  outHash.update(part);
  bytesOut += part.length;
}
printStreamRun({
  bytesIn: total,
  bytesOut,
  compressedBytes,
  blocks,
  inHash: inHash.digest('hex'),
  outHash: outHash.digest('hex'),
});
