/** The IDX REST API on loopback for a test file: a temporary `dataflows/`, the local environment, a server. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { IdxData } from '../../lib/idx-api/data.ts';
import { idxApiHandler } from '../../lib/idx-api/handler.ts';
import { LocalIdxData } from '../../lib/idx-api/local.ts';
import type { LocalEnvironment } from '../../lib/local/environment.ts';
import { gigyaExtra } from '../../lib/local/gigya-extra.ts';
import { sftpExtra } from '../../lib/local/sftp-server.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../lib/scripts/util/gigya-step.ts';
import { useLocalEnvironment } from './local.ts';

/** A Gigya answer as JSON. */
export type Answer = Record<string, unknown> & { errorCode: number; statusCode: number };

/** A running API: its URL, the folder of its dataflows, and a caller. */
export interface ApiUnderTest {
  readonly url: string;
  readonly dir: string;
  readonly data: LocalIdxData;
  readonly env: LocalEnvironment;
  /** Calls a method with the emulator's credentials (form POST), plus `params` (which may override them). */
  call(method: string, params?: Record<string, string>): Promise<Answer>;
}

/** Starts an HTTP server on 127.0.0.1 answering with the API handler over `data`; resolves with it and its URL. */
export async function serveApi(data: IdxData): Promise<{ server: Server; url: string }> {
  const handler = idxApiHandler({ data, credentials: LOCAL_GIGYA_CREDENTIALS });
  const server = createServer((req, res) => {
    void handler(req, res).then((answered) => {
      if (!answered) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Posts a form to the API and reads the answer. */
export async function postForm(url: string, params: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return (await res.json()) as Answer;
}

/**
 * The API over a temporary copy of the shipped dataflows (`files`, from the project's `dataflows/`), on an
 * ephemeral environment with the Gigya emulator (`accounts` generated) and the SFTP server.
 */
export function useIdxApi(files: readonly string[], accounts = 50): ApiUnderTest {
  const dir = mkdtempSync(join(tmpdir(), 'idx-api-dataflows-'));
  const holder = useLocalEnvironment({ extras: [gigyaExtra({ sampleAccounts: accounts }), sftpExtra()] });
  const api = { dir } as { url: string; dir: string; data: LocalIdxData; server: Server };
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    for (const f of files) copyFileSync(join('dataflows', f), join(dir, f));
    api.data = new LocalIdxData({ env: holder.env, registry: defaultRegistry(), dir });
    Object.assign(api, await serveApi(api.data));
  });
  afterAll(async () => {
    await new Promise<void>((r) => api.server?.close(() => r()));
    await api.data?.close(true);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get url() {
      return api.url;
    },
    dir,
    get data() {
      return api.data;
    },
    get env() {
      return holder.env;
    },
    call: (method, params = {}) => postForm(`${api.url}/${method}`, { ...LOCAL_GIGYA_CREDENTIALS, ...params }),
  };
}
