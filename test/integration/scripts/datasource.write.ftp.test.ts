import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { datasourceWriteFtp } from '../../../lib/scripts/datasource.write.ftp.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { startFtpServer, type TestFtpServer } from '../../support/ftp-server.ts';
import { useLocalEnvironment } from '../../support/local.ts';

let dir: string;
const servers: TestFtpServer[] = [];
const secrets = { FTP_PW: 'pw-123456' };
const environment = useLocalEnvironment();

/**
 * Services over the local environment with these secrets, and a job of its own: writers claim their targets per
 * job in the state table, so every run is a job apart unless a test says otherwise.
 */
function local(values: Record<string, string>, jobId: string = randomUUID()) {
  return {
    services: createServices(environment.env.config, new LocalSecretResolver({ env: {}, values })),
    job: { id: jobId },
  };
}

function tree(root: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.isDirectory()) Object.assign(out, tree(join(root, e.name), `${prefix}${e.name}/`));
    else out[`${prefix}${e.name}`] = readFileSync(join(root, e.name), 'utf8');
  }
  return out;
}

async function server(name: string, options: Partial<Parameters<typeof startFtpServer>[0]> = {}) {
  const root = join(dir, name);
  const s = await startFtpServer({ root, ...options });
  servers.push(s);
  return { server: s, root, params: { host: s.host, port: s.port, username: 'ops', password: '${secret:FTP_PW}' } };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'idx-ftp-write-'));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.write.ftp', () => {
  it('uploads every file into remotePath through a temporary name, replacing older files when overwrite is true', async () => {
    // Prepare
    const { root, params } = await server('plain');
    mkdirSync(join(root, 'in'));
    writeFileSync(join(root, 'in', 'a.csv'), 'old');
    writeFileSync(join(root, 'in', 'a.csv.uploading'), 'stale');

    // Act
    const out = await runScript(
      datasourceWriteFtp,
      { ...params, remotePath: 'in', overwrite: true },
      {
        ...local(secrets),
        files: [
          { name: 'a.csv', content: 'new' },
          { name: 'success/b.json', content: '{}' },
        ],
      },
    );

    // Assess
    expect(tree(root)).toEqual({ 'in/a.csv': 'new', 'in/success/b.json': '{}' });
    expect(out.trace.join('\n')).toContain(`uploaded ftp://ops@127.0.0.1:${params.port}/in/a.csv (3 bytes)`);
  });

  it('uploads over explicit FTPS to a server whose self-signed certificate is pinned', async () => {
    // Prepare
    const { server: s, root, params } = await server('tls', { tls: true });

    // Act
    await runScript(
      datasourceWriteFtp,
      { ...params, secure: 'explicit', certificateFingerprint: s.certificateFingerprint },
      { ...local(secrets), files: [{ name: 't.csv', content: 'T' }] },
    );

    // Assess
    expect(tree(root)).toEqual({ 't.csv': 'T' });
  });

  it('refuses an FTPS server with another certificate before logging in, and an untrusted one without a pin', async () => {
    // Prepare
    const { server: s, root, params } = await server('tls-bad', { tls: true });

    // Act
    const pinnedOther = await runScript(
      datasourceWriteFtp,
      { ...params, secure: 'explicit', certificateFingerprint: 'AA'.repeat(32) },
      { ...local(secrets), files: [{ name: 'x.csv', content: 'X' }] },
    ).catch((e: unknown) => e);
    const unpinned = await runScript(
      datasourceWriteFtp,
      { ...params, secure: 'explicit' },
      { ...local(secrets), files: [{ name: 'x.csv', content: 'X' }] },
    ).catch((e: unknown) => e);

    // Assess
    expect(pinnedOther).toMatchObject({ code: 'IDX_FTP_CERTIFICATE_MISMATCH', transient: false });
    expect(unpinned).toMatchObject({ code: 'IDX_FTP_CERTIFICATE', transient: false });
    expect(s.logins).toBe(0);
    expect(tree(root)).toEqual({});
  });

  it('retries after the connection is cut mid-upload and leaves exactly one complete file', async () => {
    // Prepare
    const { server: s, root, params } = await server('cut', { faults: { closeAfterBytes: 1_000_000 } });
    const content = Buffer.alloc(4_000_000);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);

    // Act
    const out = await runScript(
      datasourceWriteFtp,
      { ...params, remotePath: 'in' },
      { ...local(secrets), files: [{ name: 'big.csv', content }] },
    );

    // Assess
    expect(s.cuts).toBe(1);
    expect(readdirSync(join(root, 'in'))).toEqual(['big.csv']);
    expect(readFileSync(join(root, 'in', 'big.csv')).equals(content)).toBe(true);
    expect(out.trace.join('\n')).toMatch(/failed \(attempt 1 of 4\), retrying/);
  });

  it('fails with a permanent coded error on a wrong password', async () => {
    // Prepare
    const { params } = await server('badpw');

    // Act / Assess
    await expect(
      runScript(datasourceWriteFtp, params, {
        ...local({ FTP_PW: 'wrong-password' }),
        files: [{ name: 'a', content: 'A' }],
      }),
    ).rejects.toMatchObject({ code: 'IDX_FTP_AUTH', transient: false });
  });

  it('refuses a file name that leaves remotePath and writes nothing', async () => {
    // Prepare
    const { root, params } = await server('traversal');

    // Act
    const run = runScript(
      datasourceWriteFtp,
      { ...params, remotePath: 'in' },
      { ...local(secrets), files: [{ name: '../../x.csv', content: 'X' }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
    expect(tree(root)).toEqual({});
  });
});
