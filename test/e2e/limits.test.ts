/**
 * Test runs and limited runs bound the records that leave a dataflow's sources, whatever the source: a file read
 * over SFTP or S3 and parsed in a later Task, alone or fused with the steps after it, or after gunzip in its Task.
 * Each run goes through the compiled state machine with the execution input a deployed run gets (`{"test": true}`,
 * `{"limit": 7}`), and the targets themselves are counted: the Gigya emulator's write log, the files on the SFTP
 * server and in the S3 bucket. The processed-files memory is compared before and after.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import type { ExecutionInput } from '../../lib/core/events.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validateFile, validateText } from '../../lib/dataflow/validate.ts';
import { type LocalRunResult, runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { type SizeWorld, useSizeWorld } from '../support/targets.ts';

const registry = defaultRegistry();

/** A dataflow file of the project, or dataflow JSON, loaded and checked as `idx run` does. */
function load(file: string | object): Dataflow {
  const r = typeof file === 'string' ? validateFile(file, registry) : validateText(JSON.stringify(file), registry);
  expect(r.valid, JSON.stringify(r.problems)).toBe(true);
  return r.dataflow as Dataflow;
}

/** The runs every flow goes through, in this order, and the records each must deliver. */
const RUNS: readonly { readonly name: string; readonly input: ExecutionInput; readonly budgetMs?: number }[] = [
  { name: 'limit 7', input: { limit: 7 } },
  { name: 'limit 7, 1 ms budget', input: { limit: 7 }, budgetMs: 1 },
  { name: 'full run', input: {} },
  { name: 'test run', input: { test: true } },
  { name: 'test run, 1 ms budget', input: { test: true }, budgetMs: 1 },
];

/** What each run of {@link RUNS} delivers: 7, 7, every record of both files, 10, 10. */
function expected(older: number, newer: number): number[] {
  return [7, 7, older + newer, 10, 10];
}

/** The processed-files memory of every dataflow: the state table's `file#` items. */
async function processedFiles(world: SizeWorld): Promise<string[]> {
  const items: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await world.env.services.dynamo.send(
      new ScanCommand({ TableName: world.env.config.tables.state, ExclusiveStartKey: start }),
    );
    for (const item of page.Items ?? [])
      if (String(item.sk).startsWith('file#')) items.push(JSON.stringify(item, Object.keys(item).sort()));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.sort();
}

/** One run, which must succeed; what the memory held before and after it. */
async function run(
  world: SizeWorld,
  dataflow: Dataflow,
  how: (typeof RUNS)[number],
): Promise<{ result: LocalRunResult; before: string[]; after: string[] }> {
  const before = await processedFiles(world);
  const result = await runLocal(dataflow, {
    services: world.env.services,
    registry,
    input: how.input,
    ...(how.budgetMs === undefined ? {} : { invocationBudgetMs: how.budgetMs }),
  });
  expect(result.status, `${how.name}: ${JSON.stringify(result.error ?? result.job?.error)}`).toBe('succeeded');
  return { result, before, after: await processedFiles(world) };
}

/** Files written on the embedded SFTP server under `folder`, removed once read (the next run writes its own). */
function takeSftpFiles(world: SizeWorld, folder: string): Map<string, string> {
  const root = join(world.sftpRoot, folder);
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of names) {
    out.set(name, readFileSync(join(root, name), 'utf8'));
    rmSync(join(root, name));
  }
  return out;
}

/** A file on the embedded SFTP server, with a modification time (epoch seconds). */
function putSftpFile(world: SizeWorld, folder: string, name: string, content: string | Buffer, mtime: number): void {
  mkdirSync(join(world.sftpRoot, folder), { recursive: true });
  writeFileSync(join(world.sftpRoot, folder, name), content);
  utimesSync(join(world.sftpRoot, folder, name), mtime, mtime);
}

describe('limits on eloqua-inbound.json', () => {
  const w = useSizeWorld(60);

  it('writes exactly 7 accounts with a limit of 7 and 10 in a test run, from the newest export whatever the memory says, never changing the memory', async () => {
    // Prepare: an older export of 12 contacts and a newer one of 24, every contact an existing account.
    const { world } = w;
    const accounts = [...world.emu.store.accounts.values()] as unknown as { UID: string; profile: { email: string } }[];
    const csv = (rows: typeof accounts) =>
      [
        'C_EmailAddress,C_Gigya_UID1,C_FirstName,C_LastName,isSubscribed',
        ...rows.map((a, i) => `${a.profile.email},${a.UID},F,L,${i % 2 ? 'true' : 'false'}`),
      ].join('\r\n');
    const older = accounts.slice(0, 12);
    const newer = accounts.slice(20, 44);
    putSftpFile(world, 'from-eloqua', 'eloqua_export_1.csv', csv(older), 2_000_000_000);
    putSftpFile(world, 'from-eloqua', 'eloqua_export_2.csv', csv(newer), 2_000_000_100);
    const dataflow = load('dataflows/eloqua-inbound.json');

    // Act
    const runs = [];
    for (const how of RUNS) {
      const at = world.emu.store.audit.length;
      const { result, before, after } = await run(world, dataflow, how);
      const writes = world.emu.store.audit
        .slice(at)
        .filter((e) => e.endpoint === 'accounts.setAccountInfo' && e.errCode === 0)
        .map((e) => String(e.uid));
      runs.push({ how, result, before, after, writes, errors: takeSftpFiles(world, 'errors') });
    }

    // Assess
    expect(runs.map((r) => r.writes.length)).toEqual(expected(older.length, newer.length));
    const [limited, limitedSliced, full, test, testSliced] = runs;
    // A limited run takes the first selected file (the older one), a test run the newest, though already imported.
    // The writer calls Gigya in parallel: which accounts were written counts, not in which order.
    const uids = (rows: typeof accounts) => rows.map((a) => a.UID).sort();
    expect(limited?.writes.sort()).toEqual(uids(older.slice(0, 7)));
    expect(limitedSliced?.writes.sort()).toEqual(uids(older.slice(0, 7)));
    expect(test?.writes.sort()).toEqual(uids(newer.slice(0, 10)));
    expect(testSliced?.writes.sort()).toEqual(uids(newer.slice(0, 10)));
    expect(full?.after).toHaveLength(2);
    for (const r of [limited, limitedSliced, test, testSliced]) {
      expect(r?.after, r?.how.name).toEqual(r?.before);
      expect(r?.result.job?.steps.dsv, r?.how.name).toMatchObject({
        recordsOut: r?.how.input.test ? 10 : 7,
        limitReached: true,
      });
      expect(r?.result.job?.totalRecords, r?.how.name).toBe(r?.how.input.test ? 10 : 7);
    }
    // Nothing was rejected, so no run wrote an error file.
    expect(runs.map((r) => r.errors.size)).toEqual([0, 0, 0, 0, 0]);
    expect(full?.result.job?.steps.dsv?.limitReached).toBeUndefined();
  });
});

describe('limits on an S3 CSV flow (sample-s3-csv.json: the parser and the transforms after it in one Task)', () => {
  const w = useSizeWorld(0);

  /** The rows of every object under `output/`, removed once read (the next run writes its own). */
  async function takeOutput(): Promise<Record<string, string>[]> {
    const { world } = w;
    const { s3 } = world.env.services;
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'identity-sync-samples', Prefix: 'output/' }));
    const rows: Record<string, string>[] = [];
    for (const o of listed.Contents ?? []) {
      const body = await s3.send(new GetObjectCommand({ Bucket: 'identity-sync-samples', Key: o.Key }));
      const bytes = Buffer.from(
        await (body.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      const text = (o.Key ?? '').endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
      rows.push(...(parse(text, { columns: true }) as Record<string, string>[]));
      await s3.send(new DeleteObjectCommand({ Bucket: 'identity-sync-samples', Key: o.Key }));
    }
    return rows;
  }

  it('writes exactly 7 rows with a limit of 7 and 10 in a test run, from the newest object', async () => {
    // Prepare: an older object of 1,000 rows, then a newer one of 30.
    const { world } = w;
    const { s3 } = world.env.services;
    await s3.send(new CreateBucketCommand({ Bucket: 'identity-sync-samples' }));
    const csv = (prefix: string, n: number) =>
      ['UID,email,firstName', ...Array.from({ length: n }, (_, i) => `${prefix}${i},${prefix}${i}@example.com,F`)].join(
        '\n',
      );
    await s3.send(
      new PutObjectCommand({ Bucket: 'identity-sync-samples', Key: 'input/a-older.csv', Body: csv('old', 1000) }),
    );
    // S3 keeps modification times to the second: the newer object is put a second later.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await s3.send(
      new PutObjectCommand({ Bucket: 'identity-sync-samples', Key: 'input/b-newer.csv', Body: csv('new', 30) }),
    );
    const dataflow = load('dataflows/sample-s3-csv.json');

    // Act
    const runs = [];
    for (const how of RUNS) {
      const { result, before, after } = await run(world, dataflow, how);
      runs.push({ how, result, before, after, rows: await takeOutput() });
    }

    // Assess
    expect(runs.map((r) => r.rows.length)).toEqual(expected(1000, 30));
    const uids = (r: { rows: Record<string, string>[] } | undefined) => r?.rows.map((row) => row.C_Gigya_UID1);
    expect(uids(runs[0])).toEqual(Array.from({ length: 7 }, (_, i) => `old${i}`));
    expect(uids(runs[1])).toEqual(Array.from({ length: 7 }, (_, i) => `old${i}`));
    expect(uids(runs[3])).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`));
    expect(uids(runs[4])).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`));
    for (const r of runs.filter((r) => r.how.name !== 'full run')) expect(r.after, r.how.name).toEqual(r.before);
    expect(runs[2]?.after).toHaveLength(2);
    expect(runs.map((r) => r.result.job?.steps.parse?.limitReached)).toEqual([true, true, undefined, true, true]);
    expect(runs.map((r) => r.result.job?.steps.rename?.recordsIn)).toEqual(expected(1000, 30));
  });
});

describe('limits on a JSON Lines flow over SFTP (gzip, then the parser fused after gunzip)', () => {
  const w = useSizeWorld(0);

  const definition = {
    id: 'jsonl-sftp',
    name: 'JSON Lines over SFTP',
    steps: [
      {
        id: 'read',
        type: 'datasource.read.sftp',
        params: {
          host: '',
          username: '',
          remotePath: 'in',
          fileNameRegex: '.*\\.jsonl\\.gz',
          skipProcessedFiles: true,
        },
        next: ['gunzip'],
      },
      { id: 'gunzip', type: 'file.uncompress.gzip', next: ['parse'] },
      { id: 'parse', type: 'file.parse.json', next: ['format'] },
      {
        id: 'format',
        type: 'file.format.json',
        params: { fileName: 'out_${jobId}.jsonl', format: 'jsonLines' },
        next: ['write'],
      },
      { id: 'write', type: 'datasource.write.sftp', params: { host: '', username: '', remotePath: 'out' } },
    ],
  };

  it('writes exactly 7 records with a limit of 7 and 10 in a test run, from the newest file whatever the memory says, never changing the memory', async () => {
    // Prepare: an older file of 50,000 lines (more than one gunzip chunk), then a newer one of 40.
    const { world } = w;
    const lines = (prefix: string, n: number) =>
      gzipSync(
        Array.from({ length: n }, (_, i) => `${JSON.stringify({ id: `${prefix}${i}`, pad: 'x'.repeat(40) })}\n`).join(
          '',
        ),
      );
    putSftpFile(world, 'in', 'a.jsonl.gz', lines('old', 50_000), 2_000_000_000);
    putSftpFile(world, 'in', 'b.jsonl.gz', lines('new', 40), 2_000_000_100);
    const dataflow = load(definition);

    // Act
    const runs = [];
    for (const how of RUNS) {
      const { result, before, after } = await run(world, dataflow, how);
      const written = [...takeSftpFiles(world, 'out').values()].flatMap((text) =>
        text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => (JSON.parse(l) as { id: string }).id),
      );
      runs.push({ how, result, before, after, written });
    }

    // Assess
    expect(runs.map((r) => r.written.length)).toEqual(expected(50_000, 40));
    expect(runs[0]?.written).toEqual(Array.from({ length: 7 }, (_, i) => `old${i}`));
    expect(runs[1]?.written).toEqual(Array.from({ length: 7 }, (_, i) => `old${i}`));
    expect(runs[3]?.written).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`));
    expect(runs[4]?.written).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`));
    const [limited, limitedSliced, full, test, testSliced] = runs;
    expect(full?.after).toHaveLength(2);
    for (const r of [limited, limitedSliced, test, testSliced]) {
      expect(r?.after, r?.how.name).toEqual(r?.before);
      expect(r?.result.job?.steps.parse, r?.how.name).toMatchObject({ limitReached: true });
    }
  });
});

describe('a limit reached in a later invocation of a Gigya reader', () => {
  const w = useSizeWorld(50);

  const definition = {
    id: 'gigya-pages',
    name: 'Gigya accounts, three a page, to SFTP',
    steps: [
      {
        id: 'accounts',
        type: 'datasource.read.gigya.account',
        params: { select: 'UID', batchSize: 3 },
        next: ['format'],
      },
      { id: 'format', type: 'file.format.dsv', params: { fileName: 'out_${jobId}.csv' }, next: ['write'] },
      { id: 'write', type: 'datasource.write.sftp', params: { host: '', username: '', remotePath: 'out' } },
    ],
  };

  it('hands on exactly 7 accounts with a limit of 7 and a 1 ms budget, the third invocation taking the one account left', async () => {
    // Prepare
    const { world } = w;
    const dataflow = load(definition);

    // Act
    const { result } = await run(world, dataflow, {
      name: 'limit 7, 1 ms budget',
      input: { limit: 7, fullExtract: true },
      budgetMs: 1,
    });

    // Assess
    const files = [...takeSftpFiles(world, 'out').values()];
    expect(files).toHaveLength(1);
    const rows = parse(files[0] ?? '', { columns: true }) as { UID: string }[];
    expect(rows).toHaveLength(7);
    expect(new Set(rows.map((r) => r.UID)).size).toBe(7);
    expect(result.job?.steps.accounts).toMatchObject({ recordsOut: 7, invocations: 3, limitReached: true });
    expect(result.job?.totalRecords).toBe(7);
  });
});
