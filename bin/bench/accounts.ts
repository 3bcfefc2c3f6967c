/**
 * Generated Gigya-shaped accounts for the benchmarks, written as staged NDJSON records and as the flat CSV a
 * Gigya export produces (dotted headers). Deterministic: the same count gives the same bytes.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { endWritable, writeChunk } from '../../lib/scripts/util/io.ts';

const FIRST = [
  'Anna',
  'Ben',
  'Chloé',
  'Dmitri',
  'Émile',
  'Fatima',
  'Giovanni',
  'Hana',
  'Igor',
  'Júlia',
  'Kenji',
  'Lena',
];
const LAST = ['Müller', 'Smith', 'García', 'Nguyen', "O'Brien", 'Kowalski', 'Rossi', 'Dubois', 'Tanaka', 'Silva'];
const CITIES = ['Paris', 'Berlin', 'São Paulo', 'New York, NY', 'Tokyo', 'Zürich', 'Madrid'];
const COUNTRIES = ['FR', 'DE', 'BR', 'US', 'JP', 'CH', 'ES'];
const TIERS = ['gold', 'silver', 'bronze'];

/** The flat columns of the CSV form, in order. */
export const CSV_COLUMNS = [
  'UID',
  'profile.firstName',
  'profile.lastName',
  'profile.email',
  'profile.gender',
  'profile.birthYear',
  'profile.city',
  'profile.country',
  'profile.zip',
  'data.subscribed',
  'data.loyaltyTier',
  'created',
  'lastUpdatedTimestamp',
  'isVerified',
] as const;

/** The ten renames both benchmark pipelines apply: Gigya path → flat marketing column. */
export const RENAMES: readonly (readonly [string, string])[] = [
  ['profile.firstName', 'C_FirstName'],
  ['profile.lastName', 'C_LastName'],
  ['profile.email', 'C_Email'],
  ['profile.gender', 'C_Gender'],
  ['profile.birthYear', 'C_BirthYear'],
  ['profile.city', 'C_City'],
  ['profile.country', 'C_Country'],
  ['profile.zip', 'C_Zip'],
  ['data.subscribed', 'C_Subscribed'],
  ['data.loyaltyTier', 'C_Tier'],
];

/** One account as accounts.search returns it. */
export function account(i: number, next: () => number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const first = pick(FIRST);
  const last = pick(LAST);
  return {
    UID: `uid${i.toString(16).padStart(12, '0')}`,
    profile: {
      firstName: first,
      lastName: last,
      email: `${first}.${last}${i}@example.com`.toLowerCase(),
      gender: pick(['m', 'f', 'u']),
      birthYear: 1950 + Math.floor(next() * 55),
      city: pick(CITIES),
      country: pick(COUNTRIES),
      zip: String(Math.floor(next() * 99_999)).padStart(5, '0'),
    },
    data: { subscribed: next() < 0.5, loyaltyTier: pick(TIERS) },
    created: `2024-03-0${1 + (i % 9)}T10:11:12.000Z`,
    lastUpdatedTimestamp: 1_700_000_000_000 + i,
    isVerified: next() < 0.9,
  };
}

function csvCell(value: unknown): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(a: Record<string, unknown>): string {
  const p = a.profile as Record<string, unknown>;
  const d = a.data as Record<string, unknown>;
  return [
    a.UID,
    p.firstName,
    p.lastName,
    p.email,
    p.gender,
    p.birthYear,
    p.city,
    p.country,
    p.zip,
    d.subscribed,
    d.loyaltyTier,
    a.created,
    a.lastUpdatedTimestamp,
    a.isVerified,
  ]
    .map(csvCell)
    .join(',');
}

/** Where {@link writeAccounts} writes; each form is optional. */
export interface AccountFiles {
  readonly ndjson?: string;
  readonly csv?: string;
  readonly csvGz?: string;
}

/** Writes `count` accounts in the requested forms, streaming. */
export async function writeAccounts(count: number, files: AccountFiles): Promise<void> {
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296;
  };
  const header = `${CSV_COLUMNS.join(',')}\n`;
  const targets: { w: Writable; done: Promise<void>; form: 'ndjson' | 'csv'; buf: string }[] = [];
  const open = (path: string | undefined, form: 'ndjson' | 'csv', gzip: boolean) => {
    if (!path) return;
    const file = createWriteStream(path);
    const done = new Promise<void>((resolve, reject) => {
      file.on('close', resolve);
      file.on('error', reject);
    });
    let w: Writable = file;
    if (gzip) {
      const z = createGzip({ level: 6 });
      z.pipe(file);
      w = z;
    }
    targets.push({ w, done, form, buf: form === 'csv' ? header : '' });
  };
  open(files.ndjson, 'ndjson', false);
  open(files.csv, 'csv', false);
  open(files.csvGz, 'csv', true);
  for (let i = 0; i < count; i++) {
    const a = account(i, next);
    const json = targets.some((t) => t.form === 'ndjson') ? `${JSON.stringify(a)}\n` : '';
    const row = targets.some((t) => t.form === 'csv') ? `${csvRow(a)}\n` : '';
    for (const t of targets) {
      t.buf += t.form === 'ndjson' ? json : row;
      if (t.buf.length >= 256 * 1024) {
        const chunk = t.buf;
        t.buf = '';
        await writeChunk(t.w, chunk);
      }
    }
  }
  for (const t of targets) {
    if (t.buf) await writeChunk(t.w, t.buf);
    await endWritable(t.w);
    await t.done;
  }
}
