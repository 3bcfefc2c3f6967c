/**
 * `idx run --dry-run` and `idx test --dry-run` as a user types them, each in a process of its own on a fresh state
 * folder: the summary says what each writer would have written, the SFTP folder stays empty, and `idx jobs` marks
 * the jobs as dry runs.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runNode } from '../support/node-process.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-dry-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function idx(...args: string[]) {
  return runNode(['bin/idx.js', ...args], { ...process.env, IDX_HOME: home });
}

describe('idx run --dry-run', () => {
  it('prints what each writer would have written and writes nothing', { timeout: 300_000 }, async () => {
    // Act
    const run = await idx('run', 'eloqua-outbound', '--dry-run', '--full-extract');
    const test = await idx('test', 'eloqua-outbound', '--dry-run');
    const jobs = await idx('jobs');

    // Assess
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    expect(run.stdout).toMatch(/records read, \d+ processed \(dry run: nothing written\)/);
    expect(run.stdout).toMatch(/would write: {3}\d+ record\(s\) in \d+ call\(s\) to uidmap\.put, .* \[remember UIDs\]/);
    expect(run.stdout).toMatch(
      /would write: {3}1 file\(s\), .* \[sftp\]\n {2}sftp:\/\/idx@embedded\/to-eloqua\/gigya_to_eloqua_\d{14}\.csv /,
    );
    expect(run.stdout).toContain('last successful run: never; last successful test run: never');
    expect(test.status, test.stderr.slice(-2000)).toBe(0);
    expect(test.stdout).toMatch(/\d+ records read, \d+ processed \(dry run: nothing written\) \(test run\)/);
    const folder = join(home, 'sftp', 'to-eloqua');
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
    expect(jobs.stdout.trim().split('\n').slice(1)).toEqual([
      expect.stringMatching(/ succeeded .* yes +yes$/),
      expect.stringMatching(/ succeeded .* \d+ +yes$/),
    ]);
  });
});
