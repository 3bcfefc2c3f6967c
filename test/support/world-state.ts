/**
 * The whole state of a local world (see targets.ts), byte for byte, for tests that must show a run changed nothing:
 * every file of the SFTP folder, every object of every S3 bucket (the stage bucket included), the Gigya emulator's
 * accounts, Data Store objects and the write calls it received, and every item of every DynamoDB table.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { GetObjectCommand, ListBucketsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type SizeWorld, walk } from './targets.ts';

/** Gigya methods that change data. */
const WRITING_METHODS =
  /^(accounts\.(set|import|delete|register|finalize|notify|link|unlink|tfa\.)|ds\.(store|delete))/;

/** Everything a world holds: each entry a stable text (a content hash, or an item as JSON). */
export interface WorldState {
  /** SFTP folder: relative path → size and SHA-256 of the bytes. */
  readonly sftp: Record<string, string>;
  /** S3: `bucket/key` → size and SHA-256, in every bucket. */
  readonly s3: Record<string, string>;
  /** Gigya emulator accounts by UID, as JSON (timestamps included). */
  readonly accounts: Record<string, string>;
  /** Gigya emulator Data Store objects, as JSON. */
  readonly ds: Record<string, string>;
  /** Calls of methods that change data the emulator received (successful or not), as `method uid`. */
  readonly gigyaWrites: readonly string[];
  /** DynamoDB: table → `pk sk` → item as JSON. */
  readonly tables: Record<string, Record<string, string>>;
}

const digest = (bytes: Buffer) => `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`;

/** Takes the state of every service of a world. */
export async function worldState(world: SizeWorld): Promise<WorldState> {
  const sftp: Record<string, string> = {};
  for (const path of walk(world.sftpRoot)) sftp[relative(world.sftpRoot, path)] = digest(readFileSync(path));

  const { s3, dynamo } = world.env.services;
  const objects: Record<string, string> = {};
  for (const bucket of ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? '')) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
        const bytes = await (body.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
        objects[`${bucket}/${o.Key}`] = digest(Buffer.from(bytes));
      }
      token = page.NextContinuationToken;
    } while (token);
  }

  const accounts = Object.fromEntries([...world.emu.store.accounts.values()].map((a) => [a.UID, JSON.stringify(a)]));
  const ds = Object.fromEntries([...world.emu.store.ds].map(([k, v]) => [k, JSON.stringify(v)]));
  const gigyaWrites = world.emu.store.audit
    .filter((e) => WRITING_METHODS.test(e.endpoint))
    .map((e) => `${e.endpoint} ${String(e.uid ?? '')}`);

  const tables: Record<string, Record<string, string>> = {};
  for (const table of Object.values(world.env.config.tables)) {
    const items: Record<string, string> = {};
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      for (const item of page.Items ?? [])
        items[JSON.stringify([item.pk ?? item.id ?? item.namespace, item.sk ?? item.key ?? ''])] = JSON.stringify(item);
      start = page.LastEvaluatedKey;
    } while (start);
    tables[table] = items;
  }
  return { sftp, s3: objects, accounts, ds, gigyaWrites, tables };
}
