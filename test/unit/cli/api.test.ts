import { describe, expect, it } from 'vitest';
import { apiCredentials } from '../../../lib/cli/api.ts';
import { LocalSecretResolver } from '../../../lib/engine/secrets.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../../../lib/scripts/util/gigya-step.ts';

describe('the credentials of idx api', () => {
  it("are the Gigya emulator's documented ones when no secret sets them", async () => {
    // Act
    const credentials = await apiCredentials(new LocalSecretResolver({ env: {} }));

    // Assess
    expect(credentials).toEqual(LOCAL_GIGYA_CREDENTIALS);
  });

  it('are the secrets IDX_API_KEY, IDX_API_USER_KEY and IDX_API_SECRET when all are set', async () => {
    // Prepare
    const values = { IDX_API_KEY: '3_site', IDX_API_USER_KEY: 'ops', IDX_API_SECRET: 'c2VjcmV0' };

    // Act
    const credentials = await apiCredentials(new LocalSecretResolver({ env: {}, values }));

    // Assess
    expect(credentials).toEqual({ apiKey: '3_site', userKey: 'ops', secret: 'c2VjcmV0' });
  });

  it('are refused with IDX_SECRET_MISSING naming the missing ones when only some are set', async () => {
    // Act
    const attempt = apiCredentials(new LocalSecretResolver({ env: {}, values: { IDX_API_KEY: '3_site' } }));

    // Assess
    await expect(attempt).rejects.toMatchObject({
      code: 'IDX_SECRET_MISSING',
      expected: expect.stringContaining('IDX_API_USER_KEY'),
      received: 'only IDX_API_KEY',
    });
  });
});
