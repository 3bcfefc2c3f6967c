import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileEncryptPgp } from '../../../lib/scripts/file.encrypt.pgp.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';
import { GnuPgHome } from '../../support/gnupg.ts';

describe('file.encrypt.pgp', () => {
  let gpg: GnuPgHome;
  beforeAll(() => {
    gpg = new GnuPgHome();
    gpg.generate('receiver@example.com');
    gpg.generate('sender@example.com', 'sender pass');
  });
  afterAll(() => gpg?.dispose());

  it('writes files that gpg --decrypt reads back byte for byte', async () => {
    // Prepare
    const csv = Buffer.from(`UID,MAIL\n${'u1,zoë@example.com 🚀\n'.repeat(20_000)}`);
    const params = { publicKey: gpg.publicKey('receiver@example.com') };

    // Act
    const out = await runScript(fileEncryptPgp, params, { files: [{ name: 'export/x.csv', content: csv }] });
    writeFileSync(join(gpg.home, 'x.csv.pgp'), out.files[0]!.content);
    const decrypted = gpg.run(['--decrypt', join(gpg.home, 'x.csv.pgp')]);

    // Assess
    expect(out.files[0]!.name).toBe('export/x.csv.pgp');
    expect(out.files[0]!.content.includes(Buffer.from('zoë@example.com'))).toBe(false);
    expect(decrypted.equals(csv)).toBe(true);
  });

  it('signs with a passphrase-protected key from secrets, armored, and gpg verifies the signature', async () => {
    // Prepare
    const params = {
      publicKey: gpg.publicKey('receiver@example.com'),
      signingKey: '${secret:PGP_SIGNING_KEY}',
      signingKeyPassphrase: '${secret:PGP_SIGNING_PASSPHRASE}',
      armor: true,
    };
    const secrets = {
      PGP_SIGNING_KEY: gpg.privateKey('sender@example.com', 'sender pass'),
      PGP_SIGNING_PASSPHRASE: 'sender pass',
    };

    // Act
    const out = await runScript(fileEncryptPgp, params, { files: [{ name: 'x.csv', content: 'a,b\n' }], secrets });
    writeFileSync(join(gpg.home, 'signed.asc'), out.files[0]!.content);
    const status = gpg
      .run(['--status-fd', '1', '--decrypt', '--output', join(gpg.home, 'signed.out'), join(gpg.home, 'signed.asc')])
      .toString();

    // Assess
    expect(out.files[0]!.name).toBe('x.csv.asc');
    expect(out.files[0]!.content.toString()).toMatch(/^-----BEGIN PGP MESSAGE-----/);
    expect(status).toMatch(/\[GNUPG:\] GOODSIG [0-9A-F]+ Test <sender@example.com>/);
  });

  it('fails naming the param when the public key is not a key, and refuses a signing key written in clear', async () => {
    // Act / Assess
    // The param check refuses text that is no armored key; openpgp refuses a block it cannot read as a key.
    await expect(runScript(fileEncryptPgp, { publicKey: 'not a key' }, { files: [] })).rejects.toMatchObject({
      code: 'IDX_PARAM_VALUE',
      location: { param: 'publicKey' },
    });
    const truncated = gpg
      .publicKey('receiver@example.com')
      .replace(/\n=[^\n]*\n/, '\n')
      .replace(/(\n[A-Za-z0-9+/]{20})[^\n]*\n-----END/, '$1\n-----END');
    await expect(runScript(fileEncryptPgp, { publicKey: truncated }, { files: [] })).rejects.toMatchObject({
      code: 'IDX_PGP_KEY',
      location: { param: 'publicKey' },
    });
    await expect(
      runScript(
        fileEncryptPgp,
        { publicKey: gpg.publicKey('receiver@example.com'), signingKey: '-----BEGIN PGP PRIVATE KEY BLOCK-----' },
        { files: [] },
      ),
    ).rejects.toMatchObject({ location: { param: 'signingKey' } });
  });

  it('refuses at validation a private key relabelled as public, and accepts two public keys as two blocks', () => {
    // Prepare
    gpg.generate('second@example.com');
    const relabelled = gpg.privateKey('receiver@example.com').replace(/PRIVATE KEY BLOCK/g, 'PUBLIC KEY BLOCK');
    const two = `${gpg.publicKey('receiver@example.com')}\n${gpg.publicKey('second@example.com')}`;
    const check = fileEncryptPgp.check as NonNullable<typeof fileEncryptPgp.check>;
    // Act
    const refused = check({ publicKey: relabelled, armor: false });
    const accepted = check({ publicKey: two, armor: false });
    // Assess
    expect(refused).toMatchObject([{ code: 'IDX_CREDENTIAL_PLAINTEXT', path: 'publicKey' }]);
    expect(JSON.stringify(refused)).not.toContain(relabelled.split('\n')[3]);
    expect(accepted).toEqual([]);
  });

  it('encrypts with a tiny invocation budget, one file per invocation, to files gpg decrypts as in one run', async () => {
    // Prepare
    const files = [
      { name: 'a.csv', content: `UID\n${'a\n'.repeat(10_000)}` },
      { name: 'b.csv', content: `UID\n${'b\n'.repeat(10_000)}` },
    ];
    const params = { publicKey: gpg.publicKey('receiver@example.com') };

    // Act
    const sliced = await runScriptSliced(fileEncryptPgp, params, { files });
    const decrypted = sliced.files.map((f) => {
      writeFileSync(join(gpg.home, `sliced-${f.name}`), f.content);
      return gpg.run(['--decrypt', join(gpg.home, `sliced-${f.name}`)]).toString();
    });

    // Assess: the session keys are random, so the files are compared once decrypted.
    expect(sliced.files.map((f) => f.name)).toEqual(['a.csv.pgp', 'b.csv.pgp']);
    expect(decrypted).toEqual(files.map((f) => f.content));
  });
});
