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
