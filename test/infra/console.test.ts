import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONSOLE_STATIC } from '../../lib/infra/console.ts';
import { scheduleRuleName } from '../../lib/infra/names.ts';
import { logicalIdOf as logicalId, render, resourcesOf, statementsOfRole, synthStack } from '../support/infra.ts';
import { alpha, beta, delta } from './dataflows.ts';

const { stack, template } = synthStack([alpha(), beta()]);

/** Every statement of the console's role, rendered with `<LogicalId>` for references. */
function consoleStatements(): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  return render(statementsOfRole(template, logicalId(stack, 'Console/Role'))) as never;
}

const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOfStatement = (s: { Resource: unknown }) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

describe('the deployed console', () => {
  it('is served by one function behind a function URL that only IAM-signed requests reach', () => {
    // Prepare
    const fn = logicalId(stack, 'Console/Function');

    // Act
    const urls = Object.values(resourcesOf(template, 'AWS::Lambda::Url'));
    const permissions = Object.values(resourcesOf(template, 'AWS::Lambda::Permission'));

    // Assess
    expect(urls).toHaveLength(1);
    expect(urls[0]?.Properties).toMatchObject({
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
    // No one is let in without signing: no permission to invoke it, or its URL, for everyone.
    const open = permissions.filter(
      (p) =>
        ['lambda:InvokeFunctionUrl', 'lambda:InvokeFunction'].includes(String(p.Properties.Action)) &&
        p.Properties.Principal === '*',
    );
    expect(open).toEqual([]);
    expect(permissions.filter((p) => JSON.stringify(p.Properties.FunctionName).includes(fn))).toEqual([]);
  });

  it('reads the IDX API credentials from a Secrets Manager secret, and names its tables and state machines', () => {
    // Prepare
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[logicalId(stack, 'Console/Function')];

    // Act
    const env = render(
      ((fn?.Properties.Environment ?? {}) as { Variables: Record<string, unknown> }).Variables,
    ) as Record<string, string>;

    // Assess
    expect(env.IDX_API_SECRET_ARN).toBe(`<${logicalId(stack, 'Console/IdxApiCredentials')}>`);
    expect(env.IDX_JOBS_TABLE).toBe(`<${logicalId(stack, 'Tables/Jobs')}>`);
    expect(env.IDX_STATE_TABLE).toBe(`<${logicalId(stack, 'Tables/State')}>`);
    expect(env.IDX_STATE_MACHINE_ARN_PREFIX).toBe(
      'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:',
    );
    expect(env.IDX_NAME_PREFIX).toBe('identity-sync');
  });

  it("lets its role read the tables and the dataflows' stage prefixes, and write only the IDX API's nonces", () => {
    // Act
    const statements = consoleStatements();
    const actions = statements.flatMap(actionsOf);

    // Assess
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(
      ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'].sort(),
    );
    // The second GetObject reads the console's static files (see below).
    expect(actions.filter((a) => a.startsWith('s3:')).sort()).toEqual([
      's3:GetObject',
      's3:GetObject',
      's3:ListBucket',
    ]);
    const bucket = `<${logicalId(stack, 'Stage/Bucket')}.Arn>`;
    const get = statements.find(
      (s) => actionsOf(s).includes('s3:GetObject') && JSON.stringify(s.Resource).includes(bucket),
    );
    expect(get && resourcesOfStatement(get)).toEqual([`${bucket}/stage/alpha/*`, `${bucket}/stage/beta/*`]);
  });

  it("lets its role read jobs by id and query the jobs table's two indexes by name, and never scan it", () => {
    // Act
    const jobs = `<${logicalId(stack, 'Tables/Jobs')}.Arn>`;
    const onJobs = consoleStatements().filter((s) => JSON.stringify(s.Resource).includes(jobs));

    // Assess
    expect(onJobs.map((s) => [actionsOf(s), resourcesOfStatement(s)])).toEqual([
      [['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [jobs]],
      [['dynamodb:Query'], [`${jobs}/index/byDataflow`, `${jobs}/index/byStart`]],
    ]);
  });

  it('lets its role read the state table by key only, never query or scan it', () => {
    // Act
    const state = `<${logicalId(stack, 'Tables/State')}.Arn>`;
    const onState = consoleStatements().filter((s) => JSON.stringify(s.Resource).includes(state));

    // Assess
    expect(onState.map((s) => actionsOf(s))).toEqual([['dynamodb:GetItem'], ['dynamodb:PutItem']]);
    expect(onState.flatMap(resourcesOfStatement)).toEqual([state, state]);
  });

  it("lets its role put items only in the state table's partition of IDX API nonces, which expire by TTL", () => {
    // Act
    const puts = consoleStatements().filter((s) => actionsOf(s).includes('dynamodb:PutItem'));
    const state = resourcesOf(template, 'AWS::DynamoDB::Table')[logicalId(stack, 'Tables/State')];

    // Assess
    expect(puts).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: `<${logicalId(stack, 'Tables/State')}.Arn>`,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['idx-nonces'] } },
      },
    ]);
    expect(state?.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  it("lets its role start and stop executions of the dataflows' state machines only", () => {
    // Act
    const statements = consoleStatements();
    const start = statements.filter((s) => actionsOf(s).includes('states:StartExecution'));
    const stop = statements.filter((s) => actionsOf(s).includes('states:StopExecution'));

    // Assess
    expect(start.flatMap(resourcesOfStatement)).toEqual([
      `<${logicalId(stack, 'Dataflow-alpha/Machine/StateMachine')}>`,
      `<${logicalId(stack, 'Dataflow-beta/Machine/StateMachine')}>`,
    ]);
    expect(stop.flatMap(resourcesOfStatement)).toEqual([
      'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:identity-sync-alpha:*',
      'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:identity-sync-beta:*',
    ]);
    expect(
      statements
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('states:'))
        .sort(),
    ).toEqual(['states:StartExecution', 'states:StopExecution']);
  });

  it("lets its role enable and disable the stack's schedule rules only, which carry the names it uses", () => {
    // Prepare
    const rules = Object.values(resourcesOf(template, 'AWS::Events::Rule'))
      .map((r) => r.Properties.Name)
      .filter((n): n is string => typeof n === 'string');

    // Act
    const toggle = consoleStatements().filter((s) => actionsOf(s).includes('events:DisableRule'));

    // Assess
    expect(rules).toContain(scheduleRuleName('alpha', 'nightly'));
    const granted = toggle.flatMap(resourcesOfStatement) as string[];
    expect(granted.length).toBeGreaterThan(0);
    for (const arn of granted) {
      const name = arn.replace('arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/', '');
      expect(rules).toContain(name);
    }
    expect(toggle.flatMap(actionsOf).sort()).toEqual(['events:DisableRule', 'events:EnableRule']);
  });

  it("lets its role read and update the stack's Scheduler schedules only, passing their execution role to Scheduler only", () => {
    // Prepare
    const withScheduler = synthStack([delta()]);
    const t = withScheduler.template;
    const schedules = Object.values(resourcesOf(t, 'AWS::Scheduler::Schedule')).map((r) => r.Properties);
    const executionRole = logicalId(withScheduler.stack, 'Dataflow-delta/Schedules/SchedulerRole');

    // Act
    const statements = render(statementsOfRole(t, logicalId(withScheduler.stack, 'Console/Role'))) as {
      Action: string | string[];
      Resource: unknown;
      Condition?: unknown;
    }[];
    const update = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('scheduler:')));
    const pass = statements.filter((s) => actionsOf(s).includes('iam:PassRole'));

    // Assess
    const name = scheduleRuleName('delta', 'every third day');
    expect(schedules.map((s) => s.Name)).toEqual([name]);
    expect(render(schedules[0]?.Target)).toMatchObject({ RoleArn: `<${executionRole}.Arn>` });
    expect(update).toEqual([
      expect.objectContaining({
        Action: ['scheduler:GetSchedule', 'scheduler:UpdateSchedule'],
        Resource: `arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/default/${name}`,
      }),
    ]);
    expect(pass).toEqual([
      expect.objectContaining({
        Action: 'iam:PassRole',
        Resource: `<${executionRole}.Arn>`,
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    ]);
    expect(
      consoleStatements()
        .flatMap(actionsOf)
        .filter((a) => /^(scheduler|iam):/.test(a)),
    ).toEqual([]);
  });

  it('deploys its static files to a private, encrypted, TLS-only bucket that its role reads file by file', () => {
    // Prepare
    const bucket = logicalId(stack, 'Console/Assets');
    const files = readdirSync(CONSOLE_STATIC).sort();

    // Act
    const props = resourcesOf(template, 'AWS::S3::Bucket')[bucket]?.Properties;
    const policy = Object.values(resourcesOf(template, 'AWS::S3::BucketPolicy')).find(
      (p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucket }),
    );
    const deployments = Object.values(resourcesOf(template, 'Custom::CDKBucketDeployment')).map((d) =>
      render(d.Properties),
    );
    const reads = consoleStatements().filter((s) =>
      (resourcesOfStatement(s) as string[]).some((r) => String(r).startsWith(`<${bucket}.Arn>`)),
    );
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[logicalId(stack, 'Console/Function')];
    const env = render(((fn?.Properties.Environment ?? {}) as { Variables: unknown }).Variables) as Record<
      string,
      string
    >;

    // Assess
    expect(props).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    const statements = (
      (policy?.Properties.PolicyDocument ?? { Statement: [] }) as { Statement: Record<string, unknown>[] }
    ).Statement;
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ]);
    expect(deployments).toEqual([expect.objectContaining({ DestinationBucketName: `<${bucket}>`, Prune: true })]);
    expect(reads).toEqual([
      expect.objectContaining({
        Action: 's3:GetObject',
        Resource: files.map((f) => `<${bucket}.Arn>/${f}`),
      }),
    ]);
    expect(env.IDX_CONSOLE_ASSETS_BUCKET).toBe(`<${bucket}>`);
  });

  it('can be left out of a stack', () => {
    // Act
    const without = synthStack([alpha()], { console: false });

    // Assess
    expect(Object.keys(resourcesOf(without.template, 'AWS::Lambda::Url'))).toEqual([]);
  });
});
