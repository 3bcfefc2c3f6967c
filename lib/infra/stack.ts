/**
 * The identity-sync stack: the stage bucket and the tables, the notification handler, and for every dataflow its
 * step function, state machine, schedules and notifications, grouped under a construct whose id derives from
 * the dataflow id (adding, removing or reordering dataflow files never renames another dataflow's resources).
 */
import { CfnOutput, type Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AttemptPolicy } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { AlarmTopicKey } from './alarm-key.ts';
import { DataflowAlarms } from './alarms.ts';
import { ConsoleFunction } from './console.ts';
import { DataflowStateMachine } from './dataflow-state-machine.ts';
import { DEFAULT_NAME_PREFIX, dataflowConstructId, stateMachineName } from './names.ts';
import { DataflowNotifications, NotifyFunction } from './notifications.ts';
import { DataflowSchedules } from './schedules.ts';
import { StageBucket } from './stage-bucket.ts';
import { DEFAULT_SECRET_PREFIX, StepFunction, type StepFunctionSettings } from './step-function.ts';
import { Tables } from './tables.ts';

/** Props of {@link IdentitySyncStack}. */
export interface IdentitySyncStackProps extends StackProps {
  /** The validated dataflows to deploy (see lib/infra/load.ts). */
  readonly dataflows: readonly Dataflow[];
  /**
   * The script registry the dataflows compile against.
   * @default defaultRegistry()
   */
  readonly registry?: ScriptRegistry;
  /**
   * Prefix of the named resources: state machines `<prefix>-<dataflow id>`, the jobs table `<prefix>-jobs`.
   * Deploying twice into one account and region needs two prefixes.
   * @default 'identity-sync'
   */
  readonly namePrefix?: string;
  /**
   * Prefix of secret names in Secrets Manager: `${secret:NAME}` reads `<prefix>NAME`.
   * @default 'identity-sync/'
   */
  readonly secretPrefix?: string;
  /**
   * How long staged objects are kept.
   * @default Duration.days(7)
   */
  readonly stageExpiration?: Duration;
  /**
   * How long function and execution logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Step function settings of every dataflow.
   * @default 1024 MB, 15 minutes
   */
  readonly functionDefaults?: StepFunctionSettings;
  /**
   * Step function settings per dataflow id, over {@link functionDefaults}.
   * @default no overrides
   */
  readonly functionSettings?: Readonly<Record<string, StepFunctionSettings>>;
  /**
   * How a job that failed on a transient cause runs again, for every dataflow.
   * @default 3 attempts, 60 s before the second, doubling (see DEFAULT_ATTEMPT_POLICY)
   */
  readonly attempts?: Partial<AttemptPolicy>;
  /**
   * What happens to the tables and the stage bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /**
   * Each dataflow's alarm on rejected records goes off when a job rejects more than this share of the records it
   * read, in percent (0–100). Its alarms on failed and timed-out executions have no setting.
   * @default 5
   */
  readonly rejectedRecordsAlarmPercent?: number;
  /**
   * Whether the stack deploys the web console and the IDX REST API (an IAM-authenticated function URL; see
   * docs/console.md).
   * @default true
   */
  readonly console?: boolean;
  /**
   * Origins besides the console's own from which its actions may be posted (the signing proxy operators use).
   * @default ['http://localhost:8080']
   */
  readonly consoleAllowedOrigins?: readonly string[];
  /**
   * The time schedules are checked against (a `once` schedule in the past gets a warning).
   * @default new Date()
   */
  readonly now?: Date;
}

/** The resources of one deployed dataflow. */
export interface DeployedDataflow {
  readonly dataflow: Dataflow;
  readonly stepFunction: StepFunction;
  readonly stateMachine: DataflowStateMachine;
  readonly schedules: DataflowSchedules;
  readonly notifications: DataflowNotifications;
  readonly alarms: DataflowAlarms;
}

/** Every dataflow of a deployment, with the shared resources they use. */
export class IdentitySyncStack extends Stack {
  readonly stage: StageBucket;
  readonly tables: Tables;
  readonly notifier: NotifyFunction;
  /** By dataflow id. */
  readonly deployed: ReadonlyMap<string, DeployedDataflow>;
  /** The web console and the IDX REST API, unless `console` is false. */
  readonly console?: ConsoleFunction;

  constructor(scope: Construct, id: string, props: IdentitySyncStackProps) {
    super(scope, id, {
      description: 'identity-sync: IdentitySync dataflows as Step Functions state machines',
      ...props,
    });
    const registry = props.registry ?? defaultRegistry();
    const prefix = props.namePrefix ?? DEFAULT_NAME_PREFIX;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    const ids = new Set(props.dataflows.map((d) => d.id));
    for (const key of Object.keys(props.functionSettings ?? {})) {
      if (!ids.has(key)) throw new Error(`function settings name dataflow "${key}", which is not deployed`);
    }

    this.stage = new StageBucket(this, 'Stage', {
      ...(props.stageExpiration ? { expiration: props.stageExpiration } : {}),
      removalPolicy,
    });
    this.tables = new Tables(this, 'Tables', { namePrefix: prefix, removalPolicy });
    this.notifier = new NotifyFunction(this, 'Notify', { tables: this.tables, logRetention });
    const alarmKey = new AlarmTopicKey(this, 'AlarmKey');

    const deployed = new Map<string, DeployedDataflow>();
    for (const dataflow of props.dataflows) {
      const group = new Construct(this, dataflowConstructId(dataflow.id));
      const stepFunction = new StepFunction(group, 'Step', {
        dataflow,
        registry,
        stageBucket: this.stage.bucket,
        tables: this.tables,
        secretPrefix: props.secretPrefix ?? DEFAULT_SECRET_PREFIX,
        logRetention,
        ...props.functionDefaults,
        ...props.functionSettings?.[dataflow.id],
      });
      const stateMachine = new DataflowStateMachine(group, 'Machine', {
        dataflow,
        registry,
        stepFunction: stepFunction.function,
        stateMachineName: stateMachineName(dataflow.id, prefix),
        logRetention,
        ...(props.attempts ? { attempts: props.attempts } : {}),
      });
      const schedules = new DataflowSchedules(group, 'Schedules', {
        dataflow,
        stateMachine: stateMachine.stateMachine,
        namePrefix: prefix,
        ...(props.now ? { now: props.now } : {}),
      });
      const notifications = new DataflowNotifications(group, 'Notifications', {
        dataflow,
        stateMachine: stateMachine.stateMachine,
        notifier: this.notifier,
        failureTopicKey: alarmKey,
      });
      const alarms = new DataflowAlarms(group, 'Alarms', {
        dataflowId: dataflow.id,
        stateMachine: stateMachine.stateMachine,
        topic: notifications.failureTopic,
        ...(props.rejectedRecordsAlarmPercent === undefined
          ? {}
          : { rejectedPercent: props.rejectedRecordsAlarmPercent }),
      });
      deployed.set(dataflow.id, { dataflow, stepFunction, stateMachine, schedules, notifications, alarms });
    }
    this.deployed = deployed;
    if (props.console !== false)
      this.console = new ConsoleFunction(this, 'Console', {
        dataflows: [...deployed.values()].map((d) => ({
          dataflow: d.dataflow,
          stateMachine: d.stateMachine.stateMachine,
          ...(d.schedules.schedulerRole ? { schedulerRole: d.schedules.schedulerRole } : {}),
        })),
        tables: this.tables,
        stageBucket: this.stage.bucket,
        ...(this.stage.accessLogsBucket ? { accessLogsBucket: this.stage.accessLogsBucket } : {}),
        namePrefix: prefix,
        logRetention,
        ...(props.consoleAllowedOrigins ? { allowedOrigins: props.consoleAllowedOrigins } : {}),
        ...(props.now ? { now: props.now } : {}),
      });

    new CfnOutput(this, 'JobsTableName', { value: this.tables.jobs.tableName, description: 'The jobs table' });
    new CfnOutput(this, 'StageBucketName', { value: this.stage.bucket.bucketName, description: 'The stage bucket' });
  }
}
