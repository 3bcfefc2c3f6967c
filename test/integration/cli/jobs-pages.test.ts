/**
 * `idx jobs` on a local state folder kept from before the `byStart` index: the first command rebuilds the jobs table
 * with the index, and the listing pages through every record with the cursor it prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEnvironment } from '../../../lib/local/environment.ts';
import { settleTable } from '../../../lib/local/jobs-table.ts';
import { legacyJobsTableInput, runningJobRecord } from '../../support/jobs.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-jobs-pages-'));
const env = { ...process.env, NO_COLOR: '1', IDX_HOME: home };

function idx(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/idx.js', ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Three jobs, oldest first. */
const OLD = ['old-1', 'old-2', 'old-3'].map((id, n) => ({
  ...runningJobRecord(id, `df-${n}`),
  status: 'succeeded' as const,
  startTime: `2026-01-0${n + 1}T00:00:00.000Z`,
}));

beforeAll(async () => {
  // Prepare: the folder's jobs table as an earlier version created it (byDataflow only), holding three records.
  const local = await startLocalEnvironment({ dir: home, env: {} });
  const table = local.config.tables.jobs;
  await local.services.dynamo.send(new DeleteTableCommand({ TableName: table }));
  const ddb = new DynamoDBClient({
    region: local.config.region,
    endpoint: local.config.endpoints.dynamodb as string,
    credentials: local.config.credentials as never,
  });
  await settleTable(ddb, table, 'gone');
  await local.services.dynamo.send(new CreateTableCommand(legacyJobsTableInput(table)));
  await settleTable(ddb, table, 'active');
  for (const job of OLD) await local.services.dynamo.send(new PutCommand({ TableName: table, Item: job }));
  ddb.destroy();
  await local.close();
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('idx jobs', () => {
  it('lists the jobs of a folder from before the byStart index newest first, a page at a time', () => {
    // Act
    const first = idx('jobs', '--json', '--limit', '2');
    const cursor = /older jobs: add --cursor (\S+)/.exec(first.stderr)?.[1] ?? '';
    const second = idx('jobs', '--json', '--limit', '2', '--cursor', cursor);

    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as { id: string }[]).map((j) => j.id)).toEqual(['old-3', 'old-2']);
    expect((JSON.parse(second.stdout) as { id: string }[]).map((j) => j.id)).toEqual(['old-1']);
    expect(second.stderr).not.toContain('older jobs');
  });

  it('answers a cursor it did not print with IDX_JOB_CURSOR_INVALID, and reindex finds nothing left to do', () => {
    // Act
    const bad = idx('jobs', '--cursor', 'eyJ0IjoxfQ');
    const reindex = idx('jobs', 'reindex');

    // Assess
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('IDX_JOB_CURSOR_INVALID');
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect([reindex.code, reindex.stdout]).toEqual([
      0,
      '0 job record(s) from before the byStart index now list in `idx jobs` and the console\n',
    ]);
  });
});
