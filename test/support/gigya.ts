/** Starts the Gigya emulator for a test file and builds services whose Gigya endpoint points at it. */
import { afterAll, beforeAll } from 'vitest';
import { GigyaClient, type GigyaClientOptions } from '../../lib/connectors/gigya.ts';
import type { Services } from '../../lib/core/services.ts';
import { LocalSecretResolver } from '../../lib/engine/secrets.ts';
import { createServices } from '../../lib/engine/services.ts';
import { type GigyaEmulator, type GigyaEmulatorOptions, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';

/** Starts an emulator before the file's tests and stops it after them. */
export function useGigyaEmulator(options: GigyaEmulatorOptions = {}): { readonly emu: GigyaEmulator } {
  const holder = {} as { emu: GigyaEmulator };
  beforeAll(async () => {
    holder.emu = await startGigyaEmulator(options);
  });
  afterAll(async () => {
    await holder.emu?.close();
  });
  return holder;
}

/** Services for scripts: Gigya at the emulator, S3 and DynamoDB unreachable (Gigya scripts do not use them). */
export function emulatorServices(emu: GigyaEmulator, secrets: Record<string, string> = {}, local = true): Services {
  return createServices(
    {
      region: 'us-east-1',
      stageBucket: 'offline',
      tables: { jobs: 'jobs', state: 'state', uidMap: 'uidmap' },
      endpoints: { s3: 'http://127.0.0.1:9', dynamodb: 'http://127.0.0.1:9', gigya: emu.url },
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      local,
      watermarkOverlapMs: 300_000,
      lockTtlMs: 3_600_000,
    },
    new LocalSecretResolver({ env: {}, values: secrets }),
  );
}

/** A client with the emulator's credentials and short backoffs. */
export function emulatorClient(emu: GigyaEmulator, options: Partial<GigyaClientOptions> = {}): GigyaClient {
  return new GigyaClient({
    apiKey: emu.apiKey,
    userKey: emu.userKey,
    secret: emu.secret,
    endpoint: emu.url,
    retry: { baseDelayMs: 10, maxDelayMs: 100 },
    ...options,
  });
}
