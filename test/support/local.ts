/** Starts an ephemeral local environment (dynalite + s3rver on loopback) for a test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import {
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  startLocalEnvironment,
} from '../../lib/local/environment.ts';

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
