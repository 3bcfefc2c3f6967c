import { describe, expect, it } from 'vitest';
import { armor, Crc24, dearmor, dearmorBlocks } from '../../../../lib/connectors/pgp/armor.ts';
import { collect, pieces } from '../../../support/byte-streams.ts';

describe('Crc24', () => {
  it('gives the CRC-24/OpenPGP check value for "123456789"', () => {
    // Act
    const crc = new Crc24().update(Buffer.from('123456789'));

    // Assess
    expect(crc.value).toBe(0x21cf02);
  });
});

describe('armor and dearmor', () => {
  it('round-trips data of every length, whatever the chunk sizes', async () => {
    for (const length of [0, 1, 47, 48, 49, 1000, 100_000]) {
      // Prepare
      const data = Buffer.from(Array.from({ length }, (_, i) => (i * 7) & 0xff));

      // Act
      const text = await collect(armor('MESSAGE', pieces(data, 1000)));
      const back = await collect(dearmor(pieces(text, 13), 'MESSAGE'));

      // Assess
      expect(
        text
          .toString()
          .split('\n')
          .every((line) => line.length <= 64),
      ).toBe(true);
      expect(back.equals(data)).toBe(true);
    }
  });

  it('reads armor whose base64 is one long unwrapped line, and refuses a wrong checksum', async () => {
    // Prepare
    const data = Buffer.alloc(200_000, 'x');
    const crc = new Crc24().update(data).base64();
    const unwrapped = `-----BEGIN PGP MESSAGE-----\nComment: one line\n\n${data.toString('base64')}\n=${crc}\n-----END PGP MESSAGE-----\n`;
    const wrongCrc = unwrapped.replace(`=${crc}`, '=AAAA');

    // Act
    const back = await collect(dearmor(pieces(Buffer.from(unwrapped), 4096), 'MESSAGE'));
    const refused = collect(dearmor(pieces(Buffer.from(wrongCrc), 4096), 'MESSAGE'));

    // Assess
    expect(back.equals(data)).toBe(true);
    await expect(refused).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('checksum'),
    });
  });

  it('refuses armor cut before its END line and armor of another type', async () => {
    // Prepare
    const text = await collect(armor('MESSAGE', pieces(Buffer.alloc(5000, 1), 5000)));
    const cut = text.subarray(0, text.length - 40);

    // Act
    const truncated = collect(dearmor(pieces(cut, 100), 'MESSAGE'));
    const signature = collect(
      dearmor(pieces(Buffer.from(text.toString().replace(/MESSAGE/g, 'SIGNATURE')), 100), 'MESSAGE'),
    );

    // Assess
    await expect(truncated).rejects.toMatchObject({ code: 'IDX_PGP_FAILED' });
    await expect(signature).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('SIGNATURE'),
    });
  });

  it('splits key text into its blocks, each decoded', async () => {
    // Prepare
    const a = await collect(armor('PUBLIC KEY BLOCK', pieces(Buffer.from('first'), 10)));
    const b = await collect(armor('PUBLIC KEY BLOCK', pieces(Buffer.from('second'), 10)));

    // Act
    const blocks = dearmorBlocks(`${a}\n${b}`);

    // Assess
    expect(blocks.map((x) => [x.type, x.data.toString()])).toEqual([
      ['PUBLIC KEY BLOCK', 'first'],
      ['PUBLIC KEY BLOCK', 'second'],
    ]);
  });
});
