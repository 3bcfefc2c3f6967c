import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { type SftpServer, sftpExtra, startSftpServer } from '../../../lib/local/sftp-server.ts';
import { datasourceReadSftp } from '../../../lib/scripts/datasource.read.sftp.ts';
import { runScript } from '../../../lib/testing/harness.ts';

let env: LocalEnvironment;
let dir: string;
let folderN = 0;
const servers: SftpServer[] = [];

/** A fresh folder on the embedded server, with files whose modification times are the given epoch seconds. */
function folder(files: Record<string, [content: string, mtime: number]>): { remotePath: string; path: string } {
  const remotePath = `in-${++folderN}`;
  const path = join(dir, 'sftp', remotePath);
  mkdirSync(path, { recursive: true });
  for (const [name, [content, mtime]] of Object.entries(files)) {
    writeFileSync(join(path, name), content);
    utimesSync(join(path, name), mtime, mtime);
  }
  return { remotePath, path };
}

const local = { host: '', username: '', password: '' };

function names(out: { files: { name: string }[] }): string[] {
  return out.files.map((f) => f.name);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-sftp-read-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {}, extras: [sftpExtra()] });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.read.sftp', () => {
  it('lists a server file named to make a backtracking fileNameRegex explode in linear time', async () => {
    // Prepare: with a backtracking engine, (a+)+$ against this name takes seconds, doubling per character.
    const hostile = `${'a'.repeat(27)}!`;
    const { remotePath } = folder({ [hostile]: ['H', 2_000_000_000], aaa: ['A', 2_000_000_100] });

    // Act
    const started = process.hrtime.bigint();
    const out = await runScript(
      datasourceReadSftp,
      { ...local, remotePath, fileNameRegex: '(a+)+$' },
      { services: env.services, job: { id: 'j-redos', dataflowId: 'df-redos' } },
    );
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    // Assess
    expect(names(out)).toEqual(['aaa']);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('refuses a fileNameRegex with a backreference at validation, naming the construct', async () => {
    // Act / Assess
    await expect(
      runScript(
        datasourceReadSftp,
        { ...local, remotePath: 'in', fileNameRegex: '(a)\\1' },
        { services: env.services },
      ),
    ).rejects.toMatchObject({
      code: 'IDX_REGEX_UNSUPPORTED',
      message: expect.stringContaining('a backreference'),
      location: { param: 'fileNameRegex' },
    });
  });

  it('picks the files whose whole name matches the regex, oldest first by default', async () => {
    // Prepare
    const { remotePath } = folder({
      'b.csv': ['B', 2_000_000_000],
      'a.csv': ['A', 2_000_000_100],
      'c.csv.bak': ['X', 1_900_000_000],
      'notes.txt': ['N', 1_900_000_000],
    });

    // Act
    const out = await runScript(
      datasourceReadSftp,
      { ...local, remotePath, fileNameRegex: '.*.csv' },
      { services: env.services, job: { id: 'j1', dataflowId: 'df-regex' } },
    );

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([
      ['b.csv', 'B'],
      ['a.csv', 'A'],
    ]);
  });

  it.each([
    ['time', 'DESC', ['a.csv', 'c.csv', 'b.csv']],
    ['name', 'ASC', ['a.csv', 'b.csv', 'c.csv']],
    ['name', 'DESC', ['c.csv', 'b.csv', 'a.csv']],
  ] as const)('orders by %s %s', async (sortBy, sortOrder, expected) => {
    // Prepare
    const { remotePath } = folder({
      'b.csv': ['B', 2_000_000_000],
      'c.csv': ['C', 2_000_000_050],
      'a.csv': ['A', 2_000_000_100],
    });

    // Act
    const out = await runScript(
      datasourceReadSftp,
      { ...local, remotePath, sortBy, sortOrder },
      { services: env.services, job: { id: 'j1', dataflowId: `df-sort-${sortBy}-${sortOrder}` } },
    );

    // Assess
    expect(names(out)).toEqual(expected);
  });

  it('finds no new file on a second scheduled run, but reads a file replaced with new content', async () => {
    // Prepare
    const { remotePath, path } = folder({ 'accounts.json': ['[1]', 2_000_000_000] });
    const params = {
      ...local,
      remotePath,
      fileNameRegex: 'accounts.json',
      port: 22,
      sortBy: 'time',
      sortOrder: 'ASC',
      timeout: 60,
    };
    const first = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'run-1', dataflowId: 'df-sched' },
    });

    // Act
    const second = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'run-2', dataflowId: 'df-sched' },
    });
    writeFileSync(join(path, 'accounts.json'), '[1,2]');
    const third = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'run-3', dataflowId: 'df-sched' },
    });

    // Assess
    expect(names(first)).toEqual(['accounts.json']);
    expect(names(second)).toEqual([]);
    expect(second.trace.join('\n')).toContain('no new file to read');
    expect(third.files.map((f) => f.content.toString())).toEqual(['[1,2]']);
  });

  it('reads again what a failed job read, what the same job read in a failed attempt, and everything with skipProcessedFiles false', async () => {
    // Prepare
    const { remotePath } = folder({ 'a.csv': ['A', 2_000_000_000] });
    const params = { ...local, remotePath };
    await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'failed-job', dataflowId: 'df-again' },
    });
    await env.services.dynamo.send(
      new PutCommand({
        TableName: env.config.tables.jobs,
        Item: { id: 'failed-job', dataflowId: 'df-again', status: 'failed' },
      }),
    );

    // Act
    const afterFailure = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'next', dataflowId: 'df-again' },
    });
    const retriedStep = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'next', dataflowId: 'df-again' },
    });
    const skippedByMemory = await runScript(datasourceReadSftp, params, {
      services: env.services,
      job: { id: 'later', dataflowId: 'df-again' },
    });
    const withoutMemory = await runScript(
      datasourceReadSftp,
      { ...params, skipProcessedFiles: false },
      { services: env.services, job: { id: 'later', dataflowId: 'df-again' } },
    );

    // Assess
    expect(names(afterFailure)).toEqual(['a.csv']);
    expect(names(retriedStep)).toEqual(['a.csv']);
    expect(names(skippedByMemory)).toEqual([]);
    expect(names(withoutMemory)).toEqual(['a.csv']);
  });

  it('moves read files into moveToPath and deletes them with afterRead delete', async () => {
    // Prepare
    const moving = folder({ 'a.csv': ['A', 2_000_000_000] });
    const deleting = folder({ 'b.csv': ['B', 2_000_000_000] });

    // Act
    const moved = await runScript(
      datasourceReadSftp,
      { ...local, remotePath: moving.remotePath, afterRead: 'move', moveToPath: 'processed' },
      { services: env.services, job: { id: 'j', dataflowId: 'df-move' } },
    );
    await runScript(
      datasourceReadSftp,
      { ...local, remotePath: deleting.remotePath, afterRead: 'delete' },
      { services: env.services, job: { id: 'j', dataflowId: 'df-delete' } },
    );

    // Assess
    expect(names(moved)).toEqual(['a.csv']);
    expect(readdirSync(moving.path)).toEqual(['processed']);
    expect(readdirSync(join(moving.path, 'processed'))).toEqual(['a.csv']);
    expect(readdirSync(deleting.path)).toEqual([]);
  });

  it('reads the newest file in a test run, whatever the processed-files memory says, and marks, moves or deletes nothing', async () => {
    // Prepare
    const { remotePath, path } = folder({ 'a.csv': ['A', 2_000_000_100], 'b.csv': ['B', 2_000_000_000] });
    const params = { ...local, remotePath, afterRead: 'delete' };
    const testJob = (id: string) => ({ id, dataflowId: 'df-testrun', test: true, limit: 10 });

    // Act
    const first = await runScript(datasourceReadSftp, params, { services: env.services, job: testJob('test-1') });
    const real = await runScript(
      datasourceReadSftp,
      { ...params, afterRead: 'leave' },
      { services: env.services, job: { id: 'real', dataflowId: 'df-testrun' } },
    );
    const second = await runScript(datasourceReadSftp, params, { services: env.services, job: testJob('test-2') });
    const next = await runScript(
      datasourceReadSftp,
      { ...params, afterRead: 'leave' },
      { services: env.services, job: { id: 'real-2', dataflowId: 'df-testrun' } },
    );

    // Assess
    expect(names(first)).toEqual(['a.csv']);
    expect(first.skipped).toEqual([{ name: 'b.csv', reason: 'a test run reads only the newest matching file' }]);
    expect(names(real)).toEqual(['b.csv', 'a.csv']);
    expect(names(second)).toEqual(['a.csv']);
    expect(names(next)).toEqual([]);
    expect(readdirSync(path).sort()).toEqual(['a.csv', 'b.csv']);
  });

  it('resumes a download where a cut connection stopped', async () => {
    // Prepare
    const root = join(dir, 'cut-server');
    const server = await startSftpServer({
      root,
      hostKeyPath: join(dir, 'cut-key'),
      users: [{ username: 'ops', password: 'pw-123456' }],
      faults: { closeAfterBytes: 1_500_000 },
    });
    servers.push(server);
    const content = Buffer.alloc(5_000_000);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i * 7, i);
    mkdirSync(join(root, 'out'));
    writeFileSync(join(root, 'out', 'big.bin'), content);

    // Act
    const out = await runScript(
      datasourceReadSftp,
      { host: server.host, port: server.port, username: 'ops', password: '${secret:PW}', remotePath: '/out' },
      {
        services: { ...env.services, secrets: await secretsWith({ PW: 'pw-123456' }) },
        job: { id: 'j', dataflowId: 'df-cut' },
      },
    );

    // Assess
    expect(server.cuts).toBe(1);
    expect(out.files).toHaveLength(1);
    expect(out.files[0]?.content.equals(content)).toBe(true);
    expect(out.trace.join('\n')).toMatch(/downloading \/out\/big\.bin failed \(attempt 1 of 4\), retrying/);
  });

  it('refuses a matching server file name holding a backslash or a control character', async () => {
    // Prepare
    const odd = folder({ 'a\\..\\b.csv': ['X', 2_000_000_000] });
    const ctrl = folder({ 'a\u0001b.csv': ['X', 2_000_000_000] });

    // Act / Assess
    await expect(
      runScript(
        datasourceReadSftp,
        { ...local, remotePath: odd.remotePath },
        { services: env.services, job: { id: 'j', dataflowId: 'df-odd' } },
      ),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
    await expect(
      runScript(
        datasourceReadSftp,
        { ...local, remotePath: ctrl.remotePath },
        { services: env.services, job: { id: 'j', dataflowId: 'df-odd' } },
      ),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
  });

  it('refuses remotePath and moveToPath that climb out of the folder', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceReadSftp, { ...local, remotePath: '../../etc' }, { services: env.services }),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE', location: { param: 'remotePath' } });
    await expect(
      runScript(
        datasourceReadSftp,
        { ...local, remotePath: 'in', afterRead: 'move', moveToPath: '../elsewhere' },
        { services: env.services },
      ),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE', location: { param: 'moveToPath' } });
  });

  it('refuses the embedded server when a different host key is pinned', async () => {
    // Prepare
    const { remotePath } = folder({ 'a.csv': ['A', 2_000_000_000] });

    // Act / Assess
    await expect(
      runScript(
        datasourceReadSftp,
        { ...local, remotePath, hostKeyFingerprint: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU' },
        { services: env.services, job: { id: 'j', dataflowId: 'df-mismatch' } },
      ),
    ).rejects.toMatchObject({ code: 'IDX_SFTP_HOST_KEY_MISMATCH', transient: false });
  });

  it('fails with a permanent coded error when the folder does not exist', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceReadSftp, { ...local, remotePath: 'no-such-folder' }, { services: env.services }),
    ).rejects.toMatchObject({ code: 'IDX_SFTP_IO', transient: false });
  });
});

async function secretsWith(values: Record<string, string>) {
  const { LocalSecretResolver } = await import('../../../lib/engine/secrets.ts');
  return new LocalSecretResolver({ env: {}, values });
}
