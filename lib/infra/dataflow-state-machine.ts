/**
 * One dataflow's state machine, from the very ASL `idx compile` prints. The step function's ARN goes in as a
 * CloudFormation reference (the template renders the definition with `Fn::Join`), not through
 * `DefinitionSubstitutions`: those follow `Fn::Sub` rules, and step params hold `${now}`, `${jobId}` and
 * `${secret:NAME}`, which must reach the step function as written.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { compile } from '../compiler/compile.ts';
import type { AttemptPolicy } from '../core/events.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { acknowledge } from './nag.ts';

/** Props of {@link DataflowStateMachine}. */
export interface DataflowStateMachineProps {
  readonly dataflow: Dataflow;
  readonly registry: ScriptRegistry;
  /** The function every Task invokes. */
  readonly stepFunction: IFunction;
  /** The state machine name (see lib/infra/names.ts: the CLI derives it from the dataflow id). */
  readonly stateMachineName: string;
  /**
   * How long execution logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Log every state's input and output. They hold references, counters and params as written (secret
   * references, never secret values).
   * @default true
   */
  readonly includeExecutionData?: boolean;
  /** How a job that failed on a transient cause runs again. @default the compiler's DEFAULT_ATTEMPT_POLICY */
  readonly attempts?: Partial<AttemptPolicy>;
}

/** The state machine of one dataflow, with logging and X-Ray tracing. */
export class DataflowStateMachine extends Construct {
  readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DataflowStateMachineProps) {
    super(scope, id);
    const definition = compile(props.dataflow, props.registry, {
      functionArn: props.stepFunction.functionArn,
      ...(props.attempts ? { attempts: props.attempts } : {}),
    });
    const logGroup = new LogGroup(this, 'Logs', {
      // The vended-logs prefix keeps CloudWatch's resource policy for Step Functions from growing per state machine.
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      definitionBody: DefinitionBody.fromString(JSON.stringify(definition)),
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: props.includeExecutionData ?? true },
      tracingEnabled: true,
    });
    // Exactly the unqualified ARN the Tasks name: no versions, aliases or other functions.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.stepFunction.functionArn] }),
    );
    acknowledge(
      this.stateMachine.role,
      'Step Functions log delivery (logs:CreateLogDelivery, …) and X-Ray (xray:PutTraceSegments, …) accept no resource-level permissions.',
      ['AwsSolutions-IAM5[Resource::*]'],
    );
    acknowledge(
      this.stateMachine,
      'The definition carries step params as written: ${now}, ${jobId} and ${secret:NAME} are placeholders the step function renders, not CloudFormation parameters.',
      ['CloudFormation-Validate::E1029'],
    );
  }
}
