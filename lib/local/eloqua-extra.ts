/**
 * The Eloqua emulator as a stand-in of the local environment: contacts kept under `<dir>/eloqua/` (in memory for
 * ephemeral environments). Eloqua steps whose `company` is empty use it, with its own login. `IDX_ELOQUA_ENDPOINT`
 * points them at another login origin instead (then nothing is started).
 */
import { join } from 'node:path';
import { ENV } from '../core/env.ts';
import { startEloquaEmulator } from './eloqua-emulator.ts';
import type { LocalExtra } from './environment.ts';

/** The local-environment stand-in that runs the Eloqua emulator. */
export function eloquaExtra(): LocalExtra {
  const start: LocalExtra = async ({ dir, ephemeral }) => {
    const given = process.env[ENV.eloquaEndpoint.name];
    if (given) {
      return {
        endpoints: { eloqua: given },
        close: async () => undefined,
        info: { eloqua: `${given} (${ENV.eloquaEndpoint.name})` },
      };
    }
    const dataDir = ephemeral ? undefined : join(dir, 'eloqua');
    const emu = await startEloquaEmulator(dataDir ? { dataDir } : {});
    return {
      endpoints: { eloqua: emu.url },
      close: () => emu.close(),
      info: {
        eloqua: `${emu.url} (Eloqua emulator, ${emu.contacts.size} contacts${dataDir ? `, state in ${dataDir}` : ''})`,
      },
    };
  };
  return Object.assign(start, { provides: ['eloqua'] as const });
}
