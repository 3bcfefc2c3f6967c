import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LzoDataError, lzo1xCompress, lzo1xDecompress } from '../../../lib/connectors/lzo/lzo1x.ts';
import { adler32 } from '../../../lib/connectors/lzo/lzop.ts';

/** A deterministic generator, so a failing case can be run again. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Inputs that reach every instruction the compressor writes: literal runs of every length, near and far matches. */
function shapes(): [string, Buffer][] {
  const rnd = seeded(7);
  const far = randomBytes(20_000);
  return [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['three bytes', Buffer.from('abc')],
    ['a run of one byte', Buffer.alloc(100_000, 0x61)],
    ['300 literals, then a repeat', Buffer.concat([randomBytes(300), Buffer.from('abcdefgh'.repeat(10))])],
    ['noise', randomBytes(70_000)],
    // Matches 16 to 48 KiB back: the far form of the instruction set.
    ['a repeat 40 KB back', Buffer.concat([far, randomBytes(20_000), far])],
    ['a repeat 10 KB back', Buffer.concat([far.subarray(0, 10_000), far.subarray(0, 10_000)])],
    [
      'short words',
      Buffer.from(Array.from({ length: 20_000 }, () => ['ab', 'abc', 'abcd', 'xyz1'][Math.floor(rnd() * 4)]).join('')),
    ],
    [
      'literal runs of every length between matches',
      Buffer.concat(
        Array.from({ length: 400 }, (_, i) => Buffer.concat([randomBytes(i % 40), Buffer.from('MATCHME!')])),
      ),
    ],
  ];
}

describe('lzo1xCompress and lzo1xDecompress', () => {
  it.each(shapes())('round-trips %s', (_name, data) => {
    // Act
    const packed = lzo1xCompress(data);
    const back = lzo1xDecompress(packed, data.length);

    // Assess
    expect(back.equals(data)).toBe(true);
    expect(packed.subarray(-3)).toEqual(Buffer.from([0x11, 0, 0]));
  });

  it('compresses repetitive data to a fraction of its size', () => {
    // Prepare
    const data = Buffer.from('UID,MAIL\n'.repeat(20_000));

    // Act
    const packed = lzo1xCompress(data);

    // Assess
    expect(packed.length).toBeLessThan(data.length / 50);
  });

  it('throws LzoDataError, never a crash or a hang, for damaged data', () => {
    // Prepare
    const data = Buffer.from(Array.from({ length: 3_000 }, (_, i) => `row ${i % 97},${i % 13}\n`).join(''));
    const packed = lzo1xCompress(data);
    const rnd = seeded(42);
    let errors = 0;

    // Act
    for (let i = 0; i < 2_000; i++) {
      const damaged = Buffer.from(packed);
      const at = Math.floor(rnd() * damaged.length);
      damaged[at] = Math.floor(rnd() * 256);
      try {
        lzo1xDecompress(damaged, data.length);
      } catch (error) {
        expect(error).toBeInstanceOf(LzoDataError);
        errors++;
      }
    }

    // Assess: some flips still decode (a literal byte changed), the rest are refused; checksums catch the former.
    expect(errors).toBeGreaterThan(100);
  });

  it('refuses data that ends early, fills too little or too much, or refers back before the block', () => {
    // Prepare
    const data = Buffer.from('hello hello hello hello hello');
    const packed = lzo1xCompress(data);

    // Act / Assess
    expect(() => lzo1xDecompress(packed.subarray(0, packed.length - 2), data.length)).toThrow(LzoDataError);
    expect(() => lzo1xDecompress(packed, data.length + 1)).toThrow(/ends after/);
    expect(() => lzo1xDecompress(packed, data.length - 1)).toThrow(LzoDataError);
    expect(() => lzo1xDecompress(Buffer.from([0x15, 0x61, 0x62, 0x63, 0x64, 0xff, 0xff]), 40)).toThrow(/refers/);
    expect(() => lzo1xDecompress(Buffer.concat([packed, Buffer.from([0])]), data.length)).toThrow(/follow the end/);
  });
});

describe('adler32', () => {
  it('gives the RFC 1950 checksum: the published value of "Wikipedia", and the definition’s over long input', () => {
    // Prepare
    const long = randomBytes(100_000);
    let a = 1;
    let b = 0;
    for (const byte of long) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }

    // Act / Assess
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(long)).toBe(((b << 16) | a) >>> 0);
  });
});
