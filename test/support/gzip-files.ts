/**
 * Checks on gzip files as the tools outside Node.js read them: the number of members a file holds, and what the
 * `gunzip` and `gzip -t` binaries make of it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** Fixed header of a gzip member as zlib writes it (no name, comment or extra field). */
const HEADER = 10;
/** CRC-32 and size after each member's deflate data. */
const TRAILER = 8;

/**
 * Counts the gzip members of `gz`, as zlib writes them (RFC 1952: a header, deflate data, a trailer). Each member
 * is inflated to find where it ends.
 */
export function gzipMembers(gz: Buffer): number {
  let at = 0;
  let members = 0;
  while (at < gz.length) {
    if (gz[at] !== 0x1f || gz[at + 1] !== 0x8b || gz[at + 2] !== 8 || gz[at + 3] !== 0)
      throw new Error(`no zlib gzip member header at byte ${at}`);
    const { engine } = inflateRawSync(gz.subarray(at + HEADER), { info: true }) as unknown as {
      engine: { bytesWritten: number };
    };
    at += HEADER + engine.bytesWritten + TRAILER;
    members++;
  }
  return members;
}

/** What the `gunzip` binary decompresses `gz` to; throws when `gzip -t` finds it invalid. */
export function gunzipWithBinary(gz: Buffer): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'idx-gz-'));
  try {
    const path = join(dir, 'file.gz');
    writeFileSync(path, gz);
    execFileSync('gzip', ['-t', path]);
    return execFileSync('gunzip', ['-c', path], { maxBuffer: 1 << 30 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
