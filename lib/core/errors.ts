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
    // A received value may be a whole file name or param of megabytes: errors keep a bounded view of it.
    super(bounded(message, MAX_MESSAGE_LENGTH), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    // A code that crossed a thread or came from JSON escaped the compiler's check: it is then permanent.
    this.transient = options.transient ?? (isIdxErrorCode(code) && ERROR_CODES[code].transience === 'transient');
    this.name = errorNameOf(this.transient);
    if (options.expected !== undefined) this.expected = bounded(options.expected, MAX_DETAIL_LENGTH);
    if (options.received !== undefined) this.received = bounded(options.received, MAX_DETAIL_LENGTH);
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
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  let text: string;
  // Only the start of a value is rendered, so a 50 MB string or a value nested thousands deep costs no more
  // than a short one.
  if (typeof value === 'string') text = JSON.stringify(value.slice(0, max + 1));
  else if (Array.isArray(value)) text = `array ${preview(value, max)}`;
  else if (typeof value === 'object') text = `object ${preview(value, max)}`;
  else text = `${typeof value} ${String(value)}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** JSON-like text of a value, cut once it is longer than `max`; iterative, so any nesting depth is fine. */
function preview(value: unknown, max: number): string {
  let out = '';
  // Pending work: a value to render, or literal text (closing brackets, separators).
  const todo: ({ value: unknown } | string)[] = [{ value }];
  while (todo.length > 0 && out.length <= max) {
    const item = todo.pop() as { value: unknown } | string;
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    const v = item.value;
    if (typeof v === 'string') out += JSON.stringify(v.slice(0, max + 1));
    else if (Array.isArray(v)) {
      out += '[';
      todo.push(']');
      for (let i = Math.min(v.length, max) - 1; i >= 0; i--) todo.push({ value: v[i] }, ...(i > 0 ? [','] : []));
    } else if (v !== null && typeof v === 'object') {
      out += '{';
      todo.push('}');
      const entries = Object.entries(v).slice(0, max);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i] as [string, unknown];
        todo.push({ value: x }, `${JSON.stringify(k.slice(0, max + 1))}:`, ...(i > 0 ? [','] : []));
      }
    } else out += v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : String(v);
  }
  return out;
}

/** The longest `expected` or `received` an error keeps; longer text is cut with `…`. */
export const MAX_DETAIL_LENGTH = 1000;
/** The longest message an error keeps (long enough for a list of every problem of a deployment). */
export const MAX_MESSAGE_LENGTH = 64 * 1024;

/** Cuts text to `max` characters, marking the cut and the full length. */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = `… (${text.length} characters)`;
  return `${text.slice(0, Math.max(0, max - note.length))}${note}`;
}

/**
 * Text safe to print on a terminal: control characters (line breaks, ANSI escapes, …) in ids and values are
 * shown as JSON escapes instead of moving the cursor or recolouring the screen.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped.
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    // JSON escapes C0 controls itself (\n, \u001b); DEL, C1 and the line separators it leaves as they are.
    const escaped = JSON.stringify(c).slice(1, -1);
    return escaped.length > 1 ? escaped : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
