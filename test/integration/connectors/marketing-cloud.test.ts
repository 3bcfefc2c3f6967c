/**
 * The Marketing Cloud client against the Marketing Cloud emulator on loopback: the client-credentials token, kept
 * and renewed once, a refused call's messages, and retries that run out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarketingCloudClient } from '../../../lib/connectors/marketing-cloud.ts';
import type { Logger } from '../../../lib/core/logger.ts';
import {
  LOCAL_MARKETING_CLOUD,
  type MarketingCloudEmulator,
  startMarketingCloudEmulator,
} from '../../../lib/local/marketing-cloud-emulator.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
let emu: MarketingCloudEmulator;

beforeAll(async () => {
  emu = await startMarketingCloudEmulator();
});
afterAll(() => emu.close());

function client(secret: string = LOCAL_MARKETING_CLOUD.clientSecret): MarketingCloudClient {
  return new MarketingCloudClient({
    authBaseUrl: emu.url,
    clientId: LOCAL_MARKETING_CLOUD.clientId,
    clientSecret: secret,
    log: quiet,
    attempts: 3,
    baseDelayMs: 1,
    maxDelayMs: 2,
  });
}

const row = (guid: string, email: string, fname = 'F') => ({
  keys: { GUID: guid, EMAIL: email },
  values: { FNAME: fname },
});

describe('MarketingCloudClient', () => {
  it('refuses a wrong client secret with IDX_MARKETING_CLOUD_AUTH', async () => {
    // Act
    const failure = await client('wrong')
      .upsertRows('GigyaSubscribers', [row('g', 'g@example.com')])
      .catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({
      code: 'IDX_MARKETING_CLOUD_AUTH',
      received: expect.stringContaining('invalid_client'),
    });
  });

  it('keeps its token across calls, gets a new one once when it expires, and upserts on the primary keys', async () => {
    // Prepare
    const mc = client();

    // Act
    await mc.upsertRows('GigyaSubscribers', [row('g1', 'g1@example.com', 'A')]);
    await mc.upsertRows('GigyaSubscribers', [row('g1', 'g1@example.com', 'B')]);
    emu.expireTokens();
    await mc.upsertRows('GigyaSubscribers', [row('g2', 'g2@example.com')]);

    // Assess
    expect(mc.tokens).toBe(2);
    expect(emu.rows('GigyaSubscribers').get('g1|g1@example.com')).toMatchObject({ FNAME: 'B' });
    expect(emu.rows('GigyaSubscribers').get('g2|g2@example.com')).toBeDefined();
  });

  it('returns what Marketing Cloud said when it refuses a call, having saved none of its rows', async () => {
    // Prepare
    const mc = client();

    // Act
    const refusal = await mc.upsertRows('GigyaSubscribers', [row('g3', 'g3@example.com'), row('g4', 'not-an-address')]);

    // Assess
    expect(refusal).toMatchObject({ errorcode: 10006, message: expect.stringContaining('not a valid email address') });
    expect(emu.rows('GigyaSubscribers').has('g3|g3@example.com')).toBe(false);
  });

  it('retries 429 and reports a transient IDX_MARKETING_CLOUD_API when the attempts run out', async () => {
    // Prepare
    const mc = client();
    emu.fault({ path: /rowset$/, status: 429, body: { message: 'Rate limit exceeded', errorcode: 50100 }, times: 3 });

    // Act
    const failure = await mc.upsertRows('GigyaSubscribers', [row('g5', 'g5@example.com')]).catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({
      code: 'IDX_MARKETING_CLOUD_API',
      transient: true,
      received: 'HTTP 429 errorcode 50100',
    });
    expect(mc.retries).toBe(2);
  });
});
