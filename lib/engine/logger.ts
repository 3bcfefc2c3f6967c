/**
 * Step and job logging. Every line is redacted of secret values, written as one JSON object to stdout (when
 * echo is on, as CloudWatch wants it) and, when its level passes the job's logLevel, kept for the job trace.
 */
import type { EmfRecord } from '../core/metrics.ts';
import type { LogLevel, StepLogger } from '../core/script.ts';
import type { Redactor } from '../core/secrets.ts';

const RANK: Record<string, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Options of {@link TraceLogger}. */
export interface TraceLoggerOptions {
  readonly jobId: string;
  readonly stepId?: string;
  readonly level: LogLevel;
  readonly redactor?: Redactor;
  /** Write JSON lines to stdout. @default true */
  readonly echo?: boolean;
  /** Maximum trace lines kept; later lines are counted, not kept. @default 500 */
  readonly maxTrace?: number;
}

/** A logger that keeps a redacted, level-filtered trace. */
export class TraceLogger implements StepLogger {
  readonly trace: string[] = [];
  #dropped = 0;
  readonly #o: TraceLoggerOptions;

  constructor(options: TraceLoggerOptions) {
    this.#o = options;
  }

  /** Trace lines that did not fit. */
  get droppedLines(): number {
    return this.#dropped;
  }

  debug(message: string, data?: Record<string, unknown>): void {
    this.#log('debug', message, data);
  }
  info(message: string, data?: Record<string, unknown>): void {
    this.#log('info', message, data);
  }
  warn(message: string, data?: Record<string, unknown>): void {
    this.#log('warn', message, data);
  }
  error(message: string, data?: Record<string, unknown>): void {
    this.#log('error', message, data);
  }

  /**
   * An info line for the log only, not kept in the trace: periodic progress of a long step, which would fill the
   * job record's trace (an hour-long export logs hundreds) while the job record keeps the counts themselves.
   */
  logOnly(message: string, data?: Record<string, unknown>): void {
    this.#log('info', message, data, false);
  }

  /**
   * Writes a CloudWatch embedded-metric-format record (lib/core/metrics.ts) as its own log line, when lines are
   * echoed (deployed); it is never kept in the trace.
   */
  metrics(record: EmfRecord): void {
    if (!(this.#o.echo ?? true)) return;
    const line = safeJson(record);
    process.stdout.write(`${this.#o.redactor ? this.#o.redactor.redact(line) : line}\n`);
  }

  #log(level: 'error' | 'warn' | 'info' | 'debug', message: string, data?: Record<string, unknown>, keep = true): void {
    const time = new Date().toISOString();
    const redact = (s: string) => (this.#o.redactor ? this.#o.redactor.redact(s) : s);
    const dataText = data === undefined ? '' : ` ${safeJson(data)}`;
    if (this.#o.echo ?? true) {
      const line = {
        time,
        level: level.toUpperCase(),
        jobId: this.#o.jobId,
        ...(this.#o.stepId === undefined ? {} : { stepId: this.#o.stepId }),
        message,
        ...(data === undefined ? {} : { data }),
      };
      process.stdout.write(`${redact(safeJson(line))}\n`);
    }
    if (!keep) return;
    if ((RANK[level] ?? 3) <= (RANK[this.#o.level] ?? 2) || (level === 'warn' && this.#o.level !== 'error')) {
      if (this.trace.length < (this.#o.maxTrace ?? 500)) {
        const step = this.#o.stepId === undefined ? '' : ` [${this.#o.stepId}]`;
        this.trace.push(redact(`${time} ${level.toUpperCase()}${step} ${message}${dataText}`));
      } else this.#dropped++;
    }
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return '"[unserializable]"';
  }
}
