/**
 * Files handed from one step to the next in a fused run: each file a step writes becomes the next step's input
 * while it is written, so it is never staged and read back. A formatter or file transformer writes its files one
 * after the other; the next step (a parser, gzip, encryption) reads them in the same order, each once.
 */
import { PassThrough, type Readable, Writable } from 'node:stream';
import { IdxError } from '../core/errors.ts';
import type { InputFile } from '../core/script.ts';
import type { FileSink } from './output.ts';

/**
 * The `open` of a file that can be read once (it streams past, or stands for one that does): a second call fails
 * with IDX_SCRIPT_CONTRACT instead of handing out a stream that was already read.
 */
export function openOnce(name: string, open: () => Readable): () => Readable {
  let opened = false;
  return () => {
    if (opened) {
      throw new IdxError('IDX_SCRIPT_CONTRACT', `file ${name} is streamed from the step before and can be read once`, {
        expected: 'a script that reads each input file once',
        received: 'a second open()',
      });
    }
    opened = true;
    return open();
  };
}

/**
 * Streams each created file into a consumer, one file at a time, counting files and bytes. The writer writes into
 * one stream and the consumer reads another: a consumer that stops early (a parser that handed on the job's record
 * limit) may destroy what it reads, and the writer still ends its file, its further bytes counted and let pass.
 */
export class FileForward implements FileSink {
  /** Where the files go: the next step's driver, or the lanes that run the rest of the fused run. */
  consume: (file: InputFile) => Promise<void>;
  files = 0;
  /** Bytes of the files the consumer read to their end. */
  bytes = 0;
  /** Bytes written into the files so far, finished or not (progress while the step runs). */
  written = 0;
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;

  constructor(consume: (file: InputFile) => Promise<void>) {
    this.consume = consume;
  }

  create(name: string): Writable {
    let size = 0;
    const forward = this;
    /** The consumer returned: what the writer still writes is not read. */
    let gone = false;
    // A little buffering is enough to keep both sides busy; the writer waits for the reader beyond it.
    const reading = new PassThrough({ highWaterMark: 256 * 1024 });
    // The writer's failure reaches the reader through destroy(); a consumer that never opened the file (it failed
    // first) has no listener, and the writer already reports that error.
    reading.on('error', () => {});
    const writing = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        forward.written += chunk.length;
        if (gone || reading.destroyed || reading.write(chunk)) {
          callback();
          return;
        }
        const go = () => {
          reading.off('drain', go).off('close', go);
          callback();
        };
        reading.once('drain', go).once('close', go);
      },
      final(callback) {
        if (!reading.destroyed) reading.end();
        callback();
      },
      destroy(error, callback) {
        // A writer that fails mid-file fails the consumer's read too, instead of leaving it waiting for the end.
        if (error && !reading.destroyed) reading.destroy(error);
        callback(error);
      },
    });
    this.files++;
    const file: InputFile = { name, size: 0, open: openOnce(name, () => reading) };
    this.#queue = this.#queue.then(async () => {
      if (this.#failure) {
        writing.destroy(this.#failure as Error);
        return;
      }
      try {
        await this.consume(file);
        // A consumer that stopped reading early must not leave the writer waiting for room.
        gone = true;
        if (!reading.destroyed && !reading.readableEnded) reading.resume();
        await new Promise<void>((resolve) => {
          if (writing.writableFinished || writing.destroyed) resolve();
          else writing.once('finish', resolve).once('close', resolve);
        });
        this.bytes += size;
      } catch (error) {
        this.#failure ??= error;
        // The writer gets an error instead of waiting forever for a reader that is gone.
        writing.destroy(error as Error);
      }
    });
    return writing;
  }

  /** Waits until every file was read by the consumer; throws what the consumer threw. */
  async settle(): Promise<void> {
    await this.#queue;
    if (this.#failure) throw this.#failure;
  }
}
