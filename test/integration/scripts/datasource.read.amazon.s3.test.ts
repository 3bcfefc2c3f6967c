import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { LOCAL_CREDENTIALS, type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { datasourceReadAmazonS3 } from '../../../lib/scripts/datasource.read.amazon.s3.ts';
import { runScript } from '../../../lib/testing/harness.ts';

let env: LocalEnvironment;
let dir: string;
let bucketN = 0;

async function bucketWith(objects: Record<string, string>, spaced = false): Promise<string> {
  const bucket = `in-${++bucketN}`;
  await env.services.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const [key, body] of Object.entries(objects)) {
    await env.services.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    // Distinct modification times (S3 keeps whole seconds in listings).
    if (spaced) await new Promise((r) => setTimeout(r, 1100));
  }
  return bucket;
}

async function keys(bucket: string): Promise<string[]> {
  const out = await env.services.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-s3-read-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
});

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.read.amazon.s3', () => {
  it('reads the matching objects of the prefix folder in time order, not those of sub-folders', async () => {
    // Prepare
    const bucket = await bucketWith(
      {
        'in/b.csv': 'B',
        'in/a.csv': 'A',
        'in/notes.txt': 'N',
        'in/sub/c.csv': 'C',
      },
      true,
    );

    // Act
    const out = await runScript(
      datasourceReadAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'in/', fileNameRegex: '.*\\.csv' },
      { services: env.services, job: { id: 'j-order', dataflowId: 'df-order' } },
    );

    // Assess
    expect(out.files.map((f) => [f.name, f.content.toString()])).toEqual([
      ['b.csv', 'B'],
      ['a.csv', 'A'],
    ]);
  });

  it('sorts by name descending and treats a folder written without "/" as the folder', async () => {
    // Prepare
    const bucket = await bucketWith({ 'in/a.csv': 'A', 'in/c.csv': 'C', 'in/b.csv': 'B' });

    // Act
    const out = await runScript(
      datasourceReadAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'in', sortBy: 'name', sortOrder: 'DESC' },
      { services: env.services, job: { id: 'j-name', dataflowId: 'df-name' } },
    );

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['c.csv', 'b.csv', 'a.csv']);
  });

  it('finds no new file on a second scheduled run, and reads a file again once it is replaced', async () => {
    // Prepare
    const bucket = await bucketWith({ 'in/a.csv': 'A' });
    const params = { bucketName: bucket, objectKeyPrefix: 'in/' };
    const first = await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-first', dataflowId: 'df-memory' },
    });

    // Act
    const second = await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-second', dataflowId: 'df-memory' },
    });
    await env.services.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'in/a.csv', Body: 'A2 longer' }));
    const third = await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-third', dataflowId: 'df-memory' },
    });

    // Assess
    expect(first.files.map((f) => f.name)).toEqual(['a.csv']);
    expect(second.files).toEqual([]);
    expect(second.trace.join('\n')).toContain('already imported');
    expect(third.files.map((f) => f.content.toString())).toEqual(['A2 longer']);
  });

  it('reads a file again when the job that read it failed', async () => {
    // Prepare
    const bucket = await bucketWith({ 'in/a.csv': 'A' });
    const params = { bucketName: bucket, objectKeyPrefix: 'in/' };
    await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-failed', dataflowId: 'df-failed' },
    });
    await env.services.dynamo.send(
      new PutCommand({
        TableName: env.config.tables.jobs,
        Item: { id: 'j-failed', dataflowId: 'df-failed', status: 'failed' },
      }),
    );

    // Act
    const again = await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-after-failure', dataflowId: 'df-failed' },
    });

    // Assess
    expect(again.files.map((f) => f.name)).toEqual(['a.csv']);
  });

  it('moves a read object into moveToPath inside the prefix folder, and deletes with afterRead delete', async () => {
    // Prepare
    const bucket = await bucketWith({ 'in/a.csv': 'A', 'other/b.csv': 'B' });

    // Act
    await runScript(
      datasourceReadAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'in/', afterRead: 'move', moveToPath: 'done' },
      { services: env.services, job: { id: 'j-move', dataflowId: 'df-move' } },
    );
    const afterMove = await keys(bucket);
    await runScript(
      datasourceReadAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'other/', afterRead: 'delete' },
      { services: env.services, job: { id: 'j-delete', dataflowId: 'df-move' } },
    );

    // Assess
    expect(afterMove).toEqual(['in/done/a.csv', 'other/b.csv']);
    expect(await keys(bucket)).toEqual(['in/done/a.csv']);
    const moved = await env.services.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'in/done/a.csv' }));
    expect(await moved.Body?.transformToString()).toBe('A');
  });

  it('reads only the newest file in a test run and neither moves it nor remembers it', async () => {
    // Prepare
    const bucket = await bucketWith({ 'in/a.csv': 'A', 'in/b.csv': 'B' });
    const params = { bucketName: bucket, objectKeyPrefix: 'in/', afterRead: 'delete' };

    // Act
    const test = await runScript(datasourceReadAmazonS3, params, {
      services: env.services,
      job: { id: 'j-test', dataflowId: 'df-test-run', test: true, limit: 10 },
    });
    const real = await runScript(
      datasourceReadAmazonS3,
      { ...params, afterRead: 'leave' },
      {
        services: env.services,
        job: { id: 'j-real', dataflowId: 'df-test-run' },
      },
    );

    // Assess
    // Both objects carry the same second; of two files equally new, the later name counts as newer.
    expect(test.files.map((f) => f.name)).toEqual(['b.csv']);
    expect(await keys(bucket)).toEqual(['in/a.csv', 'in/b.csv']);
    expect(real.files.map((f) => f.name)).toEqual(['a.csv', 'b.csv']);
  });

  it('uses an access key pair named through secrets instead of the execution role', async () => {
    // Prepare
    const bucket = await bucketWith({ 'k/a.csv': 'A' });
    const params = {
      bucketName: bucket,
      objectKeyPrefix: 'k/',
      region: 'us-east-1',
      accessKey: '${secret:S3_KEY}',
      secretKey: '${secret:S3_SECRET}',
    };
    const secrets = new LocalSecretResolver({
      env: {},
      values: { S3_KEY: LOCAL_CREDENTIALS.accessKeyId, S3_SECRET: LOCAL_CREDENTIALS.secretAccessKey },
    });
    const base = createServices(
      { ...env.config, credentials: { accessKeyId: 'ROLE', secretAccessKey: 'ROLE' } },
      secrets,
    );
    const used: (string | undefined)[] = [];
    const services = {
      ...base,
      s3For: (o: Parameters<typeof base.s3For>[0]) => {
        used.push(o.accessKeyId);
        return base.s3For(o);
      },
    };

    // Act
    const out = await runScript(datasourceReadAmazonS3, params, {
      services,
      job: { id: 'j-keys', dataflowId: 'df-keys' },
    });

    // Assess
    expect(used).toEqual([LOCAL_CREDENTIALS.accessKeyId]);
    expect(out.files.map((f) => f.name)).toEqual(['a.csv']);
  });

  it('refuses half a key pair with a coded error', async () => {
    // Act / Assess
    await expect(
      runScript(
        datasourceReadAmazonS3,
        { bucketName: 'x', accessKey: '${secret:K}' },
        { secrets: { K: 'AKIA' }, job: { id: 'j-half', dataflowId: 'df-half' } },
      ),
    ).rejects.toMatchObject({ code: 'IDX_S3_CREDENTIALS', location: { param: 'secretKey' } });
  });

  it('fails with a coded error naming the bucket when it does not exist', async () => {
    // Act / Assess
    await expect(
      runScript(
        datasourceReadAmazonS3,
        { bucketName: 'no-such-bucket' },
        { services: env.services, job: { id: 'j-nb', dataflowId: 'df-nb' } },
      ),
    ).rejects.toMatchObject({ code: 'IDX_S3_NOT_FOUND', transient: false });
  });

  it('refuses an invalid regex and a move without folder at validation', async () => {
    // Act
    const problems =
      datasourceReadAmazonS3.check?.({ bucketName: 'b', fileNameRegex: '(', afterRead: 'move' } as never) ?? [];

    // Assess
    expect(problems.map((p) => p.code)).toEqual(['IDX_REGEX_INVALID', 'IDX_PARAM_MISSING']);
  });
});
