/**
 * Azure Blob storage as the file readers and writers use it: the blobs directly under a name prefix of one
 * container as a {@link FileSource}, and block blob uploads that stay invisible until their block list is
 * committed. Failures become coded errors: a refused key is `IDX_AZURE_AUTH` (never retried), throttling, 5xx and
 * dropped connections are transient `IDX_AZURE_IO`.
 */
import type { Readable } from 'node:stream';
// Types only: the SDK is loaded by whoever makes the clients, when a step reaches Azure (see azure-access.ts).
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { IdxError } from '../core/errors.ts';
import { checkRelativeName } from './remote-path.ts';
import { listPrefix, prefixFolder } from './s3.ts';
import { type FileSource, NETWORK_ERROR_CODES, type RemoteFile } from './transfer.ts';

/** The HTTP status of an Azure failure, when it has one (the SDK's RestError carries it as `statusCode`). */
function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True for failures worth another attempt: throttling, timeouts, 5xx, dropped connections. */
export function isTransientAzureError(error: unknown): boolean {
  if (error instanceof IdxError) return error.transient;
  const status = statusOf(error);
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) return true;
  const code = (error as { code?: string }).code;
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return true;
  // The SDK reports a dropped socket as a RestError without status, carrying Node's code in its message.
  return status === undefined && /ECONNRESET|socket hang up|ECONNREFUSED|aborted/i.test(String(error));
}

/** The Azure error code (`AuthenticationFailed`, `ContainerNotFound`, …) of a failure. */
export function azureErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A coded error for an Azure failure while doing `action` on `where`; a coded error stays as it is. */
export function azureFailure(error: unknown, action: string, where: string): IdxError {
  if (error instanceof IdxError) return error;
  const status = statusOf(error);
  const azureCode = azureErrorCode(error);
  const message = ((error as Error).message ?? String(error)).split('\n')[0];
  if (status === 403 || status === 401) {
    return new IdxError(
      'IDX_AZURE_AUTH',
      `${action} ${where}: Azure refused the credentials (${azureCode ?? status})`,
      {
        expected: 'an account key or SAS that this account accepts for the operation',
        received: `HTTP ${status} ${azureCode ?? ''}`.trim(),
        transient: false,
        cause: error,
      },
    );
  }
  return new IdxError('IDX_AZURE_IO', `${action} ${where} failed: ${azureCode ? `${azureCode}: ` : ''}${message}`, {
    transient: isTransientAzureError(error),
    cause: error,
    ...(status === undefined ? {} : { details: { httpStatus: status } }),
  });
}

/** Options of {@link AzureBlobFileSource}. */
export interface AzureSourceOptions {
  readonly container: ContainerClient;
  /** Blob names starting with this; a prefix naming a folder without its trailing `/` is read as that folder. */
  readonly prefix: string;
  /** The folder (with trailing `/`, `''` for the container root) blobs are moved into; checked beforehand. */
  readonly moveTo?: string;
}

/** The blobs directly under a name prefix of a container (not in its virtual sub-folders) as remote files. */
export class AzureBlobFileSource implements FileSource {
  readonly id: string;
  readonly #o: AzureSourceOptions;
  #prefix: string;

  constructor(options: AzureSourceOptions) {
    this.#o = options;
    this.#prefix = options.prefix.replace(/^\/+/, '');
    // The account and container, not the endpoint: processed-file marks must survive a changed local port.
    this.id = `azure://${options.container.accountName}/${options.container.containerName}`;
  }

  #where(name: string): string {
    return `${this.id}/${name}`;
  }

  async list(): Promise<RemoteFile[]> {
    // `blobPrefix: "in"` with a virtual folder "in/" and no blob "in…" means the folder.
    const { files, prefix } = await listPrefix(this.#prefix, (p) => this.#list(p));
    this.#prefix = prefix;
    return files;
  }

  async #list(prefix: string): Promise<{ files: RemoteFile[]; folders: string[] }> {
    const folder = prefixFolder(prefix);
    const files: RemoteFile[] = [];
    const folders: string[] = [];
    try {
      // Pages of up to 5000 entries: the listing never holds more than one page besides the files it keeps.
      for await (const page of this.#o.container.listBlobsByHierarchy('/', { prefix }).byPage({ maxPageSize: 5000 })) {
        for (const b of page.segment.blobItems) {
          if (b.name.endsWith('/')) continue;
          files.push({
            name: b.name.slice(folder.length),
            path: b.name,
            size: b.properties.contentLength ?? 0,
            modifiedAt: b.properties.lastModified.getTime(),
            version: b.properties.etag,
          });
        }
        for (const p of page.segment.blobPrefixes ?? []) folders.push(p.name);
      }
    } catch (error) {
      throw azureFailure(error, 'listing', this.#where(prefix));
    }
    return { files, folders };
  }

  async open(file: RemoteFile, start: number): Promise<Readable> {
    try {
      const response = await this.#o.container.getBlobClient(file.path).download(start, undefined, {
        // A resumed read must continue the same version of the blob.
        ...(start > 0 && file.version ? { conditions: { ifMatch: file.version } } : {}),
      });
      return response.readableStreamBody as Readable;
    } catch (error) {
      throw azureFailure(error, 'reading', this.#where(file.path));
    }
  }

  async remove(file: RemoteFile): Promise<void> {
    try {
      await this.#o.container.getBlobClient(file.path).deleteIfExists();
    } catch (error) {
      throw azureFailure(error, 'deleting', this.#where(file.path));
    }
  }

  async move(file: RemoteFile): Promise<void> {
    const name = checkRelativeName(file.name, { allowFolders: false }).join('/');
    const to = `${this.#o.moveTo ?? ''}${name}`;
    try {
      // A server-side copy within the account: the bytes do not travel through the step.
      const source = this.#o.container.getBlobClient(file.path);
      const poller = await this.#o.container.getBlobClient(to).beginCopyFromURL(source.url);
      await poller.pollUntilDone();
    } catch (error) {
      throw azureFailure(error, 'moving', `${this.#where(file.path)} to ${to}`);
    }
    await this.remove(file);
  }

  async reset(): Promise<void> {
    // The SDK pools its own connections; nothing to drop.
  }

  isTransient(error: unknown): boolean {
    // A coded error knows its transience (set from the Azure failure it wraps); anything else is judged here.
    return isTransientAzureError(error);
  }
}

/** Options of {@link uploadBlockBlob}. */
export interface BlobUploadOptions {
  readonly blob: BlockBlobClient;
  readonly body: Readable;
  /** False: the commit fails when a blob of that name exists (If-None-Match: *). */
  readonly replace: boolean;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/** Bytes per staged block: 8 MiB blocks and 50,000 blocks allow blobs of up to 390 GiB. */
const BLOCK_SIZE = 8 * 1024 * 1024;

/**
 * Streams a body into a block blob: blocks are staged uncommitted and the blob appears under its name only when
 * the block list is committed, so a reader never sees a partial blob and a cut connection leaves nothing under
 * the name. Memory holds at most two blocks. Without `replace` a blob already there fails the commit with the
 * Azure codes `BlobAlreadyExists` / `ConditionNotMet` (the caller turns them into `IDX_TARGET_EXISTS`).
 */
export async function uploadBlockBlob(options: BlobUploadOptions): Promise<void> {
  await options.blob.uploadStream(options.body, BLOCK_SIZE, 2, {
    ...(options.replace ? {} : { conditions: { ifNoneMatch: '*' } }),
    ...(options.contentType ? { blobHTTPHeaders: { blobContentType: options.contentType } } : {}),
    ...(options.signal ? { abortSignal: options.signal } : {}),
  });
}

/** True when an upload failed only because a blob already held the name and replacing was not allowed. */
export function isBlobTaken(error: unknown): boolean {
  const code = azureErrorCode(error);
  return code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || statusOf(error) === 409;
}

/** The size of a blob, or undefined when there is none. */
export async function blobSize(blob: BlockBlobClient): Promise<number | undefined> {
  try {
    return (await blob.getProperties()).contentLength ?? 0;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}
