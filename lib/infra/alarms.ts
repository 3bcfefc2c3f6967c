/**
 * A dataflow's CloudWatch alarms, published to its failure topic: an execution failed, an execution timed out,
 * and a job rejected more than a set share of its records. The first two read Step Functions' own metrics
 * (`AWS/States` ExecutionsFailed, ExecutionsTimedOut); the third the job metrics the engine writes
 * (lib/core/metrics.ts: JobRecordsRejected over JobRecordsRead, per DataflowId).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IStateMachine, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC_DIMENSIONS, METRIC_NAMES, METRICS_NAMESPACE } from '../core/metrics.ts';

/** The default share of a job's records that may be rejected before the alarm goes off, in percent. */
export const DEFAULT_REJECTED_PERCENT = 5;

/** Props of {@link DataflowAlarms}. */
export interface DataflowAlarmsProps {
  readonly dataflowId: string;
  readonly stateMachine: IStateMachine & Pick<StateMachine, 'metricFailed' | 'metricTimedOut'>;
  /** Where the alarms publish: the dataflow's failure topic (encrypted with a key CloudWatch may use). */
  readonly topic: ITopic;
  /**
   * The alarm goes off when a job rejects more than this share of the records it read, in percent (0–100).
   * @default DEFAULT_REJECTED_PERCENT (5)
   */
  readonly rejectedPercent?: number;
  /**
   * The period the alarms look at.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/** The alarms of one dataflow. */
export class DataflowAlarms extends Construct {
  readonly failed: Alarm;
  readonly timedOut: Alarm;
  readonly rejected: Alarm;

  constructor(scope: Construct, id: string, props: DataflowAlarmsProps) {
    super(scope, id);
    const percent = props.rejectedPercent ?? DEFAULT_REJECTED_PERCENT;
    if (!Number.isFinite(percent) || percent < 0 || percent > 100)
      throw new Error(`rejectedPercent must be a number from 0 to 100, got ${percent}`);
    const period = props.period ?? Duration.minutes(5);
    const name = props.dataflowId;
    const common = {
      evaluationPeriods: 1,
      // No execution in a period is no news, not an alarm.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };
    this.failed = new Alarm(this, 'ExecutionsFailed', {
      ...common,
      alarmDescription: `identity-sync: an execution of dataflow ${name} failed`.slice(0, 1024),
      metric: props.stateMachine.metricFailed({ period, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.timedOut = new Alarm(this, 'ExecutionsTimedOut', {
      ...common,
      alarmDescription: `identity-sync: an execution of dataflow ${name} timed out`.slice(0, 1024),
      metric: props.stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const jobMetric = (metricName: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [METRIC_DIMENSIONS.dataflow]: props.dataflowId },
        statistic: 'Sum',
        period,
      });
    this.rejected = new Alarm(this, 'RejectedRecords', {
      ...common,
      alarmDescription:
        `identity-sync: a job of dataflow ${name} rejected more than ${percent}% of the records it read`.slice(0, 1024),
      metric: new MathExpression({
        expression: 'IF(readRecords > 0, 100 * rejectedRecords / readRecords, 0)',
        usingMetrics: {
          readRecords: jobMetric(METRIC_NAMES.jobRecordsRead),
          rejectedRecords: jobMetric(METRIC_NAMES.jobRecordsRejected),
        },
        label: 'rejected records (%)',
        period,
      }),
      threshold: percent,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    const alarms = [this.failed, this.timedOut, this.rejected];
    for (const alarm of alarms) alarm.addAlarmAction(new SnsAction(props.topic));
    // CloudWatch publishes as its service principal: allowed for these alarms of this account only.
    props.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [props.topic.topicArn],
        conditions: {
          ArnEquals: { 'aws:SourceArn': alarms.map((a) => a.alarmArn) },
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
        },
      }),
    );
  }
}
