/**
 * File transfers over SFTP with many requests in flight. ssh2's streams keep one request (or one stream chunk) in
 * flight and split a larger one into requests that wait for each other, so a transfer moves one request of about
 * 32 KB per network round trip: about 1 MB/s each way at 20 ms, an hour and more for a file of a few GB. Here
 * reads and writes at successive offsets go out without waiting for the answers before them, up to
 * {@link BYTES_IN_FLIGHT}, as OpenSSH's own client does (draft-ietf-secsh-filexfer-02: §6.1 sets no limit on
 * outstanding requests, §6.4 gives every read and write its own offset). The bytes reach the reader and the file in
 * order whatever order the answers come in (`npm run bench -- sftp`).
 */
import { Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';

/**
 * Bytes of reads or writes awaiting their answers at once: 4 MiB, two SSH channel windows (ssh2 and OpenSSH open
 * 2 MiB ones), enough for 200 MB/s at 20 ms of round trip and 40 MB/s at 100 ms, and what a transfer holds in memory.
 */
export const BYTES_IN_FLIGHT = 4 * 1024 * 1024;

/** At most this many requests in flight, OpenSSH's `sftp -R` default (64). */
export const REQUESTS_IN_FLIGHT = 64;

/**
 * The largest read or write ssh2 sends in one request to this server: about 32 KB, or 255 KiB to an OpenSSH server
 * (or one announcing its limits); a larger one it would split into requests that wait for each other.
 */
function requestBytes(sftp: SFTPWrapper, kind: 'read' | 'write'): number {
  const wire = sftp as unknown as { _maxReadLen?: unknown; _maxWriteLen?: unknown };
  const max = kind === 'read' ? wire._maxReadLen : wire._maxWriteLen;
  // ssh2's own fallback (34,000 bytes less a request's header) when a future version names the field otherwise.
  return typeof max === 'number' && max > 0 ? max : 34_000 - 1024;
}

/** Requests of `bytes` each that fit in {@link BYTES_IN_FLIGHT}, between 1 and {@link REQUESTS_IN_FLIGHT}. */
function depth(bytes: number): number {
  return Math.max(1, Math.min(REQUESTS_IN_FLIGHT, Math.floor(BYTES_IN_FLIGHT / bytes)));
}

/**
 * Sends one request and resolves with its answer. Once the channel has closed, ssh2 has already failed the
 * requests it had sent ("No response from server"), and a request sent after that would never be answered: it is
 * refused at once instead, with a code the connection takes for a dropped one.
 */
function request<T>(sftp: SFTPWrapper, send: (done: (error: Error | null | undefined, value: T) => void) => void) {
  const channel = sftp as unknown as {
    readable?: boolean;
    incoming?: { state?: string };
    outgoing?: { state?: string };
  };
  if (channel.readable === false || channel.incoming?.state === 'closed' || channel.outgoing?.state !== 'open')
    return Promise.reject(Object.assign(new Error('the SFTP session has closed'), { code: 'ERR_NOT_CONNECTED' }));
  return new Promise<T>((resolve, reject) => send((error, value) => (error ? reject(error) : resolve(value))));
}

function openHandle(sftp: SFTPWrapper, path: string, flags: 'r' | 'w', mode?: number): Promise<Buffer> {
  return request<Buffer>(sftp, (done) => sftp.open(path, flags, mode === undefined ? {} : { mode }, done));
}

function closeHandle(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  return request<undefined>(sftp, (done) => sftp.close(handle, (error) => done(error, undefined)));
}

/**
 * Reads `length` bytes at `position` in as many requests as the server needs (it may answer a read with fewer
 * bytes than asked for); fewer only at the end of the file.
 */
async function readRange(sftp: SFTPWrapper, handle: Buffer, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    // ssh2 answers a read at the end of the file with 0 bytes, not an error.
    const n = await request<number>(sftp, (done) =>
      sftp.read(handle, buf, got, length - got, position + got, (error, bytesRead) => done(error, bytesRead)),
    );
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** The bytes of the remote file from `start` to its end, with up to {@link BYTES_IN_FLIGHT} of reads in flight. */
async function* readFrom(sftp: SFTPWrapper, path: string, start: number): AsyncGenerator<Buffer> {
  const handle = await openHandle(sftp, path, 'r');
  const bytes = requestBytes(sftp, 'read');
  const most = depth(bytes);
  const ranges: Promise<Buffer>[] = [];
  let next = start;
  try {
    for (;;) {
      while (ranges.length < most) {
        const range = readRange(sftp, handle, next, bytes);
        // Awaited in its turn below; until then a failure must not count as unhandled.
        range.catch(() => undefined);
        ranges.push(range);
        next += bytes;
      }
      const data = await (ranges.shift() as Promise<Buffer>);
      if (data.length > 0) yield data;
      // The file ends in this range: the ranges after it hold nothing.
      if (data.length < bytes) return;
    }
  } finally {
    // The answers to reads still in flight come before the close's; the handle is closed before the stream is.
    await Promise.allSettled(ranges);
    await closeHandle(sftp, handle).catch(() => undefined);
  }
}

/**
 * A stream of the remote file from byte `start`, read with many requests in flight. Destroying it stops the
 * reads and closes the remote handle before it emits `close`.
 */
export function pipelinedReadStream(sftp: SFTPWrapper, path: string, start: number): Readable {
  return Readable.from(readFrom(sftp, path, start), { objectMode: false, highWaterMark: 256 * 1024 });
}

/**
 * Writes `body` to the remote file at `path` (created or truncated, with `mode`) with up to
 * {@link BYTES_IN_FLIGHT} of writes in flight; resolves with the bytes written once the server has answered every
 * write and closed the file. On a failure of the body or of a write, it waits for the writes in flight to be
 * answered (a dropped connection fails them all), closes the handle if it can, and rejects with the first failure.
 */
export async function pipelinedUpload(
  sftp: SFTPWrapper,
  path: string,
  body: AsyncIterable<Buffer | Uint8Array | string>,
  mode: number,
): Promise<number> {
  const handle = await openHandle(sftp, path, 'w', mode);
  const bytes = requestBytes(sftp, 'write');
  const most = depth(bytes);
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let position = 0;
  const write = (data: Buffer, at: number): void => {
    const sent = request<undefined>(sftp, (done) =>
      sftp.write(handle, data, 0, data.length, at, (error) => done(error, undefined)),
    ).then(
      () => {
        pending.delete(sent);
      },
      (error: unknown) => {
        pending.delete(sent);
        failure ??= { error };
      },
    );
    pending.add(sent);
  };
  try {
    for await (const piece of body) {
      // A stream in text mode yields strings, as a file written from one does: its bytes are UTF-8.
      const chunk =
        typeof piece === 'string'
          ? Buffer.from(piece, 'utf8')
          : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      for (let at = 0; at < chunk.length && failure === undefined; at += bytes) {
        const data = chunk.subarray(at, at + bytes);
        write(data, position);
        position += data.length;
        while (pending.size >= most && failure === undefined) await Promise.race(pending);
      }
      if (failure) throw failure.error;
    }
    await Promise.all(pending);
    if (failure) throw failure.error;
  } catch (error) {
    await Promise.all(pending);
    await closeHandle(sftp, handle).catch(() => undefined);
    throw error;
  }
  await closeHandle(sftp, handle);
  return position;
}
