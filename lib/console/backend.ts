/**
 * What the console reads and does, behind one interface: the pages and routes know only {@link ConsoleBackend},
 * so the same console serves the local embedded services (lib/cli/console-backend.ts) and a deployed stack
 * (lib/deployed/console-backend.ts). Every method either answers or throws an `IdxError` with a code from the catalogue.
 */
import type { Problem } from '../dataflow/problems.ts';
import type { DataflowTemplate, TemplateDirection } from '../dataflow/templates.ts';
import type { Dataflow, Schedule } from '../dataflow/types.ts';
import type { JobPage, JobRecord, JobState } from '../stores/jobs.ts';

/** A schedule as the Dataflows page shows it. */
export interface ScheduleView {
  readonly name: string;
  readonly id?: string;
  readonly frequencyType: Schedule['frequencyType'];
  readonly frequencyInterval?: number;
  readonly enabled: boolean;
  readonly fullExtract: boolean;
  readonly limit?: number | null;
  /** When the schedule next runs (ISO), as far as its scheduling object says; see `nextRunOf`. */
  readonly nextRun?: string;
}

/** One line of the Dataflows page. */
export interface DataflowOverview {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  /** `account > rename > dsv > gzip > sftp`. */
  readonly outline: string;
  /** The dataflow file, relative to where the console runs. */
  readonly file: string;
  readonly schedules: readonly ScheduleView[];
  /** The end of the last successful non-test run, and its job. */
  readonly lastSuccessfulRun?: { readonly time: string; readonly jobId?: string };
  /** The end of the last successful test run, and its job. */
  readonly lastTestRun?: { readonly time: string; readonly jobId?: string };
  /** The earliest next run of its enabled schedules. */
  readonly nextRun?: string;
  /** The job running now, with its progress so far. */
  readonly running?: JobRecord;
  /** Validation problems (errors and warnings) of the file as it is now. */
  readonly problems: readonly Problem[];
  readonly valid: boolean;
}

/** The Dataflow page: the overview plus the graph, the steps and the JSON, secrets masked. */
export interface DataflowDetail extends DataflowOverview {
  /** The dataflow as loaded, each step's credential params masked; absent when the file is not a dataflow. */
  readonly dataflow?: Dataflow;
  /** The file's JSON with credential values masked. */
  readonly maskedJson: string;
  /** The newest jobs of the dataflow. */
  readonly recentJobs: readonly JobRecord[];
}

/** Filters of the Jobs page. */
export interface JobFilter {
  readonly dataflowId?: string;
  readonly status?: JobState;
  /** Jobs started at or after this ISO time. */
  readonly from?: string;
  /** Jobs started before this ISO time. */
  readonly to?: string;
  /** At most this many jobs, newest first. */
  readonly limit: number;
  /** Where the page starts: the cursor of the page before (see JobStore.list). */
  readonly cursor?: string;
}

/** How a run started from the console runs. */
export interface RunRequest {
  /** A test run: 10 records, the watermark stays (IdentitySync's Run Test). */
  readonly test?: boolean;
  /** Read at most this many records from every source; the watermark stays. */
  readonly limit?: number;
  /** Read everything, ignoring the delta watermark. */
  readonly fullExtract?: boolean;
  /** Read and transform, write nothing anywhere. */
  readonly dryRun?: boolean;
}

/** Some of a step's rejected records, each with its `_errorDetails`. */
export interface RejectedRecords {
  readonly records: readonly Record<string, unknown>[];
  /** True when the step rejected more records than are shown. */
  readonly more: boolean;
}

/** A new dataflow from a template. */
export interface CreateRequest {
  readonly integration: string;
  readonly direction: TemplateDirection;
  readonly id: string;
  readonly name?: string;
}

/** Validation of dataflow text, by the same validator as `idx validate` and `cdk synth`. */
export interface TextValidation {
  readonly valid: boolean;
  readonly problems: readonly Problem[];
}

/** Everything the console reads and does. */
export interface ConsoleBackend {
  /**
   * Whether dataflows can be created and edited here (locally); deployed, dataflows change through the
   * repository and `cdk deploy`, and the console says so.
   */
  readonly editable: boolean;
  listDataflows(): Promise<DataflowOverview[]>;
  getDataflow(id: string): Promise<DataflowDetail>;
  /** A page of jobs, newest first, with the cursor of the older page when there is one. */
  listJobs(filter: JobFilter): Promise<JobPage>;
  getJob(id: string): Promise<JobRecord>;
  /** Starts a run and resolves once its job record exists. */
  startRun(dataflowId: string, request: RunRequest): Promise<{ jobId: string }>;
  /** Stops a running job: it ends as `killed` and its run lock is released. */
  stopJob(jobId: string): Promise<void>;
  setScheduleEnabled(dataflowId: string, schedule: string, enabled: boolean): Promise<void>;
  /** Copies a dataflow under a new id, schedules disabled. */
  duplicateDataflow(id: string): Promise<{ id: string }>;
  listTemplates(): Promise<DataflowTemplate[]>;
  createDataflow(request: CreateRequest): Promise<{ id: string }>;
  /** The file's text as it is, for the editor. */
  dataflowText(id: string): Promise<string>;
  validateText(text: string, id?: string): Promise<TextValidation>;
  /** Saves a dataflow's text when it validates; resolves with the problems otherwise, having saved nothing. */
  saveDataflow(id: string, text: string): Promise<TextValidation>;
  /** The first `limit` rejected records of a step. */
  rejectedRecords(jobId: string, stepId: string, limit: number): Promise<RejectedRecords>;
  /** Every rejected record of a step, as NDJSON chunks. */
  rejectedDownload(jobId: string, stepId: string): Promise<AsyncIterable<Uint8Array | string>>;
  /** Stops what the backend started (runs); the console calls it when it closes. */
  close(): Promise<void>;
}
