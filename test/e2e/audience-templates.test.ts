/**
 * The public audience dataflows, loaded from the fixtures and run locally through the compiled state machine:
 * "Adobe Audience Manager Dataflow" (Gigya → AAM inbound file → SFTP) and "Krux Dataflow" (Gigya → Krux file →
 * LZO with its Hadoop index → S3). Their "..." credentials are pointed at the embedded services: an empty host is
 * the embedded SFTP server, empty S3 keys the local S3 with the runtime's credentials; the account reader reads
 * pages of 25. The `.lzo` that reaches
 * S3 is decompressed with `lzop -d`, the reference tool.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import type { GigyaAccount } from '../../lib/local/gigya-account-file.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { sftpExtra } from '../../lib/local/sftp-server.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { useLocalEnvironment } from '../support/local.ts';
import { indexOffsets, lzopBlockOffsets, lzopDecompress } from '../support/lzop.ts';

const ACCOUNTS = 120;
const BUCKET = 'krux-drop';
const DPID = '478';

/**
 * The emulator's accounts, with what the templates read beyond the generated profile: an age on most, the
 * education list (objects in an array) and an industry on some, a value holding the Krux separators on one.
 */
const accounts: GigyaAccount[] = [...generateAccounts({ count: ACCOUNTS, seed: 21 })].map((a, i) => {
  const profile = { ...(a.profile as Record<string, unknown>) };
  if (i % 4 !== 0) profile.age = 18 + (i % 60);
  if (i % 5 === 0) profile.education = [{ school: `School ${i}`, degree: 'BSc' }, { school: 'Night school' }];
  if (i % 7 === 0) profile.industry = i === 7 ? 'Arts; Crafts: Design' : 'Retail';
  return { ...a, profile };
});
const profileOf = (a: GigyaAccount) => a.profile as Record<string, unknown>;

const local = useLocalEnvironment({
  extras: [
    async () => {
      const started = await startGigyaEmulator({ accounts });
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
    sftpExtra(),
  ],
});

/** A public dataflow with its "..." values replaced, validated with no error. */
function dataflowOf(file: string, params: Record<string, Record<string, unknown>>) {
  const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as {
    steps: { id: string; params: Record<string, unknown> }[];
  };
  for (const step of flow.steps) Object.assign(step.params, params[step.id] ?? {});
  const { dataflow, valid, problems } = validateText(JSON.stringify(flow), defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

/** The fixture itself validates with no error (its "..." credentials are only warnings). */
function validatesAsIs(file: string): void {
  const text = readFileSync(join(FIXTURES_DIR, file), 'utf8');
  const { valid, problems } = validateText(text, defaultRegistry(), { file });
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
}

/** Pages of 25 accounts, so a run with a tiny budget reads and formats in several invocations. */
const PAGES = { account: { batchSize: 25 } };

/** The AAM template pointed at the embedded SFTP server, writing into `folder`. */
function aam(folder: string) {
  return dataflowOf('02-adobe-audience-manager-sftp.json', {
    ...PAGES,
    aam: { dpid: DPID },
    sftp: { host: '', username: '', password: '', remotePath: folder },
  });
}

/** The Krux template pointed at the local S3, writing under `prefix`. */
function krux(prefix: string) {
  return dataflowOf('15-krux-lzo-s3.json', {
    ...PAGES,
    s3: { bucketName: BUCKET, accessKey: '', secretKey: '', objectKeyPrefix: prefix },
  });
}

/** The traits AAM should get for an account: the template's renamed profile fields, key-value, quoted. */
function expectedTraits(a: GigyaAccount): string[] {
  const p = profileOf(a);
  const traits: string[] = [];
  for (const key of ['gender', 'birthDay', 'birthMonth', 'birthYear', 'age', 'industry']) {
    if (p[key] !== undefined) traits.push(`"${key}"="${String(p[key]).replace(/[",]/g, ' ')}"`);
  }
  for (const e of (p.education as Record<string, string>[] | undefined) ?? []) {
    for (const [k, v] of Object.entries(e)) traits.push(`"education.${k}"="${v}"`);
  }
  return traits.sort();
}

/** The lines of an AAM file by user ID, each user's traits sorted. */
function aamLines(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [uid, traits, ...rest] = line.split('\t');
    expect(rest).toEqual([]);
    // A trait is "key"="value"; values hold no quote, so the commas between quotes separate them.
    out.set(uid ?? '', (traits ?? '').split(/(?<="),(?=")/).sort());
  }
  return out;
}

async function s3Object(key: string): Promise<Buffer> {
  const body = await local.env.services.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await body.Body!.transformToByteArray());
}

async function s3Keys(prefix: string): Promise<string[]> {
  const listed = await local.env.services.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key as string).sort();
}

describe('the audience dataflows run locally', () => {
  it('"Adobe Audience Manager Dataflow" puts one line per account with its traits in ftp_dpm_<dpid>_<seconds>.sync', async () => {
    // Prepare
    validatesAsIs('02-adobe-audience-manager-sftp.json');
    const folder = join(local.env.dir, 'sftp', 'aam');
    mkdirSync(folder, { recursive: true });

    // Act
    const result = await runLocal(aam('aam'), {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const files = readdirSync(folder);
    expect(files).toEqual([expect.stringMatching(new RegExp(`^ftp_dpm_${DPID}_\\d{10}\\.sync$`))]);
    const seconds = Number(/_(\d{10})\.sync$/.exec(files[0] as string)?.[1]);
    expect(Math.abs(seconds * 1000 - Date.parse(result.job?.startTime ?? ''))).toBeLessThan(1000);
    const lines = aamLines(readFileSync(join(folder, files[0] as string), 'utf8'));
    expect(lines.size).toBe(ACCOUNTS);
    for (const a of accounts) expect(lines.get(a.UID), a.UID).toEqual(expectedTraits(a));
    expect(result.job?.steps.aam).toMatchObject({ recordsIn: ACCOUNTS, recordsRejected: 0 });
  });

  it('"Krux Dataflow" puts the Krux file as .lzo with its .lzo.index in S3, one line per account', async () => {
    // Prepare
    validatesAsIs('15-krux-lzo-s3.json');
    await local.env.services.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

    // Act
    const result = await runLocal(krux('krux/normal/'), {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    expect(await s3Keys('krux/normal/')).toEqual([
      'krux/normal/Gigya_Krux_M6.csv.lzo',
      'krux/normal/Gigya_Krux_M6.csv.lzo.index',
    ]);
    const lzo = await s3Object('krux/normal/Gigya_Krux_M6.csv.lzo');
    const index = await s3Object('krux/normal/Gigya_Krux_M6.csv.lzo.index');
    expect(indexOffsets(index)).toEqual(lzopBlockOffsets(lzo));
    const lines = lzopDecompress(lzo).toString('utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(ACCOUNTS);
    const byId = new Map(lines.map((l) => [l.slice(0, l.indexOf('^')), l.slice(l.indexOf('^') + 1)]));
    for (const a of accounts) {
      const p = profileOf(a);
      const attributes = [`g_gender:${p.gender}`, ...(p.age === undefined ? [] : [`g_age:${p.age}`])];
      expect(byId.get(a.UID), a.UID).toBe(attributes.join(';'));
    }
  });

  it('"Krux Dataflow" with no account to export still delivers its file, as createEmptyFile asks: an empty .lzo and index', async () => {
    // Prepare
    const df = dataflowOf('15-krux-lzo-s3.json', {
      account: { where: 'UID = "nobody"' },
      s3: { bucketName: BUCKET, accessKey: '', secretKey: '', objectKeyPrefix: 'krux/empty/' },
    });

    // Act
    const result = await runLocal(df, {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const lzo = await s3Object('krux/empty/Gigya_Krux_M6.csv.lzo');
    expect(lzopDecompress(lzo).length).toBe(0);
    expect((await s3Object('krux/empty/Gigya_Krux_M6.csv.lzo.index')).length).toBe(0);
  });

  it('both run with a 1 ms invocation budget to the same targets as a normal run', async () => {
    // Prepare
    const folder = join(local.env.dir, 'sftp', 'aam-tiny');
    mkdirSync(folder, { recursive: true });
    const normalKrux = await s3Keys('krux/normal/');
    expect(normalKrux).toHaveLength(2);

    // Act
    const options = { services: local.env.services, registry: defaultRegistry(), invocationBudgetMs: 1 };
    const tinyAam = await runLocal(aam('aam-tiny'), { ...options, input: { fullExtract: true } });
    const tinyKrux = await runLocal(krux('krux/tiny/'), { ...options, input: { fullExtract: true } });

    // Assess
    expect(tinyAam.status, JSON.stringify(tinyAam.error)).toBe('succeeded');
    expect(tinyKrux.status, JSON.stringify(tinyKrux.error)).toBe('succeeded');
    const aamText = (dir: string) => {
      const [name] = readdirSync(join(local.env.dir, 'sftp', dir));
      return readFileSync(join(local.env.dir, 'sftp', dir, name as string), 'utf8')
        .split('\n')
        .sort();
    };
    expect(aamText('aam-tiny')).toEqual(aamText('aam'));
    const kruxLines = async (prefix: string) =>
      lzopDecompress(await s3Object(`${prefix}Gigya_Krux_M6.csv.lzo`))
        .toString('utf8')
        .split('\n')
        .sort();
    expect(await kruxLines('krux/tiny/')).toEqual(await kruxLines('krux/normal/'));
    expect(await s3Keys('krux/tiny/')).toEqual(normalKrux.map((k) => k.replace('/normal/', '/tiny/')));
    expect(indexOffsets(await s3Object('krux/tiny/Gigya_Krux_M6.csv.lzo.index'))).toEqual(
      indexOffsets(await s3Object('krux/normal/Gigya_Krux_M6.csv.lzo.index')),
    );
    expect(tinyKrux.job?.steps.krux?.invocations).toBeGreaterThan(1);
    expect(tinyAam.job?.steps.aam?.invocations).toBeGreaterThan(1);
  });
});
