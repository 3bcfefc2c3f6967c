/**
 * Whole-dataflow runs at size, compared target by target: a fresh local world per run (dynalite, s3rver, the
 * Gigya emulator seeded with deterministic accounts, the embedded SFTP server), and a snapshot of everything a
 * job can deliver (SFTP files after decompression, S3 objects outside the stage bucket, the emulator's accounts
 * and write log, the UID map), with the parts that legitimately differ between two runs (the job's start time in
 * file names, write timestamps, UIDs the emulator mints) replaced by stable tokens.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListBucketsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll } from 'vitest';
import { type EloquaEmulator, startEloquaEmulator } from '../../lib/local/eloqua-emulator.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../lib/local/environment.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { sftpExtra } from '../../lib/local/sftp-server.ts';

/** The instant generated accounts are dated from, so two worlds hold byte-identical accounts. */
export const WORLD_EPOCH = Date.parse('2026-11-01T00:00:00Z');

/** One run's stand-ins. */
export interface SizeWorld {
  readonly env: LocalEnvironment;
  readonly emu: GigyaEmulator;
  /** The Eloqua emulator the Bulk API steps reach. */
  readonly eloqua: EloquaEmulator;
  /** The folder the embedded SFTP server serves. */
  readonly sftpRoot: string;
  /** UIDs the world was seeded with (accounts created by a run are told apart from them). */
  readonly seededUids: ReadonlySet<string>;
  close(): Promise<void>;
}

/** Starts a fresh world whose emulator holds `accounts` generated accounts (seed 7, dated before the epoch). */
export async function startSizeWorld(accounts: number): Promise<SizeWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'idx-size-'));
  let emu: GigyaEmulator | undefined;
  let eloqua: EloquaEmulator | undefined;
  const env = await startLocalEnvironment({
    dir,
    ephemeral: true,
    env: {},
    extras: [
      async () => {
        const started = await startGigyaEmulator({
          accounts: generateAccounts({ count: accounts, seed: 7, now: WORLD_EPOCH }),
        });
        emu = started;
        return { endpoints: { gigya: started.url }, close: () => started.close() };
      },
      sftpExtra(),
      async () => {
        const started = await startEloquaEmulator();
        eloqua = started;
        return { endpoints: { eloqua: started.url }, close: () => started.close() };
      },
    ],
  });
  const started = emu as unknown as GigyaEmulator;
  return {
    env,
    emu: started,
    eloqua: eloqua as unknown as EloquaEmulator,
    sftpRoot: join(dir, 'sftp'),
    seededUids: new Set(started.store.accounts.keys()),
    close: async () => {
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh world for the tests of one `describe` (see {@link startSizeWorld}), closed after them. */
export function useSizeWorld(accounts: number): { readonly world: SizeWorld } {
  const holder = {} as { world: SizeWorld };
  beforeAll(async () => {
    holder.world = await startSizeWorld(accounts);
  });
  afterAll(async () => {
    await holder.world?.close();
  });
  return holder;
}

/** What one delivered file holds. */
export interface FileSnapshot {
  /** Parsed records (CSV rows, JSON array items or JSON lines), or the text's lines for other files. */
  readonly records: readonly unknown[];
  /** For a `.gz` file: whether the real `gunzip -t` accepts it. */
  readonly gzipValid?: boolean;
}

/** Everything a job delivered, in a form two runs can be compared by. */
export interface TargetSnapshot {
  /** SFTP files by normalised path. */
  readonly sftp: Record<string, FileSnapshot>;
  /** S3 objects outside the stage bucket, by normalised `bucket/key`. */
  readonly s3: Record<string, FileSnapshot>;
  /** The emulator's accounts, timestamps removed, sorted (UIDs minted by a run shown as `<new>`). */
  readonly accounts: readonly string[];
  /** Successful write calls the emulator received, per method. */
  readonly writes: Record<string, number>;
  /** Accounts written more than once, by UID, with the number of writes. */
  readonly rewritten: Record<string, number>;
  /** UID map entries as `namespace key uid`, sorted. */
  readonly uidMap: readonly string[];
}

const WRITE_METHODS = new Set([
  'accounts.setAccountInfo',
  'accounts.importLiteAccount',
  'accounts.importFullAccount',
  'accounts.deleteAccount',
  'ds.store',
  'ds.delete',
]);

/** A file or key name with the job's start time (`${now}`) replaced: the two runs start at different instants. */
export function normaliseName(name: string): string {
  return name.replace(/\d{14}/g, '<now>');
}

/** Whether the real `gunzip -t` accepts a file. */
export function gunzipTests(path: string): boolean {
  return spawnSync('gunzip', ['-t', path]).status === 0;
}

/** Whether the real `gunzip -t` accepts these bytes (read from its standard input). */
export function gunzipTestsBytes(bytes: Buffer): boolean {
  return spawnSync('gunzip', ['-t'], { input: bytes }).status === 0;
}

function decode(name: string, bytes: Buffer): unknown[] {
  const plain = name.endsWith('.gz') ? gunzipSync(bytes) : bytes;
  const base = name.replace(/\.gz$/, '');
  const text = plain.toString('utf8');
  if (base.endsWith('.csv')) return parse(text, { columns: true, relax_column_count: true }) as unknown[];
  if (base.endsWith('.json')) {
    try {
      const whole = JSON.parse(text) as unknown;
      if (Array.isArray(whole)) return whole;
      const values = whole && typeof whole === 'object' ? Object.values(whole) : [];
      if (values.length === 1 && Array.isArray(values[0])) return values[0] as unknown[];
      return [whole];
    } catch {
      // Not one JSON value: JSON Lines.
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as unknown);
    }
  }
  return text.split('\n').filter((l) => l !== '');
}

/** Every file below a folder (none when it does not exist). */
export function walk(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const path = join(root, n);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function stripTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripTimes);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !/^lastUpdated/.test(k))
        .map(([k, v]) => [k, stripTimes(v)]),
    );
  }
  return value;
}

/** Takes the snapshot of a world after a run. */
export async function snapshotTargets(world: SizeWorld): Promise<TargetSnapshot> {
  const sftp: Record<string, FileSnapshot> = {};
  for (const path of walk(world.sftpRoot)) {
    const name = relative(world.sftpRoot, path);
    sftp[normaliseName(name)] = {
      records: decode(name, readFileSync(path)),
      ...(name.endsWith('.gz') ? { gzipValid: gunzipTests(path) } : {}),
    };
  }

  const { s3 } = world.env.services;
  const stage = world.env.config.stageBucket;
  const objects: Record<string, FileSnapshot> = {};
  const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets ?? [];
  for (const bucket of buckets.map((b) => b.Name ?? '').filter((b) => b !== stage)) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const key = o.Key ?? '';
        const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = Buffer.from(
          await (body.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        );
        objects[normaliseName(`${bucket}/${key}`)] = {
          records: decode(key, bytes),
          ...(key.endsWith('.gz') ? { gzipValid: gunzipTestsBytes(bytes) } : {}),
        };
      }
      token = page.NextContinuationToken;
    } while (token);
  }

  const accounts = [...world.emu.store.accounts.values()]
    .map((a) => {
      const minted = !world.seededUids.has(a.UID);
      // An account a run created has a UID and creation time of that run's own.
      return JSON.stringify(
        stripTimes(minted ? { ...a, UID: '<new>', created: '<now>', createdTimestamp: '<now>' } : a),
      );
    })
    .sort();
  const writes: Record<string, number> = {};
  const perUid = new Map<string, number>();
  for (const e of world.emu.store.audit) {
    if (!WRITE_METHODS.has(e.endpoint) || e.errCode !== 0) continue;
    writes[e.endpoint] = (writes[e.endpoint] ?? 0) + 1;
    const uid = typeof e.uid === 'string' ? e.uid : '';
    perUid.set(uid, (perUid.get(uid) ?? 0) + 1);
  }
  const rewritten = Object.fromEntries([...perUid].filter(([, n]) => n > 1));

  const uidMap: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await world.env.services.dynamo.send(
      new ScanCommand({ TableName: world.env.config.tables.uidMap, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? []) uidMap.push(`${item.namespace} ${item.key} ${item.uid}`);
    start = page.LastEvaluatedKey;
  } while (start);
  uidMap.sort();

  return { sftp, s3: objects, accounts, writes, rewritten, uidMap };
}
