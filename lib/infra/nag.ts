/**
 * Acknowledged cdk-nag (AwsSolutions) findings. Each acknowledgement names one finding and says why it stands;
 * the cdk-nag test fails on any finding that is neither fixed nor acknowledged here or beside its construct.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges findings (`Rule` or `Rule[finding]`) on a construct and everything under it, with one reason. */
export function acknowledge(scope: IConstruct, reason: string, ids: readonly string[]): void {
  for (const id of ids) Validations.of(scope).acknowledge({ id, reason });
}
