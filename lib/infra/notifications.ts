/**
 * Job finalization and email notifications. One handler serves every dataflow; each dataflow has a rule on its
 * state machine's terminal status changes and two SNS topics (success, failure). Email subscriptions come from
 * the schedules' `successEmailNotification` / `failureEmailNotification` and filter on the `scheduleId` message
 * attribute, so recipients hear about their schedule's runs only (see lib/engine/finalize.ts).
 */
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, type RuleTargetInputProperties } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IRole, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, type IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ITopic, SubscriptionFilter, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../core/env.ts';
import type { Dataflow, Schedule } from '../dataflow/types.ts';
import type { AlarmTopicKey } from './alarm-key.ts';
import { BUNDLING, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LAMBDA_RUNTIME_REASON, LAMBDA_TRACING } from './bundling.ts';
import { grantTableItems } from './grants.ts';
import { acknowledge } from './nag.ts';
import { emailList, scheduleIdOf } from './schedule-expressions.ts';
import type { Tables } from './tables.ts';

/** Where the notification handler is, from the project root. */
export const NOTIFY_ENTRY = 'lambdas/notify.ts';

/** The execution statuses that end a job. */
export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/** Props of {@link NotifyFunction}. */
export interface NotifyFunctionProps {
  readonly tables: Tables;
  /**
   * How long the handler's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/** The shared handler that finalizes job records and publishes notifications. */
export class NotifyFunction extends Construct {
  readonly function: IFunction;
  readonly role: IRole;

  constructor(scope: Construct, id: string, props: NotifyFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'identity-sync job finalization and notifications',
    });
    logGroup.grantWrite(role);
    this.role = role;
    this.function = new NodejsFunction(this, 'Function', {
      entry: NOTIFY_ENTRY,
      handler: 'handler',
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      tracing: LAMBDA_TRACING,
      memorySize: 256,
      timeout: Duration.seconds(30),
      role,
      logGroup,
      description: 'identity-sync: finalizes job records when an execution ends and sends the notifications',
      bundling: BUNDLING,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.jobsTable.name]: props.tables.jobs.tableName,
        [ENV.stateTable.name]: props.tables.state.tableName,
      },
    });
    grantTableItems(props.tables.jobs, role, ['GetItem', 'PutItem', 'UpdateItem']);
    // Releasing a run lock is an update of a dataflow's state item; this handler serves every dataflow.
    grantTableItems(props.tables.state, role, ['UpdateItem']);
    acknowledge(role, 'X-Ray trace segments have no resource-level permissions.', ['AwsSolutions-IAM5[Resource::*]']);
    acknowledge(this.function, LAMBDA_RUNTIME_REASON, ['AwsSolutions-L1']);
  }

  /** Lets the handler publish to a topic. */
  grantPublish(topic: ITopic): void {
    Grant.addToPrincipal({ grantee: this.role, actions: ['sns:Publish'], resourceArns: [topic.topicArn] });
  }
}

/**
 * The handler's input: fixed fields plus the event's `detail`. EventBridge reads `<name>` in an input template
 * as a placeholder, so `<` and `>` in the values (a dataflow name may hold them) travel as JSON escapes.
 */
export class NoticeInput extends RuleTargetInput {
  constructor(private readonly fields: Readonly<Record<string, string>>) {
    super();
  }

  override bind(): RuleTargetInputProperties {
    const value = (v: string) =>
      Token.isUnresolved(v) ? `"${v}"` : JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e');
    const fields = Object.entries(this.fields).map(([k, v]) => `${JSON.stringify(k)}:${value(v)}`);
    return { inputPathsMap: { detail: '$.detail' }, inputTemplate: `{${fields.join(',')},"detail":<detail>}` };
  }
}

/** Props of {@link DataflowNotifications}. */
export interface DataflowNotificationsProps {
  readonly dataflow: Dataflow;
  readonly stateMachine: IStateMachine;
  readonly notifier: NotifyFunction;
  /**
   * The key of the failure topic; the notification handler is granted its use. CloudWatch alarms can publish only
   * to a topic whose key lets them (see lib/infra/alarm-key.ts).
   * @default the AWS managed key for SNS (`alias/aws/sns`)
   */
  readonly failureTopicKey?: AlarmTopicKey;
}

/** Who gets email for which schedules: address → schedule ids. */
export function emailRecipients(
  schedules: readonly Schedule[],
  field: 'successEmailNotification' | 'failureEmailNotification',
): Map<string, string[]> {
  const out = new Map<string, { email: string; ids: string[] }>();
  for (const s of schedules) {
    for (const email of emailList(s[field])) {
      const entry = out.get(email.toLowerCase()) ?? { email, ids: [] };
      if (!entry.ids.includes(scheduleIdOf(s))) entry.ids.push(scheduleIdOf(s));
      out.set(email.toLowerCase(), entry);
    }
  }
  return new Map([...out.values()].map((e) => [e.email, e.ids]));
}

/** A dataflow's success and failure topics, their email subscriptions, and the rule that calls the handler. */
export class DataflowNotifications extends Construct {
  readonly successTopic: Topic;
  readonly failureTopic: Topic;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: DataflowNotificationsProps) {
    super(scope, id);
    const { dataflow, notifier } = props;
    // The AWS managed key for SNS: encrypted at rest without a key to administer.
    const key = Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns');
    const topic = (
      name: string,
      outcome: string,
      field: 'successEmailNotification' | 'failureEmailNotification',
      masterKey: IKey,
    ) => {
      const t = new Topic(this, name, {
        displayName: `identity-sync ${outcome}: ${dataflow.name}`.slice(0, 100),
        masterKey,
        enforceSSL: true,
      });
      for (const [email, scheduleIds] of emailRecipients(dataflow.schedules, field)) {
        t.addSubscription(
          new EmailSubscription(email, {
            filterPolicy: { scheduleId: SubscriptionFilter.stringFilter({ allowlist: scheduleIds }) },
          }),
        );
      }
      notifier.grantPublish(t);
      return t;
    };
    this.successTopic = topic('SuccessTopic', 'succeeded', 'successEmailNotification', key);
    this.failureTopic = topic('FailureTopic', 'failed', 'failureEmailNotification', props.failureTopicKey?.key ?? key);
    props.failureTopicKey?.grantPublish(notifier.role);
    this.rule = new Rule(this, 'ExecutionEnded', {
      description: `identity-sync: finalize and notify when an execution of dataflow ${dataflow.id} ends`.slice(0, 512),
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: TERMINAL_STATUSES },
      },
      targets: [
        new LambdaFunction(notifier.function, {
          event: new NoticeInput({
            dataflowId: dataflow.id,
            dataflowName: dataflow.name,
            successTopicArn: this.successTopic.topicArn,
            failureTopicArn: this.failureTopic.topicArn,
          }),
          retryAttempts: 20,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }
}
