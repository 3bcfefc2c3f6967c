import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../lib/compiler/compile.ts';
import type { Dataflow } from '../../lib/dataflow/types.ts';
import type { IdentitySyncStack } from '../../lib/infra/stack.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';
import { aslVerdict } from '../support/asl.ts';
import { render, resourcesOf, statementsOfRole, synthStack } from '../support/infra.ts';
import { alpha, beta, delta, gamma } from './dataflows.ts';

let stack: IdentitySyncStack;
let template: Template;
let dataflows: Dataflow[];

beforeAll(() => {
  dataflows = [alpha(), beta(), gamma()];
  ({ stack, template } = synthStack(dataflows, {
    functionSettings: { beta: { memorySize: 2048, timeout: Duration.minutes(5) } },
  }));
});

/** The logical id of a resource under a construct path (e.g. `Dataflow-alpha/Step/Role`). */
function logicalId(path: string): string {
  const found = stack.node.findAll().find((c) => c.node.path === `Test/${path}`);
  if (!found) throw new Error(`no construct at ${path}`);
  const child = (found.node.defaultChild ?? found) as unknown as { logicalId: string };
  return stack.resolve(child.logicalId) as string;
}

/** Every resource ARN a role's statements name, rendered, for the given actions. */
function resourcesFor(roleId: string, action: string): string[] {
  return statementsOfRole(template, roleId)
    .filter((s) => [s.Action].flat().includes(action))
    .flatMap((s) => [s.Resource].flat().map((r) => String(render(r))));
}

/** The rendered, parsed definition of each state machine, by name. */
function definitions(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const sm of Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine'))) {
    const text = render(
      sm.Properties.DefinitionString,
      (ref) => `arn:aws:lambda:eu-west-1:123456789012:function:${ref}`,
    );
    out.set(String(sm.Properties.StateMachineName), JSON.parse(String(text)) as Record<string, unknown>);
  }
  return out;
}

describe('IdentitySyncStack', () => {
  it('creates the shared resources (the console among them) once and a step function, state machine and two topics per dataflow', () => {
    // Assess
    const counts: Record<string, number> = {};
    for (const r of Object.values(template.toJSON().Resources as Record<string, { Type: string }>)) {
      counts[r.Type] = (counts[r.Type] ?? 0) + 1;
    }
    // The console's assets bucket is the third bucket; CDK's BucketDeployment (its handler, role and AWS CLI
    // layer) fills it.
    expect(counts).toEqual({
      'AWS::S3::Bucket': 3,
      'AWS::S3::BucketPolicy': 3,
      'AWS::DynamoDB::Table': 3,
      'AWS::Lambda::Function': 6,
      'AWS::Lambda::LayerVersion': 1,
      'Custom::CDKBucketDeployment': 1,
      'AWS::Lambda::Permission': 3,
      'AWS::Lambda::Url': 1,
      'AWS::Logs::LogGroup': 8,
      'AWS::IAM::Role': 11,
      'AWS::IAM::Policy': 11,
      'AWS::SecretsManager::Secret': 1,
      'AWS::StepFunctions::StateMachine': 3,
      'AWS::Events::Rule': 8,
      'AWS::SNS::Topic': 6,
      'AWS::SNS::TopicPolicy': 6,
      'AWS::SNS::Subscription': 3,
      'AWS::KMS::Key': 1,
      'AWS::CloudWatch::Alarm': 9,
    });
  });

  it('gives each dataflow a state machine named after its id, with logging and tracing on', () => {
    // Assess
    for (const id of ['alpha', 'beta', 'gamma']) {
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `identity-sync-${id}`,
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      });
    }
  });

  it('keeps construct ids derived from the dataflow id whatever the order of the files', () => {
    // Prepare
    const reordered = synthStack([gamma(), alpha(), beta()]).template;

    // Assess
    expect(Object.keys(reordered.toJSON().Resources).sort()).toEqual(Object.keys(template.toJSON().Resources).sort());
    expect(logicalId('Dataflow-alpha/Machine/StateMachine')).toMatch(/^Dataflowalpha/);
  });

  it('renders every state machine definition so that it passes asl-validator', () => {
    // Act
    const defs = definitions();

    // Assess
    expect([...defs.keys()].sort()).toEqual(['identity-sync-alpha', 'identity-sync-beta', 'identity-sync-gamma']);
    for (const [name, def] of defs) expect(aslVerdict(def), name).toEqual({ isValid: true, errors: [] });
  });

  it('deploys exactly the compiled ASL, with the function ARN in place and step placeholders untouched', () => {
    // Prepare
    const fn = logicalId('Dataflow-alpha/Step/Function');
    const arn = `arn:aws:lambda:eu-west-1:123456789012:function:${fn}.Arn`;

    // Act
    const deployed = definitions().get('identity-sync-alpha');

    // Assess
    expect(deployed).toEqual(compile(alpha(), defaultRegistry(), { functionArn: arn }));
    expect(JSON.stringify(deployed)).toContain('out_${now}_${jobId}.csv');
    expect(JSON.stringify(deployed)).toContain('${secret:alpha-key}');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'identity-sync-alpha',
      DefinitionSubstitutions: Match.absent(),
    });
  });

  it('lets each state machine invoke its own step function and nothing else', () => {
    // Assess
    for (const id of ['alpha', 'beta', 'gamma']) {
      const role = logicalId(`Dataflow-${id}/Machine/StateMachine/Role`);
      expect(resourcesFor(role, 'lambda:InvokeFunction')).toEqual([
        `<${logicalId(`Dataflow-${id}/Step/Function`)}.Arn>`,
      ]);
    }
  });

  it("lets dataflow A's role read A's secrets and stage prefix only, never B's", () => {
    // Prepare
    const a = logicalId('Dataflow-alpha/Step/Role');
    const b = logicalId('Dataflow-beta/Step/Role');
    const bucket = logicalId('Stage/Bucket');
    const secret = (name: string) =>
      `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:identity-sync/${name}-??????`;

    // Assess
    expect(resourcesFor(a, 'secretsmanager:GetSecretValue')).toEqual([secret('alpha-key'), secret('alpha-secret')]);
    expect(resourcesFor(b, 'secretsmanager:GetSecretValue')).toEqual([
      secret('beta-sftp-password'),
      secret('beta-sftp-user'),
    ]);
    expect(resourcesFor(logicalId('Dataflow-gamma/Step/Role'), 'secretsmanager:GetSecretValue')).toEqual([]);
    // Besides its stage, A's role reads its S3 writer's folder: the writer HEADs what it delivers.
    expect(resourcesFor(a, 's3:GetObject')).toEqual([
      `<${bucket}.Arn>/stage/alpha/*`,
      'arn:<AWS::Partition>:s3:::alpha-out/exports/*',
    ]);
    expect(resourcesFor(b, 's3:GetObject')).toEqual([`<${bucket}.Arn>/stage/beta/*`]);
    const list = statementsOfRole(template, a).filter((s) => s.Action === 's3:ListBucket');
    expect(list).toContainEqual({
      Action: 's3:ListBucket',
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['stage/alpha/*'] } },
    });
    expect(JSON.stringify(list)).not.toMatch(/stage\/beta/);
    for (const s of statementsOfRole(template, a)) {
      expect(JSON.stringify(s)).not.toMatch(/beta/);
      expect(s.Effect).toBe('Allow');
      expect([s.Action].flat().every((x) => !String(x).endsWith('*'))).toBe(true);
    }
  });

  it('limits each dataflow to its own items of the state table', () => {
    // Assess
    const state = logicalId('Tables/State');
    for (const id of ['alpha', 'beta']) {
      const statements = statementsOfRole(template, logicalId(`Dataflow-${id}/Step/Role`)).filter(
        (s) => JSON.stringify(s.Resource) === JSON.stringify({ 'Fn::GetAtt': [state, 'Arn'] }),
      );
      expect(statements).toHaveLength(1);
      expect(statements[0]?.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [id] } });
      // The calls-per-second budget a Map's partitions share is one of these items (lib/stores/call-budget.ts).
      expect([statements[0]?.Action].flat()).toContain('dynamodb:UpdateItem');
    }
  });

  it('grants the S3 folders a dataflow reads or writes with the execution role, and none it reaches with its own keys', () => {
    // Assess
    const a = logicalId('Dataflow-alpha/Step/Role');
    const g = logicalId('Dataflow-gamma/Step/Role');
    expect(resourcesFor(a, 's3:PutObject')).toContain('arn:<AWS::Partition>:s3:::alpha-out/exports/*');
    expect(JSON.stringify(statementsOfRole(template, a))).not.toContain('partner-a');
    expect(resourcesFor(g, 's3:GetObject')).toContain('arn:<AWS::Partition>:s3:::gamma-drop/incoming/accounts_*');
    expect(resourcesFor(g, 's3:DeleteObject')).toContain('arn:<AWS::Partition>:s3:::gamma-drop/incoming/accounts_*');
    expect(resourcesFor(g, 's3:PutObject')).toContain('arn:<AWS::Partition>:s3:::gamma-drop/incoming/done/*');
  });

  it('runs every function on Node 22 / ARM64 with tracing, its own log group and the runtime config', () => {
    // Assess
    // CDK's BucketDeployment handler (it copies the console's assets at deployment) is CDK's own Python function.
    const fns = Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))
      .filter(([id]) => !id.startsWith('CustomCDKBucketDeployment'))
      .map(([, fn]) => fn);
    expect(fns).toHaveLength(5);
    for (const fn of fns) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogGroup: { Ref: expect.any(String) } });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Timeout: 900,
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          IDX_DATAFLOW_ID: 'alpha',
          IDX_STAGE_BUCKET: { Ref: logicalId('Stage/Bucket') },
          IDX_JOBS_TABLE: { Ref: logicalId('Tables/Jobs') },
          IDX_STATE_TABLE: { Ref: logicalId('Tables/State') },
          IDX_UIDMAP_TABLE: { Ref: logicalId('Tables/UidMap') },
          IDX_SECRET_PREFIX: 'identity-sync/',
          IDX_WATERMARK_OVERLAP_MS: '300000',
          IDX_LOCK_TTL_MS: '21600000',
          IDX_LANES: '1',
          IDX_LANE_WORKER: '/var/task/lane-worker.mjs',
        },
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      Timeout: 300,
      Environment: { Variables: Match.objectLike({ IDX_DATAFLOW_ID: 'beta', IDX_LANES: '1' }) },
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('encrypts the stage bucket, blocks public access, refuses plain HTTP and expires staged objects after 7 days', () => {
    // Assess
    const bucket = logicalId('Stage/Bucket');
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ Prefix: 'stage/', ExpirationInDays: 7, Status: 'Enabled' })]),
        },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: { Ref: logicalId('Stage/AccessLogs') } }),
      }),
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const custom = synthStack([alpha()], { stageExpiration: Duration.days(2) }).template;
    custom.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'stage/', ExpirationInDays: 2 })]) },
    });
  });

  it('bills the tables on demand with point-in-time recovery, expires job records and IDX API nonces by TTL and lists jobs by two indexes', () => {
    // Prepare
    const index = (name: string, partition: string, sort: string, projection: Record<string, unknown>) =>
      Match.objectLike({
        IndexName: name,
        KeySchema: [
          { AttributeName: partition, KeyType: 'HASH' },
          { AttributeName: sort, KeyType: 'RANGE' },
        ],
        Projection: projection,
      });

    // Assess
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'identity-sync-jobs',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        index('byDataflow', 'dataflowId', 'startTime', { ProjectionType: 'ALL' }),
        // Every job, newest first: one constant partition, sorted by start time and id, holding keys and status.
        index('byStart', 'listKey', 'startKey', { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] }),
      ],
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      // Only the IDX API's nonces carry the attribute (lib/stores/nonces.ts).
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: Match.absent(),
    });
  });
});

describe('DataflowSchedules', () => {
  /** Schedule rules (those with a ScheduleExpression) by description. */
  function scheduleRules() {
    return Object.values(resourcesOf(template, 'AWS::Events::Rule'))
      .filter((r) => r.Properties.ScheduleExpression !== undefined)
      .map((r) => {
        const target = (r.Properties.Targets as Record<string, unknown>[])[0] as Record<string, unknown>;
        return {
          description: r.Properties.Description,
          expression: r.Properties.ScheduleExpression,
          state: r.Properties.State,
          target: target.Arn,
          input: JSON.parse(String(target.Input)) as unknown,
        };
      })
      .sort((x, y) => String(x.description).localeCompare(String(y.description)));
  }

  it('makes one rule per scheduling object with its expression, state and input, and none for a dataflow without schedules', () => {
    // Prepare
    const sm = (id: string) => ({ Ref: logicalId(`Dataflow-${id}/Machine/StateMachine`) });

    // Assess
    expect(scheduleRules()).toEqual([
      {
        description: 'identity-sync: dataflow "Alpha export <nightly>" (alpha), schedule "launch", once',
        expression: 'cron(15 9 1 3 ? 2026)',
        state: 'ENABLED',
        target: sm('alpha'),
        input: { scheduleId: 'launch', fullExtract: false, limit: null, logLevel: 'info' },
      },
      {
        description: 'identity-sync: dataflow "Alpha export <nightly>" (alpha), schedule "nightly", every 1 day(s)',
        expression: 'cron(0 3 * * ? *)',
        state: 'ENABLED',
        target: sm('alpha'),
        input: { scheduleId: 'nightly', fullExtract: false, limit: null, logLevel: 'info' },
      },
      {
        description: 'identity-sync: dataflow "Alpha export <nightly>" (alpha), schedule "quarterly", every 3 month(s)',
        expression: 'cron(30 4 15 2/3 ? *)',
        state: 'DISABLED',
        target: sm('alpha'),
        input: { scheduleId: 'quarterly', fullExtract: true, limit: 100, logLevel: 'debug' },
      },
      {
        description: 'identity-sync: dataflow "Beta import" (beta), schedule "quarter-hour", every 15 minute(s)',
        expression: 'cron(5/15 * * * ? *)',
        state: 'ENABLED',
        target: sm('beta'),
        input: { scheduleId: 'quarter-hour', fullExtract: false, limit: null, logLevel: 'info' },
      },
      {
        description: 'identity-sync: dataflow "Beta import" (beta), schedule "weekly", every 1 week(s)',
        expression: 'cron(0 6 ? * MON *)',
        state: 'ENABLED',
        target: sm('beta'),
        input: { scheduleId: 'c0ffee', fullExtract: false, limit: null, logLevel: 'info' },
      },
    ]);
  });

  it('lets each schedule rule start only its own state machine', () => {
    // Assess
    for (const id of ['alpha', 'beta']) {
      const role = logicalId(`Dataflow-${id}/Machine/StateMachine/EventsRole`);
      expect(statementsOfRole(template, role)).toEqual([
        {
          Action: 'states:StartExecution',
          Effect: 'Allow',
          Resource: { Ref: logicalId(`Dataflow-${id}/Machine/StateMachine`) },
        },
      ]);
    }
  });

  it('runs a once schedule without a start time at deployment, with its input, and only its own state machine', () => {
    // Prepare
    const { stack: s, template: t } = synthStack([delta()]);
    const machine = (s.node.findAll().find((c) => c.node.path === 'Test/Dataflow-delta/Machine/StateMachine')?.node
      .defaultChild ?? {}) as { logicalId?: string };
    const machineId = s.resolve(machine.logicalId) as string;

    // Act
    const runs = Object.values(resourcesOf(t, 'Custom::AWS')).map((r) => ({
      create: JSON.parse(String(render(r.Properties.Create))) as Record<string, unknown>,
      update: r.Properties.Update,
    }));

    // Assess
    expect(runs).toEqual([
      {
        create: {
          service: 'SFN',
          action: 'startExecution',
          parameters: {
            stateMachineArn: `<${machineId}>`,
            input: JSON.stringify({ scheduleId: 'first load', fullExtract: true, limit: null, logLevel: 'info' }),
          },
          physicalResourceId: { id: 'RunOnce-first load' },
        },
        update: undefined,
      },
    ]);
    const grants = Object.values(resourcesOf(t, 'AWS::IAM::Policy'))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
      .filter((st) => [st.Action].flat().includes('states:StartExecution'));
    expect(grants.map((g) => g.Resource)).toEqual(expect.arrayContaining([{ Ref: machineId }]));
    for (const g of grants) expect(g.Resource).toEqual({ Ref: machineId });
  });

  it('deploys an interval a cron cannot keep as a Scheduler rate starting on its phase, and months as one rule per year of the cycle', () => {
    // Act
    const { template: t } = synthStack([delta()]);

    // Assess
    const schedules = Object.values(resourcesOf(t, 'AWS::Scheduler::Schedule')).map((r) => r.Properties);
    expect(schedules).toEqual([
      expect.objectContaining({
        ScheduleExpression: 'rate(3 days)',
        // From 2025-12-01 05:00 every 3 days; synthesized on 2026-01-01 00:00, the next is 2026-01-03 05:00.
        StartDate: '2026-01-03T05:00:00.000Z',
        State: 'ENABLED',
        Target: expect.objectContaining({
          Input: JSON.stringify({ scheduleId: 'every third day', fullExtract: false, limit: null, logLevel: 'info' }),
        }),
      }),
    ]);
    const rules = Object.values(resourcesOf(t, 'AWS::Events::Rule'))
      .map((r) => r.Properties.ScheduleExpression)
      .filter(Boolean);
    expect(rules).toEqual([
      'cron(30 4 15 2,7,12 ? 2026/5)',
      'cron(30 4 15 5,10 ? 2027/5)',
      'cron(30 4 15 3,8 ? 2028/5)',
      'cron(30 4 15 1,6,11 ? 2029/5)',
      'cron(30 4 15 4,9 ? 2030/5)',
    ]);
  });
});

describe('DataflowNotifications', () => {
  it('subscribes each schedule recipient to the right topic, filtered on the schedules that name them', () => {
    // Assess
    const subs = Object.values(resourcesOf(template, 'AWS::SNS::Subscription'))
      .map((s) => s.Properties)
      .map((p) => ({ email: p.Endpoint, protocol: p.Protocol, topic: p.TopicArn, filter: p.FilterPolicy }));
    const success = { Ref: logicalId('Dataflow-alpha/Notifications/SuccessTopic') };
    const failure = { Ref: logicalId('Dataflow-alpha/Notifications/FailureTopic') };
    expect(subs).toEqual(
      expect.arrayContaining([
        { email: 'ops@example.com', protocol: 'email', topic: success, filter: { scheduleId: ['nightly'] } },
        { email: 'ops@example.com', protocol: 'email', topic: failure, filter: { scheduleId: ['nightly'] } },
        {
          email: 'oncall@example.com',
          protocol: 'email',
          topic: failure,
          filter: { scheduleId: ['nightly', 'quarterly'] },
        },
      ]),
    );
    expect(subs).toHaveLength(3);
  });

  it('encrypts the topics and refuses plain HTTP to them', () => {
    // Assess
    // Success topics: the AWS managed key; failure topics: the stack's key, which CloudWatch alarms may use.
    template.allResourcesProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.allResourcesProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it("calls the handler on the state machine's terminal status changes with the dataflow, its topics and the event detail", () => {
    // Prepare
    const rule = Object.values(resourcesOf(template, 'AWS::Events::Rule')).find((r) =>
      JSON.stringify(r.Properties.EventPattern ?? '').includes(logicalId('Dataflow-alpha/Machine/StateMachine')),
    );

    if (!rule) throw new Error('no notification rule for alpha');

    // Assess
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: [{ Ref: logicalId('Dataflow-alpha/Machine/StateMachine') }],
        status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
      },
    });
    const target = (rule.Properties.Targets as Record<string, { InputPathsMap: unknown; InputTemplate: unknown }>[])[0];
    expect(target?.InputTransformer?.InputPathsMap).toEqual({ detail: '$.detail' });
    const text = String(render(target?.InputTransformer?.InputTemplate));
    // The name's angle brackets travel escaped: EventBridge would take "<nightly>" for a placeholder.
    expect(text).not.toContain('<nightly>');
    const sent = JSON.parse(
      text.replace('<detail>', '{"status":"FAILED"}').replace(/<([A-Za-z0-9]+)>/g, '$1'),
    ) as unknown;
    expect(sent).toEqual({
      dataflowId: 'alpha',
      dataflowName: 'Alpha export <nightly>',
      successTopicArn: logicalId('Dataflow-alpha/Notifications/SuccessTopic'),
      failureTopicArn: logicalId('Dataflow-alpha/Notifications/FailureTopic'),
      detail: { status: 'FAILED' },
    });
  });

  it('lets the handler publish to the topics and touch only the job and lock items it finalizes', () => {
    // Assess
    const role = logicalId('Notify/Role');
    expect(resourcesFor(role, 'sns:Publish').sort()).toEqual(
      ['alpha', 'beta', 'gamma']
        .flatMap((id) => [`Dataflow-${id}/Notifications/SuccessTopic`, `Dataflow-${id}/Notifications/FailureTopic`])
        .map((p) => `<${logicalId(p)}>`)
        .sort(),
    );
    const dynamo = statementsOfRole(template, role).filter((s) => String([s.Action].flat()[0]).startsWith('dynamodb:'));
    expect(dynamo).toEqual([
      {
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [logicalId('Tables/Jobs'), 'Arn'] },
      },
      {
        Action: 'dynamodb:UpdateItem',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [logicalId('Tables/State'), 'Arn'] },
      },
    ]);
  });
});
