import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { gigyaCommand } from '../../../lib/cli/gigya.ts';
import { GigyaClient, type GigyaError } from '../../../lib/connectors/gigya.ts';
import { startGigyaEmulator } from '../../../lib/local/gigya-emulator.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../../lib/scripts/util/gigya-step.ts';

const dir = mkdtempSync(join(tmpdir(), 'idx-cli-gigya-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('idx gigya', () => {
  it('seeds generated accounts, appends accounts from an NDJSON file, and the emulator starts with them', async () => {
    // Prepare
    const input = join(dir, 'in.ndjson');
    writeFileSync(
      input,
      `${JSON.stringify({ UID: 'mine-1', profile: { email: 'a@example.com' } })}\n\n${JSON.stringify({ profile: { email: 'b@example.com' } })}\n`,
    );
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    // Act
    const first = await gigyaCommand(['seed', '--accounts', '50', '--dir', dir]);
    const second = await gigyaCommand(['seed', '--from', input, '--append', '--dir', dir]);
    write.mockRestore();
    const emu = await startGigyaEmulator({ dataDir: join(dir, 'gigya') });
    await emu.close();

    // Assess
    expect([first, second]).toEqual([0, 0]);
    expect(emu.store.accounts.size).toBe(52);
    expect(emu.store.accounts.get('mine-1')?.lastUpdatedTimestamp).toEqual(expect.any(Number));
    expect(
      [...emu.store.accounts.values()].filter((a) => (a.profile as { email: string }).email === 'b@example.com'),
    ).toHaveLength(1);
  });

  it('serves the emulator on its own with a rate limit on one method, and counts the calls by answer when stopped', async () => {
    // Prepare
    const serve = spawn(
      process.execPath,
      [
        'bin/idx.js',
        'gigya',
        'serve',
        '--dir',
        dir,
        '--latency',
        '20',
        '--rate-limit',
        '2',
        '--method',
        'accounts.search',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    serve.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    while (!/IDX_GIGYA_ENDPOINT=\S+/.test(stdout)) {
      if (serve.exitCode !== null) throw new Error(`idx gigya serve ended (${serve.exitCode})`);
      await once(serve.stdout, 'data');
    }
    const url = /IDX_GIGYA_ENDPOINT=(\S+)/.exec(stdout)?.[1] as string;
    const client = new GigyaClient({ ...LOCAL_GIGYA_CREDENTIALS, endpoint: url, retry: { maxAttempts: 1 } });
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: GigyaError) => e.errorCode,
      );

    // Act
    const searches = await Promise.all(
      Array.from({ length: 4 }, () =>
        codeOf(client.call('accounts.search', { query: 'SELECT UID FROM accounts LIMIT 1' })),
      ),
    );
    const lookups = await Promise.all(
      Array.from({ length: 4 }, () => codeOf(client.call('accounts.getAccountInfo', { UID: 'mine-1' }))),
    );
    serve.kill('SIGTERM');
    await once(serve, 'exit');

    // Assess
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stdout).toContain('52 accounts; 20 ms latency, at most 2 calls/s (403048 above) on accounts.search');
    expect(searches.sort()).toEqual([0, 0, 403048, 403048]);
    expect(lookups).toEqual([0, 0, 0, 0]);
    expect(stdout).toContain('calls: accounts.getAccountInfo 4 (4 OK)');
    expect(stdout).toContain('calls: accounts.search 4 (2 OK, 2 × 403048)');
  });

  it('refuses a port, latency or rate limit that is not a whole number', async () => {
    // Act / Assess
    await expect(gigyaCommand(['serve', '--rate-limit', 'fast', '--dir', dir])).rejects.toMatchObject({
      code: 'IDX_USAGE',
      received: '"fast"',
    });
    await expect(gigyaCommand(['serve', '--port', '70000', '--dir', dir])).rejects.toMatchObject({ code: 'IDX_USAGE' });
    await expect(gigyaCommand(['seed', '--accounts', '1.5', '--dir', dir])).rejects.toMatchObject({
      code: 'IDX_USAGE',
    });
  });

  it('refuses an unknown subcommand with a usage error', async () => {
    // Act / Assess
    await expect(gigyaCommand(['grow'])).rejects.toMatchObject({ code: 'IDX_USAGE' });
  });
});
