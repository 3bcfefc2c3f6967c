import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimServices } from '../../../lib/local/shared.ts';

const dirs: string[] = [];
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-shared-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The pid of a process that has ended. */
function endedPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

const endpoints = { s3: 'http://127.0.0.1:1', dynamodb: 'http://127.0.0.1:2' };

describe('claimServices', () => {
  it('makes the first claimant the owner and a later one its client, with the published endpoints', async () => {
    // Prepare
    const dir = folder();
    const owner = await claimServices(dir);
    if (owner.kind !== 'owner') throw new Error('expected the owner');
    owner.publish({ endpoints, info: { s3: 'here' } });

    // Act
    const client = await claimServices(dir);

    // Assess
    expect(client).toMatchObject({ kind: 'client', services: { pid: process.pid, endpoints, info: { s3: 'here' } } });
  });

  it('keeps the services up until its last client detaches', async () => {
    // Prepare
    const dir = folder();
    const owner = await claimServices(dir);
    if (owner.kind !== 'owner') throw new Error('expected the owner');
    owner.publish({ endpoints, info: {} });
    const client = await claimServices(dir);
    if (client.kind !== 'client') throw new Error('expected a client');
    const waitedFor: number[][] = [];

    // Act
    let retired = false;
    const retiring = owner
      .retire((pids) => waitedFor.push([...pids]))
      .then(() => {
        retired = true;
      });
    await new Promise((r) => setTimeout(r, 300));
    const beforeDetach = retired;
    const stillPublished = existsSync(join(dir, 'services.json'));
    client.detach();
    await retiring;
    owner.release();

    // Assess
    expect(beforeDetach).toBe(false);
    expect(stillPublished).toBe(true);
    expect(waitedFor).toEqual([[process.pid]]);
    expect(existsSync(join(dir, 'services.lock'))).toBe(false);
    expect((await claimServices(dir)).kind).toBe('owner');
  });

  it('takes over the folder of an owner that ended without giving it up', async () => {
    // Prepare
    const dir = folder();
    writeFileSync(join(dir, 'services.lock'), String(endedPid()));
    writeFileSync(join(dir, 'services.json'), JSON.stringify({ pid: 1, endpoints, info: {} }));

    // Act
    const claim = await claimServices(dir);

    // Assess
    expect(claim.kind).toBe('owner');
    expect(existsSync(join(dir, 'services.json'))).toBe(false);
  });

  it('answers IDX_LOCAL_BUSY when a live owner never publishes its services', async () => {
    // Prepare
    const dir = folder();
    writeFileSync(join(dir, 'services.lock'), String(process.pid));

    // Act / Assess
    await expect(claimServices(dir, { timeoutMs: 200, pollMs: 20 })).rejects.toMatchObject({ code: 'IDX_LOCAL_BUSY' });
  });
});
