/**
 * Every writer in a dry run, on real servers on loopback (the ssh2 SFTP server, ftp-srv, s3rver, the Gigya
 * emulator, dynalite): it writes nothing, and what it reports (targets, records, calls) is what the writer then
 * does in a real run over the same input.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyScriptDefinition, DataRecord, ScriptDefinition } from '../../../lib/core/script.ts';
import type { Services } from '../../../lib/core/services.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { createServices } from '../../../lib/engine/services.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../../lib/local/environment.ts';
import { generateAccounts } from '../../../lib/local/gigya-accounts.ts';
import { type SftpServer, startSftpServer } from '../../../lib/local/sftp-server.ts';
import { datasourceWriteAmazonS3 } from '../../../lib/scripts/datasource.write.amazon.s3.ts';
import { datasourceWriteFtp } from '../../../lib/scripts/datasource.write.ftp.ts';
import { datasourceWriteGigyaAccount } from '../../../lib/scripts/datasource.write.gigya.account.ts';
import { datasourceWriteGigyaDs } from '../../../lib/scripts/datasource.write.gigya.ds.ts';
import { datasourceWriteGigyaGeneric } from '../../../lib/scripts/datasource.write.gigya.generic.ts';
import { datasourceWriteSftp } from '../../../lib/scripts/datasource.write.sftp.ts';
import { uidmapWrite } from '../../../lib/scripts/uidmap.write.ts';
import { type HarnessOutput, runScript } from '../../../lib/testing/harness.ts';
import { startFtpServer, type TestFtpServer } from '../../support/ftp-server.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const PASSWORD = 'pw-123456';
const gigya = useGigyaEmulator({ accounts: generateAccounts({ count: 5, seed: 3 }) });
let env: LocalEnvironment;
let dir: string;
const servers: (SftpServer | TestFtpServer)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idx-dry-writers-'));
  env = await startLocalEnvironment({ dir: join(dir, 'env'), ephemeral: true, env: {} });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a writer over an input, in a dry run or a real one. */
function write(
  definition: AnyScriptDefinition,
  params: Record<string, unknown>,
  input: { files?: { name: string; content: string }[]; records?: DataRecord[] },
  services: Services,
  dryRun: boolean,
): Promise<HarnessOutput> {
  return runScript(definition as ScriptDefinition, params, {
    services,
    job: { id: dryRun ? 'dry-job' : 'real-job', ...(dryRun ? { dryRun: true } : {}) },
    stepId: 'deliver',
    ...input,
  });
}

/** The locations a real writer's trace says it uploaded to. */
const uploaded = (out: HarnessOutput) =>
  out.trace.flatMap((line) => /uploaded (\S+) \(/.exec(line)?.[1] ?? []).map((where) => where);

const FILES = [
  { name: 'a.csv', content: 'email,name\na@example.com,A\nb@example.com,B\n' },
  { name: 'sub/b.csv', content: 'email\nc@example.com\n' },
];

describe('a file writer in a dry run', () => {
  const withSecret = () => createServices(env.config, new LocalSecretResolver({ env: {}, values: { PW: PASSWORD } }));

  it.each([
    {
      name: 'SFTP',
      definition: datasourceWriteSftp as unknown as AnyScriptDefinition,
      start: async (root: string) => {
        const s = await startSftpServer({
          root,
          hostKeyPath: join(dir, 'sftp-key'),
          users: [{ username: 'ops', password: PASSWORD }],
        });
        servers.push(s);
        return s;
      },
    },
    {
      name: 'FTP',
      definition: datasourceWriteFtp as unknown as AnyScriptDefinition,
      start: async (root: string) => {
        const s = await startFtpServer({ root, users: [{ username: 'ops', password: PASSWORD }] });
        servers.push(s);
        return s;
      },
    },
  ])('uploads nothing to $name and names each target as the upload then does', async ({ name, definition, start }) => {
    // Prepare
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    const server = await start(root);
    const params = {
      host: server.host,
      port: server.port,
      username: 'ops',
      password: '${secret:PW}',
      remotePath: 'out',
    };

    // Act
    const dry = await write(definition, params, { files: FILES }, withSecret(), true);
    const nothing = existsSync(join(root, 'out'));
    const real = await write(definition, params, { files: FILES }, withSecret(), false);

    // Assess
    expect(nothing).toBe(false);
    expect(dry.wouldWrite?.files.map((f) => f.target)).toEqual(uploaded(real));
    expect(dry.wouldWrite?.files.map((f) => [f.name, f.size, f.sample])).toEqual([
      ['a.csv', FILES[0]?.content.length, ['email,name', 'a@example.com,A', 'b@example.com,B']],
      ['sub/b.csv', FILES[1]?.content.length, ['email', 'c@example.com']],
    ]);
    expect(dry.wouldWrite?.bytes).toBe(real.counters.bytesDelivered);
    expect(readFileSync(join(root, 'out', 'a.csv'), 'utf8')).toBe(FILES[0]?.content);
    expect(JSON.stringify(dry)).not.toContain(PASSWORD);
  });

  it('puts nothing in S3 and names each object as the upload then does', async () => {
    // Prepare
    const bucket = 'dry-writers';
    await env.services.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const params = { bucketName: bucket, objectKeyPrefix: 'exports/' };
    const keys = async () =>
      ((await env.services.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key);

    // Act
    const dry = await write(datasourceWriteAmazonS3 as never, params, { files: FILES }, env.services, true);
    const before = await keys();
    const real = await write(datasourceWriteAmazonS3 as never, params, { files: FILES }, env.services, false);

    // Assess
    expect(before).toEqual([]);
    expect(dry.wouldWrite?.files.map((f) => f.target)).toEqual(uploaded(real));
    expect(await keys()).toEqual(['exports/a.csv', 'exports/sub/b.csv']);
  });
});

describe('a writer whose params the real run would refuse', () => {
  it('fails the dry run with the same coded error', async () => {
    // Prepare
    const params = { bucketName: 'dry-writers', accessKey: '${secret:AK}' };
    const services = createServices(env.config, new LocalSecretResolver({ env: {}, values: { AK: 'AKIA123456' } }));

    // Act
    const dry = write(datasourceWriteAmazonS3 as never, params, { files: FILES }, services, true);
    const real = write(datasourceWriteAmazonS3 as never, params, { files: FILES }, services, false);

    // Assess
    await expect(dry).rejects.toMatchObject({ code: 'IDX_S3_CREDENTIALS', location: { param: 'secretKey' } });
    await expect(real).rejects.toMatchObject({ code: 'IDX_S3_CREDENTIALS', location: { param: 'secretKey' } });
  });
});

describe('a record writer in a dry run', () => {
  const uids = () => [...gigya.emu.store.accounts.values()].map((a) => a.UID).sort();
  const writes = () =>
    gigya.emu.store.audit.filter((e) => /setAccountInfo|ds\.store|importLiteAccount/.test(e.endpoint));

  it('calls nothing on Gigya, rejects what the writer would refuse unsent, and reports the calls a real run makes', async () => {
    // Prepare
    const [first, second] = uids();
    const records = [
      { UID: first, profile: { firstName: 'Dry' }, 'data.flag': true, extra: 1 },
      { UID: second, profile: { firstName: 'Run' } },
      { profile: { firstName: 'Nobody' } },
    ];
    const accounts = JSON.stringify([...gigya.emu.store.accounts.values()]);
    const calls = writes().length;
    const services = emulatorServices(gigya.emu);

    // Act
    const dry = await write(datasourceWriteGigyaAccount as never, {}, { records }, services, true);
    const untouched = JSON.stringify([...gigya.emu.store.accounts.values()]) === accounts && writes().length === calls;
    const real = await write(datasourceWriteGigyaAccount as never, {}, { records }, services, false);

    // Assess
    expect(untouched).toBe(true);
    expect(dry.records).toEqual(real.records);
    expect(dry.rejected.map((r) => (r._errorDetails as { code: string }).code)).toEqual(['IDX_GIGYA_NO_UID']);
    expect(dry.wouldWrite).toMatchObject({ records: 2, calls: 2 });
    expect(dry.wouldWrite?.records).toBe(real.counters.recordsDelivered);
    expect(
      writes()
        .slice(calls)
        .map((e) => e.uid),
    ).toEqual([first, second]);
    expect(dry.wouldWrite?.sampleCalls[0]).toEqual({
      method: 'accounts.setAccountInfo',
      params: { UID: first, profile: { firstName: 'Dry' }, data: { flag: true } },
    });
  });

  it('masks credential fields and secret values in the calls it reports', async () => {
    // Prepare
    const [uid] = uids();
    const params = {
      apiMethod: 'accounts.setAccountInfo',
      apiParams: [
        { paramName: 'UID', sourceField: 'UID' },
        { paramName: 'password', sourceField: 'pw' },
        { paramName: 'data', value: '{"token":"${secret:TOKEN}"}' },
      ],
    };
    const services = emulatorServices(gigya.emu, { TOKEN: 'tok-987654321' });
    const calls = writes().length;

    // Act
    const dry = await write(
      datasourceWriteGigyaGeneric as never,
      params,
      { records: [{ UID: uid, pw: 'hunter2-secret' }] },
      services,
      true,
    );

    // Assess
    expect(writes()).toHaveLength(calls);
    expect(dry.wouldWrite?.sampleCalls).toEqual([
      { method: 'accounts.setAccountInfo', params: { UID: uid, password: '***', data: '{"token":"***"}' } },
    ]);
    expect(JSON.stringify(dry.wouldWrite)).not.toMatch(/hunter2|tok-987654321/);
  });

  it('stores no Data Store object and reports each ds.store call', async () => {
    // Prepare
    const [uid] = uids();
    const params = { type: 'purchases', oid: 'oid' };
    const records = [{ oid: 'p1', UID: uid, amount: 3 }, { amount: 4 }];
    const services = emulatorServices(gigya.emu);

    // Act
    const dry = await write(datasourceWriteGigyaDs as never, params, { records }, services, true);
    const stored = gigya.emu.store.ds.size;
    const real = await write(datasourceWriteGigyaDs as never, params, { records }, services, false);

    // Assess
    expect(stored).toBe(0);
    expect(dry.wouldWrite).toMatchObject({ records: 2, calls: 2 });
    expect(gigya.emu.store.ds.size).toBe(real.counters.recordsDelivered);
    expect(dry.wouldWrite?.sampleCalls.map((c) => [c.method, c.params.oid])).toEqual([
      ['ds.store', 'p1'],
      ['ds.store', 'auto'],
    ]);
  });

  it('puts nothing in the UID map and reports the entries a real run stores', async () => {
    // Prepare
    const params = { namespace: 'dry', keyField: 'email' };
    const records = [{ email: 'A@example.com', UID: 'u1' }, { email: 'b@example.com', UID: 'u2' }, { UID: 'u3' }];
    const entries = async () =>
      ((await env.services.dynamo.send(new ScanCommand({ TableName: env.config.tables.uidMap }))).Items ?? []).length;

    // Act
    const dry = await write(uidmapWrite as never, params, { records }, env.services, true);
    const before = await entries();
    await write(uidmapWrite as never, params, { records }, env.services, false);

    // Assess
    expect(before).toBe(0);
    expect(dry.records).toHaveLength(3);
    expect(dry.wouldWrite).toMatchObject({ records: 3, calls: 2 });
    expect(await entries()).toBe(dry.wouldWrite?.calls);
    expect(dry.wouldWrite?.sampleCalls[0]).toEqual({
      method: 'uidmap.put',
      params: { namespace: 'dry', key: 'a@example.com', UID: 'u1' },
    });
  });
});
