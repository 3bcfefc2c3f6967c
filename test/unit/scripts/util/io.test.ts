import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decodeText, INVALID_MARK } from '../../../../lib/scripts/util/io.ts';

/** UTF-8 texts that the fast path and the text decoder must read alike, invalid bytes included. */
const SAMPLES: Record<string, Buffer> = {
  ascii: Buffer.from('UID,name\nuid1,Anna\nuid2,Ben\n'.repeat(40)),
  latin1: Buffer.from('UID,name\nuid1,Chloé Müller\nuid2,Júlia García\n'.repeat(40)),
  beyondLatin1: Buffer.from('UID,name\nuid1,Ωmega 東京 🚀\nuid2,Zoë\n'.repeat(40)),
  bom: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a,b\nÉmile,1\n'.repeat(30))]),
  bomInside: Buffer.from('a,b\n\uFEFFx,1\n'.repeat(30)),
  invalidLate: Buffer.concat([
    Buffer.from('a,é\n'.repeat(60)),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('\nz,ü\n'),
  ]),
  invalidFirst: Buffer.concat([Buffer.from([0xff]), Buffer.from('a,b\n'.repeat(20))]),
  truncatedEnd: Buffer.concat([Buffer.from('a,é\n'.repeat(50)), Buffer.from([0xe6, 0x9d])]),
};

/** The text of `bytes` fed in pieces of `size` bytes, with the invalid sequences counted. */
async function decoded(bytes: Buffer, size: number, invalid: 'mark' | 'replace') {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  let count = 0;
  let text = '';
  for await (const t of decodeText(Readable.from(pieces), 'utf-8', 'sample', {
    invalid,
    onInvalid: (n) => (count += n),
  }))
    text += t;
  return { text, count };
}

describe('decodeText', () => {
  it('reads UTF-8 as the text decoder does, however the bytes are cut, and counts the same invalid sequences', async () => {
    for (const [name, bytes] of Object.entries(SAMPLES)) {
      // Prepare
      const expected = new TextDecoder('utf-8').decode(bytes);
      const valid = !expected.includes('\uFFFD');

      for (const size of [1, 2, 3, 5, 64, 100_000]) {
        // Act
        const replaced = await decoded(bytes, size, 'replace');
        const marked = await decoded(bytes, size, 'mark');

        // Assess
        expect(replaced.text, `${name}, pieces of ${size}`).toBe(expected);
        expect(marked.text, `${name}, pieces of ${size}`).toBe(expected.replaceAll('\uFFFD', INVALID_MARK));
        expect(replaced.count > 0, `${name}, pieces of ${size}`).toBe(!valid);
      }
    }
  });
});
