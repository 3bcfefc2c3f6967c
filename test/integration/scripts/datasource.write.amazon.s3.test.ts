import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../../lib/core/services.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { datasourceWriteAmazonS3 } from '../../../lib/scripts/datasource.write.amazon.s3.ts';
import { runScript } from '../../../lib/testing/harness.ts';

let env: LocalEnvironment;
let dir: string;
let bucketN = 0;

async function newBucket(): Promise<string> {
  const bucket = `out-${++bucketN}`;
  await env.services.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

async function objects(bucket: string): Promise<Record<string, string>> {
  const out = await env.services.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const result: Record<string, string> = {};
  for (const o of out.Contents ?? []) {
    const got = await env.services.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
    result[o.Key ?? ''] = (await got.Body?.transformToString()) ?? '';
  }
  return result;
}

/** Services whose S3 clients record the encryption headers of every write they send to the real server. */
function recording(headers: Record<string, string | undefined>[]): Services {
  const spy = (client: S3Client) => {
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; headers?: Record<string, string> };
        if (request.method === 'PUT' || request.method === 'POST') {
          headers.push({
            sse: request.headers?.['x-amz-server-side-encryption'],
            kms: request.headers?.['x-amz-server-side-encryption-aws-kms-key-id'],
          });
        }
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    return client;
  };
  return { ...env.services, s3: spy(env.services.s3For({})), s3For: (o) => spy(env.services.s3For(o)) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-s3-write-'));
  env = await startLocalEnvironment({ dir, ephemeral: true, env: {} });
});

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('datasource.write.amazon.s3', () => {
  it('puts every file under the prefix folder, encrypted with AES256 by default, and reports it delivered', async () => {
    // Prepare
    const bucket = await newBucket();
    const headers: Record<string, string | undefined>[] = [];

    // Act
    const out = await runScript(
      datasourceWriteAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'exports/${now:yyyyMMdd}' },
      {
        services: recording(headers),
        files: [
          { name: 'a.csv.gz', content: 'A' },
          { name: 'success/b.json', content: 'B' },
        ],
      },
    );

    // Assess
    expect(await objects(bucket)).toEqual({ 'exports/20260102/a.csv.gz': 'A', 'exports/20260102/success/b.json': 'B' });
    expect(headers).toEqual([
      { sse: 'AES256', kms: undefined },
      { sse: 'AES256', kms: undefined },
    ]);
    expect(out.trace.join('\n')).toContain(`uploaded s3://${bucket}/exports/20260102/a.csv.gz (1 bytes)`);
  });

  it('sends the KMS key with aws:kms and no encryption header with none', async () => {
    // Prepare
    const bucket = await newBucket();
    const headers: Record<string, string | undefined>[] = [];
    const services = recording(headers);

    // Act
    await runScript(
      datasourceWriteAmazonS3,
      { bucketName: bucket, serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/exports' },
      { services, files: [{ name: 'k.csv', content: 'K' }] },
    );
    await runScript(
      datasourceWriteAmazonS3,
      { bucketName: bucket, serverSideEncryption: 'none' },
      { services, files: [{ name: 'n.csv', content: 'N' }] },
    );

    // Assess
    expect(headers).toEqual([
      { sse: 'aws:kms', kms: 'alias/exports' },
      { sse: undefined, kms: undefined },
    ]);
    expect(await objects(bucket)).toEqual({ 'k.csv': 'K', 'n.csv': 'N' });
  });

  it('streams a file larger than one multipart part intact', async () => {
    // Prepare
    const bucket = await newBucket();
    const content = Buffer.alloc(20 * 1024 * 1024 + 123);
    for (let i = 0; i < content.length; i += 4096) content.writeUInt32BE(i, i);

    // Act
    await runScript(
      datasourceWriteAmazonS3,
      { bucketName: bucket },
      { services: env.services, files: [{ name: 'big.bin', content }] },
    );

    // Assess
    const got = await env.services.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    expect(bytes.length).toBe(content.length);
    expect(bytes.equals(content)).toBe(true);
  });

  it('refuses a file name that leaves the prefix folder and writes nothing', async () => {
    // Prepare
    const bucket = await newBucket();

    // Act
    const run = runScript(
      datasourceWriteAmazonS3,
      { bucketName: bucket, objectKeyPrefix: 'exports/' },
      { services: env.services, files: [{ name: '../secrets/x.csv', content: 'X' }] },
    );

    // Assess
    await expect(run).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE' });
    expect(await objects(bucket)).toEqual({});
  });

  it('refuses a prefix that climbs out of the bucket folder', async () => {
    // Act / Assess
    await expect(
      runScript(datasourceWriteAmazonS3, { bucketName: 'b', objectKeyPrefix: 'a/../../b/' }, { files: [] }),
    ).rejects.toMatchObject({ code: 'IDX_REMOTE_PATH_UNSAFE', location: { param: 'objectKeyPrefix' } });
  });
});
