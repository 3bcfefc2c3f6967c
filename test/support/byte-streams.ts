/** Byte streams for tests of streaming parsers: data cut into pieces, and a stream collected back. */

/** Yields `data` in pieces of `size` bytes, so a parser meets its structures split across chunks. */
export async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/** Collects a byte stream into one buffer. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

/**
 * `total` bytes of generated text, 64 KiB at a time, chunk `n` filled with `row(n)` so that no chunk repeats the
 * one before; `seen` gets each chunk as it is handed out (to hash what went in).
 */
export async function* generatedText(
  total: number,
  row: (n: number) => string,
  seen?: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0, n = 0; sent < total; sent += chunk.length, n++) {
    chunk.fill(row(n));
    const part = Buffer.from(chunk.subarray(0, Math.min(chunk.length, total - sent)));
    seen?.(part);
    yield part;
  }
}

/** Passes a byte stream on, telling `count` the size of each piece. */
export async function* counting(source: AsyncIterable<Buffer>, count: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const part of source) {
    count(part.length);
    yield part;
  }
}

/**
 * What a streaming child process prints when done: how much went in and came out, the hashes of both, and the
 * process's peak RSS, as one JSON line on stdout.
 */
export function printStreamRun(run: {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly inHash: string;
  readonly outHash: string;
  readonly [other: string]: unknown;
}): void {
  process.stdout.write(`${JSON.stringify({ ...run, peakRss: process.resourceUsage().maxRSS * 1024 })}\n`);
}
