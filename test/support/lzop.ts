/**
 * The reference tool for LZO files, Debian's `lzop` (failing loudly, naming the package, when it is missing), and
 * a walk over the blocks of an lzop file that derives the Hadoop index as the Hadoop indexer does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The lzop binary, or an error that says what to install. */
export function findLzop(): string {
  for (const candidate of ['/usr/bin/lzop', '/usr/local/bin/lzop', '/opt/homebrew/bin/lzop'])
    if (existsSync(candidate)) return candidate;
  throw new Error(
    'lzop is required by the LZO interoperability tests but was not found: install it (apt-get install -y lzop)',
  );
}

/** Runs `lzop` in a temporary folder holding `name` with `content`; returns the folder's files after it ran. */
function inFolder<T>(name: string, content: Buffer, run: (dir: string, path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'idx-lzop-'));
  try {
    const path = join(dir, name);
    writeFileSync(path, content);
    return run(dir, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `lzop -t` says of a file: throws with lzop's message when it is not a valid lzop file. */
export function lzopTest(lzo: Buffer): string {
  return inFolder('file.lzo', lzo, (_dir, path) =>
    execFileSync(findLzop(), ['-t', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/** What `lzop -dc` decompresses a file to (after `lzop -t` accepted it). */
export function lzopDecompress(lzo: Buffer): Buffer {
  lzopTest(lzo);
  return inFolder('file.lzo', lzo, (_dir, path) =>
    execFileSync(findLzop(), ['-dc', path], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/** The `.lzo` file lzop writes for `data` with these options (`-1`, `-9`, `--crc32`, …), named `name`. */
export function lzopCompress(data: Buffer, options: readonly string[] = [], name = 'data.csv'): Buffer {
  return inFolder(name, data, (dir, path) => {
    execFileSync(findLzop(), [...options, '-o', join(dir, 'out.lzo'), path], { stdio: 'ignore' });
    return readFileSync(join(dir, 'out.lzo'));
  });
}

/** Flags of an lzop header that add a 4-byte checksum to every block (`D`) or to compressed blocks (`C`). */
const DATA_SUMS = [0x1, 0x100];
const PACKED_SUMS = [0x2, 0x200];

/**
 * The offsets of the blocks of an lzop file (where each block's size fields start), found by walking its
 * blocks as Hadoop's indexer does: skip the header, then per block its sizes, checksums and data.
 */
export function lzopBlockOffsets(lzo: Buffer): number[] {
  const version = lzo.readUInt16BE(9);
  let at = 15 + (version >= 0x0940 ? 2 : 1);
  const flags = lzo.readUInt32BE(at);
  at += 4 + 4 + 4 + (version >= 0x0940 ? 4 : 0);
  at += 1 + (lzo[at] as number) + 4;
  const data = DATA_SUMS.filter((f) => flags & f).length;
  const packed = PACKED_SUMS.filter((f) => flags & f).length;
  const offsets: number[] = [];
  for (;;) {
    const size = lzo.readUInt32BE(at);
    if (size === 0) return offsets;
    const compressed = lzo.readUInt32BE(at + 4);
    offsets.push(at);
    at += 8 + 4 * (data + (compressed < size ? packed : 0)) + compressed;
  }
}

/** The offsets a Hadoop `.lzo.index` holds. */
export function indexOffsets(index: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at < index.length; at += 8) out.push(Number(index.readBigInt64BE(at)));
  return out;
}
