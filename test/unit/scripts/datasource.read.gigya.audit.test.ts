import { describe, expect, it } from 'vitest';
import { datasourceReadGigyaAudit } from '../../../lib/scripts/datasource.read.gigya.audit.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorClient, emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({ accounts: [{ UID: 'd1' }, { UID: 'd2' }, { UID: 'keep' }] });

describe('datasource.read.gigya.audit', () => {
  it('finds the accounts deleted within the delta window', async () => {
    // Prepare
    const client = emulatorClient(harness.emu);
    const from = new Date().toISOString();
    await client.call('accounts.deleteAccount', { UID: 'd1' });
    await client.call('accounts.deleteAccount', { UID: 'd2' });
    await client.call('accounts.getAccountInfo', { UID: 'keep' });
    const to = new Date(Date.now() + 1000).toISOString();

    // Act
    const out = await runScript(
      datasourceReadGigyaAudit,
      { select: 'uid, endpoint, @timestamp', where: 'endpoint = "accounts.deleteAccount" AND errCode = 0' },
      { services: emulatorServices(harness.emu), job: { delta: { from, to } } },
    );

    // Assess
    expect(out.records.map((r) => r.uid)).toEqual(['d1', 'd2']);
    expect(
      out.trace.some((l) => l.includes(`@timestamp > "${from}" AND @timestamp <= "${to}" ORDER BY @timestamp`)),
    ).toBe(true);
  });
});
