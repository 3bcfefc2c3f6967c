/**
 * The console and the IDX REST API over a deployed stack: dataflows are the ones the stack deployed (bundled with
 * the console's function as JSON), jobs and state are the stack's tables, runs are Step Functions executions of
 * the dataflows' state machines (named after the job, the input built as `idx test --deployed` / `idx run` build
 * it), a schedule is enabled or disabled through its EventBridge rules or its EventBridge Scheduler schedule, and rejected records are read from the
 * stage bucket. Dataflows are not edited here: they change through the repository and `cdk deploy`.
 *
 * Every AWS failure becomes one coded error (see `deployedError`).
 */
import { randomBytes } from 'node:crypto';
import { DisableRuleCommand, EnableRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetScheduleCommand, type SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { type SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConsoleBackend, CreateRequest, RunRequest, TextValidation } from '../console/backend.ts';
import { runInput } from '../console/model.ts';
import { type DataflowEntry, StoreConsoleBackend } from '../console/store-backend.ts';
import { IdxError } from '../core/errors.ts';
import type { ExecutionInput } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { readDataflow } from '../dataflow/load.ts';
import { formatDate } from '../dataflow/placeholders.ts';
import { hasErrors } from '../dataflow/problems.ts';
import type { DataflowTemplate } from '../dataflow/templates.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { validateDataflow } from '../dataflow/validate.ts';
import { IdxApiError, type IdxData, type JobStatusRow, type SchedulingRow } from '../idx-api/data.ts';
import { checkedScheduling, dataflowRow, schedulingInput, schedulingRows } from '../idx-api/rows.ts';
import { DEFAULT_NAME_PREFIX, scheduleRuleName, stateMachineName } from '../infra/names.ts';
import { schedulePlan } from '../infra/schedule-expressions.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { JobStore } from '../stores/jobs.ts';
import { DataflowStateStore } from '../stores/state.ts';
import { deployedError } from './errors.ts';

/** A dataflow as the stack deployed it: the file it came from and its JSON. */
export interface DeployedDataflowFile {
  readonly file: string;
  readonly json: Record<string, unknown>;
}

/** The clients of the deployed services. */
export interface DeployedConsoleClients {
  readonly dynamo: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly events: EventBridgeClient;
  readonly scheduler: SchedulerClient;
}

/** Options of {@link DeployedConsoleBackend} and {@link DeployedIdxData}. */
export interface DeployedConsoleOptions {
  readonly dataflows: readonly DeployedDataflowFile[];
  readonly clients: DeployedConsoleClients;
  readonly tables: { readonly jobs: string; readonly state: string };
  /** The ARN of the stack's state machines up to their name: `arn:<partition>:states:<region>:<account>:stateMachine:`. */
  readonly stateMachineArnPrefix: string;
  /** The name prefix the stack was deployed with. @default 'identity-sync' */
  readonly prefix?: string;
  readonly registry?: ScriptRegistry;
  /** How long a started run waits for its job record before answering anyway. @default 10000 */
  readonly jobWaitMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Job status records `idx.search` sees: the newest ones. */
export const DEPLOYED_JOB_ROWS = 10_000;

/** Jobs a status-filtered page of the Jobs list reads at most from the deployed table. */
export const DEPLOYED_FILTERED_JOBS = 5000;

/** The deployed stack as the console and the IDX API use it: its dataflows, tables and state machines. */
class DeployedStack {
  readonly registry: ScriptRegistry;
  readonly entries: readonly (DataflowEntry & { readonly json: Record<string, unknown> })[];
  readonly jobs: JobStore;
  readonly state: DataflowStateStore;
  readonly #o: DeployedConsoleOptions;
  readonly #prefix: string;

  constructor(options: DeployedConsoleOptions) {
    this.#o = options;
    this.#prefix = options.prefix ?? DEFAULT_NAME_PREFIX;
    this.registry = options.registry ?? defaultRegistry();
    // Validated as at synth (the stack deployed only valid dataflows); validation never runs dataflow code.
    this.entries = options.dataflows.map(({ file, json }) => {
      const loaded = readDataflow(json, { file });
      const problems = [
        ...loaded.problems,
        ...(loaded.dataflow ? validateDataflow(loaded.dataflow, this.registry) : []),
      ];
      return {
        file,
        json,
        ...(loaded.dataflow ? { dataflow: loaded.dataflow } : {}),
        problems,
        valid: loaded.dataflow !== undefined && !hasErrors(problems),
      };
    });
    this.jobs = new JobStore(options.clients.dynamo, options.tables.jobs);
    this.state = new DataflowStateStore(options.clients.dynamo, options.tables.state);
  }

  /** A deployed dataflow that validates, or the coded error of one that does not. */
  runnable(entry: DataflowEntry): Dataflow {
    if (!entry.valid || !entry.dataflow)
      throw new IdxError('IDX_DATAFLOW_INVALID', `${entry.file} is not a valid dataflow; fix it and deploy again`, {
        file: entry.file,
      });
    return entry.dataflow;
  }

  /** Starts an execution named after a new job; resolves once the job record exists (or the wait is over). */
  async start(dataflowId: string, input: ExecutionInput): Promise<string> {
    const jobId = `console-${formatDate(new Date(), 'yyyyMMddHHmmss')}-${randomBytes(3).toString('hex')}`;
    const stateMachineArn = `${this.#o.stateMachineArnPrefix}${stateMachineName(dataflowId, this.#prefix)}`;
    await aws(() =>
      this.#o.clients.sfn.send(
        new StartExecutionCommand({ stateMachineArn, name: jobId, input: JSON.stringify(input) }),
      ),
    );
    const sleep = this.#o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const deadline = Date.now() + (this.#o.jobWaitMs ?? 10_000);
    while (Date.now() < deadline && !(await this.jobs.get(jobId))) await sleep(250);
    return jobId;
  }

  /** Stops a job's execution; the notification handler then records it as killed and releases its lock. */
  async stop(jobId: string): Promise<void> {
    const job = await aws(() => this.jobs.get(jobId));
    if (job?.status !== 'running')
      throw new IdxError('IDX_JOB_NOT_RUNNING', `job ${jobId} is not running`, {
        expected: 'a running job',
        received: job ? `a ${job.status} job` : 'no such job',
      });
    const executionArn = `${this.#o.stateMachineArnPrefix.replace(/:stateMachine:$/, ':execution:')}${stateMachineName(job.dataflowId, this.#prefix)}:${jobId}`;
    await aws(() =>
      this.#o.clients.sfn.send(new StopExecutionCommand({ executionArn, cause: 'stopped from the console' })),
    );
  }

  /**
   * Enables or disables a schedule: every EventBridge rule of it, or its EventBridge Scheduler schedule. A run at
   * deployment (a `once` schedule without a start time) has nothing to toggle: it started when the stack was
   * deployed and never runs again, so it answers a coded error.
   */
  async setScheduleEnabled(entry: DataflowEntry, name: string, enabled: boolean): Promise<void> {
    const dataflow = this.runnable(entry);
    const schedule = dataflow.schedules.find((s) => s.id === name || s.name === name);
    if (!schedule)
      throw new IdxError('IDX_SCHEDULE_NOT_FOUND', `dataflow "${dataflow.id}" has no schedule "${name}"`, {
        dataflowId: dataflow.id,
        param: 'schedules',
        expected: dataflow.schedules.map((s) => JSON.stringify(s.name)).join(', ') || 'a dataflow with schedules',
        received: JSON.stringify(name),
      });
    const plan = schedulePlan(schedule, new Date());
    if (plan.kind === 'at-deploy')
      throw new IdxError(
        'IDX_HTTP_NOT_FOUND',
        `schedule "${schedule.name}" ran once at deployment and has nothing to enable or disable; it changes through the repository and \`cdk deploy\``,
        {
          dataflowId: dataflow.id,
          expected: 'a recurring schedule, or a "once" schedule with a nextJobStartTime',
          received: 'a run at deployment',
        },
      );
    if (plan.kind === 'scheduler') {
      await this.#setSchedulerState(scheduleRuleName(dataflow.id, schedule.name, 0, this.#prefix), enabled);
      return;
    }
    for (let i = 0; i < plan.expressions.length; i++) {
      const Name = scheduleRuleName(dataflow.id, schedule.name, i, this.#prefix);
      await aws(() =>
        this.#o.clients.events.send(enabled ? new EnableRuleCommand({ Name }) : new DisableRuleCommand({ Name })),
      );
    }
  }

  /**
   * Scheduler has no enable/disable call: UpdateSchedule replaces the whole schedule, so the definition read by
   * GetSchedule goes back unchanged but for its State.
   */
  async #setSchedulerState(Name: string, enabled: boolean): Promise<void> {
    const scheduler = this.#o.clients.scheduler;
    const current = await aws(() => scheduler.send(new GetScheduleCommand({ Name, GroupName: 'default' })));
    if (!current.ScheduleExpression || !current.Target || !current.FlexibleTimeWindow)
      throw new IdxError('IDX_DEPLOYED_NOT_FOUND', `EventBridge Scheduler schedule "${Name}" has no definition`, {
        expected: 'a schedule with ScheduleExpression, FlexibleTimeWindow and Target',
        received: JSON.stringify(Object.keys(current).filter((k) => k !== '$metadata')),
      });
    // What GetSchedule tells about the schedule rather than defines it stays out.
    const { $metadata, Arn, CreationDate, LastModificationDate, State, ...definition } = current;
    await aws(() =>
      scheduler.send(
        new UpdateScheduleCommand({
          ...definition,
          Name,
          GroupName: current.GroupName ?? 'default',
          ScheduleExpression: current.ScheduleExpression,
          FlexibleTimeWindow: current.FlexibleTimeWindow,
          Target: current.Target,
          State: enabled ? 'ENABLED' : 'DISABLED',
        }),
      ),
    );
  }
}

/** Runs an AWS call, turning an SDK failure into a coded error. */
async function aws<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw deployedError(error);
  }
}

/** The error of a change a deployed console does not make. */
function deployedReadOnly(): IdxError {
  return new IdxError('IDX_HTTP_NOT_FOUND', 'dataflows change through the repository and `cdk deploy` here', {
    expected: 'a local console (`idx console`) to create or edit dataflows',
  });
}

/** The console's backend over a deployed stack. */
export class DeployedConsoleBackend extends StoreConsoleBackend implements ConsoleBackend {
  readonly editable = false;
  protected readonly registry: ScriptRegistry;
  protected readonly filteredJobsLimit = DEPLOYED_FILTERED_JOBS;
  protected readonly where = 'the deployed stack';
  readonly #stack: DeployedStack;
  readonly #s3: S3Client;

  constructor(options: DeployedConsoleOptions) {
    super();
    this.#stack = new DeployedStack(options);
    this.registry = this.#stack.registry;
    this.#s3 = options.clients.s3;
  }

  protected get jobs(): JobStore {
    return this.#stack.jobs;
  }

  protected get state(): DataflowStateStore {
    return this.#stack.state;
  }

  protected get s3(): S3Client {
    return this.#s3;
  }

  protected entries(): DataflowEntry[] {
    return [...this.#stack.entries];
  }

  protected rawJson(entry: DataflowEntry): unknown {
    return this.#stack.entries.find((e) => e.file === entry.file)?.json;
  }

  async startRun(dataflowId: string, request: RunRequest): Promise<{ jobId: string }> {
    this.#stack.runnable(this.find(dataflowId));
    return { jobId: await this.#stack.start(dataflowId, runInput(request)) };
  }

  stopJob(jobId: string): Promise<void> {
    return this.#stack.stop(jobId);
  }

  setScheduleEnabled(dataflowId: string, schedule: string, enabled: boolean): Promise<void> {
    return this.#stack.setScheduleEnabled(this.find(dataflowId), schedule, enabled);
  }

  async duplicateDataflow(): Promise<{ id: string }> {
    throw deployedReadOnly();
  }

  async listTemplates(): Promise<DataflowTemplate[]> {
    return [];
  }

  async createDataflow(_request: CreateRequest): Promise<{ id: string }> {
    throw deployedReadOnly();
  }

  async dataflowText(): Promise<string> {
    throw deployedReadOnly();
  }

  async validateText(): Promise<TextValidation> {
    throw deployedReadOnly();
  }

  async saveDataflow(): Promise<TextValidation> {
    throw deployedReadOnly();
  }

  async close(): Promise<void> {
    // Runs are executions of the state machines: they go on without the console.
  }
}

/** The IDX REST API's data over a deployed stack; it has no writer (dataflows change through `cdk deploy`). */
export class DeployedIdxData implements IdxData {
  readonly #stack: DeployedStack;

  constructor(options: DeployedConsoleOptions) {
    this.#stack = new DeployedStack(options);
  }

  async dataflows() {
    const rows = [];
    for (const e of this.#stack.entries)
      if (e.dataflow)
        rows.push(dataflowRow(e.json, e.dataflow, await aws(() => this.#stack.state.get(e.dataflow?.id as string))));
    return rows;
  }

  async schedulings(): Promise<SchedulingRow[]> {
    return this.#stack.entries.flatMap((e) => (e.dataflow ? schedulingRows(e.dataflow) : []));
  }

  async jobs(filter: { readonly dataflowId?: string } = {}): Promise<JobStatusRow[]> {
    const options = filter.dataflowId === undefined ? {} : { dataflowId: filter.dataflowId };
    const page = await aws(() => this.#stack.jobs.list({ ...options, limit: DEPLOYED_JOB_ROWS }));
    return page.jobs.map((j) => ({ ...j }));
  }

  /**
   * A `once` scheduling starting now runs the dataflow at once. A recurring one, or one starting later, is a
   * schedule of the dataflow file: it deploys with `cdk deploy`, so it is refused with 403007 saying so.
   */
  async createScheduling(data: Record<string, unknown>): Promise<SchedulingRow> {
    const dataflowId = data.dataflowId;
    if (typeof dataflowId !== 'string' || dataflowId === '')
      throw new IdxApiError(400002, 'data.dataflowId is required');
    const entry = this.#stack.entries.find((e) => e.dataflow?.id === dataflowId);
    if (!entry?.dataflow)
      throw new IdxApiError(404000, `no dataflow with id ${JSON.stringify(dataflowId.slice(0, 200))}`);
    const t = new Date();
    const schedule = checkedScheduling(entry.dataflow, data, this.#stack.registry, randomBytes(16).toString('hex'), t);
    const start = schedule.nextJobStartTime === undefined ? t : new Date(String(schedule.nextJobStartTime));
    if (schedule.frequencyType !== 'once' || start.getTime() > t.getTime() + 60_000)
      throw new IdxApiError(
        403007,
        'schedules of a deployed stack change through the repository and `cdk deploy`; only a `once` scheduling starting now runs here',
      );
    const jobId = await this.#stack.start(dataflowId, schedulingInput(schedule));
    return { ...schedule, dataflowId, jobId, createTime: t.toISOString(), updateTime: t.toISOString() };
  }
}
