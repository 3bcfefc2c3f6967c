/**
 * The delivery policy every file writer follows, on real servers on loopback (the ssh2 SFTP server, ftp-srv,
 * s3rver): no two files of one job under one name, no silent replacement of another job's file unless
 * `overwrite: true`, a retried upload replaces its own file, and a target that holds less than was sent fails.
 * Azure Blob runs on Azurite, as a child process.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyScriptDefinition, ScriptDefinition } from '../../../lib/core/script.ts';
import type { Services } from '../../../lib/core/services.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite, startAzurite } from '../../../lib/local/azurite.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { type SftpServer, startSftpServer } from '../../../lib/local/sftp-server.ts';
import { datasourceWriteAmazonS3 } from '../../../lib/scripts/datasource.write.amazon.s3.ts';
import { datasourceWriteAzureBlob } from '../../../lib/scripts/datasource.write.azure.blob.ts';
import { datasourceWriteFtp } from '../../../lib/scripts/datasource.write.ftp.ts';
import { datasourceWriteSftp } from '../../../lib/scripts/datasource.write.sftp.ts';
import { type HarnessInput, runScript } from '../../../lib/testing/harness.ts';
import { startFtpServer, type TestFtpServer } from '../../support/ftp-server.ts';

let env: LocalEnvironment;
let dir: string;
const servers: (SftpServer | TestFtpServer)[] = [];
let serverN = 0;
let azurite: Azurite | undefined;

/** A writer's target as a test sees it: the params that reach it, and its files by name. */
interface Target {
  readonly params: Record<string, unknown>;
  read(name: string): Promise<string | undefined>;
  put(name: string, content: string): Promise<void>;
  /** Services that reach this target (S3 only needs the environment's). */
  services(): Services;
}

/** A protocol under test: its writer and how to start a target, optionally one that loses the end of files. */
interface Protocol {
  readonly name: string;
  readonly definition: AnyScriptDefinition;
  start(faults?: { truncateRenamedBy?: number }): Promise<Target>;
}

const PASSWORD = 'pw-123456';

function withSecret(): Services {
  return createServices(env.config, new LocalSecretResolver({ env: {}, values: { PW: PASSWORD } }));
}

/** A folder-backed target (SFTP, FTP): files under `<root>/out`. */
function folderTarget(root: string, host: string, port: number): Target {
  const path = (name: string) => join(root, 'out', name);
  return {
    params: { host, port, username: 'ops', password: '${secret:PW}', remotePath: 'out' },
    read: async (name) => (existsSync(path(name)) ? readFileSync(path(name), 'utf8') : undefined),
    put: async (name, content) => {
      mkdirSync(join(root, 'out'), { recursive: true });
      writeFileSync(path(name), content);
    },
    services: withSecret,
  };
}

const protocols: Protocol[] = [
  {
    name: 'SFTP',
    definition: datasourceWriteSftp as unknown as AnyScriptDefinition,
    async start(faults) {
      const root = join(dir, `sftp-${++serverN}`);
      const server = await startSftpServer({
        root,
        hostKeyPath: join(dir, 'sftp-key'),
        users: [{ username: 'ops', password: PASSWORD }],
        ...(faults ? { faults } : {}),
      });
      servers.push(server);
      return folderTarget(root, server.host, server.port);
    },
  },
  {
    name: 'FTP',
    definition: datasourceWriteFtp as unknown as AnyScriptDefinition,
    async start(faults) {
      const root = join(dir, `ftp-${++serverN}`);
      mkdirSync(root, { recursive: true });
      const server = await startFtpServer({ root, ...(faults ? { faults } : {}) });
      servers.push(server);
      return folderTarget(root, server.host, server.port);
    },
  },
  {
    name: 'S3',
    definition: datasourceWriteAmazonS3 as unknown as AnyScriptDefinition,
    async start() {
      const bucket = `targets-${++serverN}`;
      const s3 = env.services.s3;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      return {
        params: { bucketName: bucket, objectKeyPrefix: 'out/' },
        read: async (name) => {
          try {
            const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `out/${name}` }));
            return await got.Body?.transformToString();
          } catch {
            return undefined;
          }
        },
        put: async (name, content) => {
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `out/${name}`, Body: content }));
        },
        services: () => env.services,
      };
    },
  },
  {
    name: 'Azure Blob',
    definition: datasourceWriteAzureBlob as unknown as AnyScriptDefinition,
    async start() {
      azurite ??= await startAzurite();
      const url = azurite.url;
      const name = `targets-${++serverN}`;
      const container = new BlobServiceClient(
        `${url}/${AZURITE_ACCOUNT}`,
        new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      ).getContainerClient(name);
      await container.create();
      return {
        params: { accountName: AZURITE_ACCOUNT, accountKey: '${secret:AZ_KEY}', container: name, blobPrefix: 'out/' },
        read: async (file) => {
          try {
            return (await container.getBlobClient(`out/${file}`).downloadToBuffer()).toString('utf8');
          } catch {
            return undefined;
          }
        },
        put: async (file, content) => {
          await container.getBlockBlobClient(`out/${file}`).upload(content, Buffer.byteLength(content));
        },
        services: () =>
          createServices(
            { ...env.config, endpoints: { ...env.config.endpoints, azureBlob: url } },
            new LocalSecretResolver({ env: {}, values: { AZ_KEY: AZURITE_KEY } }),
          ),
      };
    },
  },
];

/** Runs a protocol's writer over files, as step `stepId` of job `jobId`. */
function write(
  protocol: Protocol,
  target: Target,
  files: HarnessInput['files'],
  options: { jobId: string; stepId?: string; params?: Record<string, unknown> },
) {
  return runScript(
    protocol.definition as ScriptDefinition,
    { ...target.params, ...options.params },
    {
      services: target.services(),
      job: { id: options.jobId },
      stepId: options.stepId ?? 'deliver',
      ...(files ? { files } : {}),
    },
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-targets-'));
  env = await startLocalEnvironment({ dir: join(dir, 'env'), ephemeral: true, env: {} });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await azurite?.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(protocols)('the $name writer', (protocol) => {
  it('fails the second of two steps of one job that write the same name, naming both producers', async () => {
    // Prepare
    const target = await protocol.start();
    const jobId = randomUUID();
    await write(protocol, target, [{ name: 'a.csv', content: 'first' }], { jobId, stepId: 'to partner' });

    // Act
    const second = write(protocol, target, [{ name: 'a.csv', content: 'second' }], { jobId, stepId: 'to archive' });

    // Assess
    await expect(second).rejects.toMatchObject({
      code: 'IDX_FILE_NAME_COLLISION',
      location: { stepId: 'to archive' },
      message: expect.stringMatching(/step "to partner" from file "a\.csv".*step "to archive" from file "a\.csv"/),
    });
    expect(await target.read('a.csv')).toBe('first');
  });

  it('fails when one step receives two files of the same name in one job', async () => {
    // Prepare
    const target = await protocol.start();
    const files = [
      { name: 'a.csv', content: 'one' },
      { name: 'a.csv', content: 'two' },
    ];

    // Act
    const run = write(protocol, target, files, { jobId: randomUUID() });

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_FILE_NAME_COLLISION' });
    expect(await target.read('a.csv')).toBe('one');
  });

  it('refuses to replace a file another job delivered, and replaces it when overwrite is true', async () => {
    // Prepare
    const target = await protocol.start();
    await target.put('a.csv', 'delivered yesterday');

    // Act
    const refused = write(protocol, target, [{ name: 'a.csv', content: 'today' }], { jobId: randomUUID() });
    const refusal = await refused.catch((error: unknown) => error);
    const before = await target.read('a.csv');
    const replaced = await write(protocol, target, [{ name: 'a.csv', content: 'today' }], {
      jobId: randomUUID(),
      params: { overwrite: true },
    });

    // Assess
    expect(refusal).toMatchObject({
      code: 'IDX_TARGET_EXISTS',
      location: { stepId: 'deliver' },
      message: expect.stringContaining('overwrite: true'),
    });
    expect(before).toBe('delivered yesterday');
    expect(await target.read('a.csv')).toBe('today');
    expect(replaced.counters).toMatchObject({ filesOut: 1, bytesDelivered: 5 });
  });

  it('lets a retried invocation of the same upload replace the file it delivered before', async () => {
    // Prepare
    const target = await protocol.start();
    const jobId = randomUUID();
    await write(protocol, target, [{ name: 'a.csv', content: 'attempt 1' }], { jobId });

    // Act
    const retried = await write(protocol, target, [{ name: 'a.csv', content: 'attempt 2' }], { jobId });

    // Assess
    expect(await target.read('a.csv')).toBe('attempt 2');
    expect(retried.counters).toMatchObject({ bytesIn: 9, bytesDelivered: 9 });
  });
});

describe.each(protocols.filter((p) => p.name !== 'S3' && p.name !== 'Azure Blob'))(
  'the $name writer on a target that loses data',
  (protocol) => {
    it('fails with IDX_DELIVERY_SHORTFALL when the file holds fewer bytes after the rename than were sent', async () => {
      // Prepare
      const target = await protocol.start({ truncateRenamedBy: 2 });

      // Act
      const run = write(protocol, target, [{ name: 'a.csv', content: 'MAIL\na@b.c\n' }], { jobId: randomUUID() });

      // Assess
      await expect(run).rejects.toMatchObject({
        code: 'IDX_DELIVERY_SHORTFALL',
        location: { stepId: 'deliver' },
        expected: '11 bytes',
        received: '9 bytes',
      });
    });
  },
);

describe('the S3 writer on a connection that loses data', () => {
  it('fails with IDX_DELIVERY_SHORTFALL when the object holds fewer bytes than were sent', async () => {
    // Prepare: the client drops the last two bytes of every object it puts, on the way to the real server.
    const target = await protocols.find((p) => p.name === 'S3')?.start();
    if (!target) throw new Error('no S3 protocol');
    const lossy = (client: S3Client) => {
      client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { method?: string; body?: unknown; headers: Record<string, string> };
          const body = request.body;
          if (request.method === 'PUT' && body instanceof Uint8Array) {
            request.body = body.subarray(0, body.length - 2);
            request.headers['content-length'] = String(body.length - 2);
          }
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'high' },
      );
      return client;
    };
    const services: Services = {
      ...env.services,
      s3: lossy(env.services.s3For({})),
      s3For: (o) => lossy(env.services.s3For(o)),
    };

    // Act
    const run = runScript(datasourceWriteAmazonS3, target.params, {
      services,
      job: { id: randomUUID() },
      stepId: 'deliver',
      files: [{ name: 'a.csv', content: 'MAIL\na@b.c\n' }],
    });

    // Assess
    await expect(run).rejects.toMatchObject({
      code: 'IDX_DELIVERY_SHORTFALL',
      location: { stepId: 'deliver' },
      expected: '11 bytes',
      received: '9 bytes',
    });
  });
});
