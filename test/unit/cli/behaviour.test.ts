/**
 * The CLI as a user meets it, each command in a process of its own: help for every command and flag, the
 * version, output into a pipe that closes early, and every failure as one coded line (no SDK notice, no stack).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from '../../../lib/cli/main.ts';

const home = mkdtempSync(join(tmpdir(), 'idx-cli-behaviour-'));

/** Runs `idx …` in a process of its own, with an environment that has no AWS configuration unless `env` gives some. */
function idx(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['bin/idx.js', ...args],
      {
        env: {
          ...clean,
          IDX_HOME: home,
          AWS_CONFIG_FILE: join(home, 'no-aws-config'),
          AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
          AWS_EC2_METADATA_DISABLED: 'true',
          ...env,
        },
      },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs `idx …` in this process, capturing what it prints. */
async function idxHere(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), stdout };
  } finally {
    write.mockRestore();
  }
}

/** Every line of stderr, when it must be exactly one coded line. */
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('idx help and version', () => {
  it('lists every command with --help and -h, and every flag of every command with `idx <command> --help`', async () => {
    // Act
    const overview = await Promise.all([idx(['--help']), idxHere(['-h'])]);
    const perCommand: { name: string; r: { code: number; stdout: string } }[] = [];
    for (const name of Object.keys(COMMANDS)) perCommand.push({ name, r: await idxHere([name, '--help']) });
    perCommand.push({ name: 'run', r: await idx(['run', '-h']) });

    // Assess
    for (const r of overview) {
      expect(r.code).toBe(0);
      for (const name of Object.keys(COMMANDS)) expect(r.stdout).toContain(`  ${name} `);
    }
    for (const { name, r } of perCommand) {
      expect(r.code, name).toBe(0);
      expect(r.stdout).toContain(`usage: idx ${name}`);
      for (const flag of Object.keys(COMMANDS[name]?.flags ?? {})) expect(r.stdout, name).toContain(`--${flag}`);
      expect(r.stdout).toContain('-h, --help');
    }
  }, 120_000);

  it('prints the package version', async () => {
    // Prepare
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

    // Act
    const r = await idx(['--version']);

    // Assess
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`identity-sync ${pkg.version}\n`);
  });

  it('answers an unknown flag with one IDX_USAGE line pointing at the help', async () => {
    // Act
    const r = await idx(['run', 'dataflows/eloqua-inbound.json', '--bogus']);

    // Assess
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      expect.stringMatching(/^IDX_USAGE: idx run: Unknown option '--bogus'.*idx run --help/),
    ]);
  });
});

describe('idx output and failures', () => {
  it('stops quietly when the reader of its output closes the pipe early', async () => {
    // Prepare
    const child = spawn(process.execPath, ['bin/idx.js', 'scripts', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });

    // Act: like `| head -c 0`, the reader goes before the first byte.
    child.stdout.destroy();
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));

    // Assess
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('says in one coded line that no AWS region is set, without the SDK notice about Node.js versions', async () => {
    // Act
    const [jobs, test] = await Promise.all([
      idx(['jobs', '--deployed']),
      idx(['test', 'eloqua-inbound', '--deployed']),
    ]);

    // Assess
    expect(jobs.code).toBe(1);
    expect(lines(jobs.stderr)).toEqual([
      'IDX_DEPLOYED_REGION: no AWS region: set AWS_REGION or --region (expected a region from --region, AWS_REGION or the profile, received none)',
    ]);
    expect(lines(test.stderr).slice(1)).toEqual(lines(jobs.stderr));
  });

  it('says in one coded line that credentials are missing, or that AWS cannot be reached', async () => {
    // Act
    const noCredentials = idx(['jobs', '--deployed', '--region', 'eu-west-1']);
    const unreachable = idx(['jobs', 'show', 'x', '--deployed'], {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'example',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_MAX_ATTEMPTS: '1',
    });
    const [a, b] = await Promise.all([noCredentials, unreachable]);

    // Assess
    expect(lines(a.stderr)).toEqual([expect.stringMatching(/^IDX_DEPLOYED_CREDENTIALS: no AWS credentials/)]);
    expect(lines(b.stderr)).toEqual([expect.stringMatching(/^IDX_DEPLOYED_NETWORK: cannot reach AWS: /)]);
  });

  it('says that a dataflow file is missing rather than that it is invalid', async () => {
    // Act
    const [missing, missingFile] = await Promise.all([
      idx(['test', 'no-such-dataflow']),
      idx(['run', 'dataflows/no-such.json']),
    ]);

    // Assess
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([
      expect.stringMatching(
        /^IDX_FILE_NOT_FOUND: no dataflow file no-such-dataflow and no dataflow with id "no-such-dataflow" in dataflows\//,
      ),
    ]);
    expect(lines(missingFile.stderr)).toEqual([
      expect.stringMatching(/^IDX_FILE_NOT_FOUND: no dataflow file dataflows\/no-such.json/),
    ]);
  });
});
