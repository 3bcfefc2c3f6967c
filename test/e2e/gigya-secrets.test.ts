/**
 * No Gigya credential reaches a log line, a trace or a job record: dataflows whose steps name their credentials
 * as `${secret:NAME}` run locally with debug logging, throttling retries and a failing step, and everything they
 * wrote is scanned for the secret values.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { validateText } from '../../lib/dataflow/validate.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { runLocal } from '../../lib/local/runner.ts';
import { datasourceReadGigyaAccount } from '../../lib/scripts/datasource.read.gigya.account.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { runScript } from '../../lib/testing/harness.ts';
import { emulatorServices } from '../support/gigya.ts';
import { useLocalEnvironment } from '../support/local.ts';

const SECRETS = {
  GIGYA_E2E_API_KEY: '3_e2eSiteKey-Qx7RvW',
  GIGYA_E2E_USER_KEY: 'e2eUserKey-Lm4Tz9',
  GIGYA_E2E_SECRET: Buffer.from('the e2e secret value, never to be logged').toString('base64'),
};
const CREDENTIALS = {
  apiKey: '${secret:GIGYA_E2E_API_KEY}',
  userKey: '${secret:GIGYA_E2E_USER_KEY}',
  secret: '${secret:GIGYA_E2E_SECRET}',
};
let emu: GigyaEmulator | undefined;
const local = useLocalEnvironment({
  secrets: SECRETS,
  extras: [
    async () => {
      const started = await startGigyaEmulator({
        apiKey: SECRETS.GIGYA_E2E_API_KEY,
        userKey: SECRETS.GIGYA_E2E_USER_KEY,
        secret: SECRETS.GIGYA_E2E_SECRET,
        accounts: generateAccounts({ count: 200, seed: 3 }),
      });
      emu = started;
      return { endpoints: { gigya: started.url }, close: () => started.close() };
    },
  ],
});

function leaks(text: string): string[] {
  return Object.entries(SECRETS)
    .filter(([, value]) => text.includes(value))
    .map(([name]) => name);
}

describe('Gigya credentials', () => {
  it('appear in no log line, trace or job record, including retries, debug records and a failed step', async () => {
    // Prepare
    const { services } = local.env;
    const { dataflow, valid, problems } = validateText(
      JSON.stringify({
        id: 'gigya-secrets',
        name: 'Round trip with named credentials',
        steps: [
          {
            id: 'read',
            type: 'datasource.read.gigya.account',
            params: { select: 'UID, profile.firstName', retryBaseDelayMs: 5, ...CREDENTIALS },
            next: ['write'],
          },
          { id: 'write', type: 'datasource.write.gigya.account', params: { retryBaseDelayMs: 5, ...CREDENTIALS } },
        ],
      }),
      defaultRegistry(),
    );
    expect(valid, JSON.stringify(problems)).toBe(true);
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const gigya = emu as GigyaEmulator;

    // Act
    let ok: Awaited<ReturnType<typeof runLocal>>;
    let failed: Awaited<ReturnType<typeof runLocal>>;
    try {
      gigya.faults.failNext('accounts.search', 403048, 2);
      gigya.faults.failNext('accounts.setAccountInfo', 500001, 2);
      ok = await runLocal(dataflow!, {
        services,
        registry: defaultRegistry(),
        input: { fullExtract: true, logLevel: 'debug' },
        echo: true,
      });
      gigya.faults.failNext('accounts.setAccountInfo', 403007, 1);
      failed = await runLocal(dataflow!, {
        services,
        registry: defaultRegistry(),
        input: { fullExtract: true, logLevel: 'debug' },
        echo: true,
      });
    } finally {
      spy.mockRestore();
    }
    const tables = await Promise.all(
      Object.values(services.config.tables).map((TableName) => services.dynamo.send(new ScanCommand({ TableName }))),
    );

    // Assess: the runs did what makes logs interesting ...
    expect(ok.status, JSON.stringify(ok.error)).toBe('succeeded');
    expect(ok.job?.steps.write).toMatchObject({ recordsIn: 200, recordsOut: 200 });
    expect(failed.status).toBe('failed');
    const stdout = lines.join('');
    expect(stdout).toContain('retrying');
    expect(stdout).toContain('record out');
    expect(JSON.stringify(failed.job)).toContain('403007');
    // ... and none of it holds a credential.
    expect(leaks(stdout)).toEqual([]);
    expect(leaks(JSON.stringify(ok.job))).toEqual([]);
    expect(leaks(JSON.stringify(failed.job))).toEqual([]);
    expect(leaks(JSON.stringify(failed.error))).toEqual([]);
    expect(leaks(JSON.stringify(tables.map((t) => t.Items)))).toEqual([]);
  });

  it('appear in no trace of a step that fails on a wrong credential', async () => {
    // Prepare
    const gigya = emu as GigyaEmulator;
    const services = emulatorServices(gigya, {
      ...SECRETS,
      GIGYA_E2E_SECRET: Buffer.from('a wrong one').toString('base64'),
    });
    const params = { select: 'UID', ...CREDENTIALS };

    // Act
    const error = await runScript(datasourceReadGigyaAccount, params, {
      services,
      job: { fullExtract: true, logLevel: 'debug' },
    }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: 'IDX_GIGYA_API', details: { errorCode: 403003 } });
    expect(leaks(JSON.stringify(error))).toEqual([]);
    expect(leaks(String((error as Error).message))).toEqual([]);
  });
});
