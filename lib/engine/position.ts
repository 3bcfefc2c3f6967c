/**
 * Where a step that consumes stands in its ordered staged inputs, and the cursors that read them from there up to
 * the invocation's deadline. Records continue at record granularity (the deadline is checked between batches),
 * files at file granularity (between files); the first batch or file of an invocation is always taken, so every
 * invocation makes progress whatever its budget.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { FilesRef, OutputRef, RecordsRef } from '../core/refs.ts';
import type { DataRecord, InputFile } from '../core/script.ts';
import { ndjsonBatches } from './ndjson.ts';
import { openStaged, openStagedFile } from './stage.ts';

/** A position in a step's inputs: input index, part (records) or file index, records consumed in that part. */
export interface InputPosition {
  readonly input: number;
  readonly part: number;
  readonly records: number;
}

/** The start of the inputs. */
export const START: InputPosition = { input: 0, part: 0, records: 0 };

/** Whether nothing is left in `refs` from `at` on. */
export function exhausted(refs: readonly OutputRef[], at: InputPosition): boolean {
  for (let i = at.input; i < refs.length; i++) {
    const ref = refs[i];
    if (!ref || ref.kind === 'nothing') continue;
    const from = i === at.input ? at.part : 0;
    if (ref.kind === 'files') {
      if (ref.files.length > from) return false;
      continue;
    }
    for (let p = from; p < ref.parts.length; p++) {
      const done = i === at.input && p === at.part ? at.records : 0;
      if ((ref.parts[p]?.count ?? 0) > done) return false;
    }
  }
  return true;
}

/** Reads a step's staged inputs from a position until `stop` says the invocation's time is up. */
export class InputCursor {
  #at: InputPosition;
  #taken = false;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly refs: readonly OutputRef[],
    from: InputPosition,
    /** Whether to stop before the next batch, file or part; asked only once something was taken. */
    private readonly stop: () => boolean,
  ) {
    this.#at = from;
  }

  /** Where the next invocation starts. */
  get position(): InputPosition {
    return this.#at;
  }

  /** Whether the inputs are all consumed. */
  get exhausted(): boolean {
    return exhausted(this.refs, this.#at);
  }

  /** Whether to stop here: something was taken and the time is up. */
  #stopping(): boolean {
    return this.#taken && this.stop();
  }

  /**
   * The staged parts from the position on with the records of each already consumed; the position moves past a
   * part once the caller asks for the next. Stops before a part when the time is up.
   */
  async *#parts(): AsyncGenerator<{ readonly key: string; readonly skip: number; readonly at: (n: number) => void }> {
    const from = this.#at;
    for (let i = from.input; i < this.refs.length; i++) {
      const ref = this.refs[i];
      if (ref?.kind !== 'records') continue;
      for (let p = i === from.input ? from.part : 0; p < ref.parts.length; p++) {
        const part = ref.parts[p] as RecordsRef['parts'][number];
        const skip = i === from.input && p === from.part ? from.records : 0;
        if (skip < part.count) {
          if (this.#stopping()) return;
          yield { key: part.key, skip, at: (records) => (this.#at = { input: i, part: p, records }) };
        }
        this.#at = { input: i, part: p + 1, records: 0 };
      }
      this.#at = { input: i + 1, part: 0, records: 0 };
    }
  }

  /** The records from the position on, in batches. */
  async *records(): AsyncGenerator<DataRecord[]> {
    for await (const { key, skip, at } of this.#parts()) {
      let seen = 0;
      for await (const batch of ndjsonBatches(openStaged(this.s3, this.bucket, key), key)) {
        // Batches before the position were consumed by an earlier invocation.
        const fresh = seen + batch.length <= skip ? [] : seen < skip ? batch.slice(skip - seen) : batch;
        seen += batch.length;
        if (fresh.length === 0) continue;
        if (this.#stopping()) return;
        this.#taken = true;
        yield fresh;
        at(seen);
      }
    }
  }

  /**
   * The staged NDJSON bytes from the position on, part after part, for lanes that cut them into chunks; stops only
   * between parts. A position inside a part (left by an invocation that ran on one thread) starts with that part's
   * remaining records.
   */
  async *recordBytes(): AsyncGenerator<Buffer> {
    for await (const { key, skip } of this.#parts()) {
      this.#taken = true;
      if (skip > 0) {
        let seen = 0;
        for await (const batch of ndjsonBatches(openStaged(this.s3, this.bucket, key), key)) {
          const fresh = seen >= skip ? batch : batch.slice(Math.min(batch.length, skip - seen));
          seen += batch.length;
          if (fresh.length) yield Buffer.from(fresh.map((r) => `${JSON.stringify(r)}\n`).join(''));
        }
        continue;
      }
      let last = 10;
      for await (const chunk of openStaged(this.s3, this.bucket, key)) {
        const b = chunk as Buffer;
        if (b.length) last = b[b.length - 1] as number;
        yield b;
      }
      // Each part ends its last line, so the next one starts a record.
      if (last !== 10) yield Buffer.from('\n');
    }
  }

  /** The staged files from the position on; one file is taken whole. */
  async *files(): AsyncGenerator<InputFile> {
    const from = this.#at;
    for (let i = from.input; i < this.refs.length; i++) {
      const ref = this.refs[i];
      if (ref?.kind !== 'files') continue;
      for (let f = i === from.input ? from.part : 0; f < (ref as FilesRef).files.length; f++) {
        const file = ref.files[f] as FilesRef['files'][number];
        if (this.#stopping()) return;
        this.#taken = true;
        yield { name: file.name, size: file.size, open: () => openStagedFile(this.s3, this.bucket, file) };
        this.#at = { input: i, part: f + 1, records: 0 };
      }
      this.#at = { input: i + 1, part: 0, records: 0 };
    }
  }
}
