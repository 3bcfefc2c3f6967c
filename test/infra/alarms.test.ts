import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE } from '../../lib/core/metrics.ts';
import { logicalIdOf as logicalId, render, resourcesOf, statementsOfRole, synthStack } from '../support/infra.ts';
import { alpha, beta } from './dataflows.ts';

const { stack, template } = synthStack([alpha(), beta()]);

/** The alarm at `Dataflow-<id>/Alarms/<name>`. */
function alarm(id: string, name: string, template_ = template, of = stack): Record<string, unknown> {
  const alarms = resourcesOf(template_, 'AWS::CloudWatch::Alarm');
  return alarms[logicalId(of, `Dataflow-${id}/Alarms/${name}`)]?.Properties ?? {};
}

describe('the alarms of a dataflow', () => {
  it('go off on a failed and on a timed-out execution of its state machine, publishing to its failure topic', () => {
    // Prepare
    const machine = { Ref: logicalId(stack, 'Dataflow-alpha/Machine/StateMachine') };
    const failureTopic = { Ref: logicalId(stack, 'Dataflow-alpha/Notifications/FailureTopic') };

    // Act
    const failed = alarm('alpha', 'ExecutionsFailed');
    const timedOut = alarm('alpha', 'ExecutionsTimedOut');

    // Assess
    for (const [a, metricName] of [
      [failed, 'ExecutionsFailed'],
      [timedOut, 'ExecutionsTimedOut'],
    ] as const) {
      expect(a).toMatchObject({
        Namespace: 'AWS/States',
        MetricName: metricName,
        Dimensions: [{ Name: 'StateMachineArn', Value: machine }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [failureTopic],
      });
    }
  });

  it("go off when a job rejects more than 5% of the records it read, from the engine's job metrics", () => {
    // Act
    const rejected = alarm('beta', 'RejectedRecords');

    // Assess
    expect(rejected).toMatchObject({
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: logicalId(stack, 'Dataflow-beta/Notifications/FailureTopic') }],
    });
    const metrics = rejected.Metrics as Record<string, unknown>[];
    expect(metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Expression: 'IF(readRecords > 0, 100 * rejectedRecords / readRecords, 0)' }),
        ...['JobRecordsRead', 'JobRecordsRejected'].map((name) =>
          expect.objectContaining({
            MetricStat: expect.objectContaining({
              Metric: {
                Namespace: METRICS_NAMESPACE,
                MetricName: name,
                Dimensions: [{ Name: 'DataflowId', Value: 'beta' }],
              },
              Stat: 'Sum',
            }),
            ReturnData: false,
          }),
        ),
      ]),
    );
  });

  it('take the rejected share from the stack props, and refuse one outside 0–100', () => {
    // Act
    const custom = synthStack([alpha()], { rejectedRecordsAlarmPercent: 12.5 });
    const refused = () => synthStack([alpha()], { rejectedRecordsAlarmPercent: 120 });

    // Assess
    expect(alarm('alpha', 'RejectedRecords', custom.template, custom.stack)).toMatchObject({ Threshold: 12.5 });
    expect(refused).toThrow(/rejectedPercent must be a number from 0 to 100, got 120/);
  });

  it('publish to a failure topic encrypted with a rotated customer managed key that CloudWatch may use', () => {
    // Prepare
    const key = logicalId(stack, 'AlarmKey/Key');

    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: Match.stringLikeRegexp('^identity-sync failed: '),
      KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: Match.stringLikeRegexp('^identity-sync succeeded: '),
      KmsMasterKeyId: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it("let only the dataflow's own alarms publish as CloudWatch, and the notification handler use the key", () => {
    // Prepare
    const topic = logicalId(stack, 'Dataflow-alpha/Notifications/FailureTopic');
    const policy = Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy')).find((p) =>
      JSON.stringify(p.Properties.Topics).includes(topic),
    );
    const alarmIds = ['ExecutionsFailed', 'ExecutionsTimedOut', 'RejectedRecords'].map((n) =>
      logicalId(stack, `Dataflow-alpha/Alarms/${n}`),
    );

    // Act
    const document = policy?.Properties.PolicyDocument as { Statement: Record<string, unknown>[] } | undefined;
    const statements = document?.Statement ?? [];
    const cloudwatch = statements.find((s) => JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'));
    const kms = statementsOfRole(template, logicalId(stack, 'Notify/Role')).filter((s) =>
      [s.Action].flat().some((a) => String(a).startsWith('kms:')),
    );

    // Assess
    expect(cloudwatch).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: topic } });
    expect(render(cloudwatch?.Condition)).toEqual({
      ArnEquals: { 'aws:SourceArn': alarmIds.map((id) => `<${id}.Arn>`) },
      StringEquals: { 'aws:SourceAccount': '<AWS::AccountId>' },
    });
    expect(kms).toEqual([
      expect.objectContaining({
        Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: { 'Fn::GetAtt': [logicalId(stack, 'AlarmKey/Key'), 'Arn'] },
      }),
    ]);
  });
});
