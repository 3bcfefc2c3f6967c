import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileDecryptPgp } from '../../../lib/scripts/file.decrypt.pgp.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { GnuPgHome } from '../../support/gnupg.ts';

describe('file.decrypt.pgp', () => {
  let gpg: GnuPgHome;
  let secrets: Record<string, string>;
  const params = { privateKey: '${secret:PGP_KEY}', passphrase: '${secret:PGP_PASS}' };
  beforeAll(() => {
    gpg = new GnuPgHome();
    gpg.generate('importer@example.com', 'import pass');
    gpg.generate('partner@example.com');
    secrets = { PGP_KEY: gpg.privateKey('importer@example.com', 'import pass'), PGP_PASS: 'import pass' };
  });
  afterAll(() => gpg?.dispose());

  it('reads what gpg --encrypt writes, binary and armored, dropping the suffix', async () => {
    // Prepare
    const csv = Buffer.from(`UID,MAIL\n${'u1,a@b.c\n'.repeat(30_000)}`);
    const binary = gpg.run(
      ['--encrypt', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'],
      csv,
    );
    const armored = gpg.run(
      ['--encrypt', '--armor', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'],
      csv,
    );

    // Act
    const out = await runScript(fileDecryptPgp, params, {
      files: [
        { name: 'in/accounts.csv.gpg', content: binary },
        { name: 'accounts2.csv.asc', content: armored },
      ],
      secrets,
    });

    // Assess
    expect(out.files.map((f) => f.name)).toEqual(['in/accounts.csv', 'accounts2.csv']);
    expect(out.files.every((f) => f.content.equals(csv))).toBe(true);
  });

  it('checks the sender signature with verificationKey, refuses an unsigned file, and says when a signature goes unchecked', async () => {
    // Prepare
    const signed = gpg.run(
      [
        '--encrypt',
        '--sign',
        '--local-user',
        'partner@example.com',
        '--recipient',
        'importer@example.com',
        '--trust-model',
        'always',
        '--output',
        '-',
      ],
      'signed data',
    );
    const unsigned = gpg.run(
      ['--encrypt', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'],
      'unsigned',
    );
    const verifying = { ...params, verificationKey: gpg.publicKey('partner@example.com') };

    // Act
    const out = await runScript(fileDecryptPgp, verifying, { files: [{ name: 's.pgp', content: signed }], secrets });
    const unchecked = await runScript(fileDecryptPgp, params, { files: [{ name: 's.pgp', content: signed }], secrets });

    // Assess
    expect(out.files[0]!.content.toString()).toBe('signed data');
    expect(JSON.stringify(unchecked.trace)).toContain('s.pgp carries 1 signature(s), not checked');
    expect(JSON.stringify(out.trace)).not.toContain('not checked');
    await expect(
      runScript(fileDecryptPgp, verifying, { files: [{ name: 'u.pgp', content: unsigned }], secrets }),
    ).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('u.pgp'),
    });
  });

  it('fails on a tampered file and on a wrong passphrase, without echoing the passphrase', async () => {
    // Prepare
    const encrypted = gpg.run(
      ['--encrypt', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'],
      Buffer.alloc(50_000, 'x'),
    );
    const tampered = Buffer.from(encrypted);
    tampered[tampered.length - 40]! ^= 1;

    // Act / Assess
    await expect(
      runScript(fileDecryptPgp, params, { files: [{ name: 't.pgp', content: tampered }], secrets }),
    ).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
    });
    const wrong = runScript(fileDecryptPgp, params, { files: [], secrets: { ...secrets, PGP_PASS: 'wrong horse' } });
    await expect(wrong).rejects.toMatchObject({ code: 'IDX_PGP_KEY', location: { param: 'privateKey' } });
    await expect(wrong).rejects.not.toMatchObject({ message: expect.stringContaining('wrong horse') });
  });

  it('decrypts with a tiny invocation budget, one file per invocation, to the same files as in one run', async () => {
    // Prepare
    const encrypt = (data: string) =>
      gpg.run(['--encrypt', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'], data);
    const files = [
      { name: 'a.csv.gpg', content: encrypt(`UID\n${'a\n'.repeat(10_000)}`) },
      { name: 'b.csv.gpg', content: encrypt(`UID\n${'b\n'.repeat(10_000)}`) },
    ];

    // Act
    const whole = await runScript(fileDecryptPgp, params, { files, secrets });
    const sliced = await runScriptSliced(fileDecryptPgp, params, { files, secrets });

    // Assess
    expect(sliced.files.map((f) => [f.name, f.content.toString()])).toEqual(
      whole.files.map((f) => [f.name, f.content.toString()]),
    );
    expect(whole.files.map((f) => f.name)).toEqual(['a.csv', 'b.csv']);
  });

  it('refuses the old encryption without integrity check (gpg --rfc2440) with IDX_PGP_UNSUPPORTED naming the file', async () => {
    // Prepare
    const old = gpg.run(
      ['--encrypt', '--rfc2440', '--recipient', 'importer@example.com', '--trust-model', 'always', '--output', '-'],
      'old,style\n',
    );

    // Act
    const result = runScript(fileDecryptPgp, params, { files: [{ name: 'old.pgp', content: old }], secrets });

    // Assess
    await expect(result).rejects.toMatchObject({
      code: 'IDX_PGP_UNSUPPORTED',
      message: expect.stringContaining('old.pgp'),
      location: { stepId: 'file.decrypt.pgp' },
    });
  });
});
