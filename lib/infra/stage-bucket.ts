/**
 * The stage bucket: records and files travel between steps as objects under `stage/<dataflowId>/<jobId>/`.
 * Staged objects are working copies, so they expire; access is TLS only, never public, encrypted at rest.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag.ts';

/** The key prefix every staged object lives under (see lib/engine/stage.ts). */
export const STAGE_ROOT = 'stage/';

/** Props of {@link StageBucket}. */
export interface StageBucketProps {
  /**
   * How long staged objects are kept. Long enough to inspect a failed job's rejected records; short enough that
   * account data does not pile up.
   * @default Duration.days(7)
   */
  readonly expiration?: Duration;
  /**
   * Keep server access logs in a second bucket.
   * @default true
   */
  readonly accessLogs?: boolean;
  /**
   * How long server access logs are kept.
   * @default Duration.days(90)
   */
  readonly accessLogsExpiration?: Duration;
  /**
   * What happens to the bucket when the stack is deleted (a non-empty bucket is never deleted by CloudFormation).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The S3 bucket where steps stage records and files. */
export class StageBucket extends Construct {
  readonly bucket: IBucket;
  /** The access log bucket, when {@link StageBucketProps.accessLogs} is on. */
  readonly accessLogsBucket?: IBucket;

  constructor(scope: Construct, id: string, props: StageBucketProps = {}) {
    super(scope, id);
    // Grant S3 log delivery through the log bucket's policy, not the legacy log-delivery ACL, whatever the app's
    // feature flags say (ACLs are off with BUCKET_OWNER_ENFORCED).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (props.accessLogs !== false) {
      const logs = new Bucket(this, 'AccessLogs', {
        encryption: BucketEncryption.S3_MANAGED,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ id: 'expire-logs', expiration: props.accessLogsExpiration ?? Duration.days(90) }],
        removalPolicy,
      });
      acknowledge(logs, 'This bucket is the access log target; logging it into itself would loop.', [
        'AwsSolutions-S1',
      ]);
      this.accessLogsBucket = logs;
    }
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...(this.accessLogsBucket
        ? { serverAccessLogsBucket: this.accessLogsBucket, serverAccessLogsPrefix: 'stage/' }
        : {}),
      lifecycleRules: [
        { id: 'expire-staged-objects', prefix: STAGE_ROOT, expiration: props.expiration ?? Duration.days(7) },
        // A step that died mid-upload leaves parts that are billed but invisible.
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
  }
}
