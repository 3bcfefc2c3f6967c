/**
 * 200 MB through the SFTP, FTP and Azure Blob (Azurite) readers and writers, with the process's resident memory sampled during each
 * transfer: streaming means the growth stays far below the file size, whatever the size.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyScriptDefinition, InputFile, StepLogger, StepOutput } from '../../../lib/core/script.ts';
import type { Services } from '../../../lib/core/services.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, type Azurite, startAzurite } from '../../../lib/local/azurite.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { type SftpServer, startSftpServer } from '../../../lib/local/sftp-server.ts';
import { datasourceReadAzureBlob } from '../../../lib/scripts/datasource.read.azure.blob.ts';
import { datasourceReadFtp } from '../../../lib/scripts/datasource.read.ftp.ts';
import { datasourceReadSftp } from '../../../lib/scripts/datasource.read.sftp.ts';
import { datasourceWriteAzureBlob } from '../../../lib/scripts/datasource.write.azure.blob.ts';
import { datasourceWriteFtp } from '../../../lib/scripts/datasource.write.ftp.ts';
import { datasourceWriteSftp } from '../../../lib/scripts/datasource.write.sftp.ts';
import { startScript, testJob } from '../../../lib/testing/harness.ts';
import { startFtpServer, type TestFtpServer } from '../../support/ftp-server.ts';

const SIZE = 200 * 1024 * 1024;
const CHUNK = 64 * 1024;
const LIMIT = 64 * 1024 * 1024;

let dir: string;
let env: LocalEnvironment;
let services: Services;
let sftp: SftpServer;
let ftp: TestFtpServer;
let azurite: Azurite;

/** One random megabyte that the generated content cycles through. */
const BASE = createHash('sha512').update('seed').digest();
const BLOCK = Buffer.alloc(1024 * 1024);
for (let i = 0; i < BLOCK.length; i += BASE.length)
  createHash('sha512').update(BASE).update(String(i)).digest().copy(BLOCK, i);

/** A deterministic 200 MB stream, generated chunk by chunk (never held whole). */
function generated(): Readable {
  let n = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (n * CHUNK >= SIZE) return void this.push(null);
      const chunk = Buffer.from(BLOCK.subarray((n * CHUNK) % BLOCK.length, ((n * CHUNK) % BLOCK.length) + CHUNK));
      chunk.writeUInt32BE(n, 0);
      n++;
      this.push(chunk);
    },
  });
}

async function sha256(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c as Buffer);
  return h.digest('hex');
}

/** Samples resident memory until stopped; returns the peak growth over the level at start. */
function sampleRss(): () => number {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    return peak - start;
  };
}

const silent: StepLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Output that hashes created files and keeps nothing. */
function hashingOutput(hashes: Map<string, Promise<string>>): StepOutput {
  const refuse = () => {
    throw new Error('records are not expected here');
  };
  return {
    emit: refuse,
    reject: refuse,
    drop: refuse,
    flush: async () => undefined,
    delivered: () => undefined,
    deliveredRecords: () => undefined,
    remaining: Number.POSITIVE_INFINITY,
    createFile(name) {
      const h = createHash('sha256');
      let resolve: (v: string) => void;
      hashes.set(name, new Promise((r) => (resolve = r)));
      return new Writable({
        write(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          cb();
        },
        final(cb) {
          resolve(h.digest('hex'));
          cb();
        },
      });
    },
  };
}

/** Runs one script invocation with streaming input and output, as a staged step does. */
async function runStreaming(
  definition: AnyScriptDefinition,
  params: Record<string, unknown>,
  input: { files?: InputFile[]; hashes?: Map<string, Promise<string>> },
): Promise<void> {
  const instance = await startScript(definition, params, {
    job: testJob({ id: `large-${Date.now()}`, dataflowId: 'df-large' }),
    stepId: 'large',
    log: silent,
    services,
  });
  const out = hashingOutput(input.hashes ?? new Map());
  try {
    for (const f of input.files ?? []) await instance.file?.(f, out);
    await instance.read?.(out);
  } finally {
    await instance.close?.();
  }
}

let expected: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-large-'));
  env = await startLocalEnvironment({ dir: join(dir, 'env'), ephemeral: true, env: {} });
  // Azurite keeps its blobs on disk here, so 200 MB do not sit in its memory.
  azurite = await startAzurite({ location: join(dir, 'azurite') });
  await azurite.client().getContainerClient('large').create();
  services = createServices(
    { ...env.config, endpoints: { ...env.config.endpoints, azureBlob: azurite.url } },
    new LocalSecretResolver({ env: {}, values: { PW: 'pw-123456', AZ_KEY: AZURITE_KEY } }),
  );
  sftp = await startSftpServer({
    root: join(dir, 'sftp'),
    hostKeyPath: join(dir, 'key'),
    users: [{ username: 'ops', password: 'pw-123456' }],
  });
  ftp = await startFtpServer({ root: join(dir, 'ftp') });
  expected = await sha256(generated());
  // Source files for the downloads, written once.
  for (const root of [join(dir, 'sftp', 'out'), join(dir, 'ftp', 'out')]) {
    mkdirSync(root, { recursive: true });
    await pipeline(generated(), createWriteStream(join(root, 'big.bin')));
  }
}, 120_000);

afterAll(async () => {
  await sftp?.close();
  await ftp?.close();
  await azurite?.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('file transfers of 200 MB', () => {
  const file: InputFile = { name: 'big.bin', size: SIZE, open: generated };

  it('upload over SFTP with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare
    const params = { host: sftp.host, port: sftp.port, username: 'ops', password: '${secret:PW}', remotePath: 'in' };
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceWriteSftp as unknown as AnyScriptDefinition, params, { files: [file] });
    const growth = stop();

    // Assess
    console.log(`SFTP upload of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    expect(await sha256(createReadStream(join(dir, 'sftp', 'in', 'big.bin')))).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });

  it('download over SFTP with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare
    const params = { host: sftp.host, port: sftp.port, username: 'ops', password: '${secret:PW}', remotePath: 'out' };
    const hashes = new Map<string, Promise<string>>();
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceReadSftp as unknown as AnyScriptDefinition, params, { hashes });
    const growth = stop();

    // Assess
    console.log(`SFTP download of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    expect(await hashes.get('big.bin')).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });

  it('upload over FTP with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare
    const params = { host: ftp.host, port: ftp.port, username: 'ops', password: '${secret:PW}', remotePath: 'in' };
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceWriteFtp as unknown as AnyScriptDefinition, params, { files: [file] });
    const growth = stop();

    // Assess
    console.log(`FTP upload of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    expect(await sha256(createReadStream(join(dir, 'ftp', 'in', 'big.bin')))).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });

  it('download over FTP with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare
    const params = { host: ftp.host, port: ftp.port, username: 'ops', password: '${secret:PW}', remotePath: 'out' };
    const hashes = new Map<string, Promise<string>>();
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceReadFtp as unknown as AnyScriptDefinition, params, { hashes });
    const growth = stop();

    // Assess
    console.log(`FTP download of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    expect(await hashes.get('big.bin')).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });

  it('upload to Azure Blob with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare
    const params = {
      accountName: AZURITE_ACCOUNT,
      accountKey: '${secret:AZ_KEY}',
      container: 'large',
      blobPrefix: 'in',
    };
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceWriteAzureBlob as unknown as AnyScriptDefinition, params, { files: [file] });
    const growth = stop();

    // Assess
    console.log(`Azure Blob upload of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    const blob = await azurite.client().getContainerClient('large').getBlobClient('in/big.bin').download();
    expect(await sha256(blob.readableStreamBody as Readable)).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });

  it('download from Azure Blob with resident memory growing less than 64 MB', { timeout: 180_000 }, async () => {
    // Prepare: the blob the upload above delivered.
    const params = {
      accountName: AZURITE_ACCOUNT,
      accountKey: '${secret:AZ_KEY}',
      container: 'large',
      blobPrefix: 'in/',
    };
    const hashes = new Map<string, Promise<string>>();
    const stop = sampleRss();

    // Act
    await runStreaming(datasourceReadAzureBlob as unknown as AnyScriptDefinition, params, { hashes });
    const growth = stop();

    // Assess
    console.log(`Azure Blob download of ${SIZE} bytes: peak RSS growth ${(growth / 1048576).toFixed(1)} MB`);
    expect(await hashes.get('big.bin')).toBe(expected);
    expect(growth).toBeLessThan(LIMIT);
  });
});
