/**
 * `idx gigya …`: the local Gigya emulator's state. `seed` adds generated accounts and/or accounts from an NDJSON
 * file to `<IDX_HOME or .idx>/gigya/` (streamed into the emulator's account log: millions of accounts do not sit
 * in memory, and generated ones take one line whatever their number); `serve` runs the emulator on its own, with
 * optional latency and a calls-per-second ceiling, e.g. to point `idx run` at it with `IDX_GIGYA_ENDPOINT`. Seed
 * while no emulator runs on the same folder: a running emulator keeps its own index of the accounts.
 */
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/env.ts';
import { IdxError } from '../core/errors.ts';
import { AccountFile } from '../local/gigya-account-file.ts';
import { startGigyaEmulator } from '../local/gigya-emulator.ts';
import { normalizeAccount, readNdjson } from '../local/gigya-store.ts';
import type { Flags } from './help.ts';

const USAGE =
  'usage: idx gigya seed [--accounts N] [--from file.ndjson] [--seed S] [--append] | idx gigya clear | ' +
  'idx gigya serve [--port N] [--latency MS] [--rate-limit PER_SECOND] [--method NAME]';

function usageError(): IdxError {
  return new IdxError('IDX_USAGE', USAGE);
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
  latency: {
    type: 'string',
    value: 'MS',
    description: 'serve: least milliseconds from the arrival of a call to its answer (default 0)',
  },
  'rate-limit': {
    type: 'string',
    value: 'N',
    description: 'serve: calls per second above which the emulator answers 403048 (default no limit)',
  },
  method: {
    type: 'string',
    value: 'M',
    description: 'serve: the method that latency and the rate limit apply to (default every method)',
  },
} as const satisfies Flags;

/** A whole-number option, or undefined when absent. */
function wholeNumber(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new IdxError('IDX_USAGE', `--${name} needs a whole number`, {
      expected: `an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`,
      received: JSON.stringify(raw),
    });
  }
  return n;
}

/** Runs `idx gigya <subcommand>`; resolves with the exit code. */
export async function gigyaCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({ args: rest, options: GIGYA_FLAGS });
  const dir = stateDir(values.dir);
  switch (sub) {
    case 'seed': {
      const count = wholeNumber('accounts', values.accounts, 0) ?? (values.from ? 0 : 1000);
      const seed = values.seed === undefined ? 1 : Number(values.seed);
      if (values.from && !existsSync(values.from)) {
        throw new IdxError('IDX_USAGE', `--from: no file ${values.from}`, {
          expected: 'an NDJSON file of accounts',
          received: values.from,
        });
      }
      const now = Date.now();
      const accounts = AccountFile.open({ dir });
      let fromFile = 0;
      try {
        if (!values.append) accounts.clear();
        if (values.from) {
          for await (const raw of readNdjson(values.from)) {
            accounts.put(normalizeAccount(raw, now));
            fromFile++;
          }
        }
        accounts.generate({ count, seed, now });
      } finally {
        accounts.close();
      }
      process.stdout.write(
        `${accounts.size.toLocaleString('en-US')} accounts in ${dir}` +
          `${fromFile ? ` (${fromFile.toLocaleString('en-US')} from ${values.from})` : ''}${count ? ` (${count.toLocaleString('en-US')} generated, seed ${seed})` : ''}\n`,
      );
      return 0;
    }
    case 'clear':
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`removed ${dir}\n`);
      return 0;
    case 'serve': {
      const port = wholeNumber('port', values.port, 0, 65_535);
      const latency = wholeNumber('latency', values.latency, 0);
      const rateLimit = wholeNumber('rate-limit', values['rate-limit'], 1);
      const method = values.method ?? '*';
      const emu = await startGigyaEmulator({ dataDir: dir, ...(port === undefined ? {} : { port }) });
      if (latency) emu.faults.latency(method, latency);
      if (rateLimit) emu.faults.rateLimit(method, rateLimit);
      const faults = [
        latency ? `${latency} ms latency` : '',
        rateLimit ? `at most ${rateLimit} calls/s (403048 above)` : '',
      ].filter(Boolean);
      const scope = method === '*' ? 'every method' : method;
      process.stdout.write(
        `Gigya emulator on ${emu.url} — apiKey ${emu.apiKey}, userKey ${emu.userKey}, ` +
          `${emu.store.accounts.size.toLocaleString('en-US')} accounts` +
          `${faults.length ? `; ${faults.join(', ')} on ${scope}` : ''}\n` +
          `IDX_GIGYA_ENDPOINT=${emu.url} points idx run at it; Ctrl-C stops it\n`,
      );
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await emu.close();
      for (const [name, codes] of [...emu.answers].sort(([a], [b]) => a.localeCompare(b))) {
        const total = [...codes.values()].reduce((a, b) => a + b, 0);
        const detail = [...codes]
          .sort(([a], [b]) => a - b)
          .map(([code, n]) => (code === 0 ? `${n} OK` : `${n} × ${code}`))
          .join(', ');
        process.stdout.write(`calls: ${name} ${total} (${detail})\n`);
      }
      // What serving cost the machine, so a benchmark can tell a slow site from a busy machine.
      const usage = process.resourceUsage();
      process.stdout.write(`cpu: ${((usage.userCPUTime + usage.systemCPUTime) / 1e6).toFixed(1)} s\n`);
      return 0;
    }
    default:
      throw usageError();
  }
}
