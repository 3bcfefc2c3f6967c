/**
 * The Azure Blob readers and writers against Microsoft's emulator Azurite (a child process on 127.0.0.1) and
 * the local token and SAS service: selection, order, processed-file memory, post-read actions, continuation
 * with a tiny time budget, atomic and conditional uploads, a cut connection, refused keys and credentials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyScriptDefinition, StepOutput } from '../../../lib/core/script.ts';
import type { Services } from '../../../lib/core/services.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { AZURITE_KEY, azuriteExtra, LOCAL_SAS_CLIENT, LOCAL_SAS_CONTAINER } from '../../../lib/local/azurite.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { datasourceReadAzureBlob } from '../../../lib/scripts/datasource.read.azure.blob.ts';
import { datasourceWriteAzureBlob } from '../../../lib/scripts/datasource.write.azure.blob.ts';
import { datasourceWriteAzureSas } from '../../../lib/scripts/datasource.write.azure.sas.ts';
import { runScript, startScript, testJob } from '../../../lib/testing/harness.ts';

let env: LocalEnvironment;
let dir: string;
let services: Services;
let containerN = 0;
const ACCOUNT = { accountName: 'devstoreaccount1', accountKey: '${secret:AZ_KEY}' };

/** A client for a container of Azurite's well-known account, outside the steps under test. */
function containerClient(name: string): ContainerClient {
  return new BlobServiceClient(
    `${env.config.endpoints.azureBlob}/devstoreaccount1`,
    new StorageSharedKeyCredential('devstoreaccount1', AZURITE_KEY),
  ).getContainerClient(name);
}

/** A new container holding `blobs`, each put a second after the one before when `spaced` (Azure keeps whole seconds). */
async function containerWith(blobs: Record<string, string>, spaced = false): Promise<string> {
  const name = `in-${++containerN}`;
  const container = containerClient(name);
  await container.create();
  for (const [blob, body] of Object.entries(blobs)) {
    await container.getBlockBlobClient(blob).upload(body, Buffer.byteLength(body));
    if (spaced) await new Promise((r) => setTimeout(r, 1100));
  }
  return name;
}

/** The blobs of a container with their content. */
async function blobs(name: string): Promise<Record<string, string>> {
  const container = containerClient(name);
  const out: Record<string, string> = {};
  for await (const b of container.listBlobsFlat()) {
    out[b.name] = (await container.getBlobClient(b.name).downloadToBuffer()).toString('utf8');
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-azure-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {}, extras: [azuriteExtra()] });
  services = createServices(
    env.config,
    new LocalSecretResolver({
      env: {},
      values: { AZ_KEY: AZURITE_KEY, SAS: LOCAL_SAS_CLIENT.clientSecret, BAD: 'wrong' },
    }),
  );
}, 90_000);

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.read.azure.blob', () => {
  it('reads the matching blobs of the prefix folder in time order, not those of deeper folders', async () => {
    // Prepare
    const container = await containerWith(
      { 'in/b.csv': 'B', 'in/a.csv': 'A', 'in/notes.txt': 'N', 'in/sub/c.csv': 'C' },
      true,
    );

    // Act
    const out = await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container, blobPrefix: 'in/', fileNameRegex: '.*\\.csv' },
      { services, job: { id: 'j-order', dataflowId: 'df-order' } },
    );

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([
      ['b.csv', 'B'],
      ['a.csv', 'A'],
    ]);
  });

  it('reads every blob when fileNameRegex is empty, as the SAP toolkit writes a blank one', async () => {
    // Prepare
    const container = await containerWith({ 'a.csv': 'A', 'b.txt': 'B' });

    // Act
    const out = await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container, fileNameRegex: '', sortBy: 'name' },
      { services, job: { id: 'j-blank', dataflowId: 'df-blank' } },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['a.csv', 'b.txt']);
  });

  it('sorts by name descending and reads a prefix written without "/" as the folder', async () => {
    // Prepare
    const container = await containerWith({ 'in/a.csv': 'A', 'in/c.csv': 'C', 'in/b.csv': 'B' });

    // Act
    const out = await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container, blobPrefix: 'in', sortBy: 'name', sortOrder: 'DESC' },
      { services, job: { id: 'j-name', dataflowId: 'df-name' } },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['c.csv', 'b.csv', 'a.csv']);
  });

  it('finds no new blob on a second scheduled run, and reads a blob again once it is replaced', async () => {
    // Prepare
    const container = await containerWith({ 'a.csv': 'A' });
    const params = { ...ACCOUNT, container };
    const first = await runScript(datasourceReadAzureBlob, params, {
      services,
      job: { id: 'j-1', dataflowId: 'df-mem' },
    });

    // Act
    const second = await runScript(datasourceReadAzureBlob, params, {
      services,
      job: { id: 'j-2', dataflowId: 'df-mem' },
    });
    await containerClient(container).getBlockBlobClient('a.csv').upload('A2 longer', 9);
    const third = await runScript(datasourceReadAzureBlob, params, {
      services,
      job: { id: 'j-3', dataflowId: 'df-mem' },
    });

    // Assess
    expect(first.files.map((f) => f.name)).toEqual(['a.csv']);
    expect(second.files).toEqual([]);
    expect(second.trace.join('\n')).toContain('already imported');
    expect(third.files.map((f) => f.content.toString())).toEqual(['A2 longer']);
  });

  it('moves a read blob into moveToPath inside the prefix folder, and deletes with afterRead delete', async () => {
    // Prepare
    const moving = await containerWith({ 'in/a.csv': 'A' });
    const deleting = await containerWith({ 'in/b.csv': 'B', 'keep.csv': 'K' });

    // Act
    await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container: moving, blobPrefix: 'in/', afterRead: 'move', moveToPath: 'done' },
      { services, job: { id: 'j-move', dataflowId: 'df-move' } },
    );
    await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container: deleting, blobPrefix: 'in/', afterRead: 'delete' },
      { services, job: { id: 'j-del', dataflowId: 'df-del' } },
    );

    // Assess
    expect(await blobs(moving)).toEqual({ 'in/done/a.csv': 'A' });
    expect(await blobs(deleting)).toEqual({ 'keep.csv': 'K' });
  });

  it('reads one blob per invocation with a spent time budget and stages the same files as a normal run', async () => {
    // Prepare
    const container = await containerWith({ 'a.csv': 'A1', 'b.csv': 'B22', 'c.csv': 'C333' });
    const params = { ...ACCOUNT, container, sortBy: 'name' };
    const whole = await runScript(datasourceReadAzureBlob, params, {
      services,
      job: { id: 'j-whole', dataflowId: 'df-whole' },
    });

    // Act
    const sliced: { name: string; content: string }[] = [];
    let continuation: unknown;
    let invocations = 0;
    do {
      const out = await runScript(datasourceReadAzureBlob, params, {
        services,
        job: { id: 'j-sliced', dataflowId: 'df-sliced' },
        deadline: Date.now() - 1,
        ...(continuation === undefined ? {} : { continuation }),
      });
      invocations++;
      sliced.push(...out.files.map((f) => ({ name: f.name, content: f.content.toString() })));
      continuation = out.continuation;
    } while (continuation !== undefined && invocations < 10);

    // Assess
    expect(invocations).toBe(3);
    expect(sliced).toEqual(whole.files.map((f) => ({ name: f.name, content: f.content.toString() })));
  });

  it('resumes a download cut mid-blob and stages the whole blob once', async () => {
    // Prepare: 3 MiB; the first connection that carries 1 MiB towards the step is cut.
    const content = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32BE(i, i);
    const container = await containerWith({});
    await containerClient(container).getBlockBlobClient('big.bin').uploadData(content);
    const proxy = await cuttingProxy(1024 * 1024, { direction: 'down', times: 1 });

    // Act
    const out = await runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container },
      { services: servicesThrough(proxy.url), job: { id: 'j-cut', dataflowId: 'df-cut' } },
    ).finally(() => proxy.close());

    // Assess
    expect(proxy.cuts).toBe(1);
    expect(out.files).toHaveLength(1);
    expect(out.files[0]?.content.equals(content)).toBe(true);
  });

  it('fails with IDX_AZURE_AUTH, naming no key, when the account key is wrong', async () => {
    // Prepare
    const container = await containerWith({ 'a.csv': 'A' });
    const wrongKey = Buffer.from('not the key of this account').toString('base64');
    const wrong = createServices(env.config, new LocalSecretResolver({ env: {}, values: { AZ_KEY: wrongKey } }));

    // Act
    const run = runScript(
      datasourceReadAzureBlob,
      { ...ACCOUNT, container },
      { services: wrong, job: { id: 'j-key' } },
    );

    // Assess
    const error = await run.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'IDX_AZURE_AUTH', transient: false });
    expect(JSON.stringify(error)).not.toContain(wrongKey);
  });
});

/**
 * A TCP proxy to Azurite that cuts a connection once it has carried `limit` bytes in one direction (towards
 * Azurite for uploads, towards the client for downloads), for its first `times` connections that get that far.
 */
async function cuttingProxy(
  limit: number,
  options: { direction?: 'up' | 'down'; times?: number } = {},
): Promise<{ url: string; cuts: number; close(): Promise<void> }> {
  const target = new URL(env.config.endpoints.azureBlob ?? '');
  const sockets = new Set<Socket>();
  const state = { cuts: 0 };
  const server: TcpServer = createTcpServer((client) => {
    const upstream = connect(Number(target.port), '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let carried = 0;
    const [from, to] = options.direction === 'down' ? [upstream, client] : [client, upstream];
    from.on('data', (chunk: Buffer) => {
      carried += chunk.length;
      if (carried > limit && state.cuts < (options.times ?? Number.POSITIVE_INFINITY)) {
        state.cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      to.write(chunk);
    });
    // The other direction passes untouched.
    to.on('data', (chunk: Buffer) => from.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get cuts() {
      return state.cuts;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Services that reach Azurite through `url` (a proxy). */
function servicesThrough(url: string): Services {
  return createServices(
    { ...env.config, endpoints: { ...env.config.endpoints, azureBlob: url } },
    new LocalSecretResolver({ env: {}, values: { AZ_KEY: AZURITE_KEY } }),
  );
}

describe('datasource.write.azure.blob', () => {
  it('puts every file under the prefix folder and reports what the container holds', async () => {
    // Prepare
    const container = await containerWith({});

    // Act
    const out = await runScript(
      datasourceWriteAzureBlob,
      { ...ACCOUNT, container, blobPrefix: 'exports' },
      {
        services,
        files: [
          { name: 'a.csv', content: 'A' },
          { name: 'errors/b.csv', content: 'BB' },
        ],
      },
    );

    // Assess
    expect(await blobs(container)).toEqual({ 'exports/a.csv': 'A', 'exports/errors/b.csv': 'BB' });
    expect(out.counters).toMatchObject({ filesOut: 2, bytesDelivered: 3 });
  });

  it('leaves no blob under the final name when the connection is cut mid-upload', async () => {
    // Prepare: 20 MiB, three blocks; the proxy cuts after 10 MiB have gone towards Azurite.
    const container = await containerWith({});
    const proxy = await cuttingProxy(10 * 1024 * 1024);
    const cut = servicesThrough(proxy.url);
    const content = Buffer.alloc(20 * 1024 * 1024, 'x');

    // Act
    const run = runScript(
      datasourceWriteAzureBlob,
      { ...ACCOUNT, container, maxAttempts: 1 },
      { services: cut, files: [{ name: 'big.csv', content }] },
    );
    const error = await run.catch((e: unknown) => e);
    await proxy.close();

    // Assess
    expect(proxy.cuts).toBeGreaterThan(0);
    expect(error).toMatchObject({ code: 'IDX_AZURE_IO', location: { stepId: expect.any(String) } });
    expect(await blobs(container)).toEqual({});
  });

  it('does not replace a blob another job put under the name while the upload ran', async () => {
    // Prepare: the blob is free when the writer checks, and taken by the time the upload commits.
    const container = await containerWith({});
    const competing = containerClient(container).getBlockBlobClient('race.csv');
    const instance = await startScript(
      datasourceWriteAzureBlob as unknown as AnyScriptDefinition,
      { ...ACCOUNT, container },
      {
        job: testJob({ id: 'j-race' }),
        stepId: 'deliver',
        log: { debug() {}, info() {}, warn() {}, error() {} },
        services,
      },
    );
    const body = async function* () {
      await competing.upload('other job', 9);
      yield Buffer.from('mine');
    };
    const out = { delivered: () => undefined } as unknown as StepOutput;

    // Act
    const run = instance.file?.({ name: 'race.csv', size: 4, open: () => Readable.from(body()) }, out);

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_TARGET_EXISTS', location: { stepId: 'deliver' } });
    expect(await blobs(container)).toEqual({ 'race.csv': 'other job' });
  });

  it('refuses a file name that climbs out of the prefix folder', async () => {
    // Prepare
    const container = await containerWith({});

    // Act
    const run = runScript(
      datasourceWriteAzureBlob,
      { ...ACCOUNT, container, blobPrefix: 'out/' },
      { services, files: [{ name: '../escape.csv', content: 'E' }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
    expect(await blobs(container)).toEqual({});
  });

  it('fails with IDX_AZURE_AUTH when the account key is wrong', async () => {
    // Prepare
    const container = await containerWith({});
    const wrong = createServices(
      env.config,
      new LocalSecretResolver({ env: {}, values: { AZ_KEY: Buffer.from('wrong key').toString('base64') } }),
    );

    // Act
    const run = runScript(
      datasourceWriteAzureBlob,
      { ...ACCOUNT, container },
      { services: wrong, files: [{ name: 'a.csv', content: 'A' }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_AZURE_AUTH' });
    expect(await blobs(container)).toEqual({});
  });
});

describe('datasource.write.azure.sas', () => {
  const sasParams = () => ({
    clientId: LOCAL_SAS_CLIENT.clientId,
    clientSecret: '${secret:SAS}',
    blobUri: '/api/sasstorage/create/',
  });

  it('gets a token and a SAS URL per file, and uploads each file to the signed blob', async () => {
    // Prepare
    const names = [`sas-${Date.now()}-a.csv`, `sas-${Date.now()}-b.csv`];

    // Act
    const out = await runScript(datasourceWriteAzureSas, sasParams(), {
      services,
      files: names.map((name, i) => ({ name, content: `file ${i}` })),
    });

    // Assess
    const held = await blobs(LOCAL_SAS_CONTAINER);
    expect(names.map((n) => held[n])).toEqual(['file 0', 'file 1']);
    expect(out.counters).toMatchObject({ filesOut: 2, bytesDelivered: 12 });
    expect(out.trace.join('\n')).not.toMatch(/sig=/);
  });

  it('fails with IDX_AZURE_SAS_AUTH when the token endpoint refuses the client secret', async () => {
    // Act
    const run = runScript(
      datasourceWriteAzureSas,
      { ...sasParams(), clientSecret: '${secret:BAD}' },
      {
        services,
        files: [{ name: 'refused.csv', content: 'R' }],
      },
    );

    // Assess
    const error = await run.catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'IDX_AZURE_SAS_AUTH', transient: false, location: { param: 'clientSecret' } });
    expect(JSON.stringify(error)).not.toContain('wrong');
    expect((await blobs(LOCAL_SAS_CONTAINER))['refused.csv']).toBeUndefined();
  });

  it('fails with IDX_AZURE_SAS when the SAS service answers without a signed URL', async () => {
    // Prepare: a SAS service that answers every request with a URL that carries no signature.
    const fake: Server = createServer((_req, res) => res.end(JSON.stringify({ sasUrl: 'http://127.0.0.1:1/c/b' })));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;

    // Act
    const run = runScript(
      datasourceWriteAzureSas,
      {
        ...sasParams(),
        loginUrl: `${env.config.endpoints.azureSas}/tenant`,
        authenticationUrl: env.config.endpoints.azureSas,
        blobUri: `${fakeUrl}/create/`,
      },
      { services, files: [{ name: 'unsigned.csv', content: 'U' }] },
    );
    const error = await run.catch((e: unknown) => e);
    await new Promise<void>((r) => fake.close(() => r()));

    // Assess
    expect(error).toMatchObject({ code: 'IDX_AZURE_SAS', location: { param: 'blobUri' } });
  });
});
