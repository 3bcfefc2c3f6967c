import { describe, expect, it } from 'vitest';
import { datasourceReadGigyaDs } from '../../../lib/scripts/datasource.read.gigya.ds.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator();

describe('datasource.read.gigya.ds', () => {
  it('reads every object of a type, filtered by where, across pages', async () => {
    // Prepare
    for (let i = 0; i < 25; i++)
      harness.emu.store.dsStore('orders', `o${i}`, undefined, { n: i, open: i % 2 === 0 }, 'replace', 1000 + i);
    harness.emu.store.dsStore('other', 'x', undefined, { n: 1 }, 'replace', 1000);

    // Act
    const out = await runScript(
      datasourceReadGigyaDs,
      { from: 'orders', where: 'data.open = true', batchSize: 5 },
      {
        services: emulatorServices(harness.emu),
      },
    );

    // Assess
    expect(out.records.map((r) => r.oid).sort()).toEqual(Array.from({ length: 13 }, (_, k) => `o${k * 2}`).sort());
    expect(out.records[0]).toMatchObject({ data: { open: true }, lastUpdated: expect.any(Number) });
  });

  it('applies the delta window to the delta field when one is named', async () => {
    // Act
    const out = await runScript(
      datasourceReadGigyaDs,
      { from: 'orders', deltaField: 'lastUpdated' },
      {
        services: emulatorServices(harness.emu),
        job: { delta: { from: new Date(1019).toISOString(), to: new Date(1022).toISOString() } },
      },
    );

    // Assess
    expect(out.records.map((r) => r.oid)).toEqual(['o20', 'o21', 'o22']);
  });
});
