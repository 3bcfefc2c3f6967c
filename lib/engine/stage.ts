/**
 * The S3 stage: records as NDJSON parts and files under their logical names, written under the job's prefix
 * with deterministic keys, so a retried step overwrites what it wrote before instead of duplicating it.
 */
import { PassThrough, Readable, type Writable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
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

/** A streaming upload of one object; resolves with the byte count when S3 has it. */
class ObjectUpload {
  readonly body = new PassThrough({ highWaterMark: 1 << 20 });
  bytes = 0;
  readonly done: Promise<number>;

  constructor(s3: S3Client, bucket: string, key: string, metadata?: Record<string, string>) {
    this.body.on('data', (c: Buffer) => {
      this.bytes += c.length;
    });
    const counted = new PassThrough({ highWaterMark: 1 << 20 });
    this.body.pipe(counted);
    // A failed step destroys its unfinished uploads' bodies (see abort); pipe() does not carry the error on, and an
    // error event nobody listens to would crash the process: the upload is stopped with it instead.
    this.body.on('error', (error) => counted.destroy(error));
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: counted, ...(metadata ? { Metadata: metadata } : {}) },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    this.done = upload.done().then(
      () => this.bytes,
      (error: unknown) => {
        throw s3Error(error, 'write', key);
      },
    );
    // Avoid an unhandled rejection before someone awaits `done`.
    this.done.catch(() => undefined);
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
      body.on('error', (e) => out.destroy(s3Error(e, 'read', key)));
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
