/**
 * What the IDX REST API reads and does, as an interface: the local implementation works on `dataflows/` and the
 * embedded services (lib/idx-api/local.ts); a deployed console supplies its own over the deployed tables. The
 * rows are IdentitySync's objects (identitysync-spec.md §1, §4, §5) as `idx.search` returns them.
 */

/** A row of the `dataflow` table: IdentitySync's dataflow object (spec §1). */
export type DataflowRow = Readonly<Record<string, unknown>> & { readonly id: string };

/** A row of the `scheduling` table: IdentitySync's scheduling object (spec §4). */
export type SchedulingRow = Readonly<Record<string, unknown>> & { readonly id: string; readonly dataflowId: string };

/** A row of the `idx_job_status` table: IdentitySync's JobStatus object (spec §5) plus per-step counters. */
export type JobStatusRow = Readonly<Record<string, unknown>> & { readonly id: string };

/** The methods that change dataflow files; only where dataflows live in files (local mode). */
export interface DataflowWriter {
  /** Creates a dataflow from IdentitySync's dataflow JSON; resolves with its id. */
  create(data: Record<string, unknown>): Promise<{ readonly id: string }>;
  /** Replaces a dataflow whole (IdentitySync's `setDataflow`); resolves with its new version. */
  set(data: Record<string, unknown>): Promise<{ readonly version: number }>;
  /** Deletes a dataflow and, with it, the schedules it holds. */
  delete(id: string): Promise<void>;
}

/** The data behind the IDX REST API. */
export interface IdxData {
  /** Every dataflow. */
  dataflows(): Promise<readonly DataflowRow[]>;
  /** Every scheduling. */
  schedulings(): Promise<readonly SchedulingRow[]>;
  /**
   * Job status records, newest first (an implementation may keep to the newest ones; it says how many). With a
   * `dataflowId`, only that dataflow's are needed (the query filters the rows again, so more may come back).
   */
  jobs(filter?: { readonly dataflowId?: string }): Promise<readonly JobStatusRow[]>;
  /**
   * Creates a scheduling (IdentitySync's scheduling JSON); a `once` scheduling starting now runs the dataflow at
   * once, with the scheduling's `limit`, `fullExtract` and `logLevel`. Resolves with the scheduling as stored.
   */
  createScheduling(data: Record<string, unknown>): Promise<SchedulingRow>;
  /** Changing dataflows; undefined where they change through the repository and `cdk deploy` (deployed). */
  readonly writer?: DataflowWriter;
}

/**
 * A Gigya error the API answers (extras.md §4.4, apis.md §A.4): the code, what was wrong in `errorDetails`, and
 * further fields of the answer (e.g. `validationErrors`).
 */
export class IdxApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly details: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(details);
    this.name = 'IdxApiError';
  }
}
