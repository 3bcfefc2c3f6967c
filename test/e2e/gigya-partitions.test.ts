/**
 * A partitioned export is the single cursor's export: the same 50,000 accounts exported through the compiled state
 * machine on the embedded services, with one cursor (a Task loop), with the partitions the reader chooses (a Map
 * state, one iteration per partition), and with seven partitions under a 1 ms invocation budget (each iteration
 * looping one page per invocation), give byte-identical CSV files; so does a plan whose last ranges the reader
 * halved, as it does when its ranges outnumber the cursors in flight.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useLocalEnvironment } from '../support/local.ts';

const ACCOUNTS = 50_000;
const BUCKET = 'gigya-partitions';
let emu: GigyaEmulator | undefined;
const local = useLocalEnvironment({
  watermarkOverlapMs: 0,
  extras: [
    async () => {
      // Uneven pages (between half and all of LIMIT), as a real site may return them.
      const started = await startGigyaEmulator({ shortPages: true });
      started.seed({ count: ACCOUNTS, seed: 18 });
      emu = started;
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
  ],
});

/** Reader → rename → CSV → S3, with the reader's `partitions` as given (undefined: left out). */
function exportFlow(id: string, partitions: number | undefined, maxCallsPerSecond?: number) {
  const json = {
    id,
    name: 'Export accounts to S3',
    steps: [
      {
        id: 'account',
        type: 'datasource.read.gigya.account',
        params: {
          select: 'UID,profile.email,profile.firstName,data.subscribed',
          ...(partitions === undefined ? {} : { partitions }),
          ...(maxCallsPerSecond === undefined ? {} : { maxCallsPerSecond }),
        },
        next: ['rename'],
      },
      {
        id: 'rename',
        type: 'field.rename',
        params: { fields: [{ sourceField: 'profile.email', targetField: 'EMAIL' }] },
        next: ['dsv'],
      },
      {
        id: 'dsv',
        type: 'file.format.dsv',
        params: { fileName: 'accounts.csv', columns: ['UID', 'EMAIL', 'profile.firstName', 'data.subscribed'] },
        next: ['s3'],
      },
      { id: 's3', type: 'datasource.write.amazon.s3', params: { bucketName: BUCKET, objectKeyPrefix: `${id}/` } },
    ],
  };
  const { dataflow, valid, problems } = validateText(JSON.stringify(json), defaultRegistry());
  expect(valid, JSON.stringify(problems)).toBe(true);
  return dataflow!;
}

async function exported(id: string): Promise<string> {
  const body = await local.env.services.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${id}/accounts.csv` }));
  return body.Body!.transformToString('utf8');
}

/** A finished local run. */
type Run = Awaited<ReturnType<typeof runLocal>>;

/** How many partitions the job's Join put together, from its trace. */
const joined = (trace: readonly string[] = []) =>
  Number(/ (\d+) partition\(s\) joined in order/.exec(trace.join('\n'))?.[1]);

// One export per test, each compared with the single cursor's file, so that no test holds several exports of
// 50,000 accounts within one test's time limit.
describe('partitioned export of 50,000 accounts', () => {
  let single: Run;
  let file: string;
  const run = (id: string, partitions: number | undefined, invocationBudgetMs?: number, maxCallsPerSecond?: number) =>
    runLocal(exportFlow(id, partitions, maxCallsPerSecond), {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
      ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
    });

  beforeAll(async () => {
    await local.env.services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    single = await run('single', 1);
    expect(single.status, JSON.stringify(single.error)).toBe('succeeded');
    file = await exported('single');
  });

  it('reads every account once with the single cursor, in a Task loop without a Map', () => {
    // Assess
    expect(file.split('\n').filter(Boolean)).toHaveLength(ACCOUNTS + 1);
    expect(single.definition.States['Map: account']).toBeUndefined();
    expect((emu as GigyaEmulator).calls.get('accounts.search')).toBeGreaterThan(0);
  });

  it('writes the same file with the partitions the reader chooses, each read in one invocation', async () => {
    // Act
    const chosen = await run('chosen', undefined);

    // Assess
    expect(chosen.status, JSON.stringify(chosen.error)).toBe('succeeded');
    expect(await exported('chosen')).toBe(file);
    expect(chosen.definition.States['Map: account']).toMatchObject({ Type: 'Map' });
    // The default: about 10 pages a partition, one invocation each.
    expect(joined(chosen.job?.trace)).toBeGreaterThan(20);
    expect(chosen.job?.steps.account).toMatchObject({
      recordsOut: ACCOUNTS,
      invocations: joined(chosen.job?.trace),
    });
  });

  it('writes the same file with seven partitions, each going on from its own cursor under a 1 ms budget', async () => {
    // Act
    const sliced = await run('sliced', 7, 1);

    // Assess
    expect(sliced.status, JSON.stringify(sliced.error)).toBe('succeeded');
    expect(await exported('sliced')).toBe(file);
    // Seven ranges and the accounts without the field; each range went on from its own cursor, invocation after
    // invocation, staging each invocation's records under its own partition's keys.
    expect(joined(sliced.job?.trace)).toBe(8);
    expect(sliced.job?.steps.account?.invocations).toBeGreaterThan(50);
    const { services } = local.env;
    const staged = await services.s3.send(
      new ListObjectsV2Command({ Bucket: services.config.stageBucket, Prefix: `stage/sliced/${sliced.jobId}/s0/` }),
    );
    const keys = (staged.Contents ?? []).map((o) => o.Key as string);
    for (const p of ['p0000', 'p0001', 'p0002', 'p0003', 'p0004', 'p0005', 'p0006'])
      expect(keys.some((k) => k.includes(`/s0/${p}/i0001/out/`))).toBe(true);
  });

  it('writes the same file when the reader halves its last range', async () => {
    // Act: 2 calls/s keep 4 cursors in flight, fewer than the 5 ranges the count asks for: the last one is halved.
    const tapered = await run('tapered', undefined, undefined, 2);

    // Assess
    expect(tapered.status, JSON.stringify(tapered.error)).toBe('succeeded');
    expect(await exported('tapered')).toBe(file);
    // Five ranges of the count, the last one cut in two, and the accounts without the field.
    expect(joined(tapered.job?.trace)).toBe(7);
    // About 60 searches at 2 a second: half a minute alone, more on a loaded machine.
  }, 120_000);
});
