/**
 * Local commands side by side, each in a process of its own on one state folder, as in two terminals: `idx jobs`
 * while a run is active, a second run of the same dataflow, and a later run that must not import the same file
 * again although the embedded SFTP server listens on another port. The Gigya emulator runs in the test process
 * (IDX_GIGYA_ENDPOINT) so the first run can be held at its first account write for as long as the test needs.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { JobRecord } from '../../lib/stores/jobs.ts';

let home = '';
let emu: GigyaEmulator;

/** Runs `idx …` in a process of its own on the test's state folder. */
function idx(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['bin/idx.js', ...args],
      { env: { ...process.env, IDX_HOME: home, IDX_GIGYA_ENDPOINT: emu.url, NO_COLOR: '1' }, timeout: 120_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 50));
}

const noStackTrace = /\n\s+at /;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'idx-processes-'));
  const accounts = [...generateAccounts({ count: 5, seed: 11 })];
  emu = await startGigyaEmulator({ accounts });
  const rows = accounts.map((a) => {
    const email = (a.profile as { email: string }).email;
    return `${email},${String(a.UID)},true`;
  });
  mkdirSync(join(home, 'sftp', 'from-eloqua'), { recursive: true });
  writeFileSync(
    join(home, 'sftp', 'from-eloqua', 'eloqua_export_20260101.csv'),
    ['C_EmailAddress,C_Gigya_UID1,isSubscribed', ...rows, ''].join('\r\n'),
  );
});

afterAll(async () => {
  await emu?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('idx processes sharing one state folder', () => {
  it('lists and shows jobs during a run, refuses a second run with IDX_RUN_LOCKED, and never imports a file twice', async () => {
    // Prepare: the first run holds at its first account write.
    const release = emu.faults.hold('accounts.setAccountInfo');
    const first = idx('run', 'eloqua-inbound');
    await until(() => (emu.calls.get('accounts.setAccountInfo') ?? 0) > 0);

    // Act
    const listed = await idx('jobs', '--json');
    const running = (JSON.parse(listed.stdout) as JobRecord[]).find((j) => j.status === 'running');
    const shown = await idx('jobs', 'show', running?.id ?? 'none');
    const second = await idx('run', 'eloqua-inbound');
    release();
    const done = await first;
    const writes = emu.calls.get('accounts.setAccountInfo');
    const third = await idx('run', 'dataflows/eloqua-inbound.json', '--json');

    // Assess
    expect(listed.code, listed.stderr).toBe(0);
    expect(running).toMatchObject({ dataflowId: 'eloqua-inbound', status: 'running' });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`job ${running?.id} running`);
    expect(second.code).toBe(1);
    expect(`${second.stdout}${second.stderr}`).toContain('IDX_RUN_LOCKED');
    for (const r of [listed, shown, second]) expect(r.stderr).not.toMatch(noStackTrace);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('files read:    eloqua_export_20260101.csv');
    expect(writes).toBe(5);
    expect(third.code, third.stderr).toBe(0);
    const again = JSON.parse(third.stdout) as JobRecord;
    expect(again.totalRecords).toBe(0);
    expect(again.steps.sftp?.skipped).toEqual([
      {
        name: 'eloqua_export_20260101.csv',
        reason: expect.stringContaining(`already imported by job ${running?.id}`),
      },
    ]);
    expect(emu.calls.get('accounts.setAccountInfo')).toBe(5);
  }, 240_000);
});
