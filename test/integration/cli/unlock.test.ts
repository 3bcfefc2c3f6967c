import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalEnvironment } from '../../../lib/local/environment.ts';
import { JobStore } from '../../../lib/stores/jobs.ts';
import { type DataflowState, DataflowStateStore, type LockHolder } from '../../../lib/stores/state.ts';
import { runningJobRecord } from '../../support/jobs.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-unlock-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function idx(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/idx.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', IDX_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Opens the local state the command uses, runs `use`, and closes it again (one process at a time). */
async function withState<T>(use: (state: DataflowStateStore, jobs: JobStore) => Promise<T>): Promise<T> {
  const env = await startLocalEnvironment({ dir: home, env: {} });
  try {
    return await use(
      new DataflowStateStore(env.services.dynamo, env.config.tables.state),
      new JobStore(env.services.dynamo, env.config.tables.jobs),
    );
  } finally {
    await env.close();
  }
}

async function lockAs(dataflowId: string, jobId: string, holder: LockHolder): Promise<void> {
  await withState(async (state, jobs) => {
    await jobs.create(runningJobRecord(jobId, dataflowId));
    await state.acquireLock(dataflowId, jobId, Date.now(), 6 * 3_600_000, holder);
  });
}

describe('idx unlock', () => {
  it('releases a lock whose process is gone and ends its job as killed', async () => {
    // Prepare
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    await lockAs('crashed', 'crashed-job', { pid: gone, host: hostname() });

    // Act
    const r = idx('unlock', 'crashed');

    // Assess
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('released the run lock of "crashed" held by job crashed-job (job ended as killed)');
    const [state, job] = await withState(async (s, j) => [await s.get('crashed'), await j.get('crashed-job')] as const);
    expect((state as DataflowState).lockJobId).toBeUndefined();
    expect(job).toMatchObject({ status: 'killed' });
  });

  it('refuses while the process holding the lock runs', async () => {
    // Prepare
    await lockAs('running', 'running-job', { pid: process.pid, host: hostname() });

    // Act
    const r = idx('unlock', 'running');

    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('IDX_RUN_LOCKED');
    expect(r.stderr).toContain(`process ${process.pid}`);
    const state = await withState((s) => s.get('running'));
    expect(state.lockJobId).toBe('running-job');
  });

  it('says so when the dataflow is not locked', () => {
    // Act
    const r = idx('unlock', 'never-ran');

    // Assess
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"never-ran" is not locked');
  });
});
