import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const home = mkdtempSync(join(tmpdir(), 'idx-interrupt-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const env = { ...process.env, NO_COLOR: '1', IDX_HOME: home };

function idx(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/idx.js', ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `idx run <file>` and sends it `signal` once its stderr shows `when`; resolves with its exit and output. */
function runAndSignal(file: string, when: string, signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['bin/idx.js', 'run', file], { env });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (!sent && stderr.includes(when)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('idx run, interrupted', () => {
  it('ends its job as killed and releases the run lock on SIGTERM', async () => {
    // Prepare
    expect(idx('sample', '--records', '100000').code).toBe(0);

    // Act: stopped while the file is parsed.
    const r = await runAndSignal('dataflows/sample-s3-csv.json', '▶ parse', 'SIGTERM');

    // Assess
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('stopping: the job ends as killed');
    expect(r.stdout).toMatch(/^job local-\S+ killed in /);
    expect(r.stdout).toContain('killed: IDX_EXECUTION_ABORTED');
    const jobs = JSON.parse(idx('jobs', '--json').stdout) as { status: string }[];
    expect(jobs.map((j) => j.status)).toEqual(['killed']);
    expect(idx('unlock', 'sample-s3-csv').stdout).toContain('"sample-s3-csv" is not locked');
  });
});
