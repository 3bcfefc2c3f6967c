import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { FileForward } from '../../../lib/engine/forward.ts';

describe('FileForward', () => {
  it('lets the writer end a file whose consumer stopped reading early and closed what it read', async () => {
    // Prepare: a consumer that takes one chunk and leaves, as a parser does at the job's record limit.
    const taken: Buffer[] = [];
    const forward = new FileForward(async (file) => {
      for await (const chunk of file.open()) {
        taken.push(chunk as Buffer);
        break;
      }
    });
    const chunks = Array.from({ length: 100 }, () => Buffer.alloc(64 * 1024, 1));

    // Act
    await pipeline(Readable.from(chunks), forward.create('big.bin'));
    await forward.settle();

    // Assess
    expect(taken).toHaveLength(1);
    expect(forward).toMatchObject({ files: 1, bytes: 100 * 64 * 1024 });
  });

  it('hands a consumer that reads to the end every byte, and fails the writer when the consumer fails', async () => {
    // Prepare
    let read = 0;
    const reading = new FileForward(async (file) => {
      for await (const chunk of file.open()) read += (chunk as Buffer).length;
    });
    const failing = new FileForward(async () => {
      throw new Error('parser broke');
    });
    const chunks = () => Readable.from(Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 2)));

    // Act
    await pipeline(chunks(), reading.create('a.bin'));
    await reading.settle();
    const failed = pipeline(chunks(), failing.create('b.bin'));

    // Assess
    expect(read).toBe(20 * 64 * 1024);
    await expect(failed).rejects.toThrow('parser broke');
    await expect(failing.settle()).rejects.toThrow('parser broke');
  });
});
