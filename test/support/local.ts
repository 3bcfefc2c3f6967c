/** Starts an ephemeral local environment (dynalite + s3rver on loopback) for a test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { RuntimeConfig } from '../../lib/core/services.ts';
import {
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  type LocalExtra,
  startLocalEnvironment,
} from '../../lib/local/environment.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import type { GigyaAccount } from '../../lib/local/gigya-store.ts';

/** Starts the environment before the file's tests and stops it (and removes its folder) after them. */
export function useLocalEnvironment(options: LocalEnvironmentOptions = {}): { readonly env: LocalEnvironment } {
  const holder = {} as { env: LocalEnvironment };
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
    holder.env = await startLocalEnvironment({ dir, ephemeral: true, env: {}, ...options });
  });
  afterAll(async () => {
    await holder.env?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return holder;
}

/**
 * A stand-in for {@link useLocalEnvironment}'s `extras`: starts an emulator, points `endpoints(emu)` at it, closes
 * it with the environment, and hands the running emulator to `keep` so the test can look inside it (what the
 * stand-ins of lib/local, built for `idx run`, do not give back).
 */
export function keptEmulatorExtra<E extends { readonly url: string; close(): Promise<void> }>(
  start: () => Promise<E>,
  endpoints: (emu: E) => Partial<RuntimeConfig['endpoints']>,
  keep: (emu: E) => void = () => undefined,
): LocalExtra {
  return async () => {
    const emu = await start();
    keep(emu);
    return { endpoints: endpoints(emu), close: () => emu.close() };
  };
}

/** {@link keptEmulatorExtra} for a Gigya emulator holding `accounts`, as the platform tests start it. */
export function keptGigyaExtra(
  accounts: readonly GigyaAccount[],
  keep: (emu: GigyaEmulator) => void = () => undefined,
): LocalExtra {
  return keptEmulatorExtra(
    () => startGigyaEmulator({ accounts }),
    (emu) => ({ gigya: emu.url }),
    keep,
  );
}
