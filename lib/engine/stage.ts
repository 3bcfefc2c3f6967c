/**
 * The S3 stage: records as NDJSON parts and files under their logical names, written under the job's prefix
 * with deterministic keys, so a retried step overwrites what it wrote before instead of duplicating it.
 */
import { randomUUID } from 'node:crypto';
import { type FileHandle, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { IdxError } from '../core/errors.ts';
import { safeSegment } from '../core/keys.ts';
import { type FileRef, type FilesRef, filePieces, type PartRef, type RecordsRef } from '../core/refs.ts';
import type { FileSink, RecordSink } from './output.ts';

/** Records per staged part; parts keep retries and later parallel readers cheap. */
export const PART_RECORDS = 100_000;

function s3Error(error: unknown, action: string, key: string): IdxError {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const status = e.$metadata?.httpStatusCode ?? 0;
  const transient =
    status >= 500 ||
    status === 429 ||
    e.name === 'SlowDown' ||
    /ECONN|ETIMEDOUT|EPIPE|socket/i.test(String(e.code ?? e.name ?? ''));
  return new IdxError(
    'IDX_STAGE_IO',
    `cannot ${action} staged object ${key}: ${e.name ?? 'error'} ${(error as Error).message ?? ''}`.trim(),
    {
      transient,
      cause: error,
    },
  );
}

/** Bytes per part of a staged object: S3's smallest part, so an upload holds little. */
const PART_BYTES = 5 * 1024 * 1024;
/** Parts of one object uploading at once while the next one fills. */
const PARTS_IN_FLIGHT = 2;
/** First size of the buffer a part fills; it doubles up to {@link SMALL_BYTES}, so a small object stays small. */
const FIRST_BUFFER = 64 * 1024;
/**
 * What an object's first part holds in memory: beyond it, until the part is full, the part goes to a spool file
 * ({@link PART_BYTES} at most, in the temporary folder: /tmp in Lambda) in writes of this size. Many uploads fill
 * at once where a Map's ranges run in one process (40 Gigya ranges of 1.5 MB each locally, each holding up to a
 * 2 MB doubled buffer: 80 MB of a 1,000,000-account export); with the spool each holds 256 KiB. A divisor of
 * {@link PART_BYTES}, so the spool fills a part exactly.
 */
const SMALL_BYTES = 256 * 1024;

/** What a spool file is named: `idx-stage-<pid>-<uuid>.part`, in the temporary folder. */
const SPOOL_NAME = /^idx-stage-(\d+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.part$/;
/** The sweep of spool files left behind, run once per thread before its first spool ({@link sweepSpools}). */
let swept: Promise<unknown> | undefined;

/**
 * How long a spool file of a process that does not run here must have gone unwritten before it is removed: a
 * process in another PID namespace sharing the folder (a container) looks dead from here, while its upload still
 * writes its spool every 256 KiB.
 */
const SPOOL_QUIET_MS = 60_000;

/** Whether a process of that id runs (one of another user still counts). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the spool files of uploads whose process died in the middle: a Lambda invocation that times out is
 * killed, its `finally` never runs, and /tmp (512 MB by default) stays with the next invocation of that execution
 * environment. A file was left behind when its process no longer runs and it went unwritten for a minute, or when
 * it names this process's id but was last written before this process started (a runtime restarted under the same
 * id, as Lambda's often is). Files of other running processes, and of this one's threads, are theirs.
 * @returns the names removed.
 */
export async function sweepSpools(dir: string = tmpdir()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    // No temporary folder to read: nothing was spooled there either.
    return [];
  }
  // A second of slack: file times and the process's start come from clocks of different resolutions.
  const started = Date.now() - process.uptime() * 1000 - 1000;
  const quiet = Date.now() - SPOOL_QUIET_MS;
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(SPOOL_NAME.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(pid)) continue;
    const path = join(dir, name);
    const written = await stat(path).then(
      (s) => s.mtimeMs,
      () => Number.POSITIVE_INFINITY,
    );
    if (pid === process.pid) {
      if (written >= started) continue;
    } else if (running(pid) || written >= quiet) continue;
    await rm(path, { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * A streaming upload of one object; resolves with the byte count when S3 has it. The written bytes are copied at
 * once into part buffers that the upload reuses from one part to the next (at most three, 15 MiB), and sent as
 * one PutObject when they fit one part, as a multipart upload otherwise. An upload that collected each part from
 * the written chunks and joined them (as lib-storage's Upload does) left two part sizes of buffers per part to the
 * garbage collector, chunks that had lived long enough to reach the old generation: copying a 75 MB object into
 * the stage held 50 MB of them, the peak of a local run.
 */
class ObjectUpload {
  readonly body = new PassThrough({ highWaterMark: SMALL_BYTES });
  bytes = 0;
  readonly done: Promise<number>;

  constructor(s3: S3Client, bucket: string, key: string, metadata?: Record<string, string>) {
    this.done = this.#upload(s3, bucket, key, metadata).catch((error: unknown) => {
      const coded = error instanceof IdxError ? error : s3Error(error, 'write', key);
      // A failed upload reads no further: the writer gets the error instead of waiting for room.
      if (!this.body.destroyed) this.body.destroy(coded);
      throw coded;
    });
    // Avoid an unhandled rejection before someone awaits `done`.
    this.done.catch(() => undefined);
  }

  async #upload(s3: S3Client, bucket: string, key: string, metadata?: Record<string, string>): Promise<number> {
    const free: Buffer[] = [];
    let part: Buffer = Buffer.allocUnsafeSlow(FIRST_BUFFER);
    let used = 0;
    /** The first part beyond {@link SMALL_BYTES}: `bytes` of it are in the file, the rest in `part`. */
    let spool: { file: FileHandle; path: string; bytes: number } | undefined;
    let uploadId: string | undefined;
    const done: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    const send = async (data: Buffer, number: number): Promise<void> => {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: number, Body: data }),
      );
      done.push({
        PartNumber: number,
        ETag: r.ETag,
        ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}),
        ...(r.ChecksumCRC32C ? { ChecksumCRC32C: r.ChecksumCRC32C } : {}),
        ...(r.ChecksumSHA1 ? { ChecksumSHA1: r.ChecksumSHA1 } : {}),
        ...(r.ChecksumSHA256 ? { ChecksumSHA256: r.ChecksumSHA256 } : {}),
      });
    };
    /** Sends the full part buffer and takes another one to fill, waiting while enough parts are on their way. */
    const flush = async (): Promise<void> => {
      uploadId ??= (
        await s3.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...(metadata ? { Metadata: metadata } : {}) }),
        )
      ).UploadId;
      const data = part;
      const sending = send(data.subarray(0, used), done.length + inFlight.size + 1).finally(() => {
        inFlight.delete(sending);
        free.push(data);
      });
      inFlight.add(sending);
      while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      part = free.pop() ?? Buffer.allocUnsafeSlow(PART_BYTES);
      used = 0;
    };
    /** Moves the full small buffer into the spool file, opened on first use. */
    const spill = async (): Promise<void> => {
      if (!spool) {
        // Before this thread's first spool, what dead processes left goes; a sweep that fails costs only space.
        swept ??= sweepSpools().catch(() => undefined);
        await swept;
        const path = join(tmpdir(), `idx-stage-${process.pid}-${randomUUID()}.part`);
        spool = { file: await open(path, 'w+'), path, bytes: 0 };
      }
      await spool.file.write(part, 0, used, spool.bytes);
      spool.bytes += used;
      used = 0;
    };
    /** The spooled bytes and what `part` holds after them, as one buffer; the spool is removed. */
    const unspool = async (s: NonNullable<typeof spool>): Promise<Buffer> => {
      const whole = Buffer.allocUnsafeSlow(s.bytes + used);
      // A read may return less than asked for: read on until the spooled bytes are all in.
      for (let at = 0; at < s.bytes; ) {
        const { bytesRead } = await s.file.read(whole, at, s.bytes - at, at);
        if (bytesRead === 0) throw new Error(`spool file ${s.path} ended after ${at} of ${s.bytes} bytes`);
        at += bytesRead;
      }
      part.copy(whole, s.bytes, 0, used);
      spool = undefined;
      await s.file.close();
      await rm(s.path, { force: true });
      return whole;
    };
    try {
      // The body is not destroyed when the loop stops on a failure: it gets the coded error instead.
      for await (const chunk of this.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        this.bytes += chunk.length;
        let at = 0;
        while (at < chunk.length) {
          if (used === part.length && part.length < SMALL_BYTES) {
            const grown = Buffer.allocUnsafeSlow(Math.min(SMALL_BYTES, part.length * 2));
            part.copy(grown, 0, 0, used);
            part = grown;
          } else if (used === part.length && part.length < PART_BYTES) await spill();
          const n = Math.min(chunk.length - at, part.length - used);
          chunk.copy(part, used, at, at + n);
          used += n;
          at += n;
          if (spool && spool.bytes + used === PART_BYTES) {
            // The first part is full: sent from one buffer, then parts fill buffers of their full size.
            part = await unspool(spool);
            used = PART_BYTES;
          }
          if (used === PART_BYTES) await flush();
        }
      }
      if (uploadId === undefined) {
        const whole = spool ? await unspool(spool) : part.subarray(0, used);
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: whole,
            ...(metadata ? { Metadata: metadata } : {}),
          }),
        );
        return this.bytes;
      }
      if (used > 0 || done.length + inFlight.size === 0) await flush();
      await Promise.all(inFlight);
      done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: done },
        }),
      );
      return this.bytes;
    } catch (error) {
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined)
        await s3
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
      throw error;
    } finally {
      const left = spool as { file: FileHandle; path: string } | undefined;
      if (left) {
        await left.file.close().catch(() => undefined);
        await rm(left.path, { force: true });
      }
    }
  }
}

/** Writes NDJSON chunks into numbered parts under a prefix, rolling every {@link PART_RECORDS} records. */
export class StagedRecordSink implements RecordSink {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  #current: { upload: ObjectUpload; key: string; count: number } | undefined;
  readonly #closed: Promise<PartRef>[] = [];
  #n = 0;

  /** `prefix` ends with `/`; parts are `<prefix>part-00000.ndjson`, … */
  constructor(s3: S3Client, bucket: string, prefix: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
    this.#prefix = prefix;
  }

  async write(chunk: string, count: number): Promise<void> {
    if (!this.#current) {
      const key = `${this.#prefix}part-${String(this.#n++).padStart(5, '0')}.ndjson`;
      this.#current = { upload: new ObjectUpload(this.#s3, this.#bucket, key), key, count: 0 };
    }
    const cur = this.#current;
    cur.count += count;
    if (!cur.upload.body.write(chunk)) await waitDrain(cur.upload.body, cur.upload.done);
    if (cur.count >= PART_RECORDS) this.#seal();
  }

  #seal(): void {
    const cur = this.#current;
    if (!cur) return;
    this.#current = undefined;
    cur.upload.body.end();
    this.#closed.push(settled(cur.upload.done.then((bytes) => ({ key: cur.key, count: cur.count, bytes }))));
  }

  /** Stops a failed step's unfinished part so its upload ends instead of waiting for more data. */
  abort(error: Error): void {
    this.#current?.upload.body.destroy(error);
    this.#current = undefined;
  }

  /** Ends the last part and waits for every part; returns the staged reference. */
  async close(): Promise<RecordsRef> {
    this.#seal();
    const parts = await Promise.all(this.#closed);
    return { kind: 'records', parts, count: parts.reduce((n, p) => n + p.count, 0) };
  }
}

/** Marks a promise as handled (its failure surfaces where it is awaited) so an abandoned step cannot crash the process. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function waitDrain(stream: PassThrough, failed: Promise<unknown>): Promise<void> {
  await Promise.race([new Promise<void>((resolve) => stream.once('drain', resolve)), failed.then(() => undefined)]);
}

/** Stages output files under `<prefix>files/<n>-<safe name>`, keeping the logical name in the reference. */
export class StagedFileSink implements FileSink {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #files: Promise<FileRef>[] = [];
  readonly #bodies: PassThrough[] = [];
  readonly #uploads: ObjectUpload[] = [];
  #n = 0;

  constructor(s3: S3Client, bucket: string, prefix: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
    this.#prefix = prefix;
  }

  create(name: string): Writable {
    const key = `${this.#prefix}files/${String(this.#n++).padStart(4, '0')}-${safeSegment(name)}`;
    const upload = new ObjectUpload(this.#s3, this.#bucket, key, { 'idx-name': encodeURIComponent(name) });
    this.#files.push(settled(upload.done.then((size) => ({ name, key, size }))));
    this.#bodies.push(upload.body);
    this.#uploads.push(upload);
    return upload.body;
  }

  /** Files created so far. */
  get count(): number {
    return this.#n;
  }

  /** Bytes written into the files so far, for progress while the step runs. */
  get bytesSoFar(): number {
    return this.#uploads.reduce((n, u) => n + u.bytes, 0);
  }

  /** Stops the unfinished files of a failed step. */
  abort(error: Error): void {
    for (const body of this.#bodies) if (!body.writableFinished) body.destroy(error);
  }

  /** Waits for every staged file. */
  async close(): Promise<FilesRef> {
    return { kind: 'files', files: await Promise.all(this.#files) };
  }
}

/** Opens a staged object as a stream. */
export function openStaged(s3: S3Client, bucket: string, key: string): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
    (res) => {
      const body = res.Body as Readable | undefined;
      if (!body) return out.end();
      if (out.destroyed) return body.destroy();
      body.on('error', (e) => out.destroy(s3Error(e, 'read', key)));
      // A reader that stops early (a step at its deadline, a parser at the job's limit) destroys `out`: pipe()
      // would only unpipe the body and leave its connection open and paused, one per stopped read, until the
      // client's connection pool runs dry and every later request waits forever.
      out.once('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(out);
    },
    (error: unknown) => out.destroy(s3Error(error, 'read', key)),
  );
  return out;
}

/**
 * Opens a staged file as one stream: its pieces (one per invocation that wrote to it) one after the other, each
 * opened only when the one before it ended, so a file written across invocations reads as the one file it is.
 */
export function openStagedFile(s3: S3Client, bucket: string, file: FileRef): Readable {
  const pieces = filePieces(file);
  if (pieces.length === 1) return openStaged(s3, bucket, file.key);
  async function* concatenated(): AsyncGenerator<Buffer> {
    for (const piece of pieces) for await (const chunk of openStaged(s3, bucket, piece.key)) yield chunk as Buffer;
  }
  return Readable.from(concatenated(), { objectMode: false, highWaterMark: 1 << 20 });
}

/** Reads a whole small staged object as text (tests and summaries; never for data streams). */
export async function readStagedText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(openStaged(s3, bucket, key))) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
