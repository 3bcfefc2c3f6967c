/** The block of memory the main thread shares with its lanes to hand them input chunks. */
import type { ChunkMemory } from '../../scripts/util/split.ts';

/**
 * Memory shared with the lanes, in slots that input chunks are copied into and that are reused once a lane is
 * done with its chunk. A chunk sent in a buffer of its own is freed only when the receiving lane's heap collects
 * it, and a chunk that waits its turn in a lane outlives the young generation, so a fast input left tens of MB
 * of spent chunks waiting for a full collection; the slots keep that memory fixed.
 */
export class SharedSlots {
  readonly memory: SharedArrayBuffer;
  readonly #view: Buffer;
  readonly #free: number[] = [];

  constructor(
    count: number,
    readonly slotBytes: number,
  ) {
    this.memory = new SharedArrayBuffer(count * slotBytes);
    this.#view = Buffer.from(this.memory);
    for (let i = count - 1; i >= 0; i--) this.#free.push(i);
  }

  /** A free slot for a chunk of `size` bytes; memory of the chunk's own when none is free or big enough. */
  readonly memoryFor: ChunkMemory = (size) => {
    const slot = size <= this.slotBytes ? this.#free.pop() : undefined;
    if (slot === undefined) return Buffer.allocUnsafeSlow(size);
    return this.#view.subarray(slot * this.slotBytes, slot * this.slotBytes + size);
  };

  /** Where `data` sits in the shared memory, if it does. */
  slotOf(data: Uint8Array): { readonly offset: number; readonly length: number } | undefined {
    return data.buffer === this.memory ? { offset: data.byteOffset, length: data.byteLength } : undefined;
  }

  /** Frees the slot that starts at `offset`. */
  release(offset: number): void {
    this.#free.push(offset / this.slotBytes);
  }
}
