/**
 * Compiles a dataflow into an Amazon States Language definition. A pure function of the dataflow and the
 * registry: the same input always gives the same definition, and tests assert it as data.
 *
 * Shape: `Job: prepare` (state skeleton) → `Job: start` (lock, delta window, job record) → the steps, level by
 * level (steps whose predecessors all ran; several independent steps of a level run in one Parallel state) →
 * (when a step defers work until success: `Job: check delivery` → its `After:` states) → `Job: complete` → success. Any failure is caught into `Job: record failure`, which decides whether the job runs
 * again: a transient failure of a non-test job with attempts left goes through `Job: backoff` (Wait) and
 * `Job: next attempt` back to the first level, where each level's `Resume:` Choice skips the steps whose results
 * are already in `$.r` and sends a looping step that stopped mid-way straight back to its Task, from its last
 * result; anything else ends in `Job: failed`. Every Task loops (Init → Task → Choice → Task) until its result
 * says `done`, in Parallel branches too: any step may need several invocations. Results live at `$.r.<key>.value` (or `$.r.<group>.<key>.value` after a Parallel); only references and
 * counters travel in the state.
 */

import { retryableErrorNames } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import type { AttemptPolicy } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { streamsFilesInto } from '../core/script.ts';
import { type Edge, incomingOf, levelsOf } from '../dataflow/graph.ts';
import { hasErrors } from '../dataflow/problems.ts';
import type { Dataflow, Step } from '../dataflow/types.ts';
import { validateDataflow } from '../dataflow/validate.ts';

/** An ASL state (kept loose: ASL is JSON). */
export type AslState = Record<string, unknown>;

/** An ASL definition. */
export interface AslDefinition {
  readonly Comment: string;
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
}

/** Options of {@link compile}. */
export interface CompileOptions {
  /** The step function's ARN, or a substitution placeholder. @default '${StepFunctionArn}' */
  readonly functionArn?: string;
  /** Compile even when some steps are IdentitySync types not implemented here (they fail when run). @default false */
  readonly allowNotImplemented?: boolean;
  /**
   * Fuse runs of steps into one Task: a step whose only successor has no other predecessor hands it its records
   * in memory (record steps), or streams each file it writes into it (see streamsFilesInto: a CSV into gzip, a
   * gunzip into a parser), instead of staging them.
   * @default true
   */
  readonly fuse?: boolean;
  /** Whole-execution timeout. @default 86400 (24 h) */
  readonly timeoutSeconds?: number;
  /**
   * How a job that failed on a transient cause runs again (an execution's input `maxAttempts` overrides the
   * number). @default {@link DEFAULT_ATTEMPT_POLICY}
   */
  readonly attempts?: Partial<AttemptPolicy>;
}

/** Three attempts, one minute before the second and two before the third, as IdentitySync retries failed jobs. */
export const DEFAULT_ATTEMPT_POLICY: AttemptPolicy = { maxAttempts: 3, backoffSeconds: 60 };

/** The placeholder substituted with the step function's ARN at deploy time. */
export const FUNCTION_ARN_PLACEHOLDER = '${StepFunctionArn}';

/**
 * Error names a Task retries, with backoff and jitter: those of the catalogue's codes that may be transient, and
 * Lambda's own transient failures.
 */
export const RETRYABLE_ERRORS = [
  ...retryableErrorNames(),
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** The Task timeout: Lambda's maximum duration. */
export const TASK_TIMEOUT_SECONDS = 900;

const RETRY = [
  {
    ErrorEquals: RETRYABLE_ERRORS,
    IntervalSeconds: 5,
    MaxAttempts: 4,
    BackoffRate: 2,
    MaxDelaySeconds: 120,
    JitterStrategy: 'FULL',
  },
];

/** The names of the job's own states (the local runner shortens the backoff by name). */
export const JOB_STATES = {
  prepare: 'Job: prepare',
  start: 'Job: start',
  check: 'Job: check delivery',
  complete: 'Job: complete',
  succeeded: 'Job: succeeded',
  fail: 'Job: record failure',
  retry: 'Job: retry?',
  backoff: 'Job: backoff',
  nextAttempt: 'Job: next attempt',
  failed: 'Job: failed',
} as const;
const S = JOB_STATES;

const CATCH = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: S.fail }];

/** Makes unique state names of at most 80 characters. */
class Names {
  readonly #used = new Set<string>(Object.values(S));
  take(wanted: string, key: string): string {
    let name = wanted.length <= 80 ? wanted : `${wanted.slice(0, 80 - key.length - 3)}… ${key}`;
    if (this.#used.has(name)) name = `${wanted.slice(0, 80 - key.length - 3)} #${key}`;
    this.#used.add(name);
    return name;
  }
}

/** One Task: a step that is not fused into its predecessor, with the steps fused after it. */
interface StepPlan {
  readonly step: Step;
  readonly key: string;
  /** Steps fused after this one (records handed on in memory). */
  readonly then: readonly { readonly step: Step; readonly key: string }[];
  /** A partitioned reader: its partitions are the iterations of a Map state, at most this many at once. */
  readonly maxConcurrency?: number;
}

/** The Tasks of a dataflow and the graph they form. */
interface TaskPlan {
  /** One plan per Task, by the id of its first step. */
  readonly plans: Map<string, StepPlan>;
  /** The graph of Tasks: each Task as a step whose edges are its members' edges to other Tasks. */
  readonly units: Step[];
  /** Each step's stable key (`s0`, `s1`, …): its index in the dataflow. */
  readonly keyOf: Map<string, string>;
  readonly incoming: Map<string, Edge[]>;
}

/** What building the states needs at every step. */
interface StateContext {
  readonly fn: string;
  readonly names: Names;
  readonly incoming: Map<string, Edge[]>;
  /** Where each step's result object is in the state after it ran. */
  readonly location: Map<string, string>;
  /** The Task state of each looping step, by step key: where a retried job resumes a step that stopped mid-way. */
  readonly loopTask: Map<string, string>;
}

/** Compiles a dataflow; throws `IDX_COMPILE_INVALID` listing the problems when the dataflow is not valid. */
export function compile(dataflow: Dataflow, registry: ScriptRegistry, options: CompileOptions = {}): AslDefinition {
  assertCompilable(dataflow, registry, options);
  const tasks = planTasks(dataflow, registry, options.fuse !== false);
  const ctx: StateContext = {
    fn: options.functionArn ?? FUNCTION_ARN_PLACEHOLDER,
    names: new Names(),
    incoming: tasks.incoming,
    location: new Map(),
    loopTask: new Map(),
  };
  const levels = levelsOf(tasks.units);
  locateResults(levels, tasks.plans, ctx.location);
  // States from the last level back, so each level knows the name of the state that follows it.
  const states: Record<string, AslState> = {};
  let next = afterJobStates(dataflow, registry, tasks.keyOf, ctx, states, S.complete);
  next = levelStates(levels, tasks.plans, ctx, states, next);
  jobStates(dataflow, ctx, states, next, { ...DEFAULT_ATTEMPT_POLICY, ...options.attempts });
  return {
    Comment: `identity-sync dataflow "${dataflow.name}" (${dataflow.id})`,
    StartAt: S.prepare,
    States: states,
    TimeoutSeconds: options.timeoutSeconds ?? 86_400,
  };
}

/** Throws `IDX_COMPILE_INVALID` with every error when the dataflow is not valid. */
function assertCompilable(dataflow: Dataflow, registry: ScriptRegistry, options: CompileOptions): void {
  const problems = validateDataflow(dataflow, registry).filter(
    (p) => !(options.allowNotImplemented && p.code === 'IDX_STEP_TYPE_NOT_IMPLEMENTED'),
  );
  if (!hasErrors(problems)) return;
  const errors = problems.filter((p) => p.severity === 'error');
  throw new IdxError(
    'IDX_COMPILE_INVALID',
    `dataflow "${dataflow.id}" has ${errors.length} problem(s): ${errors.map((p) => `${p.code} at ${p.path}`).join('; ')}`,
    {
      dataflowId: dataflow.id,
      ...(dataflow.file ? { file: dataflow.file } : {}),
      details: { problems: errors },
    },
  );
}

/**
 * Plans the Tasks: a step whose only successor has no other predecessor hands it its records in memory, or
 * streams each file it writes into it, in one Task (when `fuse`); every other step starts a Task of its own.
 */
function planTasks(dataflow: Dataflow, registry: ScriptRegistry, fuse: boolean): TaskPlan {
  const incoming = incomingOf(dataflow.steps);
  const keyOf = new Map(dataflow.steps.map((step, i) => [step.id, `s${i}`]));
  const byId = new Map(dataflow.steps.map((step) => [step.id, step]));
  /** The step a step hands its output to in memory, if it can. */
  const fusedNext = (step: Step): Step | undefined => {
    const to = fusedNextRaw(step);
    const target = to && registry.get(to.type);
    // A Task whose first member reads files continues one whole file at a time, so a record step that calls out
    // per record (a writer, a lookup: no lanes, as it is not a pure transform) would have to finish a whole file
    // within one invocation. It gets the records staged instead, and continues batch by batch.
    if (target && target.consumes === 'records' && target.lanes === undefined && readsWholeFiles(step))
      return undefined;
    return to;
  };
  /** Whether the Task `step` runs in begins with a step that consumes files (walking back through fusion). */
  const readsWholeFiles = (step: Step): boolean => {
    for (let at: Step | undefined = step, hops = 0; at && hops <= dataflow.steps.length; hops++) {
      if (registry.get(at.type)?.consumes === 'files') return true;
      const before = incoming.get(at.id);
      if (before?.length !== 1 || before[0]?.via === 'error') return false;
      const prev = byId.get(before[0]?.from as string);
      if (!prev || fusedNextRaw(prev) !== at) return false;
      at = prev;
    }
    return false;
  };
  /** The fusion rule without the whole-file check (used to walk back a chain). */
  const fusedNextRaw = (step: Step): Step | undefined => {
    if (!fuse || step.next.length !== 1) return undefined;
    const to = byId.get(step.next[0] as string);
    const from = registry.get(step.type);
    const target = to && registry.get(to.type);
    if (!to || !from || !target || incoming.get(to.id)?.length !== 1) return undefined;
    // A partitioned reader's partitions each stage their records: what follows reads them in partition order.
    if (from.partitioned?.(step.params) !== undefined) return undefined;
    const records = from.produces === 'records' && target.consumes === 'records';
    return records || streamsFilesInto(from, target) ? to : undefined;
  };
  const fusedInto = new Set<string>();
  for (const step of dataflow.steps) {
    const to = fusedNext(step);
    if (to) fusedInto.add(to.id);
  }
  const plans = new Map<string, StepPlan>();
  for (const step of dataflow.steps) {
    if (fusedInto.has(step.id)) continue;
    const then: { step: Step; key: string }[] = [];
    for (let to = fusedNext(step); to; to = fusedNext(to)) then.push({ step: to, key: keyOf.get(to.id) as string });
    const partitioned = registry.get(step.type)?.partitioned?.(step.params);
    plans.set(step.id, {
      step,
      key: keyOf.get(step.id) as string,
      then,
      ...(partitioned ? { maxConcurrency: partitioned.maxConcurrency } : {}),
    });
  }
  return { plans, units: taskGraph(plans), keyOf, incoming };
}

/** The graph of Tasks: a plan's edges are its members' edges to other plans. */
function taskGraph(plans: ReadonlyMap<string, StepPlan>): Step[] {
  /** The plan (Task) each step runs in. */
  const planOf = new Map<string, StepPlan>();
  for (const plan of plans.values())
    for (const s of [plan.step, ...plan.then.map((t) => t.step)]) planOf.set(s.id, plan);
  return [...plans.values()].map((plan) => {
    const members = [plan.step, ...plan.then.map((t) => t.step)];
    const outside = (ids: readonly string[]) =>
      [...new Set(ids.map((id) => planOf.get(id)?.step.id ?? id))].filter((id) => id !== plan.step.id);
    return {
      ...plan.step,
      next: outside(members.flatMap((m) => m.next)),
      error: outside(members.flatMap((m) => m.error)),
    };
  });
}

/**
 * Sets where each step's result is in the state: `$.r.<key>.value`, or `$.r.g<level>.<key>.value` after a
 * Parallel; a fused step's is in its Task's `chain`. A step's inputs name these, so they are known first.
 */
function locateResults(
  levels: readonly string[][],
  plans: ReadonlyMap<string, StepPlan>,
  location: Map<string, string>,
): void {
  levels.forEach((ids, li) => {
    for (const id of ids) {
      const plan = plans.get(id) as StepPlan;
      const at = ids.length === 1 ? `$.r.${plan.key}` : `$.r.g${li}.${plan.key}`;
      location.set(id, `${at}.value`);
      plan.then.forEach((t, j) => {
        location.set(t.step.id, `${at}.value.chain[${j}]`);
      });
    }
  });
}

/** A Task that invokes the step function with `payload`, with Lambda's timeout and the transient-error Retry. */
function invoke(fn: string, payload: Record<string, unknown>): AslState {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: { FunctionName: fn, Payload: payload },
    ResultSelector: { 'value.$': '$.Payload' },
    // Lambda's own ceiling; every step hands back a continuation well before it.
    TimeoutSeconds: TASK_TIMEOUT_SECONDS,
    Retry: RETRY,
  };
}

/**
 * The states of one Task, added to `target` (the top level or a Parallel branch); returns the name of its first
 * state. The Task loops (Init → Task → More → Task) until its result says `done`; in a branch, a last Pass hands
 * on only the result, as the branch's output.
 */
function stepStates(
  plan: StepPlan,
  ctx: StateContext,
  target: Record<string, AslState>,
  at: string,
  next: string | undefined,
  inBranch: boolean,
): string {
  // A reader is the dataflow's one entry, alone on the first level, so a Map is never in a Parallel branch.
  if (plan.maxConcurrency !== undefined && next !== undefined && !inBranch)
    return mapStates(plan, plan.maxConcurrency, ctx, target, at, next);
  const { step, key } = plan;
  const inputs: Record<string, string> = {};
  (ctx.incoming.get(step.id) ?? []).forEach((e, i) => {
    inputs[`i${i}.$`] = `${ctx.location.get(e.from)}.${e.via === 'error' ? 'rejected' : 'out'}`;
  });
  const payload: Record<string, unknown> = {
    action: 'step',
    'job.$': '$.job.value',
    step: { id: step.id, type: step.type, key, params: step.params },
    ...(plan.then.length
      ? { fused: plan.then.map((t) => ({ id: t.step.id, type: t.step.type, key: t.key, params: t.step.params })) }
      : {}),
    inputs,
  };
  const taskName = ctx.names.take(
    plan.then.length
      ? `Steps: ${[step, ...plan.then.map((t) => t.step)].map((x) => x.id).join(' → ')}`
      : `Step: ${step.id}`,
    key,
  );
  const init = ctx.names.take(`Init: ${step.id}`, key);
  const more = ctx.names.take(`More: ${step.id}`, key);
  target[init] = { Type: 'Pass', Result: { value: { iteration: 0 } }, ResultPath: at, Next: taskName };
  ctx.loopTask.set(key, taskName);
  target[taskName] = {
    ...invoke(ctx.fn, { ...payload, 'previous.$': `${at}.value` }),
    ResultPath: at,
    // A branch's failure reaches the Parallel state's Catch.
    ...(inBranch ? {} : { Catch: CATCH }),
    Next: more,
  };
  let after = next;
  if (inBranch) {
    after = ctx.names.take(`Done: ${step.id}`, key);
    target[after] = { Type: 'Pass', OutputPath: at, End: true };
  }
  target[more] = {
    Type: 'Choice',
    Choices: [{ Variable: `${at}.value.done`, BooleanEquals: false, Next: taskName }],
    ...(after === undefined ? {} : { Default: after }),
  };
  return init;
}

/**
 * The states of a partitioned reader, added to `target`; returns the name of the first. `Plan:` asks the step
 * function for the partitions (JSON items, in output order); `Map:` reads each in an iteration of its own, at most
 * `maxConcurrency` at once, each looping (Init → Task → More → Task) until its result says `done` and staging its
 * records under its own partition's keys; `Join:` makes the step's one result of theirs, in partition order, at
 * `at` as for any step. The plan's and the iterations' results pass through `at` too, so the state keeps no more
 * than the joined result.
 */
function mapStates(
  plan: StepPlan,
  maxConcurrency: number,
  ctx: StateContext,
  target: Record<string, AslState>,
  at: string,
  next: string,
): string {
  const { step, key } = plan;
  const spec = { id: step.id, type: step.type, key, params: step.params };
  const planName = ctx.names.take(`Plan: ${step.id}`, key);
  const mapName = ctx.names.take(`Map: ${step.id}`, key);
  const joinName = ctx.names.take(`Join: ${step.id}`, key);
  target[planName] = {
    ...invoke(ctx.fn, { action: 'partitions', 'job.$': '$.job.value', step: spec }),
    ResultPath: at,
    Catch: CATCH,
    Next: mapName,
  };
  // One iteration: the step's own loop over its partition; it hands on only what the join needs.
  const init = ctx.names.take(`Init: ${step.id} (partition)`, key);
  const task = ctx.names.take(`Step: ${step.id} (partition)`, key);
  const more = ctx.names.take(`More: ${step.id} (partition)`, key);
  const done = ctx.names.take(`Done: ${step.id} (partition)`, key);
  const result = `${at}.value`;
  const iteration: Record<string, AslState> = {
    [init]: { Type: 'Pass', Result: { value: { iteration: 0 } }, ResultPath: at, Next: task },
    [task]: {
      ...invoke(ctx.fn, {
        action: 'step',
        'job.$': '$.job.value',
        step: spec,
        inputs: {},
        'partition.$': '$.partition',
        'previous.$': result,
      }),
      ResultPath: at,
      Next: more,
    },
    [more]: {
      Type: 'Choice',
      Choices: [{ Variable: `${result}.done`, BooleanEquals: false, Next: task }],
      Default: done,
    },
    [done]: {
      Type: 'Pass',
      Parameters: {
        'stepId.$': `${result}.stepId`,
        'type.$': `${result}.type`,
        'out.$': `${result}.out`,
        'rejected.$': `${result}.rejected`,
        'counters.$': `${result}.counters`,
        'done.$': `${result}.done`,
        'iteration.$': `${result}.iteration`,
      },
      End: true,
    },
  };
  target[mapName] = {
    Type: 'Map',
    ItemsPath: `${result}.items`,
    ItemSelector: { 'job.$': '$.job', 'partition.$': '$$.Map.Item.Value', r: {} },
    MaxConcurrency: maxConcurrency,
    ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: init, States: iteration },
    ResultPath: at,
    Catch: CATCH,
    Next: joinName,
  };
  // No loop Task to resume into: a retried job that stopped before the join plans and reads the partitions again
  // (their staged keys are deterministic, so they are overwritten).
  target[joinName] = {
    ...invoke(ctx.fn, { action: 'join', 'job.$': '$.job.value', step: spec, 'results.$': at }),
    ResultPath: at,
    Catch: CATCH,
    Next: next,
  };
  return planName;
}

/**
 * The states of the work steps defer until the job succeeded (deleting the files a reader read), which run after
 * the last level, before `next`, behind `Job: check delivery`; returns the name of the first.
 */
function afterJobStates(
  dataflow: Dataflow,
  registry: ScriptRegistry,
  keyOf: ReadonlyMap<string, string>,
  ctx: StateContext,
  states: Record<string, AslState>,
  next: string,
): string {
  const deferring = dataflow.steps.filter((step) => registry.get(step.type)?.defers === true).reverse();
  for (const step of deferring) {
    const key = keyOf.get(step.id) as string;
    const name = ctx.names.take(`After: ${step.id}`, key);
    states[name] = {
      ...invoke(ctx.fn, {
        action: 'after',
        'job.$': '$.job.value',
        step: { id: step.id, type: step.type, key, params: step.params },
        'result.$': ctx.location.get(step.id),
      }),
      ResultPath: null,
      Catch: CATCH,
      Next: next,
    };
    next = name;
  }
  if (deferring.length === 0) return next;
  // A writer's shortfall must fail the job before any deferred work deletes or moves what was read.
  states[S.check] = {
    ...invoke(ctx.fn, { action: 'check', 'job.$': '$.job.value', 'results.$': '$.r' }),
    ResultPath: null,
    Catch: CATCH,
    Next: next,
  };
  return S.check;
}

/**
 * The states of the levels (steps whose predecessors all ran), from the last back to `next`: one Task, or a
 * Parallel state with a branch per Task when a level has several; returns the name of the first.
 */
function levelStates(
  levels: readonly string[][],
  plans: ReadonlyMap<string, StepPlan>,
  ctx: StateContext,
  states: Record<string, AslState>,
  next: string,
): string {
  for (let li = levels.length - 1; li >= 0; li--) {
    const group = (levels[li] as string[]).map((id) => plans.get(id) as StepPlan);
    if (group.length === 1) {
      const plan = group[0] as StepPlan;
      const after = next;
      const first = stepStates(plan, ctx, states, `$.r.${plan.key}`, next, false);
      next = ctx.names.take(`Resume: ${plan.step.id}`, plan.key);
      states[next] = resumeChoice(`$.r.${plan.key}.value.done`, after, ctx.loopTask.get(plan.key), first);
      continue;
    }
    const gkey = `g${li}`;
    const name = ctx.names.take(`Parallel: ${group.map((p) => p.step.id).join(', ')}`, gkey);
    const selector: Record<string, string> = {};
    group.forEach((plan, i) => {
      selector[`${plan.key}.$`] = `$[${i}]`;
    });
    states[name] = {
      Type: 'Parallel',
      Branches: group.map((plan) => {
        const branchStates: Record<string, AslState> = {};
        const start = stepStates(plan, ctx, branchStates, `$.r.${plan.key}`, undefined, true);
        return { StartAt: start, States: branchStates };
      }),
      ResultSelector: selector,
      ResultPath: `$.r.${gkey}`,
      Catch: CATCH,
      Next: next,
    };
    // A Parallel that failed keeps none of its branches' results, so a retried job runs the whole level again.
    const guard = ctx.names.take(`Resume: ${group.map((p) => p.step.id).join(', ')}`, gkey);
    states[guard] = {
      Type: 'Choice',
      Choices: [{ Variable: `$.r.${gkey}`, IsPresent: true, Next: next }],
      Default: name,
    };
    next = guard;
  }
  return next;
}

/**
 * The Choice in front of a level of one Task: straight on to `after` when an earlier attempt of the job finished
 * the Task (`done` true), back into a looping Task from its last result when an earlier attempt stopped it
 * mid-way (`done` false), otherwise into the Task's first state. On a job's first attempt nothing is in `$.r`.
 */
function resumeChoice(done: string, after: string, loopTask: string | undefined, first: string): AslState {
  const when = (value: boolean, next: string) => ({
    And: [
      { Variable: done, IsPresent: true },
      { Variable: done, BooleanEquals: value },
    ],
    Next: next,
  });
  return {
    Type: 'Choice',
    Choices: [when(true, after), ...(loopTask === undefined ? [] : [when(false, loopTask)])],
    Default: first,
  };
}

/**
 * The job's own states: prepare (the state skeleton), start (lock, delta window, job record) before `first`,
 * complete and succeed after the steps, and the failure path every Catch leads to.
 */
function jobStates(
  dataflow: Dataflow,
  ctx: StateContext,
  states: Record<string, AslState>,
  first: string,
  attempts: AttemptPolicy,
): void {
  states[S.prepare] = {
    Type: 'Pass',
    Parameters: { 'input.$': '$', job: { value: null }, r: {} },
    Next: S.start,
  };
  states[S.start] = {
    ...invoke(ctx.fn, {
      action: 'start',
      dataflow: {
        id: dataflow.id,
        name: dataflow.name,
        ...(dataflow.apiKey === undefined ? {} : { apiKey: dataflow.apiKey }),
        ...(dataflow.lastRuntime === undefined ? {} : { lastRuntime: dataflow.lastRuntime }),
        schedules: dataflow.schedules.map((s) => ({
          name: s.name,
          ...(typeof s.id === 'string' ? { id: s.id } : {}),
          frequencyType: s.frequencyType,
          ...(s.frequencyInterval === undefined ? {} : { frequencyInterval: s.frequencyInterval }),
        })),
      },
      'input.$': '$.input',
      'execution.$': '$$.Execution',
    }),
    ResultPath: '$.job',
    Catch: CATCH,
    Next: first,
  };
  states[S.complete] = {
    ...invoke(ctx.fn, { action: 'complete', 'job.$': '$.job.value', 'results.$': '$.r' }),
    ResultPath: '$.outcome',
    Catch: CATCH,
    Next: S.succeeded,
  };
  states[S.succeeded] = { Type: 'Succeed' };
  states[S.fail] = {
    ...invoke(ctx.fn, {
      action: 'fail',
      'job.$': '$.job.value',
      dataflow: { id: dataflow.id, name: dataflow.name },
      'input.$': '$.input',
      'execution.$': '$$.Execution',
      'error.$': '$.error',
      retry: attempts,
    }),
    ResultPath: '$.failure',
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failureRecording', Next: S.failed }],
    Next: S.retry,
  };
  // The failure action decided (see failJob): a retried job keeps its id, window, lock and staged results.
  states[S.retry] = {
    Type: 'Choice',
    Choices: [{ Variable: '$.failure.value.retry', BooleanEquals: true, Next: S.backoff }],
    Default: S.failed,
  };
  states[S.backoff] = { Type: 'Wait', SecondsPath: '$.failure.value.waitSeconds', Next: S.nextAttempt };
  states[S.nextAttempt] = {
    Type: 'Pass',
    InputPath: '$.failure.value.job',
    ResultPath: '$.job.value',
    Next: first,
  };
  states[S.failed] = { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' };
}

/** The names of every Task state in a definition, including inside Parallel branches. */
export function taskStateNames(definition: { States: Record<string, AslState> }): string[] {
  const out: string[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Task') out.push(name);
    if (state.Type === 'Parallel') {
      for (const b of state.Branches as { States: Record<string, AslState> }[]) out.push(...taskStateNames(b));
    }
    if (state.Type === 'Map') out.push(...taskStateNames(state.ItemProcessor as { States: Record<string, AslState> }));
  }
  return out;
}
