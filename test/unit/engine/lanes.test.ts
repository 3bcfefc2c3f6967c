import { describe, expect, it } from 'vitest';
import { ByteCollector } from '../../../lib/engine/lanes/output-memory.ts';
import { ownBuffer } from '../../../lib/engine/lanes/protocol.ts';

describe('ownBuffer', () => {
  it('keeps a buffer that has its memory to itself', () => {
    // Prepare
    const whole = Buffer.allocUnsafeSlow(10_000).fill(7);

    // Act
    const own = ownBuffer(whole);

    // Assess
    expect(own).toBe(whole);
  });

  it("copies a small Buffer out of Node's pool, which cannot be transferred", () => {
    // Prepare
    const pooled = Buffer.from('{"a":1}\n');

    // Act
    const own = ownBuffer(pooled);

    // Assess
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    expect(own).not.toBe(pooled);
    expect(own.byteLength).toBe(own.buffer.byteLength);
    expect(Buffer.from(own).toString()).toBe('{"a":1}\n');
  });

  it('copies a view of part of a larger buffer, so only its own bytes cross', () => {
    // Prepare
    const large = Buffer.allocUnsafeSlow(1 << 20).fill(1);
    const view = large.subarray(100, 200);

    // Act
    const own = ownBuffer(view);

    // Assess
    expect(own.byteLength).toBe(100);
    expect(own.buffer.byteLength).toBe(100);
  });

  it('copies a view of shared memory, which is shared, not transferred', () => {
    // Prepare
    const shared = Buffer.from(new SharedArrayBuffer(16));

    // Act
    const own = ownBuffer(shared);

    // Assess
    expect(own.buffer).toBeInstanceOf(ArrayBuffer);
  });
});

describe('ByteCollector', () => {
  it('encodes text and bytes into one buffer of their own, growing past its first size', () => {
    // Prepare
    const collector = new ByteCollector(8);
    const parts = [
      '{"n":"Zoë 🚀 שלום"}\n',
      Buffer.from('raw bytes\n'),
      'x'.repeat(100_000),
      // Longer than 1 MiB: measured, not reserved at three bytes a unit.
      'é'.repeat(1_100_000),
      '\n',
    ];

    // Act
    for (const p of parts) collector.add(p);
    const out = collector.take();

    // Assess
    expect(Buffer.from(out ?? []).toString()).toBe(parts.map((p) => p.toString()).join(''));
    expect(out?.byteOffset).toBe(0);
    expect(out?.byteLength).toBe(out?.buffer.byteLength);
    expect(ownBuffer(out as Uint8Array)).toBe(out);
  });

  it('starts again empty after take, and gives nothing when nothing was added', () => {
    // Prepare
    const collector = new ByteCollector();
    collector.add('first chunk');
    const first = collector.take();

    // Act
    const empty = collector.take();
    collector.add('second');
    const second = collector.take();

    // Assess
    expect(Buffer.from(first ?? []).toString()).toBe('first chunk');
    expect(empty).toBeUndefined();
    expect(Buffer.from(second ?? []).toString()).toBe('second');
  });
});
