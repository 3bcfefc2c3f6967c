/**
 * Encryption and decryption stream: 200 MB go through both in a child process whose peak RSS is no higher than
 * for 20 MB, give or take a few buffers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GnuPgHome } from '../../support/gnupg.ts';
import { runNode } from '../../support/node-process.ts';

const CHILD = join(__dirname, '../../support/pgp-stream.ts');
const PASS = 'stream pass';

interface StreamRun {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly encryptedBytes: number;
  readonly inHash: string;
  readonly outHash: string;
  readonly peakRss: number;
}

describe('OpenPGP streaming', () => {
  let gpg: GnuPgHome;
  let publicFile: string;
  let privateFile: string;
  beforeAll(() => {
    gpg = new GnuPgHome();
    gpg.generate('stream@example.com', PASS);
    publicFile = join(gpg.home, 'public.asc');
    privateFile = join(gpg.home, 'private.asc');
    writeFileSync(publicFile, gpg.publicKey('stream@example.com'));
    writeFileSync(privateFile, gpg.privateKey('stream@example.com', PASS));
  });
  afterAll(() => gpg?.dispose());

  async function run(megabytes: number): Promise<StreamRun> {
    const r = await runNode(['--import', 'tsx', CHILD, String(megabytes), publicFile, privateFile, PASS]);
    if (r.status !== 0) throw new Error(`the PGP stream child failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return JSON.parse(r.stdout) as StreamRun;
  }

  it('encrypts and decrypts 200 MB with the same peak memory as 20 MB', async () => {
    // Act
    const small = await run(20);
    const large = await run(200);

    // Assess
    expect(large.bytesOut).toBe(200 * 1024 * 1024);
    expect(large.outHash).toBe(large.inHash);
    expect(large.encryptedBytes).toBeGreaterThan(large.bytesIn);
    expect(small.outHash).toBe(small.inHash);
    // Ten times the data may not cost more than a few 64 KiB buffers and allocator slack.
    expect(large.peakRss - small.peakRss).toBeLessThan(32 * 1024 * 1024);
    console.info(
      `PGP streaming peak RSS: 20 MB → ${(small.peakRss / 2 ** 20).toFixed(0)} MiB, 200 MB → ${(large.peakRss / 2 ** 20).toFixed(0)} MiB`,
    );
  }, 600_000);
});
