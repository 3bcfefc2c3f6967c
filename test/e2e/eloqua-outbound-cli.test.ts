/**
 * `idx gigya seed --accounts 100000` followed by `idx run dataflows/eloqua-outbound.json`, as a new user would try
 * it, each in a process of its own with the CLI's 192 MB heap. With every account in memory, the run's embedded
 * emulator died of a V8 out-of-memory error while loading them.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode } from '../support/node-process.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-outbound-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function idx(...args: string[]) {
  return runNode(['--max-old-space-size=192', 'bin/idx.js', ...args], { ...process.env, IDX_HOME: home });
}

describe('idx run over 100,000 seeded accounts', () => {
  it("exports the accounts changed in the last day to the SFTP folder within the CLI's 192 MB heap", {
    timeout: 600_000,
  }, async () => {
    // Act
    const seeded = await idx('gigya', 'seed', '--accounts', '100000');
    const run = await idx('run', 'dataflows/eloqua-outbound.json', '--json');

    // Assess
    expect(seeded.status, seeded.stderr).toBe(0);
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    const job = JSON.parse(run.stdout) as { status: string; totalRecords: number };
    expect(job.status).toBe('succeeded');
    // Generated accounts were updated uniformly over 90 days: about one in 90 changed in the last day.
    expect(job.totalRecords).toBeGreaterThan(900);
    expect(job.totalRecords).toBeLessThan(1300);
    const folder = join(home, 'sftp', 'to-eloqua');
    const [file] = readdirSync(folder);
    const lines = readFileSync(join(folder, file as string), 'utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(job.totalRecords + 1);
  });
});
