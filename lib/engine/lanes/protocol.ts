/**
 * What crosses between the main thread and a lane: the start data, the messages each way, errors as they cross,
 * and the buffers a message transfers instead of copying. Only bytes and plain data cross; scripts, sinks and
 * streams stay on their own side.
 */
import { IdxError, type IdxErrorCode, type IdxErrorOptions } from '../../core/errors.ts';
import type { StepCounters } from '../../core/refs.ts';
import type { JobContext, StepLogger } from '../../core/script.ts';
import type { LaneStep } from './plan.ts';

/** What every lane is started with. */
export interface LaneInit {
  readonly steps: readonly LaneStep[];
  readonly job: JobContext;
  /** The memory whose slots carry input chunks (see SharedSlots). */
  readonly shared?: SharedArrayBuffer;
  /** Whether a byte kernel may take the chunks it reproduces exactly (see kernel.ts). @default true */
  readonly kernels?: boolean;
  /**
   * Whether the steps after a kernel transform the file it made in one call on the lane's own thread, where they
   * offer one (LaneSupport.piece), instead of running as scripts. Where lanes already keep every core busy, zlib
   * on Node's thread pool only competes with them, and a stream and fresh script instances per chunk cost more than
   * the call; the main thread's lane alone wants the thread pool's second core instead. @default false
   */
  readonly inlinePieces?: boolean;
}

/** A chunk of input for a lane. */
export type TaskMessage = {
  readonly kind: 'task';
  readonly index: number;
  /** The chunk, in a buffer transferred with the message, or where it sits in the shared memory. */
  readonly data?: Uint8Array;
  readonly slot?: { readonly offset: number; readonly length: number };
  /** More data follows in `data` messages, ended by an `end` message (the uncut rest of a file). */
  readonly streamed: boolean;
  readonly firstLine: number;
  /** For files: the file name and size, and the header row repeated before the chunk. */
  readonly file?: { readonly name: string; readonly size: number; readonly header?: Uint8Array };
};

/** A message from the main thread to a lane. */
export type MainMessage =
  | TaskMessage
  | { readonly kind: 'data'; readonly index: number; readonly data: Uint8Array }
  | { readonly kind: 'end'; readonly index: number }
  | { readonly kind: 'finish' };

/** A message a lane logs, passed to the main thread (warnings and errors only: info lines would repeat per chunk). */
export interface LaneLog {
  readonly step: number;
  readonly level: 'warn' | 'error';
  readonly message: string;
}

/** What a lane made of one chunk. */
export interface TaskOutput {
  readonly index: number;
  readonly records?: Uint8Array;
  readonly recordCount: number;
  /** Rejected records per step (NDJSON bytes and count), for steps that rejected any. */
  readonly rejected: { readonly step: number; readonly data: Uint8Array; readonly count: number }[];
  readonly files: { readonly name: string; readonly data: Uint8Array }[];
  readonly logs: LaneLog[];
  /** A byte kernel made the output (see kernel.ts), not the scripts. */
  readonly kernel?: boolean;
}

/** An error as it crosses from a lane: a coded error's own JSON view, or the message of any other error. */
export type SerializedError = { readonly message: string; readonly code?: IdxErrorCode } & IdxErrorOptions;

/** A message from a lane to the main thread. */
export type LaneMessage =
  | ({ readonly kind: 'output' } & TaskOutput)
  | { readonly kind: 'consumed'; readonly bytes: number }
  | { readonly kind: 'failed'; readonly error: SerializedError }
  | { readonly kind: 'finished'; readonly counters: StepCounters[] };

/** An error as it crosses to the main thread. */
export function serialize(error: unknown): SerializedError {
  if (error instanceof IdxError)
    return { ...(error.toJSON() as IdxErrorOptions), message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** The error a lane sent, coded again when it was. */
export function revive(error: SerializedError): Error {
  const { code, message, ...options } = error;
  return code ? new IdxError(code, message, options) : new Error(message);
}

/** The logger of a step in a lane: it keeps the warnings and errors the main thread is to log. */
export class LaneLogger implements StepLogger {
  constructor(
    private readonly step: number,
    private readonly logs: LaneLog[],
  ) {}
  debug(): void {}
  info(): void {}
  warn(message: string): void {
    this.logs.push({ step: this.step, level: 'warn', message });
  }
  error(message: string): void {
    this.logs.push({ step: this.step, level: 'error', message });
  }
}

/**
 * `data` in an ArrayBuffer of its own, so that it can be transferred to another thread instead of copied; copied
 * into one when it shares its memory. A small Buffer sits in Node's pool, which Node 21 and later refuse to
 * transfer (a DataCloneError) and earlier versions copy whole; a view of part of a larger buffer would be cloned
 * with all of it.
 */
export function ownBuffer(data: Uint8Array): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer)
    return data;
  return Uint8Array.from(data);
}

/** The memory of buffers that {@link ownBuffer} gave, for the transfer list of the message that carries them. */
export function memoryOf(buffers: readonly (Uint8Array | undefined)[]): ArrayBuffer[] {
  return [...new Set(buffers.flatMap((b) => (b ? [b.buffer as ArrayBuffer] : [])))];
}
