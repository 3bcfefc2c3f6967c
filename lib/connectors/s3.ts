/**
 * S3 for the file steps: a {@link FileSource} over one "folder" of a bucket (keys under a prefix, not
 * recursive) and a streaming, encrypted upload, both over a client the caller builds (which credentials and
 * region a step uses is decided in lib/scripts/util/s3-access.ts).
 */
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { IdxError } from '../core/errors.ts';
import { checkRelativeName, normalizeRoot } from './remote-path.ts';
import { type FileSource, type RemoteFile, targetExists } from './transfer.ts';

const NETWORK =
  /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up|TimeoutError|RequestTimeout|aborted|premature close/i;

/** True for S3 failures worth retrying: throttling, 5xx, dropped connections, stalled transfers. */
export function isTransientS3Error(error: unknown): boolean {
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e.$metadata?.httpStatusCode ?? 0;
  if (status >= 500 || status === 429) return true;
  if (e.name === 'SlowDown' || e.name === 'ThrottlingException' || e.$retryable) return true;
  return NETWORK.test(`${e.code ?? ''} ${e.name ?? ''} ${e.message ?? ''}`);
}

/** Maps an S3 failure to a coded error naming bucket and key. */
export function s3Failure(error: unknown, action: string, where: string): IdxError {
  if (error instanceof IdxError) return error;
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const code =
    e.name === 'AccessDenied' || status === 403
      ? 'IDX_S3_ACCESS_DENIED'
      : e.name === 'NoSuchBucket' || e.name === 'NoSuchKey' || status === 404
        ? 'IDX_S3_NOT_FOUND'
        : e.name === 'PermanentRedirect' || status === 301
          ? 'IDX_S3_WRONG_REGION'
          : 'IDX_S3_IO';
  return new IdxError(code, `${action} ${where} failed: ${e.name ?? 'error'}${e.message ? ` ${e.message}` : ''}`, {
    transient: isTransientS3Error(error),
    cause: error,
    ...(code === 'IDX_S3_WRONG_REGION' ? { param: 'region', expected: "the bucket's region" } : {}),
    ...(status === undefined ? {} : { details: { httpStatus: status } }),
  });
}

/** Splits a reader's `objectKeyPrefix` into the folder part (up to the last `/`) and the rest. */
export function prefixFolder(prefix: string): string {
  const i = prefix.lastIndexOf('/');
  return i < 0 ? '' : prefix.slice(0, i + 1);
}

/**
 * Lists what a prefix selects. A prefix without a trailing slash that selects no file but names a folder (`in`
 * with a folder `in/`) means that folder, as a user who wrote a folder name expects: the listing and the prefix to
 * keep using are then the folder's.
 */
export async function listPrefix(
  prefix: string,
  list: (prefix: string) => Promise<{ files: RemoteFile[]; folders: string[] }>,
): Promise<{ files: RemoteFile[]; prefix: string }> {
  const { files, folders } = await list(prefix);
  if (files.length === 0 && prefix !== '' && !prefix.endsWith('/') && folders.includes(`${prefix}/`)) {
    const folder = `${prefix}/`;
    return { files: (await list(folder)).files, prefix: folder };
  }
  return { files, prefix };
}

/**
 * The key folder of a writer (and of `moveToPath`): a folder path with a trailing `/`, or `''` for the bucket
 * root. `.`/`..` segments are refused.
 */
export function keyFolder(path: string, location: { param: string; stepId?: string }): string {
  const root = normalizeRoot(path.replace(/^\/+/, ''), location);
  return root === '.' || root === '/' ? '' : `${root}/`;
}

/** Options of {@link S3FileSource}. */
export interface S3SourceOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Keys starting with this; a prefix naming a folder without its trailing `/` is read as that folder. */
  readonly prefix: string;
  /**
   * The folder files are moved into after reading: relative to the prefix's folder, or from the bucket root when
   * it starts with `/`. Checked with {@link keyFolder} before the source is made.
   */
  readonly moveToPath?: string;
}

/** The objects directly under a prefix (not in its sub-folders) as remote files. */
export class S3FileSource implements FileSource {
  readonly id: string;
  readonly #o: S3SourceOptions;
  #prefix: string;

  constructor(options: S3SourceOptions) {
    this.#o = options;
    this.#prefix = options.prefix.replace(/^\/+/, '');
    this.id = `s3://${options.bucket}`;
  }

  async list(): Promise<RemoteFile[]> {
    // `objectKeyPrefix: "in"` with a folder "in/" and no key "in…" means the folder.
    const { files, prefix } = await listPrefix(this.#prefix, (p) => this.#list(p));
    this.#prefix = prefix;
    return files;
  }

  async #list(prefix: string): Promise<{ files: RemoteFile[]; folders: string[] }> {
    const folder = prefixFolder(prefix);
    const files: RemoteFile[] = [];
    const folders: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#o.client
        .send(
          new ListObjectsV2Command({
            Bucket: this.#o.bucket,
            Prefix: prefix,
            Delimiter: '/',
            ...(token ? { ContinuationToken: token } : {}),
          }),
        )
        .catch((error: unknown) => {
          throw s3Failure(error, 'listing', `s3://${this.#o.bucket}/${prefix}`);
        });
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        files.push({
          name: o.Key.slice(folder.length),
          path: o.Key,
          size: o.Size ?? 0,
          modifiedAt: o.LastModified?.getTime() ?? 0,
          ...(o.ETag ? { version: o.ETag } : {}),
        });
      }
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.push(p.Prefix);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { files, folders };
  }

  async open(file: RemoteFile, start: number): Promise<Readable> {
    const out = await this.#o.client
      .send(
        new GetObjectCommand({
          Bucket: this.#o.bucket,
          Key: file.path,
          ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
          // A resumed read must continue the same version of the object.
          ...(start > 0 && file.version ? { IfMatch: file.version } : {}),
        }),
      )
      .catch((error: unknown) => {
        throw s3Failure(error, 'reading', `s3://${this.#o.bucket}/${file.path}`);
      });
    return out.Body as Readable;
  }

  async remove(file: RemoteFile): Promise<void> {
    await this.#o.client
      .send(new DeleteObjectCommand({ Bucket: this.#o.bucket, Key: file.path }))
      .catch((error: unknown) => {
        throw s3Failure(error, 'deleting', `s3://${this.#o.bucket}/${file.path}`);
      });
  }

  async move(file: RemoteFile): Promise<void> {
    const name = checkRelativeName(file.name, { allowFolders: false }).join('/');
    const to = this.#o.moveToPath ?? '';
    // Relative to the folder of the prefix as written (the deployed grants are computed from it).
    const written = this.#o.prefix.replace(/^\/+/, '');
    const folder = to.startsWith('/')
      ? keyFolder(to, { param: 'moveToPath' })
      : `${prefixFolder(written)}${keyFolder(to, { param: 'moveToPath' })}`;
    const key = `${folder}${name}`;
    await this.#o.client
      .send(
        new CopyObjectCommand({
          Bucket: this.#o.bucket,
          Key: key,
          CopySource: `${this.#o.bucket}/${encodeURIComponent(file.path).replace(/%2F/g, '/')}`,
        }),
      )
      .catch((error: unknown) => {
        throw s3Failure(error, 'moving', `s3://${this.#o.bucket}/${file.path} to ${key}`);
      });
    await this.remove(file);
  }

  async reset(): Promise<void> {
    // The SDK client pools its own connections; nothing to drop.
  }

  isTransient(error: unknown): boolean {
    const cause = error instanceof IdxError ? (error.transient ? error : error.cause) : error;
    return cause instanceof IdxError ? cause.transient : isTransientS3Error(cause);
  }
}

/** Options of {@link uploadObject}. */
export interface S3UploadOptions {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly body: Readable;
  /** `none` sends no encryption header (the bucket's default encryption still applies). */
  readonly serverSideEncryption: 'AES256' | 'aws:kms' | 'aws:kms:dsse' | 'none';
  readonly kmsKeyId?: string;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /**
   * Put the object only if no object has the key (`If-None-Match: *` on the put or the multipart completion):
   * S3 decides atomically, and a key taken in the meantime fails with `IDX_TARGET_EXISTS`. @default false
   */
  readonly ifNoneMatch?: boolean;
}

/** Part size of multipart uploads: 8 MB parts, two in flight, so memory stays near 16 MB whatever the size. */
const PART_SIZE = 8 * 1024 * 1024;

/**
 * Streams one object into S3 (multipart above one part). S3 makes the object visible only when complete, and
 * a failed multipart upload is aborted, so no partial object is ever left under the key.
 */
export async function uploadObject(options: S3UploadOptions): Promise<void> {
  const sse =
    options.serverSideEncryption === 'none' ? undefined : (options.serverSideEncryption as ServerSideEncryption);
  const upload = new Upload({
    client: options.client,
    params: {
      Bucket: options.bucket,
      Key: options.key,
      Body: options.body,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(sse ? { ServerSideEncryption: sse } : {}),
      ...(sse && sse !== 'AES256' && options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}),
      ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
    },
    partSize: PART_SIZE,
    queueSize: 2,
    leavePartsOnError: false,
  });
  const abort = () => void upload.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    await upload.done();
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (options.ifNoneMatch && (status === 412 || (error as Error).name === 'PreconditionFailed'))
      throw targetExists(`s3://${options.bucket}/${options.key}`);
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}

/** The size of an object, or undefined when there is none under the key. */
export async function objectSize(client: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength ?? 0;
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw error;
  }
}
