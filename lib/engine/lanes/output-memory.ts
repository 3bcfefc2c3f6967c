/**
 * Where a lane collects the output of a chunk: records, rejected records and file fragments, encoded into memory
 * the lane reuses from one chunk to the next and handed over in one buffer of their own, which the message to the
 * main thread transfers.
 */
import { Writable } from 'node:stream';
import type { FileSink, RecordSink } from '../output.ts';

/**
 * Output bytes of a chunk, encoded into memory that is reused from one chunk to the next. A lane's output used to
 * become an ArrayBuffer per part written (a few dozen per chunk); those outlived the young generation while the
 * chunk ran and, being outside the heap, waited for a full collection that a lane's small heap seldom needs: with
 * two lanes on three million records they held more than 100 MB. Now each chunk leaves one buffer, the one it
 * hands over.
 */
export class ByteCollector {
  #buffer: Buffer;
  #used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buffer = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Appends text (as UTF-8) or bytes. */
  add(part: string | Uint8Array): void {
    // UTF-8 takes at most three bytes per UTF-16 unit; a long text is measured instead of reserving three times it.
    const most =
      typeof part === 'string' ? (part.length > 1 << 20 ? Buffer.byteLength(part) : part.length * 3) : part.byteLength;
    if (this.#used + most > this.#buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#buffer.length, this.#used + most));
      this.#buffer.copy(grown, 0, 0, this.#used);
      this.#buffer = grown;
    }
    if (typeof part === 'string') this.#used += this.#buffer.write(part, this.#used);
    else {
      this.#buffer.set(part, this.#used);
      this.#used += part.byteLength;
    }
  }

  /** What was added, in an ArrayBuffer of its own (undefined when nothing was); starts again empty. */
  take(): Uint8Array | undefined {
    if (this.#used === 0) return undefined;
    const out = new Uint8Array(this.#used);
    out.set(this.#buffer.subarray(0, this.#used));
    this.#used = 0;
    return out;
  }
}

/** Reused collectors, handed out per chunk and given back when its output is taken. */
class CollectorPool {
  readonly #free: ByteCollector[] = [];

  get(): ByteCollector {
    return this.#free.pop() ?? new ByteCollector();
  }

  /** Takes what `collector` holds and keeps it for the next chunk. */
  take(collector: ByteCollector): Uint8Array | undefined {
    const out = collector.take();
    this.#free.push(collector);
    return out;
  }
}

/** A lane's pool: every chunk it runs collects its output in the same memory. */
const COLLECTORS = new CollectorPool();

/** Records collected as NDJSON, encoded as they come so the text dies young in the lane's heap. */
export class MemoryRecords implements RecordSink {
  readonly #bytes = COLLECTORS.get();
  count = 0;

  async write(chunk: string | Uint8Array, count: number): Promise<void> {
    this.#bytes.add(chunk);
    this.count += count;
  }

  /** The records as NDJSON bytes in an ArrayBuffer of their own; undefined when there were none. */
  bytes(): Uint8Array | undefined {
    return COLLECTORS.take(this.#bytes);
  }
}

/** Files collected in memory, in the order they were created. */
export class MemoryFiles implements FileSink {
  readonly files: { name: string; content: ByteCollector }[] = [];

  create(name: string): Writable {
    const file = { name, content: COLLECTORS.get() };
    this.files.push(file);
    return new Writable({
      highWaterMark: 1 << 20,
      // Text is encoded once, into the collector.
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, callback) {
        file.content.add(chunk);
        callback();
      },
    });
  }

  /** Each file's bytes in an ArrayBuffer of their own (empty for an empty file). */
  take(): { name: string; data: Uint8Array }[] {
    return this.files.map((f) => ({ name: f.name, data: COLLECTORS.take(f.content) ?? new Uint8Array(0) }));
  }
}
