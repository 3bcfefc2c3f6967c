/**
 * The LZO implementation against the reference tool, Debian's `lzop`: what we write `lzop -t` accepts and
 * `lzop -d` restores, what `lzop -1` and `lzop -9` write we read, with every checksum verified, and the Hadoop
 * index we write matches the blocks of the file.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LZOP_BLOCK_SIZE, lzoIndex, lzopCompress, lzopDecompress } from '../../../lib/connectors/lzo/lzop.ts';
import { collect, pieces } from '../../support/byte-streams.ts';
import * as lzop from '../../support/lzop.ts';

/** An odd piece size, so the reader meets headers and blocks split across chunks. */
const ODD = 1009;

/** CSV-like text of about `bytes` bytes: repetitive, as exports are. */
function csv(bytes: number): Buffer {
  const rows: string[] = ['UID,MAIL,FIRST,LAST,AGE'];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const row = `uid-${(i * 7919) % 100_003},user${i}@example.com,First${i % 311},Last${i % 977},${18 + (i % 60)}`;
    rows.push(row);
    size += row.length + 1;
  }
  return Buffer.from(`${rows.join('\n')}\n`);
}

async function ours(data: Buffer, name = 'accounts.csv'): Promise<{ lzo: Buffer; offsets: number[] }> {
  const offsets: number[] = [];
  const lzo = await collect(
    lzopCompress(pieces(data, ODD), { name, mtime: new Date('2026-01-02T03:04:05Z'), onBlock: (o) => offsets.push(o) }),
  );
  return { lzo, offsets };
}

const read = (lzo: Buffer) => collect(lzopDecompress(pieces(lzo, ODD)));

describe('LZO interoperability with lzop', () => {
  it('writes files that lzop -t accepts and lzop -d restores byte for byte, smaller than the input', async () => {
    // Prepare
    const text = csv(1_200_000);
    const mixed = Buffer.concat([csv(300_000), randomBytes(400_000), csv(300_000)]);

    // Act
    const a = await ours(text);
    const b = await ours(mixed);

    // Assess
    expect(lzop.lzopTest(a.lzo)).toBe('');
    expect(lzop.lzopDecompress(a.lzo).equals(text)).toBe(true);
    expect(lzop.lzopDecompress(b.lzo).equals(mixed)).toBe(true);
    expect(a.lzo.length).toBeLessThan(text.length / 2);
    // The header records the name, as lzop -l shows it.
    expect(a.lzo.subarray(0, 60).includes(Buffer.from('accounts.csv'))).toBe(true);
  });

  it('writes an index whose offsets are the blocks lzop walks, one per 256 KiB', async () => {
    // Prepare
    const text = csv(1_080_000);

    // Act
    const { lzo, offsets } = await ours(text);

    // Assess
    expect(offsets).toHaveLength(Math.ceil(text.length / LZOP_BLOCK_SIZE));
    expect(lzop.indexOffsets(lzoIndex(offsets))).toEqual(lzop.lzopBlockOffsets(lzo));
    expect(offsets[0]).toBe(38 + 'accounts.csv'.length);
  });

  it('stores blocks that do not compress, in a file lzop accepts (12 bytes a block more than the data)', async () => {
    // Prepare
    const noise = randomBytes(600_000);

    // Act
    const { lzo, offsets } = await ours(noise, 'noise.bin');

    // Assess
    expect(lzop.lzopDecompress(lzo).equals(noise)).toBe(true);
    expect(lzo.length).toBe(38 + 'noise.bin'.length + 12 * offsets.length + noise.length + 4);
  });

  it('gives the published test vector for stored blocks: 1,080,000 bytes as sample.txt, 5 blocks at known offsets', async () => {
    // Act
    const { lzo, offsets } = await ours(randomBytes(1_080_000), 'sample.txt');

    // Assess
    expect(offsets).toEqual([48, 262_204, 524_360, 786_516, 1_048_672]);
    expect(lzo.length).toBe(1_080_112);
    expect(lzoIndex(offsets).toString('hex')).toBe(
      ['30', '4003c', '80048', 'c0054', '100060'].map((h) => h.padStart(16, '0')).join(''),
    );
  });

  it('writes an empty input as a header and the end marker, which lzop accepts', async () => {
    // Act
    const { lzo, offsets } = await ours(Buffer.alloc(0), 'empty.csv');

    // Assess
    expect(offsets).toEqual([]);
    expect(lzo.length).toBe(38 + 'empty.csv'.length + 4);
    expect(lzop.lzopDecompress(lzo).length).toBe(0);
    expect(lzoIndex(offsets).length).toBe(0);
  });

  it.each([
    ['-1 (LZO1X-1(15))', ['-1']],
    ['the default level', []],
    ['-9 (LZO1X-999)', ['-9']],
    ['--crc32 checksums', ['--crc32']],
  ])('reads what lzop %s writes, checksums verified', async (_label, options) => {
    // Prepare
    const data = Buffer.concat([csv(700_000), randomBytes(50_000), csv(200_000)]);
    const lzo = lzop.lzopCompress(data, options);

    // Act
    const back = await read(lzo);

    // Assess
    expect(back.equals(data)).toBe(true);
  });

  it('reads files written one after the other, as lzop -d does', async () => {
    // Prepare
    const first = csv(100_000);
    const second = Buffer.from('one more line\n');
    const joined = Buffer.concat([lzop.lzopCompress(first), lzop.lzopCompress(second)]);

    // Act
    const back = await read(joined);

    // Assess
    expect(back.equals(Buffer.concat([first, second]))).toBe(true);
  });

  it('refuses a truncated file, a flipped byte, trailing garbage and another format with coded errors', async () => {
    // Prepare
    const lzo = lzop.lzopCompress(csv(600_000), ['-9']);
    const flipped = Buffer.from(lzo);
    flipped[5000] = (flipped[5000] as number) ^ 0x40;
    const header = Buffer.from(lzo);
    header[20] = (header[20] as number) ^ 1;

    // Act / Assess
    await expect(read(lzo.subarray(0, lzo.length - 3))).rejects.toMatchObject({ code: 'IDX_LZO_CORRUPT' });
    await expect(read(lzo.subarray(0, 30_000))).rejects.toMatchObject({ code: 'IDX_LZO_CORRUPT' });
    const damaged = await read(flipped).catch((error: { code: string }) => error.code);
    expect(['IDX_LZO_CHECKSUM', 'IDX_LZO_CORRUPT']).toContain(damaged);
    await expect(read(header)).rejects.toMatchObject({ code: 'IDX_LZO_CHECKSUM' });
    await expect(read(Buffer.concat([lzo, Buffer.from('junk')]))).rejects.toMatchObject({ code: 'IDX_LZO_CORRUPT' });
    await expect(read(Buffer.from('UID,MAIL\n'))).rejects.toMatchObject({ code: 'IDX_LZO_CORRUPT' });
    await expect(read(Buffer.alloc(0))).rejects.toMatchObject({ code: 'IDX_LZO_CORRUPT' });
    expect(() => lzop.lzopTest(flipped)).toThrow();
  });
});
