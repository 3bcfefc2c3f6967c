import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { SAMPLE, sampleRow, seedSample } from '../../lib/local/sample.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { useLocalEnvironment } from '../support/local.ts';

const local = useLocalEnvironment();
const RECORDS = 100_000;

describe('the sample dataflow', () => {
  it('runs locally over 100,000 records and writes every one of them, renamed, to the output CSV', async () => {
    // Prepare
    const { services } = local.env;
    await seedSample(services.s3, RECORDS);
    const { dataflow, valid, problems } = validateFile('dataflows/sample-s3-csv.json', defaultRegistry());
    expect(valid, JSON.stringify(problems)).toBe(true);

    // Act
    const result = await runLocal(dataflow!, { services, registry: defaultRegistry() });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const listed = await services.s3.send(
      new ListObjectsV2Command({ Bucket: SAMPLE.bucket, Prefix: SAMPLE.outputPrefix }),
    );
    const keys = (listed.Contents ?? []).map((o) => o.Key as string);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^output\/contacts_\d{14}\.csv\.gz$/);
    const body = await services.s3.send(new GetObjectCommand({ Bucket: SAMPLE.bucket, Key: keys[0] }));
    const csv = gunzipSync(Buffer.from(await body.Body!.transformToByteArray())).toString('utf8');
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(RECORDS);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'C_Gigya_UID1',
      'C_EmailAddress',
      'C_FirstName',
      'C_LastName',
      'C_Country',
      'C_Subscribed',
    ]);
    rows.forEach((row, i) => {
      const s = sampleRow(i);
      expect(row).toEqual({
        C_Gigya_UID1: s.UID,
        C_EmailAddress: s.email,
        C_FirstName: s.firstName,
        C_LastName: s.lastName,
        C_Country: s.country,
        C_Subscribed: s.subscribed,
      });
    });
    const steps = result.job!.steps;
    for (const id of ['rename', 'remove']) {
      expect(steps[id]).toMatchObject({ recordsIn: RECORDS, recordsOut: RECORDS, recordsRejected: 0 });
    }
    expect(steps.parse).toMatchObject({ filesIn: 1, recordsOut: RECORDS, recordsRejected: 0 });
    expect(steps.format).toMatchObject({ recordsIn: RECORDS, recordsOut: RECORDS, filesOut: 1 });
    for (const s of Object.values(steps)) {
      if (s.recordsIn > 0) expect(s.recordsIn, s.stepId).toBe(s.recordsOut + s.recordsRejected + s.recordsDropped);
    }
    expect(steps.write?.files?.map((f) => f.name)).toEqual([`s3://${SAMPLE.bucket}/${keys[0]}`]);
  });
});
