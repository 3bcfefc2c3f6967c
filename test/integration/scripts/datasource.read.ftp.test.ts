import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../../lib/core/services.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { datasourceReadFtp } from '../../../lib/scripts/datasource.read.ftp.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { startFtpServer, type TestFtpServer } from '../../support/ftp-server.ts';

let env: LocalEnvironment;
let services: Services;
let dir: string;
let folderN = 0;
const servers: TestFtpServer[] = [];

async function server(options: Partial<Parameters<typeof startFtpServer>[0]> = {}) {
  const root = join(dir, `server-${servers.length}`);
  const s = await startFtpServer({ root, ...options });
  servers.push(s);
  return { server: s, root, params: { host: s.host, port: s.port, username: 'ops', password: '${secret:FTP_PW}' } };
}

function folder(
  root: string,
  files: Record<string, [content: string | Buffer, mtime: number]>,
): { remotePath: string; path: string } {
  const remotePath = `in-${++folderN}`;
  const path = join(root, remotePath);
  mkdirSync(path, { recursive: true });
  for (const [name, [content, mtime]] of Object.entries(files)) {
    writeFileSync(join(path, name), content);
    utimesSync(join(path, name), mtime, mtime);
  }
  return { remotePath, path };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-ftp-read-'));
  env = await startLocalEnvironment({ dir: join(dir, 'env'), ephemeral: true, env: {} });
  services = createServices(env.config, new LocalSecretResolver({ env: {}, values: { FTP_PW: 'pw-123456' } }));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.read.ftp', () => {
  it('picks matching files in the requested order and finds nothing new on the next scheduled run', async () => {
    // Prepare
    const { root, params } = await server();
    const { remotePath } = folder(root, {
      'b.csv': ['B', 2_000_000_000],
      'a.csv': ['A', 2_000_000_100],
      'c.txt': ['C', 2_000_000_000],
    });
    const p = { ...params, remotePath, fileNameRegex: '.*\\.csv', sortBy: 'name', sortOrder: 'DESC' };

    // Act
    const first = await runScript(datasourceReadFtp, p, { services, job: { id: 'r1', dataflowId: 'df-ftp-order' } });
    const second = await runScript(datasourceReadFtp, p, { services, job: { id: 'r2', dataflowId: 'df-ftp-order' } });

    // Assess
    expect(first.files.map((f) => [f.name, f.content.toString()])).toEqual([
      ['b.csv', 'B'],
      ['a.csv', 'A'],
    ]);
    expect(second.files).toEqual([]);
  });

  it('orders by modification time to the second', async () => {
    // Prepare
    const { root, params } = await server();
    const { remotePath } = folder(root, { 'late.csv': ['L', 2_000_000_002], 'early.csv': ['E', 2_000_000_001] });

    // Act
    const out = await runScript(
      datasourceReadFtp,
      { ...params, remotePath },
      { services, job: { id: 'r', dataflowId: 'df-ftp-time' } },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['early.csv', 'late.csv']);
  });

  it('resumes a download where a cut connection stopped', async () => {
    // Prepare
    const { server: s, root, params } = await server({ faults: { closeAfterBytes: 1_500_000 } });
    const content = Buffer.alloc(5_000_000);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i * 3, i);
    const { remotePath } = folder(root, { 'big.bin': [content, 2_000_000_000] });

    // Act
    const out = await runScript(
      datasourceReadFtp,
      { ...params, remotePath },
      { services, job: { id: 'r', dataflowId: 'df-ftp-cut' } },
    );

    // Assess
    expect(s.cuts).toBe(1);
    expect(out.files[0]?.content.equals(content)).toBe(true);
    expect(out.trace.join('\n')).toMatch(/failed \(attempt 1 of 4\), retrying/);
  });

  it('moves read files into moveToPath over explicit FTPS', async () => {
    // Prepare
    const { server: s, root, params } = await server({ tls: true });
    const { remotePath, path } = folder(root, { 'a.csv': ['A', 2_000_000_000] });

    // Act
    const out = await runScript(
      datasourceReadFtp,
      {
        ...params,
        remotePath,
        secure: 'explicit',
        certificateFingerprint: s.certificateFingerprint,
        afterRead: 'move',
        moveToPath: 'done',
      },
      { services, job: { id: 'r', dataflowId: 'df-ftp-move' } },
    );

    // Assess
    expect(out.files.map((f) => f.content.toString())).toEqual(['A']);
    expect(readdirSync(path)).toEqual(['done']);
    expect(readdirSync(join(path, 'done'))).toEqual(['a.csv']);
  });

  it('refuses a matching server file name holding a backslash', async () => {
    // Prepare
    const { root, params } = await server();
    const { remotePath } = folder(root, { '..\\..\\x.csv': ['X', 2_000_000_000] });

    // Act / Assess
    await expect(
      runScript(datasourceReadFtp, { ...params, remotePath }, { services, job: { id: 'r', dataflowId: 'df-ftp-odd' } }),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
  });
});
