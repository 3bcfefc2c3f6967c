/**
 * LZO1X block compression and decompression, written from the public description of the LZO1X instruction
 * stream (the opcode table below: which bits of each instruction byte say the match length, the distance and
 * how many literals follow). No LZO or lzop source was used; both are GPL. The compressor is a greedy one-pass
 * LZ77 with a hash of four bytes, as fast compressors of this family are; its output is plain LZO1X that any
 * LZO1X decompressor (lzop's, Hadoop's) reads. The decompressor reads every LZO1X instruction, including those
 * only the slower compressors (`lzop -9`, LZO1X-999) write, and checks every read and write against the block's
 * bounds, so corrupt input is an error, never a read past the data or an endless loop.
 *
 * The instruction stream, state being the number of literals the previous instruction copied (4: four or more):
 * - first byte > 17: copy (byte − 17) literals; state = that number, or 4 when it is 4 or more;
 * - `0000LLLL` with state 0: copy 3 + L literals (L = 0: 18 + the extended length), then state 4;
 * - `0000DDSS H` with state 1–3: a 2-byte match at distance (H << 2) + D + 1;
 * - `0000DDSS H` with state 4: a 3-byte match at distance (H << 2) + D + 2049;
 * - `01LDDDSS H`, `1LLDDDSS H`: a match of 3–8 bytes (length (byte >> 5) + 1) at distance (H << 3) + D + 1;
 * - `001LLLLL` + LE16: a match of 2 + L bytes (L = 0: 33 + the extended length) at distance (LE16 >> 2) + 1;
 * - `0001HLLL` + LE16: a match of 2 + L bytes (L = 0: 9 + the extended length) at distance
 *   16384 + (H << 14) + (LE16 >> 2); distance 16384 ends the stream (`11 00 00`).
 * The two S bits of a match (the low bits of its second-to-last byte) say how many literals (0–3) follow it
 * without an instruction of their own. An extended length is a run of zero bytes (255 each) and a final
 * non-zero byte added to it.
 */

/** The farthest back a match may reach (the `0001` form: 16384 + 16384 + 16383). */
export const LZO1X_MAX_DISTANCE = 0xbfff;

/** Bytes the compressor's output may need beyond the input, for input that does not compress. */
export function lzo1xBound(size: number): number {
  return size + (size >> 4) + 64 + 3;
}

/** Corrupt LZO1X data: `reason` says what did not fit. */
export class LzoDataError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'LzoDataError';
  }
}

/** Bits of the hash of four bytes: a table of 16,384 positions (64 KiB), small enough to stay in cache. */
const HASH_BITS = 14;
/** The shortest match the compressor looks for: the four bytes it hashes (shorter ones rarely save a byte). */
const MIN_MATCH = 4;

/** A table of positions by hash, kept by a caller that compresses many blocks to reuse its memory. */
export function lzo1xTable(): Int32Array {
  return new Int32Array(1 << HASH_BITS);
}

/** Writes an extended length (zero bytes worth 255 each, then the rest, 1–255). */
function putExtended(out: Uint8Array, op: number, rest: number): number {
  let o = op;
  let r = rest;
  while (r > 255) {
    out[o++] = 0;
    r -= 255;
  }
  out[o++] = r;
  return o;
}

/**
 * Writes the literals `src[from..to)` before the next match (or the end) at `op`, returning the new end: in the
 * stream's first byte when they open it, in the S bits of the last match (at `sAt`) when there are 1 to 3,
 * otherwise as a run instruction. A plain function of its arguments, so the compressor's loop keeps its
 * variables in registers.
 */
function putLiterals(out: Uint8Array, op: number, sAt: number, src: Uint8Array, from: number, to: number): number {
  const t = to - from;
  if (t === 0) return op;
  let o = op;
  if (o === 0 && t <= 238) out[o++] = 17 + t;
  else if (t <= 3 && sAt >= 0) out[sAt] = (out[sAt] as number) | t;
  else if (t <= 18) out[o++] = t - 3;
  else {
    out[o++] = 0;
    o = putExtended(out, o, t - 18);
  }
  if (t > 32) {
    out.set(src.subarray(from, to), o);
    return o + t;
  }
  for (let i = from; i < to; i++) out[o++] = src[i] as number;
  return o;
}

/**
 * Compresses one block into an LZO1X stream (ending with its end marker). Blocks are independent: nothing of
 * one is referred to by the next, as lzop frames them. The result may be longer than the input when the input
 * does not compress; a container then stores the block as it is.
 */
export function lzo1xCompress(src: Uint8Array, table: Int32Array = lzo1xTable()): Buffer {
  const n = src.length;
  const out = Buffer.allocUnsafe(lzo1xBound(n));
  table.fill(-1);
  let op = 0;
  /** Where the S bits of the last match are, to count up to 3 literals that follow it; -1 before any match. */
  let sAt = -1;
  let anchor = 0;
  let ip = 0;
  const last = n - MIN_MATCH;

  while (ip <= last) {
    const seq =
      (src[ip] as number) |
      ((src[ip + 1] as number) << 8) |
      ((src[ip + 2] as number) << 16) |
      ((src[ip + 3] as number) << 24);
    const h = Math.imul(seq, 0x9e3779b1) >>> (32 - HASH_BITS);
    const cand = table[h] as number;
    table[h] = ip;
    const dist = ip - cand;
    if (
      cand < 0 ||
      dist > LZO1X_MAX_DISTANCE ||
      src[cand] !== src[ip] ||
      src[cand + 1] !== src[ip + 1] ||
      src[cand + 2] !== src[ip + 2] ||
      src[cand + 3] !== src[ip + 3]
    ) {
      // Long stretches without a match are skipped faster, as they are unlikely to start matching again soon.
      ip += 1 + ((ip - anchor) >> 5);
      continue;
    }
    let len = MIN_MATCH;
    while (ip + len < n && src[cand + len] === src[ip + len]) len++;
    op = putLiterals(out, op, sAt, src, anchor, ip);
    const d = dist - 1;
    if (len <= 8 && dist <= 2048) {
      sAt = op;
      out[op++] = len <= 4 ? 0x40 | ((len - 3) << 5) | ((d & 7) << 2) : 0x80 | ((len - 5) << 5) | ((d & 7) << 2);
      out[op++] = d >> 3;
    } else if (dist <= 16384) {
      if (len <= 33) out[op++] = 0x20 | (len - 2);
      else {
        out[op++] = 0x20;
        op = putExtended(out, op, len - 33);
      }
      sAt = op;
      out[op++] = (d << 2) & 0xff;
      out[op++] = d >> 6;
    } else {
      const far = dist - 16384;
      const high = (far >> 14) << 3;
      if (len <= 9) out[op++] = 0x10 | high | (len - 2);
      else {
        out[op++] = 0x10 | high;
        op = putExtended(out, op, len - 9);
      }
      sAt = op;
      out[op++] = ((far & 0x3fff) << 2) & 0xff;
      out[op++] = (far & 0x3fff) >> 6;
    }
    ip += len;
    anchor = ip;
  }
  op = putLiterals(out, op, sAt, src, anchor, n);
  out[op++] = 0x11;
  out[op++] = 0;
  out[op++] = 0;
  return out.subarray(0, op);
}

/**
 * Decompresses one LZO1X block whose uncompressed size is `size` (lzop and Hadoop record it in the block's
 * header). Throws {@link LzoDataError} when the data reads or writes outside the block, refers back before its
 * start, ends without its end marker, or does not fill exactly `size` bytes.
 */
export function lzo1xDecompress(src: Uint8Array, size: number): Buffer {
  // One loop with no closures: variables a closure writes live in a heap context, which costs on every access.
  const n = src.length;
  const dst = Buffer.allocUnsafe(size);
  const early = () => new LzoDataError(`the compressed data ends early (at byte ${n} of the block)`);
  const past = (what: string) => new LzoDataError(`${what} past the block's ${size} bytes`);
  let ip = 0;
  let op = 0;
  let state = 0;
  /** Literals to copy after the instruction just read (a run, or the 0–3 that follow a match). */
  let t = 0;

  if (n === 0) throw early();
  if ((src[0] as number) > 17) {
    t = (src[ip++] as number) - 17;
    state = Math.min(t, 4);
  }
  for (;;) {
    if (t > 0) {
      if (ip + t > n) throw early();
      if (op + t > size) throw past('literals run');
      // A native copy costs more than a loop for the few bytes most instructions carry.
      if (t > 32) {
        dst.set(src.subarray(ip, ip + t), op);
        ip += t;
        op += t;
      } else for (let i = 0; i < t; i++) dst[op++] = src[ip++] as number;
      t = 0;
    }
    if (ip >= n) throw early();
    const c = src[ip++] as number;
    let len: number;
    let dist: number;
    if (c < 16) {
      if (state === 0) {
        // A run of literals: 3 + the low bits, or 18 + an extended length.
        let run = c + 3;
        if (c === 0) {
          run = 18;
          for (;;) {
            if (ip >= n) throw early();
            const b = src[ip++] as number;
            if (b !== 0) {
              run += b;
              break;
            }
            run += 255;
            if (run > size) throw past('a length runs');
          }
        }
        t = run;
        state = 4;
        continue;
      }
      if (ip >= n) throw early();
      const h = src[ip++] as number;
      len = state < 4 ? 2 : 3;
      dist = (h << 2) + (c >> 2) + (state < 4 ? 1 : 2049);
      t = c & 3;
    } else if (c >= 64) {
      if (ip >= n) throw early();
      len = (c >> 5) + 1;
      dist = ((src[ip++] as number) << 3) + ((c >> 2) & 7) + 1;
      t = c & 3;
    } else {
      const small = c >= 32;
      len = (small ? c & 31 : c & 7) + 2;
      if (len === 2) {
        len = small ? 33 : 9;
        for (;;) {
          if (ip >= n) throw early();
          const b = src[ip++] as number;
          if (b !== 0) {
            len += b;
            break;
          }
          len += 255;
          if (len > size) throw past('a length runs');
        }
      }
      if (ip + 2 > n) throw early();
      const v = (src[ip] as number) | ((src[ip + 1] as number) << 8);
      ip += 2;
      t = v & 3;
      if (small) dist = (v >> 2) + 1;
      else {
        dist = 16384 + ((c & 8) << 11) + (v >> 2);
        if (dist === 16384) {
          if (op !== size) throw new LzoDataError(`the data ends after ${op} of the block's ${size} bytes`);
          if (ip !== n) throw new LzoDataError(`${n - ip} byte(s) follow the end of the compressed data`);
          return dst;
        }
      }
    }
    if (dist > op) throw new LzoDataError(`a match refers ${dist} bytes back, at byte ${op} of the block`);
    if (op + len > size) throw past('a match runs');
    if (len > 32 && dist >= len) {
      dst.copyWithin(op, op - dist, op - dist + len);
      op += len;
    } else {
      let from = op - dist;
      for (let i = 0; i < len; i++) dst[op++] = dst[from++] as number;
    }
    state = t;
  }
}
