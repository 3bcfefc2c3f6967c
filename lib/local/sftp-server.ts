/**
 * The embedded SFTP server of local mode: ssh2's server over a plain local folder, so a developer drops files
 * into `.idx/sftp/` and reads results from it. Password and public-key logins; a host key created once and kept,
 * so its fingerprint can be pinned like a real server's. It behaves like OpenSSH where clients notice (a plain
 * rename does not replace an existing file) and can cut connections after a number of bytes to test recovery.
 */
import { timingSafeEqual } from 'node:crypto';
import { constants, existsSync, promises as fsp, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, posix, resolve, sep } from 'node:path';
import ssh2, { type AuthContext, type Connection, type ParsedKey, type SFTPWrapper } from 'ssh2';
import { LOCAL_SFTP_PASSWORD, LOCAL_SFTP_USERNAME, noDelay, sshFingerprint } from '../connectors/ssh-basics.ts';
import type { SftpAddress } from '../core/services.ts';
import type { LocalExtra } from './environment.ts';

// ssh2 is CommonJS: take its members from the default export.
const { Server, utils } = ssh2;
const { OPEN_MODE, STATUS_CODE } = utils.sftp;

/** A login of the embedded server. */
export interface SftpUser {
  readonly username: string;
  readonly password?: string;
  /** An OpenSSH public key line (`ssh-ed25519 AAAA…`) or PEM. */
  readonly publicKey?: string;
}

/** Options of {@link startSftpServer}. */
export interface SftpServerOptions {
  /** The folder served as `/`; created when missing. */
  readonly root: string;
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** Private host key file; generated (ed25519) on first start and reused afterwards. */
  readonly hostKeyPath: string;
  /** @default the local user `idx` / `idx` */
  readonly users?: readonly SftpUser[];
  /** Fault injection for tests. */
  readonly faults?: {
    /** Cut a connection (destroy its socket) once it has moved this many file bytes, reading or writing. */
    readonly closeAfterBytes?: number;
    /** How many connections to cut. @default 1 */
    readonly times?: number;
    /** Drop this many bytes from the end of every file renamed on the server: a target that loses data. */
    readonly truncateRenamedBy?: number;
    /**
     * Answer each READ and WRITE this many milliseconds after it arrived, as a server across a network would: a
     * client that waits for each answer before its next request moves one request per round trip.
     */
    readonly answerDelayMs?: number;
    /** Answer a READ with at most this many bytes, fewer than asked for (SFTP allows short reads). */
    readonly maxReadBytes?: number;
  };
}

/** What the embedded server saw of the requests of its file transfers. */
export interface SftpTraffic {
  /** The most READ requests that were waiting for their answer at once. */
  readonly peakReadsInFlight: number;
  /** The most WRITE requests that were waiting for their answer at once. */
  readonly peakWritesInFlight: number;
  /** Files open now through a handle (a client that stopped reading must still close its handle). */
  readonly openFiles: number;
}

/** The server's running counts behind {@link SftpTraffic}: with the reads and writes in flight now. */
type TrafficCounters = { -readonly [K in keyof SftpTraffic]: number } & { reads: number; writes: number };

/** A running embedded SFTP server; its host key is always known. */
export interface SftpServer extends Required<Omit<SftpAddress, 'label'>> {
  /** Connections cut by fault injection so far. */
  readonly cuts: number;
  /** Authentication requests received so far (a client that refused the host key sends none). */
  readonly authAttempts: number;
  /** What the file transfers of every connection so far looked like. */
  readonly traffic: SftpTraffic;
  close(): Promise<void>;
}

/**
 * An ed25519 key pair in OpenSSH format that ssh2 can read back. ssh2's generator drops the leading zero bytes of
 * a public key that starts with one (about 1 key in 256), and its own parser then rejects the pair as malformed
 * (mscdex/ssh2 issues 1390 and 1513); such a pair is generated again.
 */
export function generateSshKeyPair(options: Parameters<typeof utils.generateKeyPairSync>[1] = {}): {
  private: string;
  public: string;
} {
  for (;;) {
    const keys = utils.generateKeyPairSync('ed25519', options);
    const unreadable = [keys.public, keys.private].some((k) => {
      const passphrase = (options as { passphrase?: string }).passphrase;
      const parsed = utils.parseKey(k, passphrase);
      return parsed instanceof Error;
    });
    if (!unreadable) return keys;
  }
}

/** Reads the host key, creating it on first use (mode 600). */
function hostKey(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    const keys = generateSshKeyPair({ comment: 'identity-sync local sftp' });
    writeFileSync(path, keys.private, { mode: 0o600 });
  }
  return readFileSync(path);
}

function parse(key: string | Buffer): ParsedKey {
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error) throw parsed;
  return Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Decides one authentication request: password or public key of a known user. */
function allowed(ctx: AuthContext, users: readonly SftpUser[]): boolean {
  const user = users.find((u) => u.username === ctx.username);
  if (!user) return false;
  if (ctx.method === 'password' && user.password !== undefined) {
    return same(Buffer.from(ctx.password), Buffer.from(user.password));
  }
  if (ctx.method === 'publickey' && user.publicKey) {
    const key = parse(user.publicKey);
    if (ctx.key.algo !== key.type || !same(ctx.key.data, key.getPublicSSH())) return false;
    // Without a signature the client only asks whether the key would do; with one, it proves it holds the key.
    return !ctx.signature || key.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true;
  }
  return false;
}

/** fs open flags for SFTP open flags. */
function openFlags(flags: number): number {
  const read = (flags & OPEN_MODE.READ) !== 0;
  const write = (flags & OPEN_MODE.WRITE) !== 0;
  let out = read && write ? constants.O_RDWR : write ? constants.O_WRONLY : constants.O_RDONLY;
  if (flags & OPEN_MODE.APPEND) out |= constants.O_APPEND;
  if (flags & OPEN_MODE.CREAT) out |= constants.O_CREAT;
  if (flags & OPEN_MODE.TRUNC) out |= constants.O_TRUNC;
  if (flags & OPEN_MODE.EXCL) out |= constants.O_EXCL;
  return out;
}

function attrsOf(st: import('node:fs').Stats) {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An `ls -l` line, which clients parse for the entry type. */
function longname(name: string, st: import('node:fs').Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
  const perms = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x']
    .map((c, i) => (st.mode & (0o400 >> i) ? c : '-'))
    .join('');
  const d = st.mtime;
  const when = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return `${type}${perms} 1 idx idx ${String(st.size).padStart(8, ' ')} ${when} ${name}`;
}

type Handle =
  | { kind: 'file'; fd: import('node:fs/promises').FileHandle }
  | { kind: 'dir'; path: string; done: boolean };

/** Maps errno codes to SFTP status codes. */
function statusOf(error: unknown): number {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return STATUS_CODE.NO_SUCH_FILE;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EOUTSIDE') return STATUS_CODE.PERMISSION_DENIED;
  return STATUS_CODE.FAILURE;
}

/** Serves one SFTP session confined to `root`. */
function serve(
  sftp: SFTPWrapper,
  root: string,
  onBytes: (n: number) => boolean,
  faults: SftpServerOptions['faults'] = {},
  traffic: TrafficCounters,
): void {
  /** Runs `answer` once the request is `answerDelayMs` old, counting it in flight until then. */
  const inFlight = (kind: 'reads' | 'writes', work: Promise<unknown>, answer: () => void): void => {
    traffic[kind]++;
    if (kind === 'reads') traffic.peakReadsInFlight = Math.max(traffic.peakReadsInFlight, traffic.reads);
    else traffic.peakWritesInFlight = Math.max(traffic.peakWritesInFlight, traffic.writes);
    const delay = faults.answerDelayMs ?? 0;
    const due = delay > 0 ? new Promise((r) => setTimeout(r, delay)) : undefined;
    void Promise.allSettled(due ? [work, due] : [work]).then(() => {
      traffic[kind]--;
      answer();
    });
  };
  const handles = new Map<number, Handle>();
  let next = 1;

  /** Virtual `/a/b` → real path under root; `..` cannot climb above `/`, symlinks cannot leave root. */
  const real = (virtual: string): string => {
    const v = posix.normalize(posix.join('/', virtual));
    const p = resolve(root, `.${v}`);
    let probe = p;
    while (!existsSync(probe) && probe !== root) probe = dirname(probe);
    const r = realpathSync(probe);
    if (r !== root && !r.startsWith(root + sep)) throw Object.assign(new Error('outside root'), { code: 'EOUTSIDE' });
    return p;
  };
  const virtualOf = (virtual: string) => posix.normalize(posix.join('/', virtual));
  const handleOf = (buf: Buffer) => (buf.length === 4 ? handles.get(buf.readUInt32BE(0)) : undefined);
  const newHandle = (h: Handle) => {
    const id = next++;
    handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id, 0);
    return buf;
  };
  const fail = (reqid: number) => (error: unknown) => {
    try {
      sftp.status(reqid, statusOf(error));
    } catch {
      // The channel is gone.
    }
  };

  sftp.on('OPEN', (reqid, filename, flags) => {
    Promise.resolve()
      .then(() => fsp.open(real(filename), openFlags(flags), 0o644))
      .then((fd) => {
        traffic.openFiles++;
        sftp.handle(reqid, newHandle({ kind: 'file', fd }));
      }, fail(reqid));
  });
  sftp.on('READ', (reqid, handle, offset, length) => {
    const h = handleOf(handle);
    if (h?.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE);
    const buf = Buffer.alloc(Math.min(length, 256 * 1024, faults.maxReadBytes ?? Number.POSITIVE_INFINITY));
    const work = h.fd.read(buf, 0, buf.length, offset);
    inFlight('reads', work, () =>
      work.then(({ bytesRead }) => {
        if (bytesRead === 0) return sftp.status(reqid, STATUS_CODE.EOF);
        if (!onBytes(bytesRead)) return;
        sftp.data(reqid, buf.subarray(0, bytesRead));
      }, fail(reqid)),
    );
  });
  sftp.on('WRITE', (reqid, handle, offset, data) => {
    const h = handleOf(handle);
    if (h?.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE);
    if (!onBytes(data.length)) return;
    const work = h.fd.write(data, 0, data.length, offset);
    inFlight('writes', work, () => work.then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid)));
  });
  sftp.on('CLOSE', (reqid, handle) => {
    const h = handleOf(handle);
    if (!h) return sftp.status(reqid, STATUS_CODE.FAILURE);
    handles.delete(handle.readUInt32BE(0));
    if (h.kind === 'dir') return sftp.status(reqid, STATUS_CODE.OK);
    traffic.openFiles--;
    h.fd.close().then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
  });
  sftp.on('FSTAT', (reqid, handle) => {
    const h = handleOf(handle);
    if (h?.kind !== 'file') return sftp.status(reqid, STATUS_CODE.FAILURE);
    h.fd.stat().then((st) => sftp.attrs(reqid, attrsOf(st)), fail(reqid));
  });
  const stat = (lstat: boolean) => (reqid: number, path: string) => {
    Promise.resolve()
      .then(() => (lstat ? fsp.lstat(real(path)) : fsp.stat(real(path))))
      .then((st) => sftp.attrs(reqid, attrsOf(st)), fail(reqid));
  };
  sftp.on('STAT', stat(false));
  sftp.on('LSTAT', stat(true));
  sftp.on('SETSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.OK));
  sftp.on('FSETSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.OK));
  sftp.on('OPENDIR', (reqid, path) => {
    Promise.resolve()
      .then(async () => {
        const p = real(path);
        if (!(await fsp.stat(p)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
        return p;
      })
      .then((p) => sftp.handle(reqid, newHandle({ kind: 'dir', path: p, done: false })), fail(reqid));
  });
  sftp.on('READDIR', (reqid, handle) => {
    const h = handleOf(handle);
    if (h?.kind !== 'dir') return sftp.status(reqid, STATUS_CODE.FAILURE);
    if (h.done) return sftp.status(reqid, STATUS_CODE.EOF);
    h.done = true;
    (async () => {
      const names = await fsp.readdir(h.path);
      const entries = [];
      for (const name of names) {
        const st = await fsp.lstat(join(h.path, name)).catch(() => undefined);
        if (st) entries.push({ filename: name, longname: longname(name, st), attrs: attrsOf(st) });
      }
      return entries;
    })().then(
      (entries) => (entries.length ? sftp.name(reqid, entries) : sftp.status(reqid, STATUS_CODE.EOF)),
      fail(reqid),
    );
  });
  sftp.on('REMOVE', (reqid, path) => {
    Promise.resolve()
      .then(() => fsp.unlink(real(path)))
      .then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
  });
  sftp.on('RMDIR', (reqid, path) => {
    Promise.resolve()
      .then(() => fsp.rmdir(real(path)))
      .then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
  });
  sftp.on('MKDIR', (reqid, path) => {
    Promise.resolve()
      .then(() => fsp.mkdir(real(path)))
      .then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
  });
  sftp.on('RENAME', (reqid, from, to) => {
    Promise.resolve()
      .then(async () => {
        const target = real(to);
        // OpenSSH's plain rename refuses to replace a file; clients that need to must remove it first.
        if (existsSync(target)) throw Object.assign(new Error('target exists'), { code: 'EEXIST' });
        await fsp.rename(real(from), target);
        const drop = faults.truncateRenamedBy;
        if (drop !== undefined) await fsp.truncate(target, Math.max(0, (await fsp.stat(target)).size - drop));
      })
      .then(() => sftp.status(reqid, STATUS_CODE.OK), fail(reqid));
  });
  sftp.on('REALPATH', (reqid, path) => {
    const v = virtualOf(path);
    sftp.name(reqid, [{ filename: v, longname: v, attrs: {} as never }]);
  });
  sftp.on('close', () => {
    for (const h of handles.values()) {
      if (h.kind !== 'file') continue;
      traffic.openFiles--;
      void h.fd.close().catch(() => undefined);
    }
    handles.clear();
  });
}

/** Starts the embedded SFTP server on loopback. */
export async function startSftpServer(options: SftpServerOptions): Promise<SftpServer> {
  mkdirSync(options.root, { recursive: true });
  const root = realpathSync(options.root);
  const key = hostKey(options.hostKeyPath);
  const fingerprint = sshFingerprint(parse(key).getPublicSSH());
  const users = options.users ?? [{ username: LOCAL_SFTP_USERNAME, password: LOCAL_SFTP_PASSWORD }];
  const connections = new Set<Connection>();
  let cuts = 0;
  let authAttempts = 0;
  const traffic: TrafficCounters = { reads: 0, writes: 0, peakReadsInFlight: 0, peakWritesInFlight: 0, openFiles: 0 };
  const server = new Server({ hostKeys: [key] }, (client) => {
    connections.add(client);
    noDelay((client as unknown as { _sock?: { setNoDelay?: (on: boolean) => unknown } })._sock);
    let moved = 0;
    let cut = false;
    // Returns false when this connection has just been cut.
    const onBytes = (n: number): boolean => {
      const limit = options.faults?.closeAfterBytes;
      if (cut) return false;
      moved += n;
      if (limit !== undefined && moved > limit && cuts < (options.faults?.times ?? 1)) {
        cut = true;
        cuts++;
        (client as unknown as { _sock: { destroy(): void } })._sock.destroy();
        return false;
      }
      return true;
    };
    client.on('authentication', (ctx) => {
      authAttempts++;
      if (allowed(ctx, users)) ctx.accept();
      else ctx.reject(['password', 'publickey']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        // A client that vanishes fails its open channels; that is the client's business, not the server's.
        session.on('error', () => undefined);
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on('error', () => undefined);
          serve(sftp, root, onBytes, options.faults, traffic);
        });
      });
    });
    client.on('error', () => undefined);
    client.on('close', () => connections.delete(client));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(options.port ?? 0, host, () => res());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    hostKeyFingerprint: fingerprint,
    get cuts() {
      return cuts;
    },
    get authAttempts() {
      return authAttempts;
    },
    get traffic() {
      const { peakReadsInFlight, peakWritesInFlight, openFiles } = traffic;
      return { peakReadsInFlight, peakWritesInFlight, openFiles };
    },
    close: () =>
      new Promise<void>((res) => {
        for (const c of connections) c.end();
        server.close(() => res());
      }),
  };
}

/**
 * How the embedded SFTP server is named in processed-file marks and delivered file names
 * (`sftp://idx@embedded/to-eloqua/x.csv`): the same across runs, whatever port the server listens on.
 */
export const EMBEDDED_SFTP_LABEL = 'embedded';

/**
 * The embedded SFTP server as a stand-in of the local environment: the folder `<dir>/sftp/` served as `/`, the
 * host key kept in `<dir>/sftp-host-key`, the local login. Steps with an empty host use it.
 */
export function sftpExtra(options: { port?: number; users?: readonly SftpUser[] } = {}): LocalExtra {
  const start: LocalExtra = async ({ dir, thread }) => {
    const root = join(dir, 'sftp');
    const init = {
      root,
      hostKeyPath: join(dir, 'sftp-host-key'),
      ...(options.port === undefined ? {} : { port: options.port }),
    };
    // Other users than the local login are for tests, which run the server here; the thread serves the local login.
    const server =
      thread && !options.users
        ? await thread.start('sftp', init)
        : await startSftpServer({ ...init, ...(options.users ? { users: options.users } : {}) });
    const { host, port, hostKeyFingerprint } = 'facts' in server ? server.facts : server;
    return {
      endpoints: {
        sftp: {
          host,
          port,
          hostKeyFingerprint,
          // The port changes every run; processed-file marks and file names must not.
          label: EMBEDDED_SFTP_LABEL,
        },
      },
      close: () => server.close(),
      info: {
        sftp: `sftp://${LOCAL_SFTP_USERNAME}@${host}:${port} (password ${LOCAL_SFTP_PASSWORD}) serving ${root}`,
      },
    };
  };
  return Object.assign(start, { provides: ['sftp'] as const });
}
