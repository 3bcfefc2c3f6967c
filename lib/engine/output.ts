/**
 * The engine's implementation of {@link StepOutput}: it serializes emitted and rejected records into coalesced
 * NDJSON chunks, counts everything, enforces the job's record limit and the script's declared kinds, and hands
 * files to a file sink. Where the bytes go (S3 stage or memory) is the sink's business.
 */
import type { Writable } from 'node:stream';
import { IdxError } from '../core/errors.ts';
import type { SkippedFile, StepCounters } from '../core/refs.ts';
import type { DataRecord, Kind, ReadProgress, RecordError, StepLogger, StepOutput } from '../core/script.ts';

/** Receives NDJSON text in coalesced chunks. */
export interface RecordSink {
  /** Writes a chunk of `count` NDJSON lines (text, or its UTF-8 bytes); resolves when the sink can take more. */
  write(chunk: string | Uint8Array, count: number): Promise<void>;
}

/** Creates output files. */
export interface FileSink {
  create(name: string): Writable;
}

/** Coalescing threshold: one write per ~256 KB instead of one per record. */
const CHUNK = 256 * 1024;
/** Skipped files a job record lists one by one per step (a DynamoDB item holds at most 400 KB). */
const MAX_SKIPPED = 100;
/** How many records `logLevel: debug` logs at each step boundary. */
const DEBUG_SAMPLE = 3;

/** Options of {@link EngineOutput}. */
export interface EngineOutputOptions {
  readonly stepId: string;
  readonly produces: Kind;
  readonly records?: RecordSink;
  /** Instead of staging, hand emitted records to the next script of a fused run, batch by batch. */
  readonly forward?: (batch: DataRecord[]) => Promise<void>;
  readonly rejected: RecordSink;
  readonly files?: FileSink;
  /**
   * Records this step may still hand on, emitted or rejected (a source under the job's limit, see entersRecords);
   * Infinity otherwise.
   */
  readonly limit: number;
  readonly counters: StepCounters;
  readonly log: StepLogger;
  readonly debug: boolean;
}

/** A line-buffered writer in front of a sink. */
class Coalescer {
  #buf = '';
  #count = 0;
  #pending: Promise<void> = Promise.resolve();
  #failure: unknown;

  constructor(private readonly sink: RecordSink) {}

  add(line: string): void {
    this.#buf += line;
    this.#count++;
    if (this.#buf.length >= CHUNK) this.spill();
  }

  spill(): void {
    if (this.#count === 0) return;
    const chunk = this.#buf;
    const count = this.#count;
    this.#buf = '';
    this.#count = 0;
    this.#pending = this.#pending.then(() => this.sink.write(chunk, count));
    this.#pending.catch((e) => {
      this.#failure ??= e;
    });
  }

  async flush(): Promise<void> {
    this.spill();
    await this.#pending;
    if (this.#failure) throw this.#failure;
  }
}

/** The output a script writes to during one step invocation. */
export class EngineOutput implements StepOutput {
  readonly #opts: EngineOutputOptions;
  readonly #records: Coalescer | undefined;
  readonly #rejected: Coalescer;
  /** Records handed on under the limit, emitted or rejected. */
  #taken = 0;
  #debugEmitted = 0;
  #debugRejected = 0;
  #overLimit = 0;
  #forwardBatch: DataRecord[] = [];

  constructor(options: EngineOutputOptions) {
    this.#opts = options;
    this.#records = options.records ? new Coalescer(options.records) : undefined;
    this.#rejected = new Coalescer(options.rejected);
  }

  get remaining(): number {
    return Math.max(0, this.#opts.limit - this.#taken);
  }

  /**
   * Records a source made past the limit and discarded (a Gigya page or a parsed slice that overshoots a test run's
   * 10 records); neither emitted nor rejected, so they are in no counter of this step or any later one.
   */
  get overLimit(): number {
    return this.#overLimit;
  }

  emit(record: DataRecord): void {
    if (!this.#records && !this.#opts.forward) {
      throw new IdxError(
        'IDX_SCRIPT_CONTRACT',
        `step "${this.#opts.stepId}" emitted a record but produces ${this.#opts.produces}`,
        {
          stepId: this.#opts.stepId,
        },
      );
    }
    if (this.#taken >= this.#opts.limit) {
      this.#overLimit++;
      return;
    }
    this.#taken++;
    this.#opts.counters.recordsOut++;
    if (this.#opts.debug && this.#debugEmitted < DEBUG_SAMPLE) {
      this.#debugEmitted++;
      this.#opts.log.debug('record out', { record });
    }
    if (this.#opts.forward) this.#forwardBatch.push(record);
    else this.#records?.add(`${JSON.stringify(record)}\n`);
  }

  reject(record: DataRecord, error: RecordError): void {
    // A rejected row left the source too (down the error path, often into an error file): it counts as taken.
    if (this.#taken >= this.#opts.limit) {
      this.#overLimit++;
      return;
    }
    this.#taken++;
    this.#opts.counters.recordsRejected++;
    const details = { ...error, stepId: this.#opts.stepId };
    if (this.#opts.debug && this.#debugRejected < DEBUG_SAMPLE) {
      this.#debugRejected++;
      this.#opts.log.debug('record rejected', { record, error: details });
    }
    this.#rejected.add(`${JSON.stringify({ ...record, _errorDetails: details })}\n`);
  }

  /** Files writers reported as delivered. */
  readonly deliveredFiles: { name: string; size: number }[] = [];

  delivered(name: string, size: number): void {
    this.deliveredFiles.push({ name, size });
    this.#opts.counters.filesOut++;
    this.#opts.counters.bytesDelivered = (this.#opts.counters.bytesDelivered ?? 0) + size;
    this.#opts.log.info(`delivered file ${name} (${size} bytes)`);
  }

  readonly #skipped: SkippedFile[] = [];
  #skippedUnlisted = 0;

  /** Files a reader skipped, with the reason: the first {@link MAX_SKIPPED}, then one entry counting the rest. */
  get skippedFiles(): SkippedFile[] {
    return this.#skippedUnlisted
      ? [...this.#skipped, { name: `${this.#skippedUnlisted} more file(s)`, reason: 'not listed one by one' }]
      : this.#skipped;
  }

  skipped(name: string, reason: string): void {
    if (this.#skipped.length < MAX_SKIPPED) this.#skipped.push({ name, reason });
    else this.#skippedUnlisted++;
  }

  /** Adds to the records a writer's target accepted (see StepOutput.deliveredRecords). */
  deliveredRecords(count: number): void {
    this.#opts.counters.recordsDelivered = (this.#opts.counters.recordsDelivered ?? 0) + count;
  }

  /** Adds to the invalid byte sequences a reader replaced (see StepOutput.replacedCharacters). */
  replacedCharacters(count: number): void {
    this.#opts.counters.charactersReplaced = (this.#opts.counters.charactersReplaced ?? 0) + count;
  }

  progress(report: ReadProgress): void {
    // Counters travel in the state and the job record: only plain non-negative whole numbers go there.
    const whole = (n: number | undefined) => (n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined);
    const pages = whole(report.pages);
    const total = whole(report.total);
    if (pages !== undefined) this.#opts.counters.pages = pages;
    if (total !== undefined) this.#opts.counters.expected = total;
  }

  drop(_record: DataRecord): void {
    this.#opts.counters.recordsDropped++;
  }

  async flush(): Promise<void> {
    if (this.#opts.forward && this.#forwardBatch.length > 0) {
      const batch = this.#forwardBatch;
      this.#forwardBatch = [];
      await this.#opts.forward(batch);
    }
    await Promise.all([this.#records?.flush(), this.#rejected.flush()]);
  }

  createFile(name: string): Writable {
    if (!this.#opts.files) {
      throw new IdxError(
        'IDX_SCRIPT_CONTRACT',
        `step "${this.#opts.stepId}" created a file but produces ${this.#opts.produces}`,
        {
          stepId: this.#opts.stepId,
        },
      );
    }
    return this.#opts.files.create(name);
  }
}
