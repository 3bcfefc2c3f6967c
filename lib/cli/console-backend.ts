/**
 * The console's backend over the local embedded services: dataflows are the files of a folder (`dataflows/`),
 * jobs and state are the local tables, runs are what `idx run` and `idx test` start (runLocal in this process),
 * and rejected records are read from the local stage bucket. Editing writes the files, after the same validation
 * as `idx validate`; nothing a dataflow holds is ever executed to validate it.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { definitionSizeProblems, validateDeployableFile } from '../compiler/deployable.ts';
import type { ConsoleBackend, CreateRequest, RunRequest, TextValidation } from '../console/backend.ts';
import { runInput } from '../console/model.ts';
import { type DataflowEntry, StoreConsoleBackend } from '../console/store-backend.ts';
import { isIdxErrorCode } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { hasErrors, type Problem } from '../dataflow/problems.ts';
import { copyDataflow, type DataflowTemplate, dataflowText, listTemplates } from '../dataflow/templates.ts';
import { validateText } from '../dataflow/validate.ts';
import type { LocalEnvironment } from '../local/environment.ts';
import { type LocalRunResult, newJobId, runLocal } from '../local/runner.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { DEFAULT_JOB_READ_LIMIT, JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';

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

/** A run this console started: how to stop it and when it ends. */
interface ActiveRun {
  readonly dataflowId: string;
  readonly stop: AbortController;
  readonly done: Promise<LocalRunResult>;
}

/** The console's backend on the local embedded services. */
export class LocalConsoleBackend extends StoreConsoleBackend implements ConsoleBackend {
  readonly editable = true;
  readonly #env: LocalEnvironment;
  readonly #dir: string;
  readonly #templatesDir: string;
  protected readonly registry: ScriptRegistry;
  protected readonly filteredJobsLimit = DEFAULT_JOB_READ_LIMIT;
  readonly #budget: number | undefined;
  readonly #runs = new Map<string, ActiveRun>();

  constructor(env: LocalEnvironment, options: LocalConsoleBackendOptions = {}) {
    super();
    this.#env = env;
    this.#dir = options.dir ?? 'dataflows';
    this.#templatesDir = options.templatesDir ?? SHIPPED_DATAFLOWS;
    this.registry = options.registry ?? defaultRegistry();
    this.#budget = options.invocationBudgetMs;
  }

  protected get jobs(): JobStore {
    return new JobStore(this.#env.services.dynamo, this.#env.config.tables.jobs);
  }

  protected get state(): DataflowStateStore {
    return new DataflowStateStore(this.#env.services.dynamo, this.#env.config.tables.state);
  }

  protected get s3(): S3Client {
    return this.#env.services.s3;
  }

  protected get where(): string {
    return `${this.#dir}/`;
  }

  protected rawJson(entry: DataflowEntry): unknown {
    try {
      return JSON.parse(readFileSync(entry.file, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The dataflow files of the folder, each validated as `idx validate` does. */
  protected entries(): DataflowEntry[] {
    if (!existsSync(this.#dir)) return [];
    return readdirSync(this.#dir)
      .filter((f) => f.toLowerCase().endsWith('.json'))
      .sort()
      .map((name) => {
        const file = join(this.#dir, name);
        const result = validateDeployableFile(file, this.registry);
        return { file, ...result };
      });
  }

  async startRun(dataflowId: string, request: RunRequest): Promise<{ jobId: string }> {
    const entry = this.find(dataflowId);
    if (!entry.valid || !entry.dataflow)
      throw new IdxError('IDX_DATAFLOW_INVALID', `${entry.file} is not a valid dataflow; fix it before running it`, {
        file: entry.file,
        dataflowId,
      });
    const input = runInput(request);
    const jobId = newJobId();
    const stop = new AbortController();
    let started: () => void = () => undefined;
    const begun = new Promise<void>((resolve) => {
      started = resolve;
    });
    const done = runLocal(entry.dataflow, {
      services: this.#env.services,
      registry: this.registry,
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
    const { file } = this.find(id);
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
    if (existsSync(file) || this.entries().some((f) => f.dataflow?.id === id))
      throw new IdxError('IDX_DATAFLOW_EXISTS', `a dataflow "${id}" already exists in ${this.#dir}/`, {
        dataflowId: id,
        expected: 'an id no dataflow file uses',
        received: JSON.stringify(id),
      });
    return file;
  }

  async duplicateDataflow(id: string): Promise<{ id: string }> {
    const { json } = this.#raw(id);
    const ids = new Set(this.entries().map((f) => f.dataflow?.id));
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
    return readFileSync(this.find(id).file, 'utf8');
  }

  async validateText(text: string, id?: string): Promise<TextValidation> {
    const file = id === undefined ? undefined : this.entries().find((f) => f.dataflow?.id === id)?.file;
    const result = validateText(text, this.registry, file ? { file } : {});
    const problems =
      result.valid && result.dataflow
        ? [...result.problems, ...definitionSizeProblems(result.dataflow, this.registry)]
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
    const { file } = this.find(id);
    const result = await this.validateText(text, id);
    if (result.valid) writeAtomically(file, text.endsWith('\n') ? text : `${text}\n`);
    return result;
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
