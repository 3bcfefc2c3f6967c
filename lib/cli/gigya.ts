/**
 * `idx gigya …`: the local Gigya emulator's state. `seed` fills `<IDX_HOME or .idx>/gigya/accounts.ndjson` with
 * generated accounts and/or accounts from an NDJSON file (streamed: millions of accounts do not sit in memory);
 * `serve` runs the emulator on its own, e.g. to point a tool at it. Seed while no local run is active: a running
 * emulator saves its own state over the file.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/env.ts';
import { IdxError } from '../core/errors.ts';
import { generateAccounts } from '../local/gigya-accounts.ts';
import { startGigyaEmulator } from '../local/gigya-emulator.ts';
import { normalizeAccount, readNdjson, writeNdjson } from '../local/gigya-store.ts';
import type { Flags } from './help.ts';

function usageError(): IdxError {
  return new IdxError(
    'IDX_USAGE',
    'usage: idx gigya seed [--accounts N] [--from file.ndjson] [--seed S] [--append] | idx gigya clear | idx gigya serve [--port N]',
  );
}

function stateDir(dir: string | undefined): string {
  return join(resolve(dir ?? process.env[ENV.home.name] ?? join(process.cwd(), '.idx')), 'gigya');
}

/** Flags of `idx gigya`. */
export const GIGYA_FLAGS = {
  accounts: { type: 'string', value: 'N', description: 'seed: accounts to generate (default 1000, or 0 with --from)' },
  from: { type: 'string', value: 'FILE', description: 'seed: add the accounts of an NDJSON file' },
  seed: { type: 'string', value: 'S', description: 'seed: seed of the generated accounts (default 1)' },
  append: { type: 'boolean', description: 'seed: keep the accounts already there' },
  dir: { type: 'string', value: 'DIR', description: 'the state folder (default $IDX_HOME or .idx)' },
  port: { type: 'string', value: 'N', description: 'serve: the port to listen on (default any free port)' },
} as const satisfies Flags;

/** Runs `idx gigya <subcommand>`; resolves with the exit code. */
export async function gigyaCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: GIGYA_FLAGS });
  const dir = stateDir(values.dir);
  switch (sub) {
    case 'seed': {
      const count = values.accounts === undefined ? (values.from ? 0 : 1000) : Number(values.accounts);
      if (!Number.isInteger(count) || count < 0) {
        throw new IdxError('IDX_USAGE', '--accounts needs a whole number', {
          expected: 'an integer ≥ 0',
          received: String(values.accounts),
        });
      }
      const seed = values.seed === undefined ? 1 : Number(values.seed);
      if (values.from && !existsSync(values.from)) {
        throw new IdxError('IDX_USAGE', `--from: no file ${values.from}`, {
          expected: 'an NDJSON file of accounts',
          received: values.from,
        });
      }
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'accounts.ndjson');
      const now = Date.now();
      // Appending copies the current file first: the result is written to a temporary file and renamed over it.
      const previous = values.append ? readNdjson(file) : undefined;
      let fromFile = 0;
      async function* all(): AsyncGenerator<unknown> {
        if (previous) yield* previous;
        if (values.from) {
          for await (const raw of readNdjson(values.from)) {
            fromFile++;
            yield normalizeAccount(raw, now);
          }
        }
        yield* generateAccounts({ count, seed, now });
      }
      const written = await writeNdjson(file, all());
      process.stdout.write(
        `wrote ${written.toLocaleString('en-US')} accounts to ${file}` +
          `${fromFile ? ` (${fromFile.toLocaleString('en-US')} from ${values.from})` : ''}${count ? ` (${count.toLocaleString('en-US')} generated, seed ${seed})` : ''}\n`,
      );
      return 0;
    }
    case 'clear':
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`removed ${dir}\n`);
      return 0;
    case 'serve': {
      const emu = await startGigyaEmulator({ dataDir: dir, ...(values.port ? { port: Number(values.port) } : {}) });
      process.stdout.write(
        `Gigya emulator on ${emu.url} — apiKey ${emu.apiKey}, userKey ${emu.userKey}, ${emu.store.accounts.size} accounts; Ctrl-C stops it\n`,
      );
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await emu.close();
      return 0;
    }
    default:
      throw usageError();
  }
}
