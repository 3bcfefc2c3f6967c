/**
 * The CLI against a deployed stack: `idx test <dataflow> --deployed` starts a test execution (`{"test": true}`,
 * 10 records, watermark untouched) of the dataflow's state machine, waits for it and prints the job record;
 * `idx jobs --deployed` lists job records from the jobs table. Names come from lib/infra/names.ts, so nothing
 * is looked up but the state machine's ARN. Credentials and region are the AWS SDK's usual ones.
 */

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';
import { formatDate } from '../dataflow/placeholders.ts';
import { deployedError } from '../deployed/errors.ts';
import { DEFAULT_NAME_PREFIX, jobsTableName, stateMachineName } from '../infra/names.ts';
import { type JobListOptions, type JobPage, type JobRecord, JobStore } from '../stores/jobs.ts';
import { dataflowIdOf, EXIT, usage } from './dataflow-commands.ts';
import type { Flags } from './help.ts';
import { JOBS_LIST_FLAGS, jobListOptions, noJob, printJobs, reindexed } from './jobs.ts';
import { jobSummary } from './summary.ts';

/** The clients the deployed commands use (tests pass mocked ones). */
export interface DeployedClients {
  readonly sfn: SFNClient;
  readonly dynamo: DynamoDBDocumentClient;
}

/** Where the deployment is: the name prefix it was deployed with, or explicit names. */
export interface DeploymentNames {
  /** @default 'identity-sync' */
  readonly prefix?: string;
  /** @default `<prefix>-jobs` */
  readonly jobsTable?: string;
}

/** A fresh test job id (the execution name): sortable, unique, at most 80 characters. */
export function testJobId(now = new Date()): string {
  return `test-${formatDate(now, 'yyyyMMddHHmmss')}-${randomBytes(3).toString('hex')}`;
}

/** The ARN of the state machine named `name`; `IDX_DEPLOYED_NOT_FOUND` when the account has none. */
export async function findStateMachineArn(sfn: SFNClient, name: string): Promise<string> {
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand(nextToken ? { nextToken } : {}));
    const hit = page.stateMachines?.find((m) => m.name === name);
    if (hit?.stateMachineArn) return hit.stateMachineArn;
    nextToken = page.nextToken;
  } while (nextToken);
  throw new IdxError('IDX_DEPLOYED_NOT_FOUND', `no state machine named ${name} in this account and region`, {
    expected: `a deployed state machine ${name} (npx cdk deploy; check AWS_REGION and --prefix)`,
    received: 'none',
  });
}

/** Options of {@link runDeployedTest}. */
export interface DeployedTestOptions extends DeploymentNames {
  readonly dataflowId: string;
  /** @default a new {@link testJobId} */
  readonly jobId?: string;
  /** A dry test run (`{"test": true, "dryRun": true}`): 10 records read, nothing written. */
  readonly dryRun?: boolean;
  /** Pause between DescribeExecution calls. @default 2000 */
  readonly pollMs?: number;
  /** Give up waiting (the execution goes on). @default 30 minutes */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onStatus?: (status: ExecutionStatus | string) => void;
}

/** The outcome of a deployed test run. */
export interface DeployedTestResult {
  readonly jobId: string;
  readonly executionArn: string;
  readonly status: string;
  /** The job record, when the jobs table has one. */
  readonly job?: JobRecord;
  readonly error?: string;
  readonly cause?: string;
}

/** Starts a test execution of a deployed dataflow, waits until it ends and reads its job record. */
export async function runDeployedTest(
  clients: DeployedClients,
  options: DeployedTestOptions,
): Promise<DeployedTestResult> {
  const prefix = options.prefix ?? DEFAULT_NAME_PREFIX;
  const stateMachineArn = await findStateMachineArn(clients.sfn, stateMachineName(options.dataflowId, prefix));
  const jobId = options.jobId ?? testJobId();
  const started = await clients.sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name: jobId,
      input: JSON.stringify({ test: true, ...(options.dryRun ? { dryRun: true } : {}) }),
    }),
  );
  const executionArn = started.executionArn as string;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const d = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const status = d.status ?? 'RUNNING';
    options.onStatus?.(status);
    if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') {
      const job = await new JobStore(clients.dynamo, options.jobsTable ?? jobsTableName(prefix)).get(jobId);
      return {
        jobId,
        executionArn,
        status,
        ...(job ? { job } : {}),
        ...(d.error ? { error: d.error } : {}),
        ...(d.cause ? { cause: d.cause } : {}),
      };
    }
    if (Date.now() >= deadline) {
      throw new IdxError('IDX_DEPLOYED_TIMEOUT', `test execution ${jobId} is still running; stopped waiting`, {
        expected: 'the execution to end in time',
        received: `status ${status} (follow it in the Step Functions console: ${executionArn})`,
      });
    }
    await sleep(options.pollMs ?? 2000);
  }
}

/** The jobs table of a deployment. */
function deployedJobs(dynamo: DynamoDBDocumentClient, names: DeploymentNames): JobStore {
  return new JobStore(dynamo, names.jobsTable ?? jobsTableName(names.prefix ?? DEFAULT_NAME_PREFIX));
}

/** A page of the job records of a deployment, newest first. */
export function listDeployedJobs(
  dynamo: DynamoDBDocumentClient,
  options: DeploymentNames & JobListOptions,
): Promise<JobPage> {
  const { prefix: _prefix, jobsTable: _jobsTable, ...list } = options;
  return deployedJobs(dynamo, options).list(list);
}

/** Real clients for a region (or the SDK's default region). */
export function deployedClients(region?: string): DeployedClients {
  const config = region ? { region } : {};
  return {
    sfn: new SFNClient(config),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(config), {
      marshallOptions: { removeUndefinedValues: true },
    }),
  };
}

/** Runs a deployed command, turning any SDK failure into one coded line (see {@link deployedError}). */
async function asDeployed<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw deployedError(error);
  }
}

/** Flags every command against the deployed stack takes. */
export const DEPLOYED_FLAGS = {
  deployed: { type: 'boolean', description: 'work on the deployed stack in AWS instead of the local services' },
  prefix: {
    type: 'string',
    value: 'P',
    description: 'deployed: the name prefix the stack was deployed with (default identity-sync)',
  },
  'jobs-table': { type: 'string', value: 'T', description: 'deployed: the jobs table (default <prefix>-jobs)' },
  region: { type: 'string', value: 'R', description: 'deployed: the AWS region (default AWS_REGION or your profile)' },
  json: { type: 'boolean', description: 'print the job record(s) as JSON' },
} as const satisfies Flags;

/** Flags of `idx test --deployed`. */
export const TEST_DEPLOYED_FLAGS = {
  ...DEPLOYED_FLAGS,
  timeout: { type: 'string', value: 'S', description: 'deployed: stop waiting after S seconds (default 1800)' },
  'dry-run': {
    type: 'boolean',
    description: 'a dry test run: nothing is written, each writer reports what it would write',
  },
} as const satisfies Flags;

/** Flags of `idx jobs --deployed`. */
export const JOBS_DEPLOYED_FLAGS = { ...DEPLOYED_FLAGS, ...JOBS_LIST_FLAGS } as const satisfies Flags;

/** `idx test <dataflow file|id> --deployed [--prefix P] [--jobs-table T] [--region R] [--json]` */
export async function testDeployedCommand(args: string[], clients?: DeployedClients): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: TEST_DEPLOYED_FLAGS,
  });
  const target = positionals[0];
  if (!target) throw usage('idx test <dataflow file or id> --deployed [--prefix P] [--region R] [--json]');
  const dataflowId = dataflowIdOf(target);
  const c = clients ?? deployedClients(values.region);
  process.stderr.write(`starting a ${values['dry-run'] ? 'dry ' : ''}test run (10 records) of ${dataflowId}\n`);
  let last = '';
  const result = await asDeployed(() =>
    runDeployedTest(c, {
      dataflowId,
      ...(values.prefix ? { prefix: values.prefix } : {}),
      ...(values['jobs-table'] ? { jobsTable: values['jobs-table'] } : {}),
      ...(values.timeout ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
      onStatus: (s) => {
        if (s !== last) process.stderr.write(`execution ${s.toLowerCase()}\n`);
        last = s;
      },
    }),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result.job ?? result, null, 2)}\n`);
  } else {
    const error = {
      ...(result.error ? { Error: result.error } : {}),
      ...(result.cause ? { Cause: result.cause } : {}),
    };
    process.stdout.write(
      `${jobSummary(result.job, {
        jobId: result.jobId,
        status: result.status === 'SUCCEEDED' ? 'succeeded' : 'failed',
        ...(result.error || result.cause ? { error } : {}),
      })}\nexecution: ${result.executionArn}\n`,
    );
  }
  return result.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
}

/** `idx jobs --deployed [--dataflow ID] [--limit N] [--json]` and `idx jobs show <jobId> --deployed` */
export async function jobsDeployedCommand(args: string[], clients?: DeployedClients): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: JOBS_DEPLOYED_FLAGS,
  });
  const names = {
    ...(values.prefix ? { prefix: values.prefix } : {}),
    ...(values['jobs-table'] ? { jobsTable: values['jobs-table'] } : {}),
  };
  const c = clients ?? deployedClients(values.region);
  if (positionals[0] === 'show') {
    const id = positionals[1];
    if (!id) throw usage('idx jobs show <jobId> --deployed [--json]');
    const job = await asDeployed(() => new JobStore(c.dynamo, names.jobsTable ?? jobsTableName(names.prefix)).get(id));
    if (!job) throw noJob(id);
    process.stdout.write(
      values.json
        ? `${JSON.stringify(job, null, 2)}\n`
        : `${jobSummary(job, { jobId: job.id, status: job.status === 'succeeded' ? 'succeeded' : 'failed' })}\n\ntrace:\n${job.trace.join('\n')}\n`,
    );
    return EXIT.ok;
  }
  if (positionals[0] === 'reindex') {
    process.stdout.write(reindexed(await asDeployed(() => deployedJobs(c.dynamo, names).backfillListKeys())));
    return EXIT.ok;
  }
  const options = jobListOptions(values);
  printJobs(await asDeployed(() => listDeployedJobs(c.dynamo, { ...names, ...options })), values.json === true);
  return EXIT.ok;
}
