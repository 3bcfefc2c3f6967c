/**
 * The IDX API's data in local mode: dataflows are the files in `dataflows/`, schedulings are the schedules those
 * files hold plus the `once` schedulings created through the API, job status records are the local jobs table,
 * and a `once` scheduling runs the dataflow at once on the embedded services, as `idx run` does.
 *
 * Dataflows created or changed through the API are written to `dataflows/` after the same validation as
 * `idx validate` (which never runs dataflow code); a file is replaced atomically (temporary name, then rename).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { definitionSizeProblems } from '../compiler/deployable.ts';
import type { ExecutionInput } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { readDataflow } from '../dataflow/load.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { validateDataflow } from '../dataflow/validate.ts';
import type { LocalEnvironment } from '../local/environment.ts';
import { type LocalRunResult, newJobId, runLocal } from '../local/runner.ts';
import { JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import {
  type DataflowRow,
  type DataflowWriter,
  IdxApiError,
  type IdxData,
  type JobStatusRow,
  type SchedulingRow,
} from './data.ts';
import { checkedScheduling, dataflowRow, schedulingInput, schedulingRows, validationError } from './rows.ts';

/** Job status records the search sees: the newest ones. */
export const MAX_JOB_ROWS = 10_000;
/** `once` schedulings created through the API that are remembered (the oldest are forgotten first). */
export const MAX_API_SCHEDULINGS = 1000;
/** The fields the server sets on a dataflow; a client's values for them are ignored. */
const SERVER_FIELDS = ['version', 'createTime', 'updateTime', 'status'] as const;
/** What a dataflow id may look like: it names the file, so it never holds a path. */
const DATAFLOW_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Options of {@link LocalIdxData}. */
export interface LocalIdxDataOptions {
  readonly env: LocalEnvironment;
  readonly registry: ScriptRegistry;
  /** Where the dataflow files are. @default `dataflows` */
  readonly dir?: string;
  /** Told when a run the API started ends. */
  readonly onRunEnd?: (result: LocalRunResult) => void;
  /** Passed to every run the API starts (tests force the invocation budget tiny). */
  readonly invocationBudgetMs?: number;
}

/** A dataflow file as read: its raw JSON, the loaded dataflow, and when the file was written. */
interface DataflowFile {
  readonly file: string;
  readonly raw: Record<string, unknown>;
  readonly dataflow: Dataflow;
  readonly createTime: string;
  readonly updateTime: string;
}

/** JSON text with object keys sorted, so two objects compare by content. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** The IDX API's data over `dataflows/` and a local environment. */
export class LocalIdxData implements IdxData {
  readonly #o: LocalIdxDataOptions;
  readonly #dir: string;
  readonly #jobs: JobStore;
  readonly #state: DataflowStateStore;
  /** `once` schedulings created through the API, oldest first. */
  readonly #created: Record<string, unknown>[] = [];
  readonly #running = new Map<string, { readonly stop: AbortController; readonly done: Promise<void> }>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: LocalIdxDataOptions) {
    this.#o = options;
    this.#dir = options.dir ?? 'dataflows';
    this.#jobs = new JobStore(options.env.services.dynamo, options.env.config.tables.jobs);
    this.#state = new DataflowStateStore(options.env.services.dynamo, options.env.config.tables.state);
  }

  /** The dataflow files that load as dataflows, by file name. */
  #files(): DataflowFile[] {
    if (!existsSync(this.#dir)) return [];
    const out: DataflowFile[] = [];
    for (const name of readdirSync(this.#dir)
      .filter((f) => f.toLowerCase().endsWith('.json'))
      .sort()) {
      const file = join(this.#dir, name);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        continue; // not a dataflow: `idx validate` says why
      }
      const dataflow = readDataflow(raw, { file }).dataflow;
      if (!dataflow || typeof raw !== 'object' || raw === null) continue;
      const stat = statSync(file);
      out.push({
        file,
        raw: raw as Record<string, unknown>,
        dataflow,
        createTime: stat.birthtime.toISOString(),
        updateTime: stat.mtime.toISOString(),
      });
    }
    return out;
  }

  #file(id: string): DataflowFile {
    const found = this.#files().find((f) => f.dataflow.id === id);
    if (!found) throw new IdxApiError(404000, `no dataflow with id ${JSON.stringify(id.slice(0, 200))}`);
    return found;
  }

  async dataflows(): Promise<DataflowRow[]> {
    const rows: DataflowRow[] = [];
    for (const f of this.#files())
      rows.push(
        dataflowRow(f.raw, f.dataflow, await this.#state.get(f.dataflow.id), {
          createTime: f.createTime,
          updateTime: f.updateTime,
        }),
      );
    return rows;
  }

  async schedulings(): Promise<SchedulingRow[]> {
    const fromFiles = this.#files().flatMap((f) => schedulingRows(f.dataflow, f.updateTime));
    const created = this.#created.map((s) => ({
      ...(s as SchedulingRow),
      schedulingStatus: this.#running.has(String(s.jobId)) ? 'busy' : 'ready',
    }));
    return [...fromFiles, ...created];
  }

  async jobs(filter: { readonly dataflowId?: string } = {}): Promise<JobStatusRow[]> {
    // The newest jobs, by a Query of the jobs table's byDataflow or byStart index rather than a scan of every job.
    const options = filter.dataflowId === undefined ? {} : { dataflowId: filter.dataflowId };
    return (await this.#jobs.list({ ...options, limit: MAX_JOB_ROWS })).jobs.map((j) => ({ ...j }));
  }

  async createScheduling(data: Record<string, unknown>): Promise<SchedulingRow> {
    const dataflowId = data.dataflowId;
    if (typeof dataflowId !== 'string' || dataflowId === '')
      throw new IdxApiError(400002, 'data.dataflowId is required');
    const { file, dataflow } = this.#file(dataflowId);
    // Only a dataflow that validates runs, as `idx run` insists; the file may have been edited since it was written.
    const t = new Date();
    const schedule = checkedScheduling(dataflow, data, this.#o.registry, randomBytes(16).toString('hex'), t);
    if (schedule.frequencyType !== 'once') {
      // A recurring schedule is part of the dataflow file, which is what deploys it; local mode runs no timer.
      this.#writeDataflow(file, { ...this.#rawOf(file), schedules: [...dataflow.schedules, schedule] }, dataflowId);
      return { ...schedule, dataflowId, createTime: t.toISOString(), updateTime: t.toISOString() };
    }
    const jobId = newJobId(t);
    const row = { ...schedule, dataflowId, jobId, createTime: t.toISOString(), updateTime: t.toISOString() };
    this.#created.push(row);
    if (this.#created.length > MAX_API_SCHEDULINGS) this.#created.shift();
    const start = schedule.nextJobStartTime === undefined ? t : new Date(`${String(schedule.nextJobStartTime)}`);
    const wait = Number.isNaN(start.getTime()) ? 0 : Math.max(0, start.getTime() - t.getTime());
    const input = schedulingInput(schedule);
    if (wait === 0) this.#run(dataflow, input, jobId);
    else {
      // A `once` scheduling in the future runs then, while this server runs; setTimeout's ceiling is ~24.8 days.
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          this.#run(dataflow, input, jobId);
        },
        Math.min(wait, 2 ** 31 - 1),
      );
      this.#timers.add(timer);
    }
    return row;
  }

  #run(dataflow: Dataflow, input: ExecutionInput, jobId: string): void {
    const stop = new AbortController();
    const done = runLocal(dataflow, {
      services: this.#o.env.services,
      registry: this.#o.registry,
      input,
      jobId,
      signal: stop.signal,
      ...(this.#o.invocationBudgetMs === undefined ? {} : { invocationBudgetMs: this.#o.invocationBudgetMs }),
    })
      .then((result) => this.#o.onRunEnd?.(result))
      // The job record says how the run failed; nothing is waiting for this promise but close().
      .catch(() => undefined)
      .finally(() => this.#running.delete(jobId));
    this.#running.set(jobId, { stop, done });
  }

  /** Waits for the runs the API started; with `abort`, stops them first (they end as killed). */
  async close(abort = false): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const runs = [...this.#running.values()];
    if (abort) for (const r of runs) r.stop.abort();
    await Promise.all(runs.map((r) => r.done));
  }

  /** The raw JSON of a dataflow file. */
  #rawOf(file: string): Record<string, unknown> {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  }

  /** Validates a dataflow as `idx validate` does and writes it to its file atomically. */
  #writeDataflow(file: string, raw: Record<string, unknown>, id: string): void {
    const loaded = readDataflow(raw, { file, id });
    const problems = [...loaded.problems];
    if (loaded.dataflow) {
      problems.push(...validateDataflow(loaded.dataflow, this.#o.registry));
      if (!problems.some((p) => p.severity === 'error'))
        problems.push(...definitionSizeProblems(loaded.dataflow, this.#o.registry));
    }
    if (!loaded.dataflow || problems.some((p) => p.severity === 'error'))
      throw validationError(`dataflow ${id} is not valid`, problems);
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(raw, null, 2)}\n`);
    renameSync(temporary, file);
  }

  /** Changing dataflow files: create, replace, delete. */
  readonly writer: DataflowWriter = {
    create: async (data) => {
      const given = data.id;
      if (given !== undefined && (typeof given !== 'string' || !DATAFLOW_ID.test(given)))
        throw new IdxApiError(400006, `data.id must match ${DATAFLOW_ID.source} (it names the file)`);
      const id = typeof given === 'string' ? given : randomBytes(16).toString('hex');
      const file = join(this.#dir, `${id}.json`);
      if (existsSync(file) || this.#files().some((f) => f.dataflow.id === id))
        throw new IdxApiError(400006, `a dataflow with id ${id} exists; idx.setDataflow changes it`);
      const fields = Object.fromEntries(
        Object.entries(data).filter(([k]) => !(SERVER_FIELDS as readonly string[]).includes(k)),
      );
      this.#writeDataflow(file, { ...fields, id, version: 1 }, id);
      return { id };
    },
    set: async (data) => {
      const id = data.id;
      if (typeof id !== 'string' || id === '') throw new IdxApiError(400002, 'data.id is required');
      const current = this.#file(id);
      const strip = (o: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(o).filter(
            ([k]) => !(SERVER_FIELDS as readonly string[]).includes(k) && k !== 'schedules' && k !== 'lastRuntime',
          ),
        );
      const fields = strip(data);
      if (canonical(fields) === canonical(strip(current.raw)) && data.schedules === undefined)
        throw new IdxApiError(403200, 'dataflow has not changed');
      const version = (typeof current.raw.version === 'number' ? current.raw.version : 1) + 1;
      // The schedules stay unless the client sends them: IdentitySync keeps schedulings apart from the dataflow.
      const schedules = data.schedules ?? current.raw.schedules;
      const lastRuntime = data.lastRuntime ?? current.raw.lastRuntime;
      this.#writeDataflow(
        current.file,
        {
          ...(current.raw.$schema === undefined ? {} : { $schema: current.raw.$schema }),
          ...fields,
          id,
          version,
          ...(lastRuntime === undefined ? {} : { lastRuntime }),
          ...(schedules === undefined ? {} : { schedules }),
        },
        id,
      );
      return { version };
    },
    delete: async (id) => {
      const current = this.#file(id);
      const state = await this.#state.get(id);
      if (state.lockJobId !== undefined && (state.lockExpires ?? 0) > Date.now())
        throw new IdxApiError(409030, `dataflow ${id} is running (job ${state.lockJobId}); delete it when it ends`);
      unlinkSync(current.file);
    },
  };
}
