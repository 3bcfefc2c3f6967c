/**
 * Drives one script over its inputs: the same loop whether the inputs come from the S3 stage or from memory.
 * It counts what goes in, calls the hook for what the script consumes, and checks the record accounting.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { IdxError, locateError } from '../core/errors.ts';
import type { StepCounters } from '../core/refs.ts';
import type {
  AnyScriptDefinition,
  DataRecord,
  EndOptions,
  InputFile,
  ReadResult,
  ScriptInstance,
} from '../core/script.ts';
import type { EngineOutput } from './output.ts';

/**
 * Longest stretch of record work before the event loop gets a turn. Records arrive in batches that resolve one
 * after the other as microtasks, so without a turn a thread works through a whole input chunk while the I/O it
 * started waits: gzip fused after a formatter compresses in the thread pool, but each compressed block is handed
 * back on this thread, so compression stalled while records were formatted and formatting while it caught up.
 * Measured on the benchmark's pipeline (a) in one lane, the same minute: 11.3–12.6 s without turns, 9.6–10.1 s
 * with a turn every 4 ms, 8.4–8.8 s every millisecond (about once per batch of 1,000 records).
 */
const TURN_MS = 1;
let turnStarted = performance.now();

/** Gives the event loop a turn when this thread has run record work for {@link TURN_MS}. */
async function shareTheLoop(): Promise<void> {
  if (performance.now() - turnStarted < TURN_MS) return;
  await nextTurn();
  turnStarted = performance.now();
}

/**
 * The time of each member of a chain, its own: a member's call (a batch, a file, a read) that hands records on
 * to the next member waits while that one works, so the clock charges every moment to the innermost member at
 * work. The head of a chain also gets what no member was doing (opening and reading its staged input) from
 * {@link StepClock.ownMs}'s caller, so the members' times add up to the Task's.
 */
export class StepClock {
  readonly #own: number[] = [];
  readonly #active: number[] = [];
  #mark = performance.now();

  constructor(private readonly now: () => number = () => performance.now()) {
    this.#mark = this.now();
  }

  /** Charges the time since the last mark to the innermost active member. */
  #charge(): void {
    const t = this.now();
    let inner = -1;
    for (let i = this.#active.length - 1; i >= 0; i--)
      if ((this.#active[i] ?? 0) > 0) {
        inner = i;
        break;
      }
    if (inner >= 0) this.#own[inner] = (this.#own[inner] ?? 0) + (t - this.#mark);
    this.#mark = t;
  }

  /** Member `index` starts a call. */
  enter(index: number): void {
    this.#charge();
    this.#active[index] = (this.#active[index] ?? 0) + 1;
  }

  /** Member `index` ends a call. */
  exit(index: number): void {
    this.#charge();
    this.#active[index] = Math.max(0, (this.#active[index] ?? 0) - 1);
  }

  /** Milliseconds charged to member `index` so far (whole ms). */
  ownMs(index: number): number {
    this.#charge();
    return Math.round(this.#own[index] ?? 0);
  }

  /** Runs `work` as a call of member `index`. */
  async time<T>(index: number, work: () => Promise<T>): Promise<T> {
    this.enter(index);
    try {
      return await work();
    } finally {
      this.exit(index);
    }
  }
}

/** A step's inputs, already opened. */
export interface DriveInputs {
  readonly records?: AsyncIterable<DataRecord[]>;
  readonly files?: AsyncIterable<InputFile>;
}

/**
 * One running script with its output and counters. Records can be pushed into it batch by batch, which is how
 * a fused run of steps hands records from one script to the next in memory.
 */
export class ScriptDriver {
  #nextProgress = 100_000;

  constructor(
    readonly definition: AnyScriptDefinition,
    readonly instance: ScriptInstance,
    readonly out: EngineOutput,
    readonly counters: StepCounters,
    readonly stepId: string,
    private readonly onProgress?: (counters: StepCounters) => void,
    /** The chain's clock and this member's place in it. */
    readonly clock: StepClock = new StepClock(),
    readonly index = 0,
  ) {
    const hook = { records: 'records', files: 'file', nothing: 'read' }[definition.consumes] as
      | 'records'
      | 'file'
      | 'read';
    // A writer that reports nothing delivered nothing: its count starts at 0, not absent, so the job checks it.
    if (definition.delivers === 'records') counters.recordsDelivered ??= 0;
    if (definition.delivers === 'files') counters.bytesDelivered ??= 0;
    if (!instance[hook]) {
      throw new IdxError(
        'IDX_SCRIPT_CONTRACT',
        `script ${definition.type} consumes ${definition.consumes} but has no ${hook}()`,
        {
          stepId,
        },
      );
    }
  }

  /** Adds this step to an error raised inside it that does not say where it happened. */
  async #at<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw locateError(error, { stepId: this.stepId });
    }
  }

  /** Processes one batch of records. */
  async push(batch: DataRecord[]): Promise<void> {
    await shareTheLoop();
    await this.clock.time(this.index, async () => {
      this.counters.recordsIn += batch.length;
      await this.#at(async () => {
        await this.instance.records?.(batch, this.out);
      });
      await this.out.flush();
    });
    if (this.onProgress && this.counters.recordsIn >= this.#nextProgress) {
      this.#nextProgress += 100_000;
      this.onProgress(this.counters);
    }
  }

  /**
   * Processes one file; a parser that already handed on the job's limit of records does not open it (it comes
   * streamed from a step before, which lets the rest pass). A file streamed from the member before, as that one
   * writes it (`timed: false`), is read while that member works: its time stays with the writer, not charged to both
   * or to the reader alone.
   */
  async file(file: InputFile, timed = true): Promise<void> {
    if (this.out.remaining <= 0) {
      this.out.skipped(file.name, "not read: the job's record limit was reached before it");
      return;
    }
    const work = async () => {
      this.counters.filesIn++;
      this.counters.bytesIn += file.size;
      await this.#at(async () => {
        await this.instance.file?.(file, this.out);
      });
      await this.out.flush();
    };
    if (timed) await this.clock.time(this.index, work);
    else await work();
  }

  /** Runs a source. */
  async read(): Promise<ReadResult | undefined> {
    return this.clock.time(this.index, async () => {
      const result = (await this.#at(async () => this.instance.read?.(this.out))) ?? undefined;
      await this.out.flush();
      return result;
    });
  }

  /**
   * Ends the script's invocation (`end`, last flush) and checks that every record is accounted for; returns the
   * state the script keeps for the step's next invocation (none when `final`).
   */
  async finish(options: EndOptions = { final: true }): Promise<unknown> {
    const { definition, counters, stepId } = this;
    const ended = await this.clock.time(this.index, async () => {
      const result = await this.#at(async () => this.instance.end?.(this.out, options));
      await this.out.flush();
      return result;
    });
    if (definition.consumes === 'records' && definition.produces === 'records' && !definition.expands) {
      const accounted = counters.recordsOut + counters.recordsRejected + counters.recordsDropped;
      if (accounted !== counters.recordsIn) {
        throw new IdxError(
          'IDX_ACCOUNTING',
          `step "${stepId}" (${definition.type}) lost track of records: ${counters.recordsIn} in, ${counters.recordsOut} out, ${counters.recordsRejected} rejected, ${counters.recordsDropped} dropped`,
          { stepId, expected: `in = out + rejected + dropped = ${counters.recordsIn}`, received: String(accounted) },
        );
      }
    } else if (definition.consumes === 'records' && definition.produces !== 'records') {
      // A writer's records out are those its target accepted, as it reported them; a formatter's are every record
      // not rejected or dropped, all of which went into a file.
      counters.recordsOut =
        definition.delivers === 'records'
          ? (counters.recordsDelivered ?? 0)
          : counters.recordsIn - counters.recordsRejected - counters.recordsDropped;
    }
    return options.final ? undefined : (ended ?? undefined)?.continuation;
  }
}

/**
 * Feeds a driver its inputs (without finishing it); returns what `read` returned. `enough` says when the rest of
 * the input is not needed (the job's record limit was reached in this run of steps): the input is left unread.
 */
export async function feed(
  driver: ScriptDriver,
  inputs: DriveInputs,
  enough: () => boolean = () => false,
): Promise<ReadResult | undefined> {
  switch (driver.definition.consumes) {
    case 'records':
      for await (const batch of inputs.records ?? []) {
        if (enough()) break;
        await driver.push(batch);
      }
      return undefined;
    case 'files':
      for await (const file of inputs.files ?? []) {
        if (enough()) break;
        await driver.file(file);
      }
      return undefined;
    case 'nothing':
      return driver.read();
  }
}
