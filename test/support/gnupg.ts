/**
 * A throwaway GnuPG home for interoperability tests: finds `gpg` (failing loudly, naming the tool, when it is
 * missing), generates keys in a temporary GNUPGHOME, and stops the agent it started.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The gpg binary, or an error that says what to install. */
export function findGpg(): string {
  for (const candidate of ['/usr/bin/gpg', '/usr/local/bin/gpg', '/opt/homebrew/bin/gpg'])
    if (existsSync(candidate)) return candidate;
  try {
    const found = execFileSync('sh', ['-c', 'command -v gpg'], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch {
    // Reported below.
  }
  throw new Error(
    'GnuPG is required by the PGP interoperability tests but `gpg` was not found on PATH: install gnupg (apt-get install -y gnupg)',
  );
}

/** A temporary keyring driven through the gpg command line. */
export class GnuPgHome {
  readonly gpg = findGpg();
  readonly home = mkdtempSync(join(tmpdir(), 'idx-gnupg-'));

  /** Runs gpg in batch mode with this home; `passphrase` unlocks secret keys without a pinentry. */
  run(args: string[], input?: Buffer | string, passphrase = ''): Buffer {
    return execFileSync(
      this.gpg,
      [
        '--homedir',
        this.home,
        '--batch',
        '--yes',
        '--quiet',
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        passphrase,
        ...args,
      ],
      { input, stdio: ['pipe', 'pipe', 'pipe'] },
    );
  }

  /** Generates an ed25519/cv25519 key for `email`, protected by `passphrase` (empty: none). */
  generate(email: string, passphrase = ''): void {
    this.run(['--quick-generate-key', `Test <${email}>`, 'futuredefault', 'default', 'never'], undefined, passphrase);
  }

  /** Generates an RSA key of `bits` for `email`: a certifying and signing primary key and an encryption subkey. */
  generateRsa(email: string, bits: number, passphrase = ''): void {
    this.run(['--quick-generate-key', `Test <${email}>`, `rsa${bits}`, 'sign,cert', 'never'], undefined, passphrase);
    this.run(['--quick-add-key', this.fingerprint(email), `rsa${bits}`, 'encr', 'never'], undefined, passphrase);
  }

  /** The fingerprint of the primary key of `email`. */
  fingerprint(email: string): string {
    const listing = this.run(['--with-colons', '--list-keys', email]).toString();
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listing);
    if (!fpr?.[1]) throw new Error(`gpg lists no key for ${email}`);
    return fpr[1];
  }

  publicKey(email: string): string {
    return this.run(['--armor', '--export', email]).toString();
  }

  privateKey(email: string, passphrase = ''): string {
    return this.run(['--armor', '--export-secret-keys', email], undefined, passphrase).toString();
  }

  /** Stops the agent this home started and removes the home. */
  dispose(): void {
    try {
      execFileSync('gpgconf', ['--homedir', this.home, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      // No agent was started.
    }
    rmSync(this.home, { recursive: true, force: true });
  }
}
