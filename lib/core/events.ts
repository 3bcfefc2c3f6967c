/**
 * The payloads the compiled state machine sends to the step function, one per action. The compiler builds
 * them (as ASL Parameters), the handler dispatches on `action`.
 */

import type { OutputRef, StepResult } from './refs.ts';
import type { JobContext, PartitionItem } from './script.ts';

/** Execution input: what EventBridge schedules, the console or `idx run` start an execution with. */
export interface ExecutionInput {
  readonly scheduleId?: string;
  readonly fullExtract?: boolean;
  readonly limit?: number | null;
  readonly logLevel?: 'error' | 'info' | 'debug';
  /** A test run: 10 records, never moves the watermark. */
  readonly test?: boolean;
  /**
   * A dry run: every reader and transform runs, no writer writes anything anywhere; each writer reports what it
   * would have done instead (see WouldWrite). Never moves the watermark, never counts as a successful run.
   */
  readonly dryRun?: boolean;
  readonly attempt?: number;
  /**
   * Most attempts of a job that fails on a transient cause, the first included (1: never run again); overrides
   * the state machine's own setting.
   */
  readonly maxAttempts?: number;
}

/** How a job that failed on a transient cause is run again, as the compiler writes it into the failure state. */
export interface AttemptPolicy {
  /** Most attempts, the first included. */
  readonly maxAttempts: number;
  /** The pause before the second attempt; it doubles before each further one. */
  readonly backoffSeconds: number;
}

/** The schedule facts job start needs for a first run's window. */
export interface ScheduleSummary {
  readonly name: string;
  readonly id?: string;
  readonly frequencyType: string;
  readonly frequencyInterval?: number;
}

/** Starts a job: lock, delta window, job record. Returns the {@link JobContext}. */
export interface StartEvent {
  readonly action: 'start';
  readonly dataflow: {
    readonly id: string;
    readonly name: string;
    readonly apiKey?: string;
    readonly lastRuntime?: string;
    readonly schedules: readonly ScheduleSummary[];
  };
  readonly input: ExecutionInput;
  /** The Step Functions context object's `Execution` (Name becomes the job id). */
  readonly execution: { readonly Name?: string; readonly Id?: string; readonly StartTime?: string };
}

/** One step as the compiled state machine passes it. */
export interface StepSpec {
  readonly id: string;
  readonly type: string;
  /** A short, stable key used in staged object keys (`s0`, `s1`, …). */
  readonly key: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/** Runs one step (or a fused run of steps). */
export interface StepEvent {
  readonly action: 'step';
  readonly job: JobContext;
  readonly step: StepSpec;
  /**
   * Steps fused after `step`: each consumes the previous one's records in memory, without staging them. Only
   * the last one's output is staged; every member stages its own rejected records and keeps its own counters.
   */
  readonly fused?: readonly StepSpec[];
  /** Outputs of the predecessors, in a stable order (keys `i0`, `i1`, …). */
  readonly inputs: Readonly<Record<string, OutputRef>>;
  /** The result of the previous invocation when a continuable step loops. */
  readonly previous?: StepResult | { readonly iteration: 0 };
  /** The partition this invocation reads, in an iteration of a partitioned reader's Map state. */
  readonly partition?: PartitionItem;
}

/** Plans a partitioned reader's read: returns {@link PartitionPlanResult}, whose items a Map state iterates. */
export interface PartitionsEvent {
  readonly action: 'partitions';
  readonly job: JobContext;
  readonly step: StepSpec;
}

/** What planning a partitioned read returns. */
export interface PartitionPlanResult {
  /** The partitions in output order; one item without a range when the read stays one cursor. */
  readonly items: readonly PartitionItem[];
}

/**
 * Joins the results of a partitioned reader's Map iterations into the step's one result: the staged parts in
 * partition order, then each partition's own order, and the counters summed.
 */
export interface JoinEvent {
  readonly action: 'join';
  readonly job: JobContext;
  readonly step: StepSpec;
  /** Each iteration's last result, in partition order (the Map state's output). */
  readonly results: readonly StepResult[];
}

/** Runs a step's deferred work once every step succeeded. */
export interface AfterEvent {
  readonly action: 'after';
  readonly job: JobContext;
  readonly step: StepSpec;
  /** The step's result, with what it deferred. */
  readonly result: StepResult;
}

/**
 * Checks, before any work deferred until the job succeeded runs (deleting or moving the files a reader read),
 * that every writer delivered what it received: a shortfall fails the job with its sources still in place.
 */
export interface CheckEvent {
  readonly action: 'check';
  readonly job: JobContext;
  /** Every step result, possibly nested by parallel group. */
  readonly results: Readonly<Record<string, unknown>>;
}

/** Completes a job successfully. */
export interface CompleteEvent {
  readonly action: 'complete';
  readonly job: JobContext;
  /** Every step result, possibly nested by parallel group. */
  readonly results: Readonly<Record<string, unknown>>;
}

/** Records a failed job. */
export interface FailEvent {
  readonly action: 'fail';
  /** Null when the job never started (e.g. the run lock was held). */
  readonly job: JobContext | null;
  readonly dataflow: { readonly id: string; readonly name: string };
  readonly input: ExecutionInput;
  readonly execution: { readonly Name?: string; readonly Id?: string; readonly StartTime?: string };
  /** The Catch output: `{Error, Cause}`. */
  readonly error: { readonly Error?: string; readonly Cause?: string };
  /** Whether and how a transient failure is run again; absent: never (a state machine without the retry path). */
  readonly retry?: AttemptPolicy;
}

/** What the failure action decided: the job ended failed, or it runs again after `waitSeconds`. */
export type FailOutcome =
  | { readonly status: 'failed'; readonly retry: false; readonly error: Record<string, unknown> }
  | {
      readonly status: 'retrying';
      readonly retry: true;
      readonly error: Record<string, unknown>;
      /** The pause before the next attempt (the backoff state's `SecondsPath`). */
      readonly waitSeconds: number;
      /** The job context of the next attempt: the same job, window and lock, `attempt` one more. */
      readonly job: JobContext;
    };

/** Any action the step function handles. */
export type EngineEvent =
  | StartEvent
  | StepEvent
  | PartitionsEvent
  | JoinEvent
  | CheckEvent
  | AfterEvent
  | CompleteEvent
  | FailEvent;
