/**
 * An FTP / explicit FTPS server on loopback for tests (ftp-srv over a local folder), with fault injection: it
 * cuts the connection of a transfer after a number of bytes, the way a flaky network does, and can lose the end of
 * files renamed on it, the way a full disk does.
 */
import { mkdirSync, statSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Transform, Writable } from 'node:stream';
import { FileSystem, FtpSrv } from 'ftp-srv';
import { generate } from 'selfsigned';

/** Options of {@link startFtpServer}. */
export interface TestFtpServerOptions {
  readonly root: string;
  readonly users?: readonly { username: string; password: string }[];
  /** Offer AUTH TLS with a self-signed certificate. */
  readonly tls?: boolean;
  readonly faults?: {
    readonly closeAfterBytes?: number;
    readonly times?: number;
    /** Drop this many bytes from the end of every file renamed on the server: a target that loses data. */
    readonly truncateRenamedBy?: number;
  };
}

/** A running test FTP server. */
export interface TestFtpServer {
  readonly host: string;
  readonly port: number;
  /** SHA-256 fingerprint of the TLS certificate (hex with colons), when TLS is on. */
  readonly certificateFingerprint?: string;
  readonly cuts: number;
  /** Login attempts received. */
  readonly logins: number;
  close(): Promise<void>;
}

const quiet = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child() {
    return quiet;
  },
};

interface Connection {
  commandSocket?: { destroy(): void };
  connector?: { socket?: { destroy(): void } };
}

/** Starts the server on an ephemeral port. */
export async function startFtpServer(options: TestFtpServerOptions): Promise<TestFtpServer> {
  mkdirSync(options.root, { recursive: true });
  let cuts = 0;
  let logins = 0;
  let tls: { key: string; cert: string } | undefined;
  let fingerprint: string | undefined;
  if (options.tls) {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
    } as never);
    tls = { key: pems.private, cert: pems.cert };
    const { X509Certificate } = await import('node:crypto');
    fingerprint = new X509Certificate(pems.cert).fingerprint256;
  }
  const pasvMin = 40000 + Math.floor(Math.random() * 20000);
  const server = new FtpSrv({
    url: 'ftp://127.0.0.1:0',
    pasv_url: '127.0.0.1',
    pasv_min: pasvMin,
    pasv_max: pasvMin + 500,
    anonymous: false,
    greeting: 'test server',
    log: quiet as never,
    ...(tls ? { tls } : {}),
  });
  const users = options.users ?? [{ username: 'ops', password: 'pw-123456' }];

  /** Counts a transfer's bytes and cuts the whole connection once past the limit. */
  const counted = (connection: Connection, stream: NodeJS.ReadableStream | NodeJS.WritableStream, writing: boolean) => {
    const limit = options.faults?.closeAfterBytes;
    if (limit === undefined) return stream;
    let moved = 0;
    const check = (n: number) => {
      moved += n;
      if (moved > limit && cuts < (options.faults?.times ?? 1)) {
        cuts++;
        connection.connector?.socket?.destroy();
        connection.commandSocket?.destroy();
        return false;
      }
      return true;
    };
    if (writing) {
      const target = stream as NodeJS.WritableStream & { path?: string };
      // Finishes only when the file is on disk, so a client that checks the size right after sees all of it.
      const w = new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (!check(chunk.length)) return void target.end();
          if (target.write(chunk)) cb();
          else target.once('drain', () => cb());
        },
        final(cb) {
          target.once('finish', () => cb());
          target.end();
        },
      });
      // ftp-srv ends an upload by emitting "close" on streams that listen for it, as its own file streams do.
      w.once('close', () => w.end());
      return Object.assign(w, { path: target.path });
    }
    const t = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (check(chunk.length)) cb(null, chunk);
      },
    });
    (stream as NodeJS.ReadableStream).pipe(t);
    return t;
  };

  class FaultyFileSystem extends FileSystem {
    override write(fileName: string, opts?: { append?: boolean; start?: unknown }) {
      const out = super.write(fileName, opts) as { stream: NodeJS.WritableStream; clientPath: string };
      return { stream: counted(this.connection as Connection, out.stream, true), clientPath: out.clientPath };
    }
    override async rename(from: string, to: string) {
      await super.rename(from, to);
      const drop = options.faults?.truncateRenamedBy;
      if (drop === undefined) return;
      const { fsPath } = (this as unknown as { _resolvePath(p: string): { fsPath: string } })._resolvePath(to);
      await truncate(fsPath, Math.max(0, statSync(fsPath).size - drop));
    }
    override async read(fileName: string, opts?: { start?: unknown }) {
      const out = (await super.read(fileName, opts)) as { stream: NodeJS.ReadableStream; clientPath: string };
      return { stream: counted(this.connection as Connection, out.stream, false), clientPath: out.clientPath };
    }
  }

  server.on('login', ({ connection, username, password }, resolve, reject) => {
    logins++;
    const user = users.find((u) => u.username === username && u.password === password);
    if (!user) return reject(new Error('invalid login'));
    resolve({ fs: new FaultyFileSystem(connection as never, { root: options.root, cwd: '/' }) });
  });
  server.on('client-error', () => undefined);
  await server.listen();
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    host: '127.0.0.1',
    port: address.port,
    ...(fingerprint ? { certificateFingerprint: fingerprint } : {}),
    get cuts() {
      return cuts;
    },
    get logins() {
      return logins;
    },
    close: async () => {
      await server.close().catch(() => undefined);
    },
  };
}
