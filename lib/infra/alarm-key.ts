/**
 * The key the dataflows' failure topics are encrypted with. CloudWatch alarms cannot publish to a topic encrypted
 * with the AWS managed key for SNS (`alias/aws/sns`): that key's policy cannot be changed to let CloudWatch use it
 * (AWS Knowledge Center, "Why didn't I receive an SNS notification for my CloudWatch alarm trigger?"). This
 * customer managed key, shared by every failure topic of the stack, lets CloudWatch encrypt what it publishes.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { grantKeyUse } from './grants.ts';

/** Props of {@link AlarmTopicKey}. */
export interface AlarmTopicKeyProps {
  /**
   * What happens to the key when the stack is deleted. It encrypts only messages in flight, so nothing stays
   * unreadable once it is gone.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A customer managed key (rotated yearly) that SNS topics use and CloudWatch alarms may publish through. */
export class AlarmTopicKey extends Construct {
  readonly key: IKey;

  constructor(scope: Construct, id: string, props: AlarmTopicKeyProps = {}) {
    super(scope, id);
    const key = new Key(this, 'Key', {
      description: 'identity-sync: encrypts the failure topics, which CloudWatch alarms publish to',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    // What CloudWatch needs to publish an alarm to a topic encrypted with this key, and nothing more.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.key = key;
  }

  /** Lets a publisher (the notification handler) encrypt messages for a topic using this key. */
  grantPublish(grantee: IGrantable): void {
    grantKeyUse(this.key, grantee);
  }
}
