import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { gigyaCommand } from '../../../lib/cli/gigya.ts';
import { startGigyaEmulator } from '../../../lib/local/gigya-emulator.ts';

const dir = mkdtempSync(join(tmpdir(), 'idx-cli-gigya-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('idx gigya', () => {
  it('seeds generated accounts, appends accounts from an NDJSON file, and the emulator starts with them', async () => {
    // Prepare
    const input = join(dir, 'in.ndjson');
    writeFileSync(
      input,
      `${JSON.stringify({ UID: 'mine-1', profile: { email: 'a@example.com' } })}\n\n${JSON.stringify({ profile: { email: 'b@example.com' } })}\n`,
    );
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);

    // Act
    const first = await gigyaCommand(['seed', '--accounts', '50', '--dir', dir]);
    const second = await gigyaCommand(['seed', '--from', input, '--append', '--dir', dir]);
    write.mockRestore();
    const emu = await startGigyaEmulator({ dataDir: join(dir, 'gigya') });
    await emu.close();

    // Assess
    expect([first, second]).toEqual([0, 0]);
    expect(emu.store.accounts.size).toBe(52);
    expect(emu.store.accounts.get('mine-1')?.lastUpdatedTimestamp).toEqual(expect.any(Number));
    expect(
      [...emu.store.accounts.values()].filter((a) => (a.profile as { email: string }).email === 'b@example.com'),
    ).toHaveLength(1);
  });

  it('refuses an unknown subcommand with a usage error', async () => {
    // Act / Assess
    await expect(gigyaCommand(['grow'])).rejects.toMatchObject({ code: 'IDX_USAGE' });
  });
});
