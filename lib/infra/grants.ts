/**
 * Narrow grants: a key prefix of a bucket, the items of one partition of a table, named secrets. Each adds one
 * statement to the grantee's policy, so a test can read exactly what a role may do from the rendered template.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { IConstruct } from 'constructs';
import { JOB_INDEXES } from '../stores/jobs.ts';
import type { S3Access } from './access.ts';

/** Object actions a staged job needs: write parts and files, read them back, overwrite on retry. */
const STAGE_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'];

/** Read, write and list objects under `prefix` (which should end with `/`) of a bucket, and nothing else. */
export function grantStagePrefix(bucket: IBucket, grantee: IGrantable, prefix: string): void {
  Grant.addToPrincipal({ grantee, actions: STAGE_OBJECT_ACTIONS, resourceArns: [bucket.arnForObjects(`${prefix}*`)] });
  Grant.addToPrincipal({
    grantee,
    actions: ['s3:ListBucket'],
    resourceArns: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
  });
}

/** Read and list objects under each of `prefixes` of a bucket, and nothing else (no writes, no deletes). */
export function grantStageRead(bucket: IBucket, grantee: IGrantable, prefixes: readonly string[]): void {
  if (prefixes.length === 0) return;
  Grant.addToPrincipal({
    grantee,
    actions: ['s3:GetObject'],
    resourceArns: prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
  });
  Grant.addToPrincipal({
    grantee,
    actions: ['s3:ListBucket'],
    resourceArns: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
  });
}

/**
 * Reading the jobs table as the listings do: records by id (one, or a page's by BatchGetItem), and Queries of its
 * named indexes (JOB_INDEXES), newest first. No Scan: no listing reads the whole table (`idx jobs reindex`, the
 * one-off that scans, runs as the operator).
 */
export function grantJobsRead(table: ITable, grantee: IGrantable): void {
  Grant.addToPrincipal({
    grantee,
    actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
    resourceArns: [table.tableArn],
  });
  Grant.addToPrincipal({
    grantee,
    actions: ['dynamodb:Query'],
    resourceArns: Object.values(JOB_INDEXES).map((i) => `${table.tableArn}/index/${i.name}`),
  });
}

/** Starting executions of the state machines, and stopping theirs, and nothing else of Step Functions. */
export function grantExecutions(
  stateMachines: readonly { readonly stateMachine: IStateMachine; readonly name: string }[],
  grantee: IGrantable,
): void {
  if (stateMachines.length === 0) return;
  Grant.addToPrincipal({
    grantee,
    actions: ['states:StartExecution'],
    resourceArns: stateMachines.map((m) => m.stateMachine.stateMachineArn),
  });
  const stack = Stack.of(grantee as unknown as IConstruct);
  Grant.addToPrincipal({
    grantee,
    actions: ['states:StopExecution'],
    // An execution's ARN is its machine's with `execution` for `stateMachine` and `:<name>` after it.
    resourceArns: stateMachines.map((m) =>
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${m.name}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ),
  });
}

/** Enabling and disabling the named EventBridge rules (on the default bus), and no other rule. */
export function grantRuleToggle(ruleNames: readonly string[], grantee: IGrantable): void {
  if (ruleNames.length === 0) return;
  const stack = Stack.of(grantee as unknown as IConstruct);
  Grant.addToPrincipal({
    grantee,
    actions: ['events:EnableRule', 'events:DisableRule'],
    resourceArns: ruleNames.map((name) => stack.formatArn({ service: 'events', resource: 'rule', resourceName: name })),
  });
}

/**
 * Reading and updating the named EventBridge Scheduler schedules of the default group (an update sends the whole
 * schedule back, its execution role included), and passing `roles` (their execution roles) to Scheduler only.
 */
export function grantScheduleUpdate(
  scheduleNames: readonly string[],
  roles: readonly IRole[],
  grantee: IGrantable,
): void {
  if (scheduleNames.length === 0) return;
  const stack = Stack.of(grantee as unknown as IConstruct);
  Grant.addToPrincipal({
    grantee,
    actions: ['scheduler:GetSchedule', 'scheduler:UpdateSchedule'],
    resourceArns: scheduleNames.map((name) =>
      stack.formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `default/${name}` }),
    ),
  });
  if (roles.length === 0) return;
  Grant.addToPrincipal({
    grantee,
    actions: ['iam:PassRole'],
    resourceArns: roles.map((r) => r.roleArn),
    conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
  });
}

/**
 * Item actions on a table; with `leadingKeys`, only on items whose partition key is one of them (the state
 * table's partition key is the dataflow id, so a dataflow reaches only its own state and file marks).
 */
export function grantTableItems(
  table: ITable,
  grantee: IGrantable,
  actions: readonly string[],
  leadingKeys?: readonly string[],
): void {
  Grant.addToPrincipal({
    grantee,
    actions: actions.map((a) => `dynamodb:${a}`),
    resourceArns: [table.tableArn],
    ...(leadingKeys
      ? { conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [...leadingKeys] } } }
      : {}),
  });
}

/**
 * `secretsmanager:GetSecretValue` on exactly the named secrets (`<prefix><NAME>`). Secrets Manager appends six
 * random characters to a secret's ARN, hence the `-??????` suffix that matches those and nothing longer.
 */
export function grantSecrets(role: IRole, names: readonly string[], prefix: string): void {
  if (names.length === 0) return;
  const stack = Stack.of(role);
  Grant.addToPrincipal({
    grantee: role,
    actions: ['secretsmanager:GetSecretValue'],
    resourceArns: names.map((name) =>
      stack.formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${prefix}${name}-??????`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ),
  });
}

/** Grants what a dataflow's S3 steps do with the execution role, location by location. */
export function grantS3Access(role: IRole, access: readonly S3Access[]): void {
  const stack = Stack.of(role);
  for (const a of access) {
    const bucketArn = stack.formatArn({ service: 's3', region: '', account: '', resource: a.bucket });
    const objects = `${bucketArn}/${a.prefix}*`;
    const actions = [
      ...(a.read ? ['s3:GetObject'] : []),
      ...(a.write ? ['s3:PutObject', 's3:AbortMultipartUpload'] : []),
      ...(a.remove ? ['s3:DeleteObject'] : []),
    ];
    Grant.addToPrincipal({ grantee: role, actions, resourceArns: [objects] });
    if (a.read) {
      Grant.addToPrincipal({
        grantee: role,
        actions: ['s3:ListBucket'],
        resourceArns: [bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${a.prefix}*`] } },
      });
    }
  }
}

/**
 * What a publisher to an SNS topic encrypted with `key` needs of the key (SNS encrypts on the caller's behalf):
 * a data key and decrypting it, on that key only.
 */
export function grantKeyUse(key: IKey, grantee: IGrantable): void {
  Grant.addToPrincipal({ grantee, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [key.keyArn] });
}
