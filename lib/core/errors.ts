/**
 * Typed errors shared by every layer. Each carries a stable `code` and says what was expected, what was
 * received and where (dataflow file, step id, parameter), so a message is actionable without a stack trace.
 * Codes come from the catalogue in `error-codes.ts`: a code that is not catalogued does not compile.
 */
import { ERROR_CODES, errorNameOf, type IdxErrorCode, isIdxErrorCode } from './error-codes.ts';

export type { IdxErrorCode } from './error-codes.ts';
export { PERMANENT_ERROR_NAME, TRANSIENT_ERROR_NAME } from './error-codes.ts';

/** Where in a dataflow an error was found. */
export interface ErrorLocation {
  /** The dataflow file, when the dataflow came from a file. */
  readonly file?: string;
  /** The dataflow id. */
  readonly dataflowId?: string;
  /** The step id, verbatim (ids may contain spaces and punctuation). */
  readonly stepId?: string;
  /** The parameter name or dotted path inside the step's params. */
  readonly param?: string;
}

/** Options of {@link IdxError}. */
export interface IdxErrorOptions extends ErrorLocation {
  readonly expected?: string;
  readonly received?: string;
  /**
   * True when retrying the same work may succeed (throttling, 5xx, dropped connection).
   * @default true for codes the catalogue marks `transient`, false for the others
   */
  readonly transient?: boolean;
  readonly cause?: unknown;
  /** Extra structured details (e.g. a remote error code and call id). */
  readonly details?: Record<string, unknown>;
}

/**
 * The base of every error the project raises on purpose. `name` is what Step Functions matches in Retry and
 * Catch: transient errors are named {@link TRANSIENT_ERROR_NAME}, all others {@link PERMANENT_ERROR_NAME}.
 */
export class IdxError extends Error {
  readonly code: IdxErrorCode;
  readonly expected?: string;
  readonly received?: string;
  readonly location: ErrorLocation;
  readonly transient: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: IdxErrorCode, message: string, options: IdxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    // A code that crossed a thread or came from JSON escaped the compiler's check: it is then permanent.
    this.transient = options.transient ?? (isIdxErrorCode(code) && ERROR_CODES[code].transience === 'transient');
    this.name = errorNameOf(this.transient);
    if (options.expected !== undefined) this.expected = options.expected;
    if (options.received !== undefined) this.received = options.received;
    if (options.details !== undefined) this.details = options.details;
    this.location = {
      ...(options.file === undefined ? {} : { file: options.file }),
      ...(options.dataflowId === undefined ? {} : { dataflowId: options.dataflowId }),
      ...(options.stepId === undefined ? {} : { stepId: options.stepId }),
      ...(options.param === undefined ? {} : { param: options.param }),
    };
  }

  /** One readable line: `CODE: message (expected …, received …) [file › step › param]`. */
  describe(): string {
    return describeError(this);
  }

  /** A JSON-safe view for job records and `--json` output. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.expected === undefined ? {} : { expected: this.expected }),
      ...(this.received === undefined ? {} : { received: this.received }),
      ...this.location,
      ...(this.details === undefined ? {} : { details: this.details }),
      transient: this.transient,
    };
  }
}

/**
 * Adds where an error happened when it does not say so itself: a coded error without a step gets `location`
 * (with everything else it said kept, and itself as the cause); any other error is returned as it is.
 */
export function locateError(error: unknown, location: ErrorLocation): unknown {
  if (!(error instanceof IdxError) || error.location.stepId !== undefined) return error;
  return new IdxError(error.code, error.message, {
    ...error.location,
    ...location,
    ...(error.expected === undefined ? {} : { expected: error.expected }),
    ...(error.received === undefined ? {} : { received: error.received }),
    ...(error.details === undefined ? {} : { details: error.details }),
    transient: error.transient,
    cause: error,
  });
}

/** Formats an error with its code and location on one line; unknown errors keep their message. */
export function describeError(error: unknown): string {
  if (error instanceof IdxError) {
    const where = [
      error.location.file,
      error.location.stepId && `step "${error.location.stepId}"`,
      error.location.param,
    ]
      .filter(Boolean)
      .join(' › ');
    const exp = [
      error.expected === undefined ? '' : `expected ${error.expected}`,
      error.received === undefined ? '' : `received ${error.received}`,
    ]
      .filter(Boolean)
      .join(', ');
    return `${error.code}: ${error.message}${exp ? ` (${exp})` : ''}${where ? ` [${where}]` : ''}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Short, bounded rendering of a received value for messages. */
export function showValue(value: unknown, max = 80): string {
  let text: string;
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (Array.isArray(value)) text = `array ${JSON.stringify(value)}`;
  else if (value === null) return 'null';
  else if (typeof value === 'object') text = `object ${JSON.stringify(value)}`;
  else text = `${typeof value} ${String(value)}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
