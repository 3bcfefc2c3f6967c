import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { SftpConnection, SftpFileTarget } from '../../../lib/connectors/sftp.ts';
import { LOCAL_SFTP_PASSWORD, LOCAL_SFTP_USERNAME } from '../../../lib/connectors/ssh-basics.ts';
import { IdxError } from '../../../lib/core/errors.ts';
import type { Logger } from '../../../lib/core/logger.ts';
import { LOCAL_CREDENTIALS, LOCAL_NAMES, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { SERVICE_THREAD_MODULE, ServiceThread } from '../../../lib/local/service-thread.ts';
import { sftpExtra } from '../../../lib/local/sftp-server.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'idx-service-thread-'));
}

function s3At(port: number): S3Client {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
  });
  closers.push(async () => client.destroy());
  return client;
}

describe('ServiceThread', () => {
  it('serves S3 from a thread of its own, which ends when its last service closes', async () => {
    // Prepare
    const thread = ServiceThread.open() as ServiceThread;
    const dir = folder();

    // Act
    const s3 = await thread.start('s3', { directory: dir, resetOnClose: false });
    const running = thread.threadId;
    const client = s3At(s3.facts.port);
    await client.send(new CreateBucketCommand({ Bucket: 'bucket' }));
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'a.txt', Body: 'hello' }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'a.txt' }));
    const body = await got.Body?.transformToString();
    await s3.close();

    // Assess
    expect(body).toBe('hello');
    expect(running).toBeGreaterThan(0);
    expect(thread.threadId).toBeUndefined();
  });

  it('fails with IDX_LOCAL_SERVICE when a service cannot start, and ends the thread', async () => {
    // Prepare: the SFTP server's port is taken.
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as { port: number }).port;
    const thread = ServiceThread.open() as ServiceThread;
    const dir = folder();

    // Act
    const failure = await thread
      .start('sftp', { root: join(dir, 'sftp'), hostKeyPath: join(dir, 'key'), port })
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(IdxError);
    expect((failure as IdxError).code).toBe('IDX_LOCAL_SERVICE');
    expect((failure as IdxError).message).toContain('EADDRINUSE');
    expect(thread.threadId).toBeUndefined();
  });

  it('says so with IDX_LOCAL_SERVICE when the thread ends while its services run, and closes them quietly', async () => {
    // Prepare: a thread module that starts a service, then dies (as one out of memory does).
    const dir = folder();
    const module = join(dir, 'dies.mjs');
    writeFileSync(
      module,
      `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (m) => {
  if (m.op !== 'start') return;
  parentPort.postMessage({ id: m.id, ok: true, facts: { port: 1 } });
  setTimeout(() => process.exit(3), 50);
});
`,
    );
    const heard: IdxError[] = [];
    const thread = ServiceThread.open(module, (error) => heard.push(error)) as ServiceThread;

    // Act
    const s3 = await thread.start('s3', { directory: dir, resetOnClose: false });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await s3.close();

    // Assess
    expect(heard.map((e) => e.code)).toEqual(['IDX_LOCAL_SERVICE']);
    expect(heard[0]?.message).toContain('exit code 3');
    expect(thread.threadId).toBeUndefined();
  });

  it('is not there when its module is missing', () => {
    // Act
    const thread = ServiceThread.open(join(folder(), 'missing.js'));

    // Assess
    expect(thread).toBeUndefined();
  });
});

describe('startLocalEnvironment with a service thread', () => {
  it('stages through its S3 and delivers through its SFTP server when both run in the thread', async () => {
    // Prepare
    const dir = folder();
    const env = await startLocalEnvironment({ dir, thread: SERVICE_THREAD_MODULE, extras: [sftpExtra()] });
    closers.push(() => env.close());
    const sftp = env.config.endpoints.sftp;
    if (!sftp) throw new Error('no SFTP endpoint');
    const connection = new SftpConnection(
      {
        host: sftp.host,
        port: sftp.port,
        username: LOCAL_SFTP_USERNAME,
        password: LOCAL_SFTP_PASSWORD,
        timeoutMs: 10_000,
        hostKeyFingerprint: sftp.hostKeyFingerprint,
      },
      quiet,
    );
    closers.push(() => connection.close());
    const text = 'UID,email\n1,a@example.com\n'.repeat(10_000);

    // Act
    await env.services.s3.send(
      new PutObjectCommand({ Bucket: LOCAL_NAMES.stageBucket, Key: 'stage/x.csv', Body: text }),
    );
    const staged = await env.services.s3.send(
      new GetObjectCommand({ Bucket: LOCAL_NAMES.stageBucket, Key: 'stage/x.csv' }),
    );
    const back = await staged.Body?.transformToString();
    await new SftpFileTarget(connection, '/').upload('/x.csv', Readable.from([text]));

    // Assess
    expect(back).toBe(text);
    expect(readFileSync(join(dir, 'sftp', 'x.csv'), 'utf8')).toBe(text);
  });

  it('serves from this thread when the thread module is missing', async () => {
    // Prepare
    const dir = folder();

    // Act
    const env = await startLocalEnvironment({ dir, thread: join(dir, 'missing.js') });
    closers.push(() => env.close());
    await env.services.s3.send(new PutObjectCommand({ Bucket: LOCAL_NAMES.stageBucket, Key: 'k', Body: 'v' }));
    const got = await env.services.s3.send(new GetObjectCommand({ Bucket: LOCAL_NAMES.stageBucket, Key: 'k' }));

    // Assess
    expect(await got.Body?.transformToString()).toBe('v');
  });
});
