/**
 * The IdentitySync dataflow object as it appears in files and console exports. Unknown top-level and step
 * fields are kept (see {@link Dataflow.extra}) so a console export round-trips unchanged.
 */
import type { LogLevel } from '../core/script.ts';

/** A step of a dataflow. */
export interface Step {
  /** Unique within the dataflow; free text (spaces and punctuation allowed). */
  readonly id: string;
  /** Component type, e.g. `field.rename`. */
  readonly type: string;
  /** Component params; what is allowed depends on the type. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Steps that receive this step's output. */
  readonly next: readonly string[];
  /** Steps that receive the records this step rejected. */
  readonly error: readonly string[];
}

/** An IdentitySync scheduling object. */
export interface Schedule {
  readonly id?: string;
  readonly name: string;
  readonly frequencyType: 'once' | 'minute' | 'hour' | 'day' | 'week' | 'month';
  readonly frequencyInterval?: number;
  /** UTC, `yyyy-MM-dd HH:mm:ss` or ISO-8601. */
  readonly nextJobStartTime?: string;
  readonly fullExtract?: boolean;
  readonly limit?: number | null;
  readonly logLevel?: LogLevel;
  readonly successEmailNotification?: string;
  readonly failureEmailNotification?: string;
  readonly enabled?: boolean;
  readonly [extra: string]: unknown;
}

/** A dataflow: a directed graph of steps plus its schedules. */
export interface Dataflow {
  /** The dataflow id; files without one get an id derived from the file name. */
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly steps: readonly Step[];
  readonly schedules: readonly Schedule[];
  /** The delta watermark a console export may carry; seeds the state when none is stored. */
  readonly lastRuntime?: string;
  readonly apiKey?: string;
  /** Every other field of the source object (siteId, status, version, createTime, updatedBy*, …), kept. */
  readonly extra: Readonly<Record<string, unknown>>;
  /** The file the dataflow was read from, for messages. */
  readonly file?: string;
}
