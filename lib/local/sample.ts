/**
 * The sample input of the first dataflow (dataflows/sample-s3-csv.json): a CSV of generated accounts in the
 * local S3 bucket `identity-sync-samples`, streamed so a million rows never sit in memory.
 */
import { PassThrough } from 'node:stream';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** The bucket and keys the sample dataflow reads and writes. */
export const SAMPLE = {
  bucket: 'identity-sync-samples',
  inputKey: 'input/accounts.csv',
  outputPrefix: 'output/',
} as const;

/** Columns of the sample CSV. */
export const SAMPLE_COLUMNS = [
  'UID',
  'email',
  'firstName',
  'lastName',
  'gender',
  'birthYear',
  'city',
  'country',
  'zip',
  'subscribed',
] as const;

const FIRST = [
  'Ada',
  'Björn',
  'Chloé',
  'Dmitri',
  'Eva',
  'Farid',
  'Grace',
  'Hiro',
  'Inès',
  'José',
  'Kai',
  'Lena',
  'Mía',
  'Noor',
  'Olu',
  'Pia',
];
const LAST = [
  'Lovelace',
  'Borg',
  "O'Neil",
  'Ivanov',
  'Müller',
  'Haddad',
  'Hopper',
  'Tanaka',
  'Dubois',
  'García',
  'Smith, Jr.',
  'Okafor',
];
const CITY = ['Berlin', 'Paris', 'São Paulo', 'Tokyo', 'New York', 'Lagos', 'Zürich', 'Montréal'];
const COUNTRY = ['DE', 'FR', 'BR', 'JP', 'US', 'NG', 'CH', 'CA'];

/** The i-th sample account (deterministic), as CSV column values. */
export function sampleRow(i: number): Record<(typeof SAMPLE_COLUMNS)[number], string> {
  const first = FIRST[i % FIRST.length] as string;
  const last = LAST[(i * 7) % LAST.length] as string;
  return {
    UID: `uid-${String(i).padStart(8, '0')}`,
    email: `${first
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z]/g, '')}.${i}@example.com`,
    firstName: first,
    lastName: last,
    gender: ['f', 'm', 'u'][i % 3] as string,
    birthYear: String(1950 + (i % 55)),
    city: CITY[i % CITY.length] as string,
    country: COUNTRY[i % COUNTRY.length] as string,
    zip: String(10000 + ((i * 37) % 89999)),
    subscribed: i % 4 === 0 ? 'false' : 'true',
  };
}

function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Writes `count` sample rows as CSV to the local samples bucket; returns the byte size. */
export async function seedSample(s3: S3Client, count: number): Promise<number> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: SAMPLE.bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
  const body = new PassThrough();
  let size = 0;
  body.on('data', (c: Buffer) => {
    size += c.length;
  });
  const out = new PassThrough();
  body.pipe(out);
  const upload = new Upload({
    client: s3,
    params: { Bucket: SAMPLE.bucket, Key: SAMPLE.inputKey, Body: out, ContentType: 'text/csv' },
  });
  const done = upload.done();
  let chunk = `${SAMPLE_COLUMNS.join(',')}\n`;
  for (let i = 0; i < count; i++) {
    const row = sampleRow(i);
    chunk += `${SAMPLE_COLUMNS.map((c) => csvCell(row[c])).join(',')}\n`;
    if (chunk.length > 256 * 1024) {
      if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
      chunk = '';
    }
  }
  body.end(chunk);
  await done;
  return size;
}
