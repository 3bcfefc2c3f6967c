/**
 * Whole dataflows against the Gigya emulator, run locally through the compiled state machine on the embedded
 * services: an export (gigya account → rename → DSV → S3, full then delta) and an import (S3 CSV → parse →
 * rename → gigya account write).
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { emulatorClient } from '../support/gigya.ts';
import { useLocalEnvironment } from '../support/local.ts';

const ACCOUNTS = 2_000;
const BUCKET = 'gigya-e2e';
let emu: GigyaEmulator | undefined;
const local = useLocalEnvironment({
  watermarkOverlapMs: 0,
  extras: [
    async () => {
      const started = await startGigyaEmulator({
        accounts: generateAccounts({ count: ACCOUNTS, seed: 11 }),
        shortPages: true,
      });
      emu = started;
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
  ],
});

function dataflow(json: unknown) {
  const { dataflow: df, valid, problems } = validateText(JSON.stringify(json), defaultRegistry());
  expect(valid, JSON.stringify(problems)).toBe(true);
  return df!;
}

async function readObject(key: string): Promise<string> {
  const body = await local.env.services.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return body.Body!.transformToString('utf8');
}

async function keys(prefix: string): Promise<string[]> {
  const listed = await local.env.services.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key as string).sort();
}

const EXPORT = {
  id: 'gigya-export',
  name: 'Export accounts to S3',
  steps: [
    {
      id: 'account',
      type: 'datasource.read.gigya.account',
      params: { select: 'UID, profile.email ,profile.firstName, data.subscribed', batchSize: 300 },
      next: ['rename'],
    },
    {
      id: 'rename',
      type: 'field.rename',
      params: {
        fields: [
          { sourceField: 'profile.email', targetField: 'EMAIL' },
          { sourceField: 'profile.firstName', targetField: 'FIRST_NAME' },
          { sourceField: 'data.subscribed', targetField: 'SUBSCRIBED' },
        ],
      },
      next: ['dsv'],
    },
    {
      id: 'dsv',
      type: 'file.format.dsv',
      params: {
        fileName: 'accounts_${jobId}.csv',
        columnSeparator: ',',
        columns: ['UID', 'EMAIL', 'FIRST_NAME', 'SUBSCRIBED'],
      },
      next: ['s3'],
    },
    { id: 's3', type: 'datasource.write.amazon.s3', params: { bucketName: BUCKET, objectKeyPrefix: 'export/' } },
  ],
};

describe('Gigya dataflows run locally against the emulator', () => {
  it('exports every account to a CSV in S3, then only the accounts changed since that run', async () => {
    // Prepare
    const { services } = local.env;
    await services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const df = dataflow(EXPORT);
    const accounts = [...(emu as GigyaEmulator).store.accounts.values()];

    // Act
    const full = await runLocal(df, { services, registry: defaultRegistry(), input: { fullExtract: true } });
    const changed = accounts.slice(100, 103).map((a) => a.UID);
    const client = emulatorClient(emu as GigyaEmulator);
    for (const UID of changed) await client.call('accounts.setAccountInfo', { UID, profile: { firstName: 'Changed' } });
    const delta = await runLocal(df, { services, registry: defaultRegistry() });

    // Assess
    expect(full.status, JSON.stringify(full.error)).toBe('succeeded');
    expect(delta.status, JSON.stringify(delta.error)).toBe('succeeded');
    const fullRows = parse(await readObject(`export/accounts_${full.jobId}.csv`), { columns: true }) as Record<
      string,
      string
    >[];
    expect(fullRows).toHaveLength(ACCOUNTS);
    const byUid = new Map(accounts.map((a) => [a.UID, a]));
    for (const row of fullRows) {
      const a = byUid.get(row.UID as string) as unknown as {
        profile: { email: string };
        data: { subscribed: boolean };
      };
      expect(row.EMAIL).toBe(a.profile.email);
      expect(row.SUBSCRIBED).toBe(String(a.data.subscribed));
    }
    expect(new Set(fullRows.map((r) => r.UID)).size).toBe(ACCOUNTS);
    expect(full.job?.steps.account).toMatchObject({ recordsOut: ACCOUNTS });
    const deltaRows = parse(await readObject(`export/accounts_${delta.jobId}.csv`), { columns: true }) as Record<
      string,
      string
    >[];
    expect(deltaRows.map((r) => r.UID).sort()).toEqual([...changed].sort());
    expect(deltaRows.every((r) => r.FIRST_NAME === 'Changed')).toBe(true);
  });

  it('imports a CSV from S3 into existing accounts and reports the row whose UID has no account', async () => {
    // Prepare
    const { services } = local.env;
    const targets = [...(emu as GigyaEmulator).store.accounts.keys()].slice(500, 520);
    const csv = [
      'GIGYA_UID,FIRST,CITY,OPT_IN',
      ...targets.map((uid, i) => `${uid},Imported${i},Lyon,yes`),
      'no-such-uid,Ghost,Nowhere,no',
    ].join('\n');
    await services.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'import/contacts.csv', Body: `${csv}\n` }));
    const df = dataflow({
      id: 'gigya-import',
      name: 'Import contacts into Gigya',
      steps: [
        {
          id: 's3',
          type: 'datasource.read.amazon.s3',
          params: { bucketName: BUCKET, objectKeyPrefix: 'import/' },
          next: ['parse'],
        },
        { id: 'parse', type: 'file.parse.dsv', params: { columnSeparator: ',' }, next: ['rename'] },
        {
          id: 'rename',
          type: 'field.rename',
          params: {
            fields: [
              { sourceField: 'GIGYA_UID', targetField: 'UID' },
              { sourceField: 'FIRST', targetField: 'profile.firstName' },
              { sourceField: 'CITY', targetField: 'profile.city' },
              { sourceField: 'OPT_IN', targetField: 'data.optIn' },
            ],
          },
          next: ['account'],
        },
        { id: 'account', type: 'datasource.write.gigya.account', params: null, error: ['rejects'] },
        {
          id: 'rejects',
          type: 'file.format.dsv',
          params: {
            fileName: 'rejected_${jobId}.csv',
            columns: ['UID', '_errorDetails.errorCode', '_errorDetails.callId'],
          },
          next: ['rejectsOut'],
        },
        {
          id: 'rejectsOut',
          type: 'datasource.write.amazon.s3',
          params: { bucketName: BUCKET, objectKeyPrefix: 'import-errors/' },
        },
      ],
    });

    // Act
    const result = await runLocal(df, { services, registry: defaultRegistry() });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(result.job?.steps.account).toMatchObject({ recordsIn: 21, recordsOut: 20, recordsRejected: 1 });
    const client = emulatorClient(emu as GigyaEmulator);
    for (const [i, UID] of targets.entries()) {
      const a = await client.call('accounts.getAccountInfo', { UID });
      expect(a.profile).toMatchObject({ firstName: `Imported${i}`, city: 'Lyon' });
      expect(a.data).toMatchObject({ optIn: 'yes' });
    }
    expect((emu as GigyaEmulator).store.accounts.has('no-such-uid')).toBe(false);
    const [rejectFile] = await keys('import-errors/');
    const rejected = parse(await readObject(rejectFile as string), { columns: true }) as Record<string, string>[];
    expect(rejected).toEqual([
      {
        UID: 'no-such-uid',
        '_errorDetails.errorCode': '403005',
        '_errorDetails.callId': expect.stringMatching(/^[0-9a-f]{32}$/),
      },
    ]);
  });
});
