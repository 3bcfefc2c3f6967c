/**
 * The console's backend over the local embedded services: dataflows are the files of a folder (`dataflows/`),
 * jobs and state are the local tables, runs are what `idx run` and `idx test` start (runLocal in this process),
 * and rejected records are read from the local stage bucket. Editing writes the files, after the same validation
 * as `idx validate`; nothing a dataflow holds is ever executed to validate it.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { definitionSizeProblems, validateDeployableFile } from '../compiler/deployable.ts';
import type {
  ConsoleBackend,
  CreateRequest,
  DataflowDetail,
  DataflowOverview,
  JobFilter,
  RejectedRecords,
  RunRequest,
  TextValidation,
} from '../console/backend.ts';
import { maskedDataflow, maskedDataflowJson, scheduleView } from '../console/model.ts';
import { isIdxErrorCode } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { hasErrors, type Problem } from '../dataflow/problems.ts';
import { copyDataflow, type DataflowTemplate, dataflowText, listTemplates, outlineOf } from '../dataflow/templates.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { validateText } from '../dataflow/validate.ts';
import { openStaged } from '../engine/stage.ts';
import type { LocalEnvironment } from '../local/environment.ts';
import { type LocalRunResult, newJobId, runLocal } from '../local/runner.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { type JobRecord, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { noJob } from './jobs.ts';
import { inputFrom } from './run.ts';

/** The dataflows `idx init` and the console copy: the ones shipped with identity-sync. */
export const SHIPPED_DATAFLOWS = new URL('../../dataflows/', import.meta.url).pathname;

/** The JSON Schema of dataflow files shipped with identity-sync. */
export const SHIPPED_SCHEMA = new URL('../../schema/dataflow.schema.json', import.meta.url).pathname;

/**
 * The `$schema` of a new dataflow file in `folder`: the shipped schema, relative to the folder
 * (`../schema/dataflow.schema.json` for `dataflows/` of the project), so editors find it wherever the file is.
 */
export function schemaReference(folder: string): string {
  return relative(resolve(folder), SHIPPED_SCHEMA).split('\\').join('/');
}

/** Options of {@link LocalConsoleBackend}. */
export interface LocalConsoleBackendOptions {
  /** The folder of dataflow files the console lists and edits. @default `dataflows` */
  readonly dir?: string;
  /** The folder of the dataflows offered as templates. @default the shipped dataflows */
  readonly templatesDir?: string;
  readonly registry?: ScriptRegistry;
  /** Time budget of every step invocation of the runs it starts (see `idx run --invocation-budget`). */
  readonly invocationBudgetMs?: number;
}

/** Jobs the Dataflow page lists. */
const RECENT_JOBS = 10;

/** A dataflow file of the folder, validated. */
interface FileEntry {
  readonly file: string;
  readonly dataflow?: Dataflow;
  readonly problems: Problem[];
  readonly valid: boolean;
}

/** A run this console started: how to stop it and when it ends. */
interface ActiveRun {
  readonly dataflowId: string;
  readonly stop: AbortController;
  readonly done: Promise<LocalRunResult>;
}

/** The console's backend on the local embedded services. */
export class LocalConsoleBackend implements ConsoleBackend {
  readonly editable = true;
  readonly #env: LocalEnvironment;
  readonly #dir: string;
  readonly #templatesDir: string;
  readonly #registry: ScriptRegistry;
  readonly #budget: number | undefined;
  readonly #runs = new Map<string, ActiveRun>();

  constructor(env: LocalEnvironment, options: LocalConsoleBackendOptions = {}) {
    this.#env = env;
    this.#dir = options.dir ?? 'dataflows';
    this.#templatesDir = options.templatesDir ?? SHIPPED_DATAFLOWS;
    this.#registry = options.registry ?? defaultRegistry();
    this.#budget = options.invocationBudgetMs;
  }

  get #jobs(): JobStore {
    return new JobStore(this.#env.services.dynamo, this.#env.config.tables.jobs);
  }

  get #state(): DataflowStateStore {
    return new DataflowStateStore(this.#env.services.dynamo, this.#env.config.tables.state);
  }

  /** The dataflow files of the folder, each validated as `idx validate` does. */
  #files(): FileEntry[] {
    if (!existsSync(this.#dir)) return [];
    return readdirSync(this.#dir)
      .filter((f) => f.toLowerCase().endsWith('.json'))
      .sort()
      .map((name) => {
        const file = join(this.#dir, name);
        const result = validateDeployableFile(file, this.#registry);
        return { file, ...result };
      });
  }

  /** The file of a dataflow id, or IDX_DATAFLOW_NOT_FOUND. */
  #find(id: string): FileEntry {
    const found = this.#files().find((f) => f.dataflow?.id === id);
    if (!found)
      throw new IdxError('IDX_DATAFLOW_NOT_FOUND', `no dataflow "${id}" in ${this.#dir}/`, {
        dataflowId: id,
        expected: `the id of a dataflow file in ${this.#dir}/`,
        received: JSON.stringify(id),
      });
    return found;
  }

  async #overview(entry: FileEntry, now: Date): Promise<DataflowOverview> {
    const d = entry.dataflow;
    const id = d?.id ?? entry.file;
    const state = d ? await this.#state.get(d.id) : undefined;
    const running = state?.lockJobId ? await this.#jobs.get(state.lockJobId) : undefined;
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
    return Promise.all(this.#files().map((f) => this.#overview(f, now)));
  }

  async getDataflow(id: string): Promise<DataflowDetail> {
    const entry = this.#find(id);
    const overview = await this.#overview(entry, new Date());
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(entry.file, 'utf8'));
    } catch {
      json = undefined;
    }
    return {
      ...overview,
      ...(entry.dataflow ? { dataflow: maskedDataflow(entry.dataflow, this.#registry) } : {}),
      maskedJson: JSON.stringify(maskedDataflowJson(json, this.#registry), null, 2),
      recentJobs: await this.#jobs.list({ dataflowId: id, limit: RECENT_JOBS }),
    };
  }

  async listJobs(filter: JobFilter): Promise<JobRecord[]> {
    const jobs = await this.#jobs.list({
      ...(filter.dataflowId ? { dataflowId: filter.dataflowId } : {}),
      // A status or time filter may drop many: read every job of the table (a local table is small).
      limit: filter.status || filter.from || filter.to ? Number.MAX_SAFE_INTEGER : filter.limit,
    });
    return jobs
      .filter((j) => !filter.status || j.status === filter.status)
      .filter((j) => !filter.from || j.startTime >= (filter.from as string))
      .filter((j) => !filter.to || j.startTime < (filter.to as string))
      .slice(0, filter.limit);
  }

  async getJob(id: string): Promise<JobRecord> {
    const job = await this.#jobs.get(id);
    if (!job) throw noJob(id);
    return job;
  }

  async startRun(dataflowId: string, request: RunRequest): Promise<{ jobId: string }> {
    const entry = this.#find(dataflowId);
    if (!entry.valid || !entry.dataflow)
      throw new IdxError('IDX_DATAFLOW_INVALID', `${entry.file} is not a valid dataflow; fix it before running it`, {
        file: entry.file,
        dataflowId,
      });
    // The execution input exactly as `idx run` / `idx test` build it from their flags.
    const input = inputFrom({
      ...(request.test ? { test: true } : {}),
      ...(request.dryRun ? { 'dry-run': true } : {}),
      ...(request.fullExtract ? { 'full-extract': true } : {}),
      ...(request.limit === undefined ? {} : { limit: String(request.limit) }),
    });
    const jobId = newJobId();
    const stop = new AbortController();
    let started: () => void = () => undefined;
    const begun = new Promise<void>((resolve) => {
      started = resolve;
    });
    const done = runLocal(entry.dataflow, {
      services: this.#env.services,
      registry: this.#registry,
      input,
      jobId,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind === 'job-started') started();
      },
      ...(this.#budget === undefined ? {} : { invocationBudgetMs: this.#budget }),
    });
    const run: ActiveRun = { dataflowId, stop, done };
    this.#runs.set(jobId, run);
    done.finally(() => this.#runs.delete(jobId)).catch(() => undefined);
    const ended = await Promise.race([begun.then(() => undefined), done]);
    if (ended !== undefined) {
      // The run ended before its job began: the job-start state refused it (another run holds the lock). Its
      // job record says so too, as a failed job, like a refused start deployed.
      throw startRefusal(ended, dataflowId);
    }
    return { jobId };
  }

  async stopJob(jobId: string): Promise<void> {
    const run = this.#runs.get(jobId);
    if (!run)
      throw new IdxError('IDX_JOB_NOT_RUNNING', `job ${jobId} is not running in this console`, {
        expected: 'a job this console started that has not ended',
        received: JSON.stringify(jobId),
      });
    run.stop.abort();
    await run.done;
  }

  /** The raw JSON object of a dataflow's file, for changes that keep every other field. */
  #raw(id: string): { file: string; json: Record<string, unknown> } {
    const { file } = this.#find(id);
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return { file, json };
  }

  async setScheduleEnabled(dataflowId: string, schedule: string, enabled: boolean): Promise<void> {
    const { file, json } = this.#raw(dataflowId);
    const list = Array.isArray(json.schedules) ? (json.schedules as Record<string, unknown>[]) : [];
    const i = list.findIndex((s) => s !== null && typeof s === 'object' && (s.id === schedule || s.name === schedule));
    if (i < 0)
      throw new IdxError('IDX_SCHEDULE_NOT_FOUND', `dataflow "${dataflowId}" has no schedule "${schedule}"`, {
        dataflowId,
        param: 'schedules',
        expected: list.map((s) => JSON.stringify(s?.name)).join(', ') || 'a dataflow with schedules',
        received: JSON.stringify(schedule),
      });
    json.schedules = list.map((s, k) => (k === i ? { ...s, enabled } : s));
    writeAtomically(file, dataflowText(json));
  }

  /** A new file for a new id: IDX_DATAFLOW_EXISTS when the id or the file name is taken. */
  #newFile(id: string): string {
    const file = join(this.#dir, `${id}.json`);
    if (existsSync(file) || this.#files().some((f) => f.dataflow?.id === id))
      throw new IdxError('IDX_DATAFLOW_EXISTS', `a dataflow "${id}" already exists in ${this.#dir}/`, {
        dataflowId: id,
        expected: 'an id no dataflow file uses',
        received: JSON.stringify(id),
      });
    return file;
  }

  async duplicateDataflow(id: string): Promise<{ id: string }> {
    const { json } = this.#raw(id);
    const ids = new Set(this.#files().map((f) => f.dataflow?.id));
    // The copy's id: `<id>-copy`, then `<id>-copy-2`, … (an id longer than a file name allows is cut).
    const base = `${id.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 100)}-copy`;
    let copyId = base;
    for (let n = 2; ids.has(copyId) || existsSync(join(this.#dir, `${copyId}.json`)); n++) copyId = `${base}-${n}`;
    const file = this.#newFile(copyId);
    const name = typeof json.name === 'string' ? `${json.name} (copy)` : copyId;
    const copy = copyDataflow(json, {
      id: copyId,
      name,
      ...(typeof json.$schema === 'string' ? { schema: json.$schema } : {}),
    });
    writeAtomically(file, dataflowText(copy));
    return { id: copyId };
  }

  async listTemplates(): Promise<DataflowTemplate[]> {
    return listTemplates(this.#templatesDir);
  }

  async createDataflow(request: CreateRequest): Promise<{ id: string }> {
    const templates = listTemplates(this.#templatesDir);
    const template = templates.find((t) => t.integration === request.integration && t.direction === request.direction);
    if (!template) throw noTemplate(request, templates);
    const file = this.#newFile(request.id);
    const source = JSON.parse(readFileSync(template.file, 'utf8')) as Record<string, unknown>;
    const json = copyDataflow(source, {
      id: request.id,
      ...(request.name ? { name: request.name } : {}),
      schema: schemaReference(this.#dir),
    });
    writeAtomically(file, dataflowText(json));
    return { id: request.id };
  }

  async dataflowText(id: string): Promise<string> {
    return readFileSync(this.#find(id).file, 'utf8');
  }

  async validateText(text: string, id?: string): Promise<TextValidation> {
    const file = id === undefined ? undefined : this.#files().find((f) => f.dataflow?.id === id)?.file;
    const result = validateText(text, this.#registry, file ? { file } : {});
    const problems =
      result.valid && result.dataflow
        ? [...result.problems, ...definitionSizeProblems(result.dataflow, this.#registry)]
        : result.problems;
    const sameId: Problem[] =
      id !== undefined && result.dataflow && result.dataflow.id !== id
        ? [
            {
              code: 'IDX_DATAFLOW_SHAPE',
              severity: 'error',
              ...(file ? { file } : {}),
              path: '$.id',
              message: `the id must stay "${id}"; duplicate the dataflow to give it another id`,
              expected: JSON.stringify(id),
              received: JSON.stringify(result.dataflow.id),
            },
          ]
        : [];
    const all = [...sameId, ...problems];
    return { valid: result.dataflow !== undefined && !hasErrors(all), problems: all };
  }

  async saveDataflow(id: string, text: string): Promise<TextValidation> {
    const { file } = this.#find(id);
    const result = await this.validateText(text, id);
    if (result.valid) writeAtomically(file, text.endsWith('\n') ? text : `${text}\n`);
    return result;
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
      const out = await this.#env.services.s3.send(
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
      const stream = openStaged(this.#env.services.s3, bucket, key);
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
    const s3 = this.#env.services.s3;
    async function* all(): AsyncGenerator<Uint8Array> {
      for (const key of keys) for await (const chunk of openStaged(s3, bucket, key)) yield chunk as Uint8Array;
    }
    return Readable.from(all());
  }

  async close(): Promise<void> {
    const runs = [...this.#runs.values()];
    for (const r of runs) r.stop.abort();
    await Promise.allSettled(runs.map((r) => r.done));
  }
}

/** Writes a file through a temporary name and a rename, so a reader never sees half a dataflow. */
function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

/** The error of a run refused before its job began, with the code the job-start state gave. */
function startRefusal(result: LocalRunResult, dataflowId: string): IdxError {
  const recorded = result.job?.error as { code?: unknown; message?: unknown } | undefined;
  if (recorded && isIdxErrorCode(recorded.code))
    return new IdxError(recorded.code, `the run of "${dataflowId}" did not start: ${String(recorded.message ?? '')}`, {
      dataflowId,
      details: { jobId: result.jobId },
    });
  const cause = result.error?.Cause ?? '';
  let parsed: { code?: unknown; errorMessage?: unknown; message?: unknown } = {};
  try {
    parsed = JSON.parse(cause) as typeof parsed;
  } catch {
    // A cause that is not JSON is shown as it is.
  }
  const code = isIdxErrorCode(parsed.code)
    ? parsed.code
    : /IDX_RUN_LOCKED/.test(cause)
      ? 'IDX_RUN_LOCKED'
      : 'IDX_INTERNAL';
  return new IdxError(
    code,
    `the run of "${dataflowId}" did not start: ${String(parsed.message ?? parsed.errorMessage ?? cause).slice(0, 500)}`,
    {
      dataflowId,
    },
  );
}

/** The error of a template that does not exist, listing those that do. */
export function noTemplate(
  request: Pick<CreateRequest, 'integration' | 'direction'>,
  templates: readonly DataflowTemplate[],
): IdxError {
  return new IdxError('IDX_TEMPLATE_NOT_FOUND', `no template for ${request.integration} ${request.direction}`, {
    expected: templates.map((t) => `${t.integration} ${t.direction}`).join(', ') || 'a shipped dataflow',
    received: `${JSON.stringify(request.integration)} ${JSON.stringify(request.direction)}`,
  });
}
