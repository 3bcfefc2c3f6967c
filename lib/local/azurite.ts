/**
 * Azure Blob storage in local mode: Microsoft's emulator Azurite, run as a child process on 127.0.0.1 (its
 * in-process classes are internal and change between releases), with data under `<dir>/azurite/` or in memory
 * for ephemeral environments; and a small OAuth token and SAS service in front of it for
 * `datasource.write.azure.sas`. `IDX_AZURE_BLOB_ENDPOINT` points local runs at another blob endpoint instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
// Types only: the SDK is loaded when Azurite starts, so a run without Azure steps never loads it.
import type { BlobServiceClient } from '@azure/storage-blob';
import { ENV } from '../core/env.ts';
import type { LocalExtra } from './environment.ts';

/** The account Azurite knows out of the box, with its published well-known key. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known key of {@link AZURITE_ACCOUNT}: public, the same on every installation. */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob service. */
export interface Azurite {
  /** e.g. `http://127.0.0.1:40123`; accounts are path-style below it. */
  readonly url: string;
  /** A client for {@link AZURITE_ACCOUNT}. */
  client(): BlobServiceClient;
  close(): Promise<void>;
}

/** How long Azurite may take to start listening. */
const START_TIMEOUT_MS = 60_000;

/**
 * Starts Azurite's blob service on a free loopback port: persisted in `location`, or in memory without one.
 * Telemetry is off (closed network) and the API version check is skipped (the SDK may be newer than the emulator).
 */
export async function startAzurite(options: { location?: string } = {}): Promise<Azurite> {
  const sdk = await import('@azure/storage-blob');
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const args = [
    main,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    '0',
    '--silent',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
  ];
  if (options.location) {
    mkdirSync(options.location, { recursive: true });
    args.push('--location', options.location);
  } else {
    // A bounded extent store: without a limit Azurite allows half the machine's memory.
    args.push('--inMemoryPersistence', '--extentMemoryLimit', '1024');
  }
  const env = { ...process.env };
  // Custom accounts would disable the well-known one the local steps use.
  delete env.AZURITE_ACCOUNTS;
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  // A process that ends without closing (an uncaught error, process.exit) must not leave the emulator running.
  const orphanGuard = () => child.kill('SIGTERM');
  process.once('exit', orphanGuard);
  child.once('exit', () => process.off('exit', orphanGuard));
  const url = await new Promise<string>((res, rej) => {
    let output = '';
    const timer = setTimeout(
      () => rej(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms: ${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output = `${output}${chunk.toString('utf8')}`.slice(-4096);
      const match = /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        res(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output = `${output}${chunk.toString('utf8')}`.slice(-4096);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`Azurite exited with ${code} before listening: ${output}`));
    });
  });
  child.stderr?.resume();
  return {
    url,
    client: () =>
      new sdk.BlobServiceClient(
        `${url}/${AZURITE_ACCOUNT}`,
        new sdk.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      ),
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The client credentials the local SAS service accepts. */
export const LOCAL_SAS_CLIENT = { clientId: 'idx-local', clientSecret: 'idx-local-secret' } as const;

/** The container the local SAS service signs blobs in. */
export const LOCAL_SAS_CONTAINER = 'sas-uploads';

/** A running local token and SAS service. */
export interface LocalSasService {
  /** e.g. `http://127.0.0.1:40124`: the token endpoint is `<url>/<tenant>/oauth2/token`, SAS URLs are under `<url>/`. */
  readonly url: string;
  /** How many tokens it issued (tests check that a token is reused). */
  readonly issued: number;
  close(): Promise<void>;
}

/** The largest request body the local service reads. */
const MAX_BODY_BYTES = 16 * 1024;

/** Token lifetime of the local service. */
const TOKEN_SECONDS = 3600;

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  let total = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts the stand-in of a customer's OAuth and SAS service on 127.0.0.1: `POST /<tenant>/oauth2/token`
 * (client-credentials grant with {@link LOCAL_SAS_CLIENT}, `resource` must be the service's own URL, as an Entra
 * ID audience would be) issues opaque bearer tokens; `GET <any path>/create/<blob name>` (or `GET /<blob name>`)
 * with a valid token answers `{"sasUrl": …}`, a blob SAS (create and write, one hour) for that blob in the
 * container {@link LOCAL_SAS_CONTAINER} of Azurite's well-known account.
 */
export async function startLocalSasService(blobEndpoint: string): Promise<LocalSasService> {
  const { BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential } =
    await import('@azure/storage-blob');
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  const account = new BlobServiceClient(`${blobEndpoint.replace(/\/+$/, '')}/${AZURITE_ACCOUNT}`, credential);
  await account.getContainerClient(LOCAL_SAS_CONTAINER).createIfNotExists();
  const tokens = new Map<string, number>();
  let issued = 0;
  let self = '';
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://local').pathname;
      if (req.method === 'POST' && /^\/[^/]+\/oauth2\/token$/.test(path)) {
        const text = await readBody(req);
        if (text === undefined) return reply(res, 413, { error: 'invalid_request' });
        const form = new URLSearchParams(text);
        if (form.get('grant_type') !== 'client_credentials')
          return reply(res, 400, { error: 'unsupported_grant_type' });
        if (
          form.get('client_id') !== LOCAL_SAS_CLIENT.clientId ||
          form.get('client_secret') !== LOCAL_SAS_CLIENT.clientSecret
        )
          return reply(res, 401, { error: 'invalid_client' });
        if (form.get('resource')?.replace(/\/+$/, '') !== self) return reply(res, 400, { error: 'invalid_resource' });
        const token = randomBytes(24).toString('base64url');
        tokens.set(token, Date.now() + TOKEN_SECONDS * 1000);
        issued++;
        return reply(res, 200, { access_token: token, token_type: 'Bearer', expires_in: TOKEN_SECONDS });
      }
      if (req.method === 'GET') {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const expires = token === undefined ? undefined : tokens.get(token);
        if (expires === undefined || expires < Date.now()) return reply(res, 401, { error: 'invalid_token' });
        const at = path.lastIndexOf('/create/');
        const raw = at >= 0 ? path.slice(at + '/create/'.length) : path.slice(1);
        const name = raw.split('/').map(decodeURIComponent).join('/');
        if (name === '') return reply(res, 400, { error: 'no blob name' });
        const sas = generateBlobSASQueryParameters(
          {
            containerName: LOCAL_SAS_CONTAINER,
            blobName: name,
            permissions: BlobSASPermissions.parse('rcw'),
            expiresOn: new Date(Date.now() + 3_600_000),
          },
          credential,
        ).toString();
        const blob = account.getContainerClient(LOCAL_SAS_CONTAINER).getBlobClient(name);
        return reply(res, 200, { sasUrl: `${blob.url}?${sas}` });
      }
      reply(res, 404, { error: 'not found' });
    })().catch(() => {
      if (!res.headersSent) reply(res, 500, { error: 'server_error' });
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: self,
    get issued() {
      return issued;
    },
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

/**
 * Azurite and the local SAS service as a stand-in of the local environment. Steps reach Azurite through the
 * well-known account `devstoreaccount1`; `datasource.write.azure.sas` steps with empty URLs use the SAS service.
 */
export function azuriteExtra(): LocalExtra {
  const start: LocalExtra = async ({ dir, ephemeral }) => {
    const given = process.env[ENV.azureBlobEndpoint.name];
    const azurite = given ? undefined : await startAzurite(ephemeral ? {} : { location: join(dir, 'azurite') });
    const blob = given ?? azurite?.url ?? '';
    try {
      const sas = await startLocalSasService(blob);
      return {
        endpoints: { azureBlob: blob, azureSas: sas.url },
        close: async () => {
          await sas.close();
          await azurite?.close();
        },
        info: {
          azure: `${blob}/${AZURITE_ACCOUNT} (${given ? ENV.azureBlobEndpoint.name : 'Azurite'}, account ${AZURITE_ACCOUNT} with its well-known key${azurite && !ephemeral ? `, data in ${join(dir, 'azurite')}` : ''}); SAS service ${sas.url} (client ${LOCAL_SAS_CLIENT.clientId})`,
        },
      };
    } catch (error) {
      await azurite?.close();
      throw error;
    }
  };
  return Object.assign(start, { provides: ['azureBlob', 'azureSas'] as const });
}
