import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { generateSshKeyPair, type SftpServer, sftpExtra, startSftpServer } from '../../../lib/local/sftp-server.ts';
import { datasourceWriteSftp } from '../../../lib/scripts/datasource.write.sftp.ts';
import { runScript } from '../../../lib/testing/harness.ts';

let env: LocalEnvironment;
let dir: string;
const servers: SftpServer[] = [];

/** Every file below a folder, as relative path → content. */
function tree(root: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.isDirectory()) Object.assign(out, tree(join(root, e.name), `${prefix}${e.name}/`));
    else out[`${prefix}${e.name}`] = readFileSync(join(root, e.name), 'utf8');
  }
  return out;
}

/** A separate server over its own folder, for faults and other logins. */
async function server(name: string, options: Partial<Parameters<typeof startSftpServer>[0]> = {}) {
  const root = join(dir, name);
  const s = await startSftpServer({
    root,
    hostKeyPath: join(dir, `${name}-key`),
    users: [{ username: 'ops', password: 'pw-123456' }],
    ...options,
  });
  servers.push(s);
  return { server: s, root, params: { host: s.host, port: s.port, username: 'ops', password: '${secret:SFTP_PW}' } };
}

const secrets = { SFTP_PW: 'pw-123456' };

/**
 * Services over the local environment with these secrets, and a job of its own: writers claim their targets per
 * job in the state table, so every run is a job apart unless a test says otherwise.
 */
function local(values: Record<string, string>, jobId: string = randomUUID()) {
  return {
    services: createServices(env.config, new LocalSecretResolver({ env: {}, values })),
    job: { id: jobId },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-sftp-write-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {}, extras: [sftpExtra()] });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.write.sftp', () => {
  it('uploads every file into remotePath of the embedded server when host is empty in local mode', async () => {
    // Prepare
    const params = { host: '', username: '', password: '', remotePath: 'inbound' };

    // Act
    const out = await runScript(datasourceWriteSftp, params, {
      services: env.services,
      files: [
        { name: 'GIGYA_TO_SFTP_20260102.csv', content: 'MAIL\na@b.c\n' },
        { name: 'success/ok.json', content: '{}' },
      ],
    });

    // Assess
    expect(tree(join(dir, 'sftp', 'inbound'))).toEqual({
      'GIGYA_TO_SFTP_20260102.csv': 'MAIL\na@b.c\n',
      'success/ok.json': '{}',
    });
    expect(out.trace.join('\n')).not.toContain('not pinned');
  });

  it('replaces an existing file and a stale .uploading file left by a crashed run when overwrite is true', async () => {
    // Prepare
    const { root, params } = await server('replace');
    mkdirSync(join(root, 'in'), { recursive: true });
    writeFileSync(join(root, 'in', 'a.csv'), 'old content');
    writeFileSync(join(root, 'in', 'a.csv.uploading'), 'half of a crashed upl');

    // Act
    await runScript(
      datasourceWriteSftp,
      { ...params, remotePath: '/in', overwrite: true },
      { ...local(secrets), files: [{ name: 'a.csv', content: 'new' }] },
    );

    // Assess
    expect(tree(root)).toEqual({ 'in/a.csv': 'new' });
  });

  it('writes under the final name when temporaryUploadExtension is false', async () => {
    // Prepare
    const { root, params } = await server('direct');

    // Act
    await runScript(
      datasourceWriteSftp,
      { ...params, remotePath: 'out', temporaryUploadExtension: false },
      { ...local(secrets), files: [{ name: 'x.csv', content: 'X' }] },
    );

    // Assess
    expect(tree(root)).toEqual({ 'out/x.csv': 'X' });
  });

  it('retries after the connection is cut mid-upload and leaves exactly one complete file', async () => {
    // Prepare
    const { server: s, root, params } = await server('cut', { faults: { closeAfterBytes: 1_000_000 } });
    const content = Buffer.alloc(4_000_000);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);

    // Act
    const out = await runScript(
      datasourceWriteSftp,
      { ...params, remotePath: 'in' },
      { ...local(secrets), files: [{ name: 'accounts.csv', content }] },
    );

    // Assess
    expect(s.cuts).toBe(1);
    expect(readdirSync(join(root, 'in'))).toEqual(['accounts.csv']);
    expect(readFileSync(join(root, 'in', 'accounts.csv')).equals(content)).toBe(true);
    expect(out.trace.join('\n')).toMatch(/uploading in\/accounts\.csv failed \(attempt 1 of 4\), retrying/);
  });

  it('fails with a transient coded error and leaves no partial file when every attempt is cut', async () => {
    // Prepare
    const { root, params } = await server('always-cut', { faults: { closeAfterBytes: 200_000, times: 100 } });

    // Act
    const run = runScript(
      datasourceWriteSftp,
      { ...params, remotePath: 'in', maxAttempts: 2 },
      { ...local(secrets), files: [{ name: 'a.csv', content: Buffer.alloc(1_000_000, 65) }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_SFTP_IO', transient: true, name: 'IdxTransientError' });
    expect(readdirSync(join(root, 'in'))).toEqual([]);
  });

  it('refuses a server whose host key is not the pinned one before logging in or uploading', async () => {
    // Prepare
    const { server: s, root, params } = await server('impostor');

    // Act
    const run = runScript(
      datasourceWriteSftp,
      { ...params, hostKeyFingerprint: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU' },
      { ...local(secrets), files: [{ name: 'a.csv', content: 'A' }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_SFTP_HOST_KEY_MISMATCH',
      transient: false,
      received: s.hostKeyFingerprint,
      location: { param: 'hostKeyFingerprint' },
    });
    expect(s.authAttempts).toBe(0);
    expect(tree(root)).toEqual({});
  });

  it('accepts the pinned host key in hex form and warns in the trace when no key is pinned', async () => {
    // Prepare
    const { server: s, root, params } = await server('pinned');
    const hex = Buffer.from(s.hostKeyFingerprint.slice('SHA256:'.length), 'base64').toString('hex');

    // Act
    const pinned = await runScript(
      datasourceWriteSftp,
      { ...params, hostKeyFingerprint: hex.replace(/(..)(?!$)/g, '$1:') },
      { ...local(secrets), files: [{ name: 'p.csv', content: 'P' }] },
    );
    const unpinned = await runScript(datasourceWriteSftp, params, {
      ...local(secrets),
      files: [{ name: 'u.csv', content: 'U' }],
    });

    // Assess
    expect(tree(root)).toEqual({ 'p.csv': 'P', 'u.csv': 'U' });
    expect(pinned.trace.join('\n')).not.toContain('not pinned');
    expect(unpinned.trace.join('\n')).toContain(`is not pinned (it is ${s.hostKeyFingerprint})`);
  });

  it('logs in with a private key given as base64 and a passphrase', async () => {
    // Prepare
    const keys = generateSshKeyPair({
      passphrase: 'kp-secret',
      cipher: 'aes256-ctr',
      rounds: 4,
    });
    const { root, params } = await server('key', { users: [{ username: 'ops', publicKey: keys.public }] });
    const { password: _, ...rest } = params;

    // Act
    await runScript(
      datasourceWriteSftp,
      { ...rest, privateKey: '${secret:KEY}', passphrase: '${secret:PASS}' },
      {
        ...local({ KEY: Buffer.from(keys.private).toString('base64'), PASS: 'kp-secret' }),
        files: [{ name: 'k.csv', content: 'K' }],
      },
    );

    // Assess
    expect(tree(root)).toEqual({ 'k.csv': 'K' });
  });

  it.each([
    ['a wrong passphrase', 'kp-wrong', undefined, 'passphrase'],
    ['no passphrase for an encrypted key', undefined, undefined, 'passphrase'],
    ['a garbage privateKey', undefined, 'not a private key', 'privateKey'],
    [
      'a truncated OpenSSH key',
      undefined,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n',
      'privateKey',
    ],
  ])(
    'refuses %s with a permanent credential code, not a transfer error, and writes nothing',
    async (_what, passphrase, garbage, param) => {
      // Prepare
      const keys = generateSshKeyPair({ passphrase: 'kp-secret', cipher: 'aes256-ctr', rounds: 4 });
      const { root, params } = await server(`badkey-${param}-${passphrase ?? 'none'}-${garbage ? 'g' : 'k'}`, {
        users: [{ username: 'ops', publicKey: keys.public }],
      });
      const { password: _, ...rest } = params;
      const secretValues = { KEY: garbage ?? keys.private, ...(passphrase ? { PASS: passphrase } : {}) };

      // Act
      const run = runScript(
        datasourceWriteSftp,
        { ...rest, privateKey: '${secret:KEY}', ...(passphrase ? { passphrase: '${secret:PASS}' } : {}) },
        { ...local(secretValues), files: [{ name: 'k.csv', content: 'K' }] },
      );

      // Assess
      const error = await run.catch((e: Error) => e);
      expect(error).toMatchObject({ code: 'IDX_SFTP_PRIVATE_KEY', transient: false, location: { param } });
      expect((error as Error).message).not.toContain(keys.private.split('\n')[1]);
      expect(tree(root)).toEqual({});
    },
  );

  it('fails with a permanent coded error on a wrong password', async () => {
    // Prepare
    const { params } = await server('badpw');

    // Act / Assess
    await expect(
      runScript(datasourceWriteSftp, params, {
        ...local({ SFTP_PW: 'wrong-password' }),
        files: [{ name: 'a', content: 'A' }],
      }),
    ).rejects.toMatchObject({ code: 'IDX_SFTP_AUTH', transient: false });
  });

  it.each([['../escape.csv'], ['/etc/passwd'], ['a\\b.csv'], ['sub/../../x.csv'], ['ok\n.csv']])(
    'refuses the file name %j with a coded error and writes nothing',
    async (name) => {
      // Prepare
      const { root, params } = await server(`traversal-${Buffer.from(name).toString('hex')}`);
      mkdirSync(join(root, 'in'), { recursive: true });

      // Act
      const run = runScript(
        datasourceWriteSftp,
        { ...params, remotePath: 'in' },
        { ...local(secrets), files: [{ name, content: 'X' }] },
      );

      // Assess
      await expect(run).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
      expect(tree(root)).toEqual({});
    },
  );

  it('refuses a remotePath with ".." segments', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceWriteSftp, { host: 'h', remotePath: 'in/../../etc' }, { files: [] }),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE', location: { param: 'remotePath' } });
  });

  it('refuses the console mask as a password', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceWriteSftp, { host: 'h', username: 'u', password: '********' }, { files: [] }),
    ).rejects.toMatchObject({ code: 'IDX_SECRET_MASKED' });
  });
});
