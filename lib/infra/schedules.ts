/**
 * A dataflow's scheduling objects as EventBridge rules and Scheduler schedules (UTC, like IdentitySync). Each starts
 * the state machine with `{scheduleId, fullExtract, limit, logLevel}`; a disabled schedule is a disabled rule or
 * schedule. How `nextJobStartTime` anchors each frequency is explained in lib/infra/schedule-expressions.ts.
 */
import { Annotations, Stack } from 'aws-cdk-lib';
import { Schedule as EventSchedule, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ScheduleExpression, Schedule as SchedulerSchedule, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { Dataflow } from '../dataflow/types.ts';
import { acknowledge } from './nag.ts';
import { DEFAULT_NAME_PREFIX, scheduleRuleName } from './names.ts';
import { scheduleInput, schedulePlan, scheduleStart } from './schedule-expressions.ts';

/** Props of {@link DataflowSchedules}. */
export interface DataflowSchedulesProps {
  readonly dataflow: Dataflow;
  readonly stateMachine: IStateMachine;
  /**
   * The prefix of the rules' names (see `scheduleRuleName`), so the console finds a schedule's rules by name.
   * @default 'identity-sync'
   */
  readonly namePrefix?: string;
  /**
   * Deploy time, to warn about `once` schedules already in the past (their rule never fires).
   * @default new Date()
   */
  readonly now?: Date;
}

/**
 * Every scheduling object as IdentitySync runs it: EventBridge rules where cron expressions keep its rhythm, an
 * EventBridge Scheduler schedule where only a rate with a start date does, and a run at deployment for a `once`
 * schedule without a start time.
 */
export class DataflowSchedules extends Construct {
  /** The rules by schedule name (the first rule of a schedule that needs several). */
  readonly rules: ReadonlyMap<string, Rule>;
  /** The EventBridge Scheduler schedules by schedule name. */
  readonly schedulers: ReadonlyMap<string, SchedulerSchedule>;
  /**
   * The role EventBridge Scheduler assumes to start this dataflow's executions, when it has Scheduler schedules:
   * whoever updates one of them passes this role back (the console's role may pass it and no other).
   */
  readonly schedulerRole?: IRole;

  constructor(scope: Construct, id: string, props: DataflowSchedulesProps) {
    super(scope, id);
    const { dataflow } = props;
    const now = props.now ?? new Date();
    const rules = new Map<string, Rule>();
    const schedulers = new Map<string, SchedulerSchedule>();
    const prefix = props.namePrefix ?? DEFAULT_NAME_PREFIX;
    let schedulerRole: Role | undefined;
    for (const schedule of dataflow.schedules) {
      const name = schedule.name.replace(/\//g, '_');
      const plan = schedulePlan(schedule, now);
      const input = scheduleInput(schedule);
      const enabled = schedule.enabled !== false;
      const every =
        schedule.frequencyType === 'once'
          ? 'once'
          : `every ${schedule.frequencyInterval ?? 1} ${schedule.frequencyType}(s)`;
      const description =
        `identity-sync: dataflow "${dataflow.name}" (${dataflow.id}), schedule "${schedule.name}", ${every}`.slice(
          0,
          512,
        );
      if (plan.kind === 'at-deploy') {
        if (!enabled) {
          Annotations.of(this).addWarningV2(
            'identity-sync:schedule-once-disabled',
            `dataflow "${dataflow.id}", schedule "${schedule.name}": a disabled "once" schedule without nextJobStartTime does not run at deployment`,
          );
          continue;
        }
        runAtDeployment(this, `RunOnce-${name}`, props.stateMachine, input);
        continue;
      }
      const start = scheduleStart(schedule);
      if (schedule.frequencyType === 'once' && start && start.getTime() < now.getTime()) {
        Annotations.of(this).addWarningV2(
          'identity-sync:schedule-once-in-past',
          `dataflow "${dataflow.id}", schedule "${schedule.name}": nextJobStartTime ${start.toISOString()} is in the past; its rule never fires`,
        );
      }
      if (plan.kind === 'scheduler') {
        schedulerRole ??= schedulerExecutionRole(this, dataflow.id);
        schedulers.set(
          schedule.name,
          new SchedulerSchedule(this, `Scheduler-${name}`, {
            // Named as the rules are, so the console finds it (and its role may touch only these names).
            scheduleName: scheduleRuleName(dataflow.id, schedule.name, 0, prefix),
            description: description.slice(0, 512),
            schedule: ScheduleExpression.expression(plan.expression),
            start: plan.start,
            enabled,
            target: new StepFunctionsStartExecution(props.stateMachine, {
              input: ScheduleTargetInput.fromObject(input),
              role: schedulerRole,
            }),
          }),
        );
        continue;
      }
      plan.expressions.forEach((expression, i) => {
        const rule = new Rule(this, i === 0 ? `Schedule-${name}` : `Schedule-${name}-${i + 1}`, {
          ruleName: scheduleRuleName(dataflow.id, schedule.name, i, prefix),
          description,
          schedule: EventSchedule.expression(expression),
          enabled,
          targets: [new SfnStateMachine(props.stateMachine, { input: RuleTargetInput.fromObject(input) })],
        });
        if (i === 0) rules.set(schedule.name, rule);
      });
    }
    this.rules = rules;
    this.schedulers = schedulers;
    if (schedulerRole) this.schedulerRole = schedulerRole;
  }
}

/**
 * The execution role of a dataflow's Scheduler schedules (the target adds `states:StartExecution` on its state
 * machine). Assumable by EventBridge Scheduler for this account's default schedule group only, as CDK's own
 * target role is; made here rather than by the target so the console's `iam:PassRole` can name it.
 */
function schedulerExecutionRole(scope: Construct, dataflowId: string): Role {
  const stack = Stack.of(scope);
  return new Role(scope, 'SchedulerRole', {
    description: `identity-sync: EventBridge Scheduler starts the executions of dataflow ${dataflowId}`.slice(0, 1000),
    assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:SourceAccount': stack.account,
          'aws:SourceArn': stack.formatArn({
            service: 'scheduler',
            resource: 'schedule-group',
            resourceName: 'default',
          }),
        },
      },
    }),
  });
}

/**
 * Starts one execution when the stack is first deployed with this schedule (IdentitySync runs a `once` schedule
 * without a start time at once). A later deployment does not start it again.
 */
function runAtDeployment(scope: Construct, id: string, stateMachine: IStateMachine, input: object): AwsCustomResource {
  const start = {
    service: 'SFN',
    action: 'startExecution',
    parameters: { stateMachineArn: stateMachine.stateMachineArn, input: JSON.stringify(input) },
    physicalResourceId: PhysicalResourceId.of(id),
  };
  const run = new AwsCustomResource(scope, id, {
    onCreate: start,
    installLatestAwsSdk: false,
    policy: AwsCustomResourcePolicy.fromStatements([
      new PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachine.stateMachineArn] }),
    ]),
  });
  // The provider function is one per stack, shared by every run at deployment.
  const provider = Stack.of(scope).node.tryFindChild(
    `AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`,
  );
  if (provider)
    acknowledge(
      provider,
      "CDK's custom-resource provider logs through the AWS managed basic execution policy (its own log group only).",
      ['AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'],
    );
  return run;
}
