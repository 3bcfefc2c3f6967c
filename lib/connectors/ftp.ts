/**
 * An FTP and explicit FTPS client (basic-ftp): one lazily opened connection, dropped and reopened after a
 * failure; the TLS certificate optionally pinned and checked before the login is sent; paths
 * made absolute from the login folder because basic-ftp's folder creation changes the working folder.
 * {@link FtpFileSource} and {@link FtpFileTarget} plug it into the generic reader and writer.
 */
import { posix } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Client, FTPError } from 'basic-ftp';
import { IdxError } from '../core/errors.ts';
import { joinRemote } from './remote-path.ts';
import {
  ConnectedFolder,
  type FileSource,
  type FileTarget,
  NETWORK_ERROR_CODES,
  type RemoteFile,
  targetExists,
} from './transfer.ts';

/** Where and how to log in. Credentials are resolved values, never logged. */
export interface FtpEndpoint {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password?: string;
  /** `none`: plain FTP; `explicit`: AUTH TLS on the control connection, data connections protected too. */
  readonly secure: 'none' | 'explicit';
  /** SHA-256 fingerprint of the server certificate (hex, colons optional); set: a self-signed certificate is fine. */
  readonly certificateFingerprint?: string;
  readonly timeoutMs: number;
}

/** Normalizes a certificate fingerprint to upper-case hex without separators. */
export function normalizeCertificateFingerprint(value: string): string {
  return value
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
}

const NETWORK_TEXT =
  /socket|closed connection|FIN packet|timeout|connection (closed|lost|reset)|premature|ECONNRESET|EPIPE/i;

/** A lazily opened FTP connection that reopens after {@link reset}. */
export class FtpConnection {
  readonly #e: FtpEndpoint;
  #client: Client | undefined;
  #home = '/';
  #connecting: Promise<Client> | undefined;

  constructor(endpoint: FtpEndpoint) {
    this.#e = endpoint;
  }

  /** `ftp://user@host:port` (or `ftps://`): names the account in processed-file marks and messages. */
  get id(): string {
    return `${this.#e.secure === 'none' ? 'ftp' : 'ftps'}://${this.#e.username}@${this.#e.host}:${this.#e.port}`;
  }

  /** The login folder, known once connected. */
  get home(): string {
    return this.#home;
  }

  client(): Promise<Client> {
    if (this.#client && !this.#client.closed) return Promise.resolve(this.#client);
    this.#client = undefined;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Resolves a folder written relative to the login folder to an absolute one. */
  async absolute(folder: string): Promise<string> {
    await this.client();
    return folder.startsWith('/') ? folder : posix.join(this.#home, folder === '.' ? '' : folder);
  }

  async #connect(): Promise<Client> {
    const e = this.#e;
    const client = new Client(e.timeoutMs);
    const pinned = e.certificateFingerprint ? normalizeCertificateFingerprint(e.certificateFingerprint) : undefined;
    try {
      await client.connect(e.host, e.port);
      if (e.secure === 'explicit') {
        await client.useTLS({ host: e.host, ...(pinned ? { rejectUnauthorized: false } : {}) });
        if (pinned) {
          const seen = normalizeCertificateFingerprint(
            (client.ftp.socket as TLSSocket).getPeerCertificate().fingerprint256 ?? '',
          );
          if (seen !== pinned) {
            throw new IdxError(
              'IDX_FTP_CERTIFICATE_MISMATCH',
              `the TLS certificate of ${e.host}:${e.port} is not the pinned one; refusing to log in`,
              {
                param: 'certificateFingerprint',
                expected: pinned,
                received: seen,
              },
            );
          }
        }
      }
      await client.send('OPTS UTF8 ON').catch(() => undefined);
      await client.login(e.username || 'anonymous', e.password ?? '').catch((error: unknown) => {
        if (error instanceof FTPError && error.code >= 500) {
          throw new IdxError(
            'IDX_FTP_AUTH',
            `login as "${e.username}" on ${e.host}:${e.port} was refused (${error.code})`,
            {
              param: 'password',
              expected: 'credentials the server accepts',
              received: `FTP reply ${error.code}`,
            },
          );
        }
        throw error;
      });
      await client.useDefaultSettings();
      this.#home = await client.pwd();
    } catch (error) {
      client.close();
      if (error instanceof IdxError) throw error;
      if (error instanceof Error && /certificate|self.signed|unable to verify/i.test(error.message)) {
        throw new IdxError(
          'IDX_FTP_CERTIFICATE',
          `the TLS certificate of ${e.host}:${e.port} is not trusted: ${error.message}`,
          {
            param: 'certificateFingerprint',
            expected: 'a certificate from a trusted CA, or a pinned fingerprint',
            received: error.message,
          },
        );
      }
      throw error;
    }
    this.#client = client;
    return client;
  }

  async reset(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    c?.close();
  }

  async close(): Promise<void> {
    await this.reset();
  }

  isTransient(error: unknown): boolean {
    if (error instanceof IdxError) return error.transient;
    if (error instanceof FTPError) return error.code >= 400 && error.code < 500;
    const e = error as { code?: unknown; message?: string };
    if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
    return NETWORK_TEXT.test(e.message ?? '');
  }
}

/** True when an error is the server's "no such file" answer. */
function isMissing(error: unknown): boolean {
  return error instanceof FTPError && error.code === 550;
}

/** Renames, replacing the target: some servers refuse to rename over an existing file. */
async function renameReplacing(c: FtpConnection, from: string, to: string): Promise<void> {
  const client = await c.client();
  try {
    await client.rename(from, to);
  } catch (error) {
    if (!(error instanceof FTPError) || error.code < 500) throw error;
    await client.remove(to, true);
    await client.rename(from, to);
  }
}

/** The regular files of one FTP folder as a {@link FileSource}. */
export class FtpFileSource extends ConnectedFolder<FtpConnection> implements FileSource {
  async list(): Promise<RemoteFile[]> {
    const folder = await this.connection.absolute(this.root);
    const client = await this.connection.client();
    const entries = await client.list(folder);
    const files: RemoteFile[] = [];
    for (const e of entries.filter((x) => x.isFile)) {
      const path = posix.join(folder, e.name);
      // LIST gives minutes at best; MDTM gives the second, which the processed-file memory compares.
      let modifiedAt = e.modifiedAt?.getTime();
      if (modifiedAt === undefined)
        modifiedAt = await client.lastMod(path).then(
          (d) => d.getTime(),
          () => Date.parse(e.rawModifiedAt) || 0,
        );
      files.push({ name: e.name, path, size: e.size, modifiedAt });
    }
    return files;
  }

  async open(file: RemoteFile, start: number): Promise<Readable> {
    const client = await this.connection.client();
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    // basic-ftp ends its destination even when the transfer fails, so it writes into a forwarder whose end
    // means nothing; the outcome of the transfer decides whether the stream ends or fails.
    const forward = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (out.destroyed) return cb(new Error('the download was abandoned'));
        if (out.write(chunk)) return cb();
        const resume = () => {
          out.off('drain', resume);
          out.off('close', resume);
          cb(out.destroyed ? new Error('the download was abandoned') : null);
        };
        out.on('drain', resume);
        out.on('close', resume);
      },
    });
    client.downloadTo(forward, file.path, start).then(
      () => out.end(),
      (error: unknown) => out.destroy(error as Error),
    );
    return out;
  }

  async remove(file: RemoteFile): Promise<void> {
    const client = await this.connection.client();
    await client.remove(file.path).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  async move(file: RemoteFile): Promise<void> {
    const folder = await this.connection.absolute(this.moveTo ?? this.root);
    const client = await this.connection.client();
    await client.ensureDir(folder);
    await renameReplacing(this.connection, file.path, joinRemote(folder, file.name, { allowFolders: false }));
  }
}

/** An FTP folder as a {@link FileTarget}. Paths it receives are absolute or relative to the login folder. */
export class FtpFileTarget extends ConnectedFolder<FtpConnection> implements FileTarget {
  async upload(path: string, body: Readable): Promise<void> {
    const target = await this.connection.absolute(path);
    const client = await this.connection.client();
    // STOR replaces a file of the same name, including a stale temporary file from a crashed run.
    await client.uploadFrom(body, target);
  }

  async rename(from: string, to: string, replace: boolean): Promise<void> {
    const [source, target] = [await this.connection.absolute(from), await this.connection.absolute(to)];
    if (replace) return renameReplacing(this.connection, source, target);
    // RNTO replaces an existing file on most servers and FTP has no conditional rename: the target is checked
    // just before, which leaves a window of one round trip in which another client's file could be replaced.
    if ((await this.size(to)) !== undefined) throw targetExists(to);
    const client = await this.connection.client();
    await client.rename(source, target);
  }

  async remove(path: string): Promise<void> {
    const target = await this.connection.absolute(path);
    const client = await this.connection.client();
    await client.remove(target, true);
  }

  async size(path: string): Promise<number | undefined> {
    const target = await this.connection.absolute(path);
    const client = await this.connection.client();
    return client.size(target).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
  }

  async ensureFolder(path: string): Promise<void> {
    const target = await this.connection.absolute(path);
    const client = await this.connection.client();
    await client.ensureDir(target);
  }
}
