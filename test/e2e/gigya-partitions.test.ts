/**
 * A partitioned export is the single cursor's export: the same 50,000 accounts exported through the compiled state
 * machine on the embedded services, with one cursor (a Task loop), with the partitions the reader chooses (a Map
 * state, one iteration per partition), and with seven partitions under a 1 ms invocation budget (each iteration
 * looping one page per invocation), give byte-identical CSV files; so does a plan whose last ranges the reader
 * halved, as it does when its ranges outnumber the cursors in flight.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
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

describe('partitioned export of 50,000 accounts', () => {
  it('writes the same file as the single cursor, with the default partitions, with seven under a 1 ms budget and with halved last ranges', async () => {
    // Prepare
    const { services } = local.env;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const run = (id: string, partitions: number | undefined, invocationBudgetMs?: number, maxCallsPerSecond?: number) =>
      runLocal(exportFlow(id, partitions, maxCallsPerSecond), {
        services,
        registry: defaultRegistry(),
        input: { fullExtract: true },
        ...(invocationBudgetMs === undefined ? {} : { invocationBudgetMs }),
      });

    // Act
    const single = await run('single', 1);
    const chosen = await run('chosen', undefined);
    const sliced = await run('sliced', 7, 1);
    // 2 calls/s keep 4 cursors in flight, fewer than the 5 ranges the count asks for: the last one is halved.
    const tapered = await run('tapered', undefined, undefined, 2);

    // Assess
    for (const r of [single, chosen, sliced, tapered]) expect(r.status, JSON.stringify(r.error)).toBe('succeeded');
    const file = await exported('single');
    expect(file.split('\n').filter(Boolean)).toHaveLength(ACCOUNTS + 1);
    expect(await exported('chosen')).toBe(file);
    expect(await exported('sliced')).toBe(file);
    expect(await exported('tapered')).toBe(file);
    const joined = (trace: readonly string[] = []) =>
      Number(/ (\d+) partition\(s\) joined in order/.exec(trace.join('\n'))?.[1]);
    // The default: about 10 pages a partition, one invocation each.
    expect(joined(chosen.job?.trace)).toBeGreaterThan(20);
    expect(chosen.job?.steps.account).toMatchObject({
      recordsOut: ACCOUNTS,
      invocations: joined(chosen.job?.trace),
    });
    // Five ranges of the count, the last one cut in two, and the accounts without the field.
    expect(joined(tapered.job?.trace)).toBe(7);
    expect(single.definition.States['Map: account']).toBeUndefined();
    expect(chosen.definition.States['Map: account']).toMatchObject({ Type: 'Map' });
    // Seven ranges and the accounts without the field; each range went on from its own cursor, invocation after
    // invocation, staging each invocation's records under its own partition's keys.
    expect(joined(sliced.job?.trace)).toBe(8);
    expect(sliced.job?.steps.account?.invocations).toBeGreaterThan(50);
    const staged = await services.s3.send(
      new ListObjectsV2Command({ Bucket: services.config.stageBucket, Prefix: `stage/sliced/${sliced.jobId}/s0/` }),
    );
    const keys = (staged.Contents ?? []).map((o) => o.Key as string);
    for (const p of ['p0000', 'p0001', 'p0002', 'p0003', 'p0004', 'p0005', 'p0006'])
      expect(keys.some((k) => k.includes(`/s0/${p}/i0001/out/`))).toBe(true);
    expect((emu as GigyaEmulator).calls.get('accounts.search')).toBeGreaterThan(0);
  });
});
