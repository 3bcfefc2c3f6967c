/**
 * What the console derives from dataflows, schedules and job records for display: masked params, the next run of
 * a schedule, a job's totals and duration. Pure functions, shared by every backend.
 */
import type { ExecutionInput } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { CREDENTIAL_PARAMS } from '../dataflow/catalog.ts';
import { isSecretReference } from '../dataflow/placeholders.ts';
import type { Dataflow, Schedule, Step } from '../dataflow/types.ts';
import { MASKED_SECRET } from '../dataflow/validate.ts';
import { nextOccurrence, scheduleStart } from '../infra/schedule-expressions.ts';
import type { JobRecord } from '../stores/jobs.ts';
import type { RunRequest, ScheduleView } from './backend.ts';

/**
 * A copy of a value with every credential masked as IdentitySync's console masks it (`********`): the values of
 * credential-named fields at any depth and of the params the step's script marks secret. A `${secret:NAME}`
 * reference stays readable, since it names where the secret is, not what it is.
 */
export function maskSecrets(value: unknown, secretParams: ReadonlySet<string> = new Set()): unknown {
  const mask = (v: unknown, credential: boolean): unknown => {
    if (credential && typeof v === 'string') return v === '' || isSecretReference(v) ? v : MASKED_SECRET;
    if (Array.isArray(v)) return v.map((x) => mask(x, credential));
    if (v === null || typeof v !== 'object') return credential && v !== null ? MASKED_SECRET : v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      out[k] = mask(x, credential || CREDENTIAL_PARAMS.has(k) || secretParams.has(k));
    return out;
  };
  return mask(value, false);
}

/** The names of a script's params that hold secrets. */
function secretParamsOf(registry: ScriptRegistry, type: string): Set<string> {
  const params = registry.get(type)?.params ?? {};
  return new Set(
    Object.entries(params)
      .filter(([, spec]) => (spec as { secret?: boolean }).secret === true)
      .map(([name]) => name),
  );
}

/** A step with its params masked. */
export function maskedStep(step: Step, registry: ScriptRegistry): Step {
  return { ...step, params: maskSecrets(step.params, secretParamsOf(registry, step.type)) as Step['params'] };
}

/** A dataflow file's JSON object with every step's params masked. */
export function maskedDataflowJson(json: unknown, registry: ScriptRegistry): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const obj = json as Record<string, unknown>;
  const steps = Array.isArray(obj.steps)
    ? obj.steps.map((s) => {
        if (s === null || typeof s !== 'object' || Array.isArray(s)) return s;
        const step = s as Record<string, unknown>;
        const type = typeof step.type === 'string' ? step.type : '';
        return step.params === undefined
          ? step
          : { ...step, params: maskSecrets(step.params, secretParamsOf(registry, type)) };
      })
    : obj.steps;
  // Top-level credentials (a console export's apiKey is an id, not a secret) are masked by name too.
  return { ...(maskSecrets({ ...obj, steps: [] }) as Record<string, unknown>), steps };
}

/** A dataflow with its steps masked. */
export function maskedDataflow(dataflow: Dataflow, registry: ScriptRegistry): Dataflow {
  return { ...dataflow, steps: dataflow.steps.map((s) => maskedStep(s, registry)) };
}

const PERIOD_MS: Partial<Record<Schedule['frequencyType'], number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

/**
 * When a schedule next runs: its first occurrence at or after `now`, stepping from `nextJobStartTime` by its
 * period (months by calendar month); a `once` schedule's start time even when it has passed, as IdentitySync's
 * "Scheduled Next Run" shows the time set in the scheduler; none for a disabled schedule or one without a time.
 */
export function nextRunOf(schedule: Schedule, now: Date): Date | undefined {
  if (schedule.enabled === false) return undefined;
  const start = scheduleStart(schedule);
  if (!start) return undefined;
  const n = Math.max(1, Math.floor(schedule.frequencyInterval ?? 1));
  if (schedule.frequencyType === 'once') return start;
  if (schedule.frequencyType === 'month') {
    const at = new Date(start);
    // Whole months, at most a century of them: a schedule far in the past still answers quickly.
    for (let i = 0; i < 1200 && at < now; i++) at.setUTCMonth(at.getUTCMonth() + n);
    return at;
  }
  const period = PERIOD_MS[schedule.frequencyType];
  return period === undefined ? undefined : nextOccurrence(start, period * n, now);
}

/** A schedule as the console shows it. */
export function scheduleView(schedule: Schedule, now: Date): ScheduleView {
  const next = nextRunOf(schedule, now);
  return {
    name: schedule.name,
    ...(typeof schedule.id === 'string' ? { id: schedule.id } : {}),
    frequencyType: schedule.frequencyType,
    ...(typeof schedule.frequencyInterval === 'number' ? { frequencyInterval: schedule.frequencyInterval } : {}),
    enabled: schedule.enabled !== false,
    fullExtract: schedule.fullExtract === true,
    ...(schedule.limit === undefined ? {} : { limit: schedule.limit }),
    ...(next ? { nextRun: next.toISOString() } : {}),
  };
}

/** A job's records in (what its sources read), out (what no step rejected) and rejected (over every step). */
export function jobRecords(job: JobRecord): { in: number; out: number; rejected: number } {
  const rejected = Object.values(job.steps ?? {}).reduce((n, s) => n + (s.recordsRejected ?? 0), 0);
  return { in: job.totalRecords, out: job.processedRecords, rejected };
}

/** How long a job ran (so far, while it runs). */
export function jobDurationMs(job: JobRecord, now = Date.now()): number {
  const end = job.endTime ? Date.parse(job.endTime) : now;
  return Math.max(0, end - Date.parse(job.startTime));
}

/** The execution input of a run started from the console, as `idx run` / `idx test` build it from their flags. */
export function runInput(request: RunRequest): ExecutionInput {
  return {
    ...(request.test ? { test: true } : {}),
    ...(request.dryRun ? { dryRun: true } : {}),
    ...(request.limit === undefined ? {} : { limit: request.limit }),
    ...(request.fullExtract ? { fullExtract: true } : {}),
  };
}
