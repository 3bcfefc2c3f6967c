/**
 * IdentitySync's objects as the IDX API answers them, from a dataflow's JSON and its state: the rows of the
 * `dataflow` and `scheduling` tables, and the checks of a `once` scheduling before it runs. Shared by the local
 * data (files of `dataflows/`) and the deployed data (the dataflows the stack deployed).
 */
import type { ExecutionInput } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Problem } from '../dataflow/problems.ts';
import type { Dataflow, Schedule } from '../dataflow/types.ts';
import { validateDataflow, validateSchedules } from '../dataflow/validate.ts';
import { scheduleIdOf } from '../infra/schedule-expressions.ts';
import type { DataflowState } from '../stores/state.ts';
import { type DataflowRow, IdxApiError, type SchedulingRow } from './data.ts';

/** The problems of a dataflow as Gigya's `validationErrors` (apis.md §A.3), with our code and step. */
export function validationError(message: string, problems: readonly Problem[]): IdxApiError {
  const errors = problems.filter((p) => p.severity === 'error');
  return new IdxApiError(400009, `${message}: ${errors.length} problem(s)`, {
    validationErrors: errors.map((p) => ({
      errorCode: 400009,
      message: [p.message, p.expected && `expected ${p.expected}`, p.received && `received ${p.received}`]
        .filter(Boolean)
        .join('; '),
      fieldName: p.path,
      code: p.code,
      ...(p.stepId === undefined ? {} : { stepId: p.stepId }),
    })),
  });
}

/** A `dataflow` row: the dataflow's JSON without its schedules, published, its last successful run from state. */
export function dataflowRow(
  raw: Readonly<Record<string, unknown>>,
  dataflow: Dataflow,
  state: DataflowState,
  times: { readonly createTime?: string; readonly updateTime?: string } = {},
): DataflowRow {
  const { schedules: _schedules, $schema: _schema, ...fields } = raw;
  const lastRuntime = state.lastSuccessfulRun ?? dataflow.lastRuntime;
  return {
    ...fields,
    id: dataflow.id,
    status: 'published',
    version: typeof raw.version === 'number' ? raw.version : 1,
    ...times,
    ...(lastRuntime === undefined ? {} : { lastRuntime }),
  };
}

/** The `scheduling` rows of a dataflow's schedules. */
export function schedulingRows(dataflow: Dataflow, updateTime?: string): SchedulingRow[] {
  return dataflow.schedules.map((s) => ({
    ...s,
    id: scheduleIdOf(s),
    dataflowId: dataflow.id,
    schedulingStatus: 'ready',
    ...(updateTime === undefined ? {} : { updateTime }),
  }));
}

/** A scheduling as `idx.createScheduling` received it, checked, with the id the server gives it. */
export type NewScheduling = Schedule & Record<string, unknown> & { readonly id: string };

/**
 * Checks a new scheduling of a dataflow: the dataflow validates (only a valid dataflow runs), the scheduling
 * validates alone (so problems name `$.schedules[0]`). The client's id is a placeholder ("Will be generated upon
 * creation"): the scheduling gets `id`.
 */
export function checkedScheduling(
  dataflow: Dataflow,
  data: Record<string, unknown>,
  registry: ScriptRegistry,
  id: string,
  now: Date,
): NewScheduling {
  const invalid = validateDataflow(dataflow, registry).filter((p) => p.severity === 'error');
  if (invalid.length) throw validationError(`dataflow ${dataflow.id} is not valid`, invalid);
  const { id: _ignored, ...fields } = data;
  const schedule = {
    ...fields,
    name: typeof data.name === 'string' && data.name !== '' ? data.name : `api-${now.toISOString()}`,
    id,
  } as NewScheduling;
  const problems = validateSchedules({ ...dataflow, schedules: [schedule] }).filter((p) => p.severity === 'error');
  if (problems.length) throw validationError('the scheduling is not valid', problems);
  return schedule;
}

/** The execution input of a `once` scheduling's run. */
export function schedulingInput(schedule: NewScheduling): ExecutionInput {
  return {
    scheduleId: schedule.id,
    fullExtract: schedule.fullExtract === true,
    ...(typeof schedule.limit === 'number' ? { limit: schedule.limit } : {}),
    logLevel: schedule.logLevel ?? 'info',
  };
}
