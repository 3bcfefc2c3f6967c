/**
 * An ephemeral local environment for the Eloqua dataflows with stand-ins the test controls: a Gigya emulator
 * it can change accounts in, an SFTP server it can stop and start again on the same port (a night when the
 * partner's server is down), and an Eloqua emulator (the Bulk API route) it can read contacts from and inject
 * faults into.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import {
  type EloquaEmulator,
  type EloquaEmulatorOptions,
  startEloquaEmulator,
} from '../../lib/local/eloqua-emulator.ts';
import { type LocalEnvironment, startLocalEnvironment } from '../../lib/local/environment.ts';
import { generateAccounts } from '../../lib/local/gigya-accounts.ts';
import { type GigyaEmulator, startGigyaEmulator } from '../../lib/local/gigya-emulator.ts';
import { type LocalRunResult, runLocal } from '../../lib/local/runner.ts';
import { type SftpServer, startSftpServer } from '../../lib/local/sftp-server.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';

/** The running stand-ins of one test file. */
export interface EloquaWorld {
  env: LocalEnvironment;
  emu: GigyaEmulator;
  /** The Eloqua emulator the Bulk API steps reach (an empty `company`). */
  eloqua: EloquaEmulator;
  sftp: SftpServer | undefined;
  /** The folder the SFTP server serves. */
  root: string;
  stopSftp(): Promise<void>;
  startSftp(): Promise<void>;
  /** Rows of every CSV in an SFTP folder, by file name. */
  csvs(folder: string): Map<string, Record<string, string>[]>;
}

/** Starts the world before the file's tests (with `accounts` generated accounts changed within the last hour). */
export function useEloquaWorld(accounts: number, eloqua: EloquaEmulatorOptions = {}): EloquaWorld {
  const world = {} as EloquaWorld;
  let dir = '';
  let port = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idx-eloqua-'));
    world.root = join(dir, 'sftp');
    world.emu = await startGigyaEmulator();
    world.eloqua = await startEloquaEmulator(eloqua);
    world.emu.seed(generateAccounts({ count: accounts, seed: 7, updatedWithinMs: 3_600_000 }));
    const hostKeyPath = join(dir, 'host_key');
    world.startSftp = async () => {
      world.sftp = await startSftpServer({ root: world.root, hostKeyPath, port });
      port = world.sftp.port;
    };
    world.stopSftp = async () => {
      await world.sftp?.close();
      world.sftp = undefined;
    };
    await world.startSftp();
    const sftp = world.sftp as unknown as SftpServer;
    world.env = await startLocalEnvironment({
      dir,
      ephemeral: true,
      env: {},
      extras: [
        async () => ({
          endpoints: {
            gigya: world.emu.url,
            eloqua: world.eloqua.url,
            sftp: { host: sftp.host, port: sftp.port, hostKeyFingerprint: sftp.hostKeyFingerprint },
          },
          close: async () => undefined,
        }),
      ],
    });
    world.csvs = (folder) => {
      const out = new Map<string, Record<string, string>[]>();
      let names: string[] = [];
      try {
        names = readdirSync(join(world.root, folder))
          .filter((f) => f.endsWith('.csv'))
          .sort();
      } catch {
        return out;
      }
      for (const f of names)
        out.set(
          f,
          parse(readFileSync(join(world.root, folder, f), 'utf8'), { columns: true }) as Record<string, string>[],
        );
      return out;
    };
  });
  afterAll(async () => {
    await world.env?.close();
    await world.stopSftp?.();
    await world.emu?.close();
    await world.eloqua?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return world;
}

/**
 * Runs a dataflow as its nightly schedule does and checks that it ended as expected. A night expected to fail gets
 * one attempt: what a failed job leaves is under test in the nights tests, not its retries.
 */
export async function runNight(
  world: EloquaWorld,
  dataflow: Dataflow,
  expectStatus: 'succeeded' | 'failed',
): Promise<LocalRunResult> {
  const result = await runLocal(dataflow, {
    services: world.env.services,
    registry: defaultRegistry(),
    input: { scheduleId: 'nightly', ...(expectStatus === 'failed' ? { maxAttempts: 1 } : {}) },
    retryIntervalMs: 5,
  });
  expect(result.status, JSON.stringify(result.job?.error)).toBe(expectStatus);
  return result;
}
