/**
 * The step function of one dataflow: the Lambda every Task of that dataflow's state machine invokes, with a role
 * that reaches only that dataflow's stage prefix, its own state items, the shared jobs and UID-map tables, the
 * secrets its steps read, and the S3 locations its steps use with the execution role, as their scripts declare them.
 */
import { Annotations, type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IRole, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV } from '../core/env.ts';
import { dataflowPrefix } from '../core/keys.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { dataflowAccess, unresolvedWarning } from './access.ts';
import { BUNDLING, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LAMBDA_RUNTIME_REASON, LAMBDA_TRACING } from './bundling.ts';
import { grantS3Access, grantSecrets, grantStagePrefix, grantTableItems } from './grants.ts';
import { LANE_WORKER_FILE } from './lane-worker-build.ts';
import { acknowledge } from './nag.ts';
import type { Tables } from './tables.ts';

/** The secret name prefix: `${secret:NAME}` reads the Secrets Manager secret `<prefix>NAME`. */
export const DEFAULT_SECRET_PREFIX = 'identity-sync/';

/** Where the step handler is, from the project root (the CDK app runs there). */
export const STEP_ENTRY = 'lambdas/step.ts';

/** Lambda's limits for the settings a dataflow may change. */
const MEMORY_MB = { min: 128, max: 10_240 };
const TIMEOUT_S = { min: 60, max: 900 };

/** Settings of a dataflow's function that ops may change per dataflow. */
export interface StepFunctionSettings {
  /**
   * Memory in MB (CPU grows with it). Parsing and formatting large files is CPU-bound.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * The Lambda timeout. Continuable readers hand back a continuation well before it; other steps must finish
   * within it.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
}

/** Props of {@link StepFunction}. */
export interface StepFunctionProps extends StepFunctionSettings {
  readonly dataflow: Dataflow;
  /** The script registry the dataflow runs with: each step's script declares what its role must reach. */
  readonly registry: ScriptRegistry;
  readonly stageBucket: IBucket;
  readonly tables: Tables;
  /**
   * The prefix of secret names in Secrets Manager.
   * @default 'identity-sync/'
   */
  readonly secretPrefix?: string;
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Overlap subtracted from the extraction start when the watermark moves (search results lag writes).
   * @default Duration.minutes(5)
   */
  readonly watermarkOverlap?: Duration;
  /**
   * How long a run lock holds before another run may take it over (a crashed run).
   * @default Duration.hours(6)
   */
  readonly lockTtl?: Duration;
}

/** Lanes a step function of this memory size runs: one per full vCPU Lambda gives it (at most 6). */
export function lanesFor(memorySize: number): number {
  return Math.max(1, Math.min(6, Math.floor(memorySize / 1769)));
}

/** One dataflow's step function and its role. */
export class StepFunction extends Construct {
  readonly function: IFunction;
  readonly role: IRole;
  /** The secrets the role may read (names without the prefix). */
  readonly secretNames: readonly string[];

  constructor(scope: Construct, id: string, props: StepFunctionProps) {
    super(scope, id);
    const { dataflow, stageBucket, tables } = props;
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.minutes(15);
    if (!Number.isInteger(memorySize) || memorySize < MEMORY_MB.min || memorySize > MEMORY_MB.max) {
      throw new Error(
        `dataflow "${dataflow.id}": memorySize must be ${MEMORY_MB.min}–${MEMORY_MB.max} MB, got ${memorySize}`,
      );
    }
    if (timeout.toSeconds() < TIMEOUT_S.min || timeout.toSeconds() > TIMEOUT_S.max) {
      throw new Error(
        `dataflow "${dataflow.id}": timeout must be ${TIMEOUT_S.min}–${TIMEOUT_S.max} s, got ${timeout.toSeconds()} s`,
      );
    }
    const secretPrefix = props.secretPrefix ?? DEFAULT_SECRET_PREFIX;
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of the managed basic-execution policy: logs go to this function's group only.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `identity-sync step function of dataflow ${dataflow.id}`.slice(0, 1000),
    });
    logGroup.grantWrite(role);
    this.role = role;
    this.function = new NodejsFunction(this, 'Function', {
      entry: STEP_ENTRY,
      handler: 'handler',
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      tracing: LAMBDA_TRACING,
      memorySize,
      timeout,
      role,
      logGroup,
      description: `identity-sync: steps of dataflow "${dataflow.name}" (${dataflow.id})`.slice(0, 256),
      bundling: {
        ...BUNDLING,
        // The lane worker goes into the package beside the handler, so large steps can use every vCPU.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => [`node "${inputDir}/bin/build-lane-worker.js" "${outputDir}"`],
        },
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.dataflowId.name]: dataflow.id,
        // Lambda gives one vCPU per 1,769 MB of memory; below two there is nothing to run lanes on.
        [ENV.lanes.name]: String(lanesFor(memorySize)),
        [ENV.laneWorker.name]: `/var/task/${LANE_WORKER_FILE}`,
        [ENV.stageBucket.name]: stageBucket.bucketName,
        [ENV.jobsTable.name]: tables.jobs.tableName,
        [ENV.stateTable.name]: tables.state.tableName,
        [ENV.uidMapTable.name]: tables.uidMap.tableName,
        [ENV.secretPrefix.name]: secretPrefix,
        [ENV.watermarkOverlapMs.name]: String((props.watermarkOverlap ?? Duration.minutes(5)).toMilliseconds()),
        [ENV.lockTtlMs.name]: String((props.lockTtl ?? Duration.hours(6)).toMilliseconds()),
      },
    });

    const stagePrefix = dataflowPrefix(dataflow.id);
    grantStagePrefix(stageBucket, role, stagePrefix);
    grantTableItems(tables.jobs, role, ['GetItem', 'PutItem', 'UpdateItem']);
    grantTableItems(
      tables.state,
      role,
      ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
      [dataflow.id],
    );
    grantTableItems(tables.uidMap, role, [
      'GetItem',
      'BatchGetItem',
      'PutItem',
      'UpdateItem',
      'DeleteItem',
      'BatchWriteItem',
    ]);
    const access = dataflowAccess(dataflow, props.registry);
    this.secretNames = access.secrets;
    grantSecrets(role, this.secretNames, secretPrefix);
    grantS3Access(role, access.s3);
    for (const u of access.unresolved) {
      const warning = unresolvedWarning(dataflow.id, u);
      Annotations.of(this).addWarningV2(warning.id, warning.message);
    }

    acknowledge(role, 'X-Ray trace segments have no resource-level permissions.', ['AwsSolutions-IAM5[Resource::*]']);
    const bucketId = Stack.of(this).getLogicalId(stageBucket.node.defaultChild as CfnElement);
    acknowledge(
      role,
      "Objects are granted by key prefix: this dataflow's own stage prefix, and the S3 folders its steps name.",
      [
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${stagePrefix}*]`,
        ...access.s3.map((a) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${a.bucket}/${a.prefix}*]`),
      ],
    );
    acknowledge(this.function, LAMBDA_RUNTIME_REASON, ['AwsSolutions-L1']);
  }
}
