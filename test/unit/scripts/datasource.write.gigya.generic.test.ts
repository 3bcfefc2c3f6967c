import { describe, expect, it, onTestFinished } from 'vitest';
import { startGigyaEmulator } from '../../../lib/local/gigya-emulator.ts';
import { datasourceWriteGigyaGeneric } from '../../../lib/scripts/datasource.write.gigya.generic.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { emulatorClient, emulatorServices, useGigyaEmulator } from '../../support/gigya.ts';

const harness = useGigyaEmulator({ accounts: [{ UID: 'g1', profile: { firstName: 'G' } }] });

describe('datasource.write.gigya.generic', () => {
  it('imports lite accounts from record fields and adds the reply as _response', async () => {
    // Prepare
    const params = {
      apiMethod: 'accounts.importLiteAccount',
      addResponse: true,
      apiParams: [
        { paramName: 'email', sourceField: 'email', value: '' },
        { paramName: 'profile', sourceField: 'request.profile', value: '' },
        { paramName: 'data', sourceField: 'request.missing', value: '' },
      ],
    };
    const records = [{ email: 'lite1@example.com', request: { profile: { firstName: 'L' } } }];

    // Act
    const out = await runScript(datasourceWriteGigyaGeneric, params, {
      records,
      services: emulatorServices(harness.emu),
    });

    // Assess
    const response = out.records[0]?._response as { UID: string; errorCode: number };
    expect(response.errorCode).toBe(0);
    expect(harness.emu.store.accounts.get(response.UID)?.profile).toEqual({
      email: 'lite1@example.com',
      firstName: 'L',
    });
  });

  it('uses a constant value when the source field is empty, and _response of an earlier step as a source', async () => {
    // Prepare
    const params = {
      apiMethod: 'accounts.setAccountInfo',
      apiParams: [
        { paramName: 'UID', sourceField: '_response.UID' },
        { paramName: 'data', sourceField: '', value: '{"source":"generic"}' },
      ],
    };

    // Act
    const out = await runScript(datasourceWriteGigyaGeneric, params, {
      records: [{ _response: { UID: 'g1' } }],
      services: emulatorServices(harness.emu),
    });

    // Assess
    expect(out.counters.recordsOut).toBe(1);
    const a = await emulatorClient(harness.emu).call('accounts.getAccountInfo', { UID: 'g1' });
    expect(a.data).toEqual({ source: 'generic' });
  });

  it('sends a refused call to the error path with its details and the reply', async () => {
    // Prepare
    const params = {
      apiMethod: 'accounts.deleteAccount',
      addResponse: true,
      apiParams: [{ paramName: 'UID', sourceField: 'uid' }],
    };

    // Act
    const out = await runScript(datasourceWriteGigyaGeneric, params, {
      records: [{ uid: 'nobody' }],
      services: emulatorServices(harness.emu),
    });

    // Assess
    expect(out.rejected).toHaveLength(1);
    expect(out.rejected[0]?._errorDetails).toMatchObject({ errorCode: 403005, errorMessage: 'Unauthorized user' });
    expect(out.rejected[0]?._response).toMatchObject({ errorCode: 403005, statusCode: 403 });
  });

  it('calls another site with the apiKey, userKey and secret of its params', async () => {
    // Prepare: a site of its own, with credentials other than the local emulator's.
    const other = await startGigyaEmulator({
      apiKey: '3_otherSite',
      userKey: 'otherUser',
      secret: Buffer.from('other site secret').toString('base64'),
      accounts: [{ UID: 'o1' }],
    });
    onTestFinished(() => other.close());
    const secrets = { OTHER_USER: other.userKey, OTHER_SECRET: other.secret };
    const params = {
      apiMethod: 'accounts.setAccountInfo',
      apiParams: [
        { paramName: 'UID', sourceField: 'uid' },
        { paramName: 'data', value: '{"copied":true}' },
      ],
      apiKey: '3_otherSite',
      userKey: '${secret:OTHER_USER}',
      secret: '${secret:OTHER_SECRET}',
    };

    // Act
    const out = await runScript(datasourceWriteGigyaGeneric, params, {
      records: [{ uid: 'o1' }],
      services: emulatorServices(other, secrets),
    });

    // Assess
    expect(out.counters.recordsOut).toBe(1);
    expect(other.store.accounts.get('o1')?.data).toEqual({ copied: true });
  });
});
