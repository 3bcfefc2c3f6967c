/**
 * The part of a console backend that reads the stores: the Dataflows and Dataflow pages from a list of dataflow
 * entries and the dataflow state table, the Jobs and Job pages from the jobs table, rejected records from the
 * stage bucket. The local backend (lib/cli/console-backend.ts) lists the files of a folder; the deployed one
 * (lib/deployed/console-backend.ts) the dataflows the stack deployed. What runs and changes dataflows is theirs.
 */
import { relative } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { IdxError } from '../core/errors.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Problem } from '../dataflow/problems.ts';
import { outlineOf } from '../dataflow/templates.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { openStaged } from '../engine/stage.ts';
import type { JobPage, JobRecord, JobStore } from '../stores/jobs.ts';
import type { DataflowStateStore } from '../stores/state.ts';
import type { DataflowDetail, DataflowOverview, JobFilter, RejectedRecords } from './backend.ts';
import { maskedDataflow, maskedDataflowJson, scheduleView } from './model.ts';

/** Jobs the Dataflow page lists. */
const RECENT_JOBS = 10;

/** A dataflow as a backend lists it: where it comes from, the dataflow when it loads, its validation. */
export interface DataflowEntry {
  readonly file: string;
  readonly dataflow?: Dataflow;
  readonly problems: Problem[];
  readonly valid: boolean;
}

/** The reading half of a console backend, over the jobs and state tables and the stage bucket. */
export abstract class StoreConsoleBackend {
  /** The script registry dataflows are validated and masked with. */
  protected abstract readonly registry: ScriptRegistry;
  /** The jobs table. */
  protected abstract get jobs(): JobStore;
  /** The dataflow state table. */
  protected abstract get state(): DataflowStateStore;
  /** The client of the stage bucket, where rejected records are. */
  protected abstract get s3(): S3Client;
  /** Jobs read at most for a page of the Jobs list filtered by status (the page may then hold fewer). */
  protected abstract readonly filteredJobsLimit: number;
  /** The dataflows, each validated. */
  protected abstract entries(): DataflowEntry[];
  /** The JSON of an entry as it is (before masking), or undefined when it is not JSON. */
  protected abstract rawJson(entry: DataflowEntry): unknown;
  /** Where the dataflows are, for the error of an unknown id. */
  protected abstract readonly where: string;

  /** The entry of a dataflow id, or IDX_DATAFLOW_NOT_FOUND. */
  protected find(id: string): DataflowEntry {
    const found = this.entries().find((f) => f.dataflow?.id === id);
    if (!found)
      throw new IdxError('IDX_DATAFLOW_NOT_FOUND', `no dataflow "${id}" in ${this.where}`, {
        dataflowId: id,
        expected: `the id of a dataflow in ${this.where}`,
        received: JSON.stringify(id),
      });
    return found;
  }

  async #overview(entry: DataflowEntry, now: Date): Promise<DataflowOverview> {
    const d = entry.dataflow;
    const id = d?.id ?? entry.file;
    const state = d ? await this.state.get(d.id) : undefined;
    const running = state?.lockJobId ? await this.jobs.get(state.lockJobId) : undefined;
    const schedules = (d?.schedules ?? []).map((s) => scheduleView(s, now));
    const next = schedules
      .map((s) => s.nextRun)
      .filter((t): t is string => t !== undefined)
      .sort()[0];
    return {
      id,
      name: d?.name ?? '',
      ...(d?.description === undefined ? {} : { description: d.description }),
      outline: d ? outlineOf(d) : '',
      file: relative(process.cwd(), entry.file) || entry.file,
      schedules,
      ...(state?.lastSuccessfulRun
        ? {
            lastSuccessfulRun: {
              time: state.lastSuccessfulRun,
              ...(state.lastJobId ? { jobId: state.lastJobId } : {}),
            },
          }
        : {}),
      ...(state?.lastSuccessfulTestRun
        ? {
            lastTestRun: {
              time: state.lastSuccessfulTestRun,
              ...(state.lastTestJobId ? { jobId: state.lastTestJobId } : {}),
            },
          }
        : {}),
      ...(next ? { nextRun: next } : {}),
      ...(running?.status === 'running' ? { running } : {}),
      problems: entry.problems,
      valid: entry.valid,
    };
  }

  async listDataflows(): Promise<DataflowOverview[]> {
    const now = new Date();
    return Promise.all(this.entries().map((f) => this.#overview(f, now)));
  }

  async getDataflow(id: string): Promise<DataflowDetail> {
    const entry = this.find(id);
    const overview = await this.#overview(entry, new Date());
    const json = this.rawJson(entry);
    return {
      ...overview,
      ...(entry.dataflow ? { dataflow: maskedDataflow(entry.dataflow, this.registry) } : {}),
      maskedJson: JSON.stringify(maskedDataflowJson(json, this.registry), null, 2),
      recentJobs: (await this.jobs.list({ dataflowId: id, limit: RECENT_JOBS })).jobs,
    };
  }

  async listJobs(filter: JobFilter): Promise<JobPage> {
    // Dataflow and time bound the index Query itself; a status filter reads at most the backend's bound of jobs.
    return this.jobs.list({ ...filter, readLimit: this.filteredJobsLimit });
  }

  async getJob(id: string): Promise<JobRecord> {
    const job = await this.jobs.get(id);
    if (!job)
      throw new IdxError('IDX_JOB_NOT_FOUND', `no job ${id}`, {
        expected: 'the id of a job the Jobs page lists',
        received: JSON.stringify(id),
      });
    return job;
  }

  /** The S3 bucket and prefix of a step's rejected records, or a coded error. */
  async #rejectedAt(jobId: string, stepId: string): Promise<{ bucket: string; prefix: string }> {
    const job = await this.getJob(jobId);
    const step = Object.hasOwn(job.steps ?? {}, stepId) ? job.steps[stepId] : undefined;
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(step?.rejectedLocation ?? '');
    if (!step || !m)
      throw new IdxError('IDX_HTTP_NOT_FOUND', `step "${stepId}" of job ${jobId} has no rejected records`, {
        stepId,
        expected: 'a step of the job that rejected records',
        received: JSON.stringify(stepId),
      });
    return { bucket: m[1] as string, prefix: m[2] as string };
  }

  /** The keys of a step's rejected-record parts, in order (invocation, then part). */
  async #rejectedKeys(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      // The step's folder also stages its output; rejected records are the parts of each invocation's
      // `rejected/` folder (see the engine's runner).
      for (const o of out.Contents ?? [])
        if (o.Key && /^i\d+\/rejected\/part-\d+\.ndjson$/.test(o.Key.slice(prefix.length))) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async rejectedRecords(jobId: string, stepId: string, limit: number): Promise<RejectedRecords> {
    const { bucket, prefix } = await this.#rejectedAt(jobId, stepId);
    const records: Record<string, unknown>[] = [];
    for (const key of await this.#rejectedKeys(bucket, prefix)) {
      const stream = openStaged(this.s3, bucket, key);
      const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      try {
        for await (const line of lines) {
          if (line.trim() === '') continue;
          if (records.length === limit) return { records, more: true };
          records.push(JSON.parse(line) as Record<string, unknown>);
        }
      } finally {
        lines.close();
        stream.destroy();
      }
    }
    return { records, more: false };
  }

  async rejectedDownload(jobId: string, stepId: string): Promise<AsyncIterable<Uint8Array | string>> {
    const { bucket, prefix } = await this.#rejectedAt(jobId, stepId);
    const keys = await this.#rejectedKeys(bucket, prefix);
    const s3 = this.s3;
    async function* all(): AsyncGenerator<Uint8Array> {
      for (const key of keys) for await (const chunk of openStaged(s3, bucket, key)) yield chunk as Uint8Array;
    }
    return Readable.from(all());
  }
}
