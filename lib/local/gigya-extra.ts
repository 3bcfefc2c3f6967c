/**
 * The Gigya emulator as a stand-in of the local environment: state under `<dir>/gigya/` (in memory for ephemeral
 * environments), seeded with generated sample accounts the first time, so the IdentitySync templates run on a
 * laptop unchanged. `IDX_GIGYA_ENDPOINT` points local runs at another Gigya instead (then nothing is started).
 */
import { join } from 'node:path';
import { ENV } from '../core/env.ts';
import type { LocalExtra } from './environment.ts';
import { startGigyaEmulator } from './gigya-emulator.ts';

/** Options of {@link gigyaExtra}. */
export interface GigyaExtraOptions {
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** Accounts generated when the emulator starts with no state. @default 1000 */
  readonly sampleAccounts?: number;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** The local-environment stand-in that runs the Gigya emulator. */
export function gigyaExtra(options: GigyaExtraOptions = {}): LocalExtra {
  const start: LocalExtra = async ({ dir, ephemeral }) => {
    const env = options.env ?? process.env;
    const given = env[ENV.gigyaEndpoint.name];
    if (given) {
      return {
        endpoints: {},
        close: async () => undefined,
        info: { gigya: `${given} (${ENV.gigyaEndpoint.name})` },
      };
    }
    const dataDir = ephemeral ? undefined : join(dir, 'gigya');
    const emu = await startGigyaEmulator({
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(dataDir ? { dataDir } : {}),
    });
    if (emu.store.accounts.size === 0 && (options.sampleAccounts ?? 1000) > 0) {
      emu.seed({ count: options.sampleAccounts ?? 1000, seed: 1 });
    }
    return {
      endpoints: { gigya: emu.url },
      close: () => emu.close(),
      info: {
        gigya: `${emu.url} (Gigya emulator, apiKey ${emu.apiKey}, ${emu.store.accounts.size} accounts${dataDir ? `, state in ${dataDir}` : ''})`,
      },
    };
  };
  return Object.assign(start, { provides: ['gigya'] as const });
}
