import { describe, expect, it } from 'vitest';
import { datasourceWriteGigyaDs } from '../../../lib/scripts/datasource.write.gigya.ds.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorClient, emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({ accounts: [{ UID: 'owner' }] });

describe('datasource.write.gigya.ds', () => {
  it('stores each record under its oid and owner, generating ids for records without one', async () => {
    // Prepare
    const records = [
      { oid: 'p1', UID: 'owner', data: { sku: 'A', qty: 1 } },
      { sku: 'B', qty: 2 },
    ];

    // Act
    const out = await runScript(
      datasourceWriteGigyaDs,
      { type: 'purchases' },
      { records, services: emulatorServices(harness.emu) },
    );

    // Assess
    const client = emulatorClient(harness.emu);
    const p1 = await client.call('ds.get', { type: 'purchases', oid: 'p1', UID: 'owner' });
    expect(p1.data).toEqual({ sku: 'A', qty: 1 });
    const generated = out.records[1]?.oid as string;
    expect(typeof generated).toBe('string');
    expect((await client.call('ds.get', { type: 'purchases', oid: generated })).data).toEqual({ sku: 'B', qty: 2 });
  });

  it('applies the update behaviour to existing objects', async () => {
    // Prepare
    const services = emulatorServices(harness.emu);
    await runScript(
      datasourceWriteGigyaDs,
      { type: 'carts' },
      { records: [{ oid: 'c', data: { items: ['a'], open: true } }], services },
    );

    // Act
    await runScript(
      datasourceWriteGigyaDs,
      { type: 'carts' },
      { records: [{ oid: 'c', data: { items: ['b'] } }], services },
    );
    const pushed = await emulatorClient(harness.emu).call('ds.get', { type: 'carts', oid: 'c' });
    await runScript(
      datasourceWriteGigyaDs,
      { type: 'carts', updateBehavior: 'replace' },
      {
        records: [{ oid: 'c', data: { items: ['z'] } }],
        services,
      },
    );
    const replaced = await emulatorClient(harness.emu).call('ds.get', { type: 'carts', oid: 'c' });

    // Assess
    expect(pushed.data).toEqual({ items: ['a', 'b'], open: true });
    expect(replaced.data).toEqual({ items: ['z'] });
  });

  it('sends objects of unknown owners to the error path', async () => {
    // Act
    const out = await runScript(
      datasourceWriteGigyaDs,
      { type: 'purchases' },
      {
        records: [{ oid: 'x', UID: 'ghost', data: { a: 1 } }],
        services: emulatorServices(harness.emu),
      },
    );

    // Assess
    expect(out.rejected[0]?._errorDetails).toMatchObject({ errorCode: 403005 });
  });
});
