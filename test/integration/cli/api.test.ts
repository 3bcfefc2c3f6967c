import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_GIGYA_CREDENTIALS } from '../../../lib/scripts/util/gigya-step.ts';
import { postForm } from '../../support/idx-api.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-api-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Starts `idx api` and resolves with the process and the URL it printed. */
function startApi(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/idx.js', 'api', '--port', '0'], {
    env: { ...process.env, NO_COLOR: '1', IDX_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const url = /IDX API at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.on('exit', (code) => reject(new Error(`idx api exited with ${code} before printing its URL`)));
  });
}

/** Stops the server with Ctrl-C and resolves with its exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}

describe('idx api', () => {
  it('serves the API on 127.0.0.1 over dataflows/, checking callers against the credentials its secrets set, until Ctrl-C', async () => {
    // Prepare
    const credentials = { apiKey: '3_site', userKey: 'ops', secret: 'b3BzIHNlY3JldA==' };
    const { child, url } = await startApi({
      IDX_SECRET_IDX_API_KEY: credentials.apiKey,
      IDX_SECRET_IDX_API_USER_KEY: credentials.userKey,
      IDX_SECRET_IDX_API_SECRET: credentials.secret,
    });

    // Act
    const query = "SELECT id FROM dataflow WHERE id = 'eloqua-outbound'";
    const configured = await postForm(`${url}/idx.search`, { ...credentials, query });
    const emulators = await postForm(`${url}/idx.search`, { ...LOCAL_GIGYA_CREDENTIALS, query });
    const code = await stop(child);

    // Assess
    expect(configured).toMatchObject({ errorCode: 0, result: [{ id: 'eloqua-outbound' }], totalCount: 1 });
    expect(emulators).toMatchObject({ errorCode: 400093 });
    expect(code).toBe(0);
  });
});
