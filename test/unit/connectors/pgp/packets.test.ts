import { describe, expect, it } from 'vitest';
import { ByteReader } from '../../../../lib/connectors/pgp/bytes.ts';
import { packet, packetBody, readPacketHeader, streamedPacket } from '../../../../lib/connectors/pgp/packets.ts';
import { collect, pieces } from '../../../support/byte-streams.ts';

describe('packet framing', () => {
  it('writes streamed bodies with partial lengths and reads them back, at every boundary', async () => {
    for (const length of [0, 1, 191, 192, 8383, 8384, 65_535, 65_536, 65_537, 300_000]) {
      // Prepare
      const body = Buffer.from(Array.from({ length }, (_, i) => (i * 13) & 0xff));

      // Act
      const written = await collect(streamedPacket(11, pieces(body, 7000)));
      const reader = new ByteReader(pieces(written, 777));
      const header = await readPacketHeader(reader);
      const read = await collect(packetBody(reader, header!));

      // Assess
      expect(header?.tag).toBe(11);
      expect(header?.length.kind).toBe(length >= 65_536 ? 'partial' : 'fixed');
      expect(read.equals(body)).toBe(true);
      expect(await reader.atEnd()).toBe(true);
    }
  });

  it('reads old-format headers, fixed and indeterminate, as GnuPG writes for compressed data', async () => {
    // Prepare: tag 8 with a one-byte length, then tag 11 running to the end (length type 3).
    const data = Buffer.concat([
      Buffer.from([0x80 | (8 << 2) | 0, 3, 1, 2, 3]),
      Buffer.from([0x80 | (11 << 2) | 3]),
      Buffer.alloc(10, 9),
    ]);
    const reader = new ByteReader(pieces(data, 2));

    // Act
    const first = await readPacketHeader(reader);
    const firstBody = await collect(packetBody(reader, first!));
    const second = await readPacketHeader(reader);
    const secondBody = await collect(packetBody(reader, second!));

    // Assess
    expect([first?.tag, firstBody]).toEqual([8, Buffer.from([1, 2, 3])]);
    expect([second?.tag, second?.length.kind, secondBody.length]).toEqual([11, 'indeterminate', 10]);
  });

  it('fails with IDX_PGP_FAILED on a body cut short and on a byte that is no header', async () => {
    // Prepare
    const cut = packet(2, Buffer.alloc(500)).subarray(0, 300);

    // Act
    const reader = new ByteReader(pieces(cut, 100));
    const header = await readPacketHeader(reader);
    const body = collect(packetBody(reader, header!));
    const garbage = readPacketHeader(new ByteReader(pieces(Buffer.from('hello'), 5)));

    // Assess
    await expect(body).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('ends inside'),
    });
    await expect(garbage).rejects.toMatchObject({
      code: 'IDX_PGP_FAILED',
      message: expect.stringContaining('no packet header'),
    });
  });
});
