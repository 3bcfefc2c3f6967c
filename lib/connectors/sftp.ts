/**
 * An SFTP client (ssh2-sftp-client over ssh2): one lazily opened connection, dropped and reopened after a
 * failure; host key pinning checked before any credential or byte is sent; reads and writes as streams, with many
 * requests in flight (./sftp-pipelined.ts).
 * {@link SftpFileSource} and {@link SftpFileTarget} plug it into the generic transfers of ./transfer.ts. Which
 * server a step reaches (local mode's embedded one included) is decided in lib/scripts/util/sftp-folder.ts.
 */
import type { Readable } from 'node:stream';
import ssh2, { type SFTPWrapper } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { SftpAddress } from '../core/services.ts';
import { joinRemote } from './remote-path.ts';
import { pipelinedReadStream, pipelinedUpload } from './sftp-pipelined.ts';
import { noDelay, sshFingerprint } from './ssh-basics.ts';
import { ConnectedFolder, type FileSource, type FileTarget, NETWORK_ERROR_CODES, type RemoteFile } from './transfer.ts';

/** Cipher preference of SFTP connections: hardware-accelerated AES first, chacha20-poly1305 only as a fallback. */
export const SFTP_CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
  'chacha20-poly1305@openssh.com',
];

/** Where and how to log in. Credentials are resolved values, never logged. */
export interface SftpEndpoint extends SftpAddress {
  readonly username: string;
  readonly password?: string;
  /** PEM / OpenSSH private key text. */
  readonly privateKey?: string;
  readonly passphrase?: string;
  /** Connection and idle timeout. */
  readonly timeoutMs: number;
  /** Names the server in {@link SftpConnection.id} instead of host:port (a server whose port is not stable). */
  readonly label?: string;
}

/** The SFTP session ssh2-sftp-client keeps on a connected client (not part of its typed API); none before it connects. */
function sessionOf(client: SftpClient): SFTPWrapper | undefined {
  return (client as unknown as { sftp?: SFTPWrapper }).sftp;
}

/** Normalizes a pinned fingerprint written as `SHA256:b64`, bare base64, or hex with or without colons. */
export function normalizeFingerprint(value: string): string {
  const v = value.trim().replace(/^SHA256:/i, '');
  const hex = v.replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex)) return `SHA256:${Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '')}`;
  return `SHA256:${v.replace(/=+$/, '')}`;
}

/** Besides a dropped connection, ssh2's own codes of a connection that went away under an operation. */
const NETWORK_CODES = new Set([...NETWORK_ERROR_CODES, 'ENETDOWN', 'ERR_NOT_CONNECTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const NETWORK_TEXT =
  /unexpected (end|close)|connection lost|not connected|no sftp connection|socket|timed out|timeout|closed|ECONNRESET|EPIPE|premature/i;

/** A lazily opened SFTP connection that reopens after {@link reset}. */
export class SftpConnection {
  readonly #endpoint: SftpEndpoint;
  readonly #log: Logger;
  #client: SftpClient | undefined;
  #connecting: Promise<SftpClient> | undefined;
  /** Set when the current connection closed or failed; an operation failing then failed for that reason. */
  #lost = false;
  #warned = false;

  constructor(endpoint: SftpEndpoint, log: Logger) {
    this.#endpoint = endpoint;
    this.#log = log;
  }

  /** `sftp://user@host:port` (or `sftp://user@label`): names the account in processed-file marks and messages. */
  get id(): string {
    const e = this.#endpoint;
    return `sftp://${e.username}@${e.label ?? `${e.host}:${e.port}`}`;
  }

  /** The open client, connecting first when needed. */
  client(): Promise<SftpClient> {
    if (this.#client && !this.#lost) return Promise.resolve(this.#client);
    if (this.#lost) void this.reset();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<SftpClient> {
    const e = this.#endpoint;
    if (e.privateKey) checkPrivateKey(e.privateKey, e.passphrase, e.host, e.port);
    // The library prints unexpected closes to the console by default; here they only mark the connection lost.
    const onLost = () => {
      if (this.#client === client) this.#lost = true;
    };
    const client: SftpClient = new SftpClient('identity-sync', { error: onLost, end: onLost, close: onLost } as never);
    // The library's own listeners stand aside while an operation runs; this one always sees the socket go.
    const raw = (client as unknown as { client: { on(event: string, listener: () => void): void } }).client;
    for (const event of ['end', 'close', 'error']) raw.on(event, onLost);
    const pinned = e.hostKeyFingerprint ? normalizeFingerprint(e.hostKeyFingerprint) : undefined;
    let seen: string | undefined;
    try {
      await client.connect({
        host: e.host,
        port: e.port,
        username: e.username,
        ...(e.password ? { password: e.password } : {}),
        ...(e.privateKey ? { privateKey: e.privateKey } : {}),
        ...(e.passphrase ? { passphrase: e.passphrase } : {}),
        readyTimeout: e.timeoutMs,
        // AES ciphers run in Node's OpenSSL; ssh2's default first choice, chacha20-poly1305, falls back to
        // JavaScript without its optional native add-on (never present in Lambda) and moves 200 MB ten times slower.
        algorithms: { cipher: SFTP_CIPHERS as never },
        keepaliveInterval: Math.max(1000, Math.floor(e.timeoutMs / 3)),
        keepaliveCountMax: 3,
        // Runs before authentication: a wrong key refuses the server before a password or a byte is sent.
        hostVerifier: (key: Buffer) => {
          seen = sshFingerprint(key);
          return pinned === undefined || seen === pinned;
        },
      });
      noDelay((client as unknown as { client: { _sock?: { setNoDelay?: (on: boolean) => unknown } } }).client._sock);
    } catch (error) {
      void client.end().catch(() => undefined);
      if (pinned !== undefined && seen !== undefined && seen !== pinned) {
        throw new IdxError(
          'IDX_SFTP_HOST_KEY_MISMATCH',
          `the host key of ${e.host}:${e.port} is not the pinned one; refusing to connect`,
          {
            param: 'hostKeyFingerprint',
            expected: pinned,
            received: seen,
          },
        );
      }
      const level = (error as { level?: string }).level;
      if (level === 'client-authentication' || /authentication|auth methods/i.test((error as Error).message)) {
        throw new IdxError('IDX_SFTP_AUTH', `login as "${e.username}" on ${e.host}:${e.port} was refused`, {
          param: e.privateKey ? 'privateKey' : 'password',
          expected: 'credentials the server accepts',
          received: 'an authentication failure',
        });
      }
      throw error;
    }
    if (pinned === undefined && !this.#warned) {
      this.#warned = true;
      this.#log.warn(
        `the host key of ${e.host}:${e.port} is not pinned (it is ${seen}); set hostKeyFingerprint to refuse an impostor server`,
      );
    }
    this.#lost = false;
    this.#client = client;
    return client;
  }

  /** The open connection's SFTP session itself, for transfers with many requests in flight (sftp-pipelined.ts). */
  async session(): Promise<SFTPWrapper> {
    const sftp = sessionOf(await this.client());
    if (!sftp) throw Object.assign(new Error('no SFTP session on the connection'), { code: 'ERR_NOT_CONNECTED' });
    return sftp;
  }

  /** True when the SFTP server supports replacing renames (OpenSSH's posix-rename extension). */
  async hasPosixRename(): Promise<boolean> {
    const ext = (sessionOf(await this.client()) as { _extensions?: Record<string, string> } | undefined)?._extensions;
    return 'posix-rename@openssh.com' in (ext ?? {});
  }

  /** Drops the connection (after a failure); the next call connects afresh. */
  async reset(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    this.#lost = false;
    if (!c) return;
    // A dead connection may never answer a polite end; destroy the socket instead.
    const raw = c as unknown as { client?: { destroy?: () => void }; sftp?: unknown };
    raw.client?.destroy?.();
    raw.sftp = undefined;
  }

  /** Closes the connection at the end of the step. */
  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    await Promise.race([c.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    (c as unknown as { client?: { destroy?: () => void } }).client?.destroy?.();
  }

  /** True when an error may go away with a new connection. */
  isTransient(error: unknown): boolean {
    if (error instanceof IdxError) return error.transient;
    if (this.#lost) return true;
    const e = error as { code?: unknown; level?: string; message?: string };
    if (e.level === 'client-socket' || e.level === 'client-timeout') return true;
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
    // SFTP status codes (numbers: no such file, permission denied, failure) are the server's answer, not a drop.
    if (typeof e.code === 'number') return false;
    return NETWORK_TEXT.test(e.message ?? '');
  }
}

/** The regular files of one SFTP folder as a {@link FileSource}. */
export class SftpFileSource extends ConnectedFolder<SftpConnection> implements FileSource {
  async list(): Promise<RemoteFile[]> {
    const client = await this.connection.client();
    const entries = await client.list(this.root);
    return entries
      .filter((e) => e.type === '-')
      .map((e) => ({
        name: e.name,
        // Unsafe names are refused by the reader before use; the path is only built for safe ones.
        path: this.root === '.' ? e.name : `${this.root === '/' ? '' : this.root}/${e.name}`,
        size: e.size,
        modifiedAt: e.modifyTime,
      }));
  }

  async open(file: RemoteFile, start: number): Promise<Readable> {
    return pipelinedReadStream(await this.connection.session(), file.path, start);
  }

  async remove(file: RemoteFile): Promise<void> {
    const client = await this.connection.client();
    await client.delete(file.path, true);
  }

  async move(file: RemoteFile): Promise<void> {
    const folder = this.moveTo ?? this.root;
    const client = await this.connection.client();
    if (folder !== '.' && folder !== '/' && !(await client.exists(folder))) await client.mkdir(folder, true);
    await renameReplacing(this.connection, file.path, joinRemote(folder, file.name, { allowFolders: false }));
  }
}

/** Renames, replacing the target: atomically where the server has posix-rename, else remove then rename. */
async function renameReplacing(c: SftpConnection, from: string, to: string): Promise<void> {
  const client = await c.client();
  if (await c.hasPosixRename()) {
    await client.posixRename(from, to);
    return;
  }
  if (await client.exists(to)) await client.delete(to, true);
  await client.rename(from, to);
}

/** An SFTP folder as a {@link FileTarget}. */
export class SftpFileTarget extends ConnectedFolder<SftpConnection> implements FileTarget {
  async upload(path: string, body: Readable): Promise<void> {
    // Flags "w": create or truncate, so a stale temporary file from a crashed run is overwritten.
    await pipelinedUpload(await this.connection.session(), path, body, 0o644);
  }

  async rename(from: string, to: string, replace: boolean): Promise<void> {
    if (replace) return renameReplacing(this.connection, from, to);
    // SSH_FXP_RENAME fails when the target exists (draft-ietf-secsh-filexfer-02 §6.5, as OpenSSH does it): the
    // check and the rename are one step on the server, so no other job's file can be replaced in between.
    const client = await this.connection.client();
    await client.rename(from, to);
  }

  async remove(path: string): Promise<void> {
    const client = await this.connection.client();
    await client.delete(path, true);
  }

  async size(path: string): Promise<number | undefined> {
    const client = await this.connection.client();
    if (!(await client.exists(path))) return undefined;
    return (await client.stat(path)).size;
  }

  async ensureFolder(path: string): Promise<void> {
    const client = await this.connection.client();
    if (!(await client.exists(path))) await client.mkdir(path, true);
  }
}

/**
 * Refuses a private key that cannot be read, or a passphrase that does not decrypt it, before connecting: a
 * credential error of its own, never retried, never a transfer error. ssh2's reasons name the problem, not the
 * key, so they can be shown.
 */
function checkPrivateKey(privateKey: string, passphrase: string | undefined, host: string, port: number): void {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase);
  if (!(parsed instanceof Error)) return;
  const reason = parsed.message;
  const aboutPassphrase = /passphrase/i.test(reason);
  throw new IdxError(
    'IDX_SFTP_PRIVATE_KEY',
    aboutPassphrase
      ? `the private key for ${host}:${port} cannot be decrypted: ${reason}`
      : `the private key for ${host}:${port} cannot be read: ${reason}`,
    {
      param: aboutPassphrase ? 'passphrase' : 'privateKey',
      expected: aboutPassphrase
        ? 'the passphrase of the private key'
        : 'a private key in OpenSSH, PEM (RSA, ECDSA, Ed25519) or PuTTY format, as text or base64',
      received: reason,
      transient: false,
    },
  );
}
