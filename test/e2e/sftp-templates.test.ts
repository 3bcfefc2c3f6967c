/**
 * The IdentitySync templates "Export from Gigya to SFTP" and "Import from SFTP to Gigya", loaded unchanged from
 * the public fixtures, run locally through the compiled state machine: the Gigya emulator stands in for Gigya,
 * the embedded SFTP server (empty host) for the partner's server.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { validateFile } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { sftpExtra } from '../../lib/local/sftp-server.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { FIXTURES_DIR } from '../support/dataflows.ts';
import { emulatorClient } from '../support/gigya.ts';
import { useLocalEnvironment } from '../support/local.ts';

const ACCOUNTS = 500;
let emu: GigyaEmulator | undefined;
const local = useLocalEnvironment({
  extras: [
    async () => {
      const started = await startGigyaEmulator({ accounts: generateAccounts({ count: ACCOUNTS, seed: 7 }) });
      emu = started;
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
    sftpExtra(),
  ],
});

function template(file: string) {
  const { dataflow, valid, problems } = validateFile(join(FIXTURES_DIR, file), defaultRegistry());
  expect(valid, JSON.stringify(problems.filter((p) => p.severity === 'error'))).toBe(true);
  return dataflow!;
}

const sftpRoot = () => join(local.env.dir, 'sftp');

describe('the SFTP templates run locally', () => {
  it('"Export from Gigya to SFTP" writes every account as a gzipped CSV into the SFTP folder', async () => {
    // Prepare
    const df = template('01-export-gigya-to-sftp.json');
    const accounts = [...(emu as GigyaEmulator).store.accounts.values()] as unknown as {
      profile: { email?: string };
    }[];

    // Act
    const result = await runLocal(df, {
      services: local.env.services,
      registry: defaultRegistry(),
      input: { fullExtract: true },
    });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe('succeeded');
    const files = readdirSync(sftpRoot());
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^GIGYA_TO_SFTP_\d{14}\.csv\.gz$/);
    const rows = parse(gunzipSync(readFileSync(join(sftpRoot(), files[0] as string))).toString('utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(rows).toHaveLength(ACCOUNTS);
    expect(rows.map((r) => r.MAIL ?? '').sort()).toEqual(accounts.map((a) => a.profile.email ?? '').sort());
    expect(Object.keys(rows[0] ?? {})).not.toContain('profile');
    expect(result.job?.steps.sftp?.files?.map((f) => f.name)).toEqual([expect.stringContaining(files[0] as string)]);
  });

  it('"Import from SFTP to Gigya" updates the accounts of a dropped CSV, and the next run finds no new file', async () => {
    // Prepare
    const df = template('04-import-sftp-to-gigya.json');
    const uids = [...(emu as GigyaEmulator).store.accounts.keys()].slice(0, 25);
    const csv = ['UID,EVENING_ABC,EVENING_HOY', ...uids.map((uid, i) => `${uid},${i % 2 === 0},true`)].join('\n');
    writeFileSync(join(sftpRoot(), 'newsletters.csv'), `${csv}\n`);
    writeFileSync(join(sftpRoot(), 'readme.txt'), 'not an import');

    // Act
    const first = await runLocal(df, { services: local.env.services, registry: defaultRegistry() });
    const second = await runLocal(df, { services: local.env.services, registry: defaultRegistry() });

    // Assess
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.job?.steps.sftp).toMatchObject({ filesOut: 1 });
    expect(first.job?.steps.account).toMatchObject({ recordsIn: 25, recordsOut: 25, recordsRejected: 0 });
    const client = emulatorClient(emu as GigyaEmulator);
    for (const [i, UID] of uids.entries()) {
      const account = await client.call('accounts.getAccountInfo', { UID });
      expect(account.data).toMatchObject({ newslettersEvening: { abc: String(i % 2 === 0), hoy: 'true' } });
    }
    expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
    expect(second.job?.steps.sftp).toMatchObject({ filesOut: 0 });
    expect(second.job?.steps.account?.recordsIn ?? 0).toBe(0);
    expect(second.job?.trace.join('\n')).toContain('already imported');
  });
});
