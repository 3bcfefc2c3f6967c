/**
 * The deployed console's function, invoked as a Lambda function URL invokes it (payload format 2.0 events), over
 * the deployed backend wired to dynalite and s3rver on loopback. Step Functions and EventBridge have no local
 * server that answers StartExecution, StopExecution or EnableRule/DisableRule, nor does EventBridge Scheduler
 * (GetSchedule/UpdateSchedule), so those clients are mocked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DisableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { signParams } from '../../lib/connectors/gigya-signer.ts';
import type { FunctionUrlEvent, FunctionUrlResult } from '../../lib/console/lambda.ts';
import type { DeployedDataflowFile } from '../../lib/deployed/console-backend.ts';
import { deployedConsoleFunction } from '../../lib/deployed/console-function.ts';
import { CONSOLE_STATIC } from '../../lib/infra/console.ts';
import { scheduleRuleName, stateMachineName } from '../../lib/infra/names.ts';
import { type JobRecord, JobStore } from '../../lib/stores/jobs.ts';
import { PROJECT_DATAFLOWS } from '../support/console.ts';
import { runningJobRecord } from '../support/jobs.ts';
import { useLocalEnvironment } from '../support/local.ts';

const HOST = 'abc123.lambda-url.eu-west-1.on.aws';
const ARN_PREFIX = 'arn:aws:states:eu-west-1:111122223333:stateMachine:';
const CREDENTIALS = { apiKey: 'site-key', userKey: 'console-user', secret: 'c2VjcmV0LXZhbHVl' };
/** The bucket the stack deploys the console's static files to, as its BucketDeployment fills it. */
const ASSETS_BUCKET = 'console-assets';

/** A function-URL event for a request to the console. */
function event(
  method: string,
  path: string,
  options: { query?: string; body?: string; headers?: Record<string, string> } = {},
): FunctionUrlEvent {
  return {
    rawPath: path,
    ...(options.query ? { rawQueryString: options.query } : {}),
    headers: { host: HOST, ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body, isBase64Encoded: false }),
    requestContext: { http: { method } },
  };
}

/** A POST of the console's pages: JSON, from the console's own origin. */
function action(path: string, body: Record<string, unknown>): FunctionUrlEvent {
  return event('POST', path, {
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', origin: `https://${HOST}` },
  });
}

/** A schedule the stack deploys as an EventBridge Scheduler schedule (a 3-day rate no cron keeps). */
const EVERY_THIRD_DAY = {
  name: 'every third day',
  frequencyType: 'day',
  frequencyInterval: 3,
  nextJobStartTime: '2025-12-01 05:00:00',
};

/** A `once` schedule without a start time: the stack runs it at deployment. */
const FIRST_LOAD = { name: 'first load', frequencyType: 'once', fullExtract: true };

/** The shipped dataflows as the stack bundles them, eloqua-outbound with a Scheduler schedule and a run at deployment. */
function shippedDataflows(): DeployedDataflowFile[] {
  return readdirSync(PROJECT_DATAFLOWS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const json = JSON.parse(readFileSync(join(PROJECT_DATAFLOWS, f), 'utf8')) as Record<string, unknown>;
      if (json.id === 'eloqua-outbound')
        json.schedules = [...(json.schedules as unknown[]), EVERY_THIRD_DAY, FIRST_LOAD];
      return { file: `dataflows/${f}`, json };
    });
}

const json = (r: FunctionUrlResult) => JSON.parse(r.body) as Record<string, unknown>;

describe('the deployed console function', () => {
  const holder = useLocalEnvironment();
  const sfn = new SFNClient({ region: 'eu-west-1' });
  const events = new EventBridgeClient({ region: 'eu-west-1' });
  const sfnMock = mockClient(sfn);
  const eventsMock = mockClient(events);
  const scheduler = new SchedulerClient({ region: 'eu-west-1' });
  const schedulerMock = mockClient(scheduler);
  let handle: (e: FunctionUrlEvent) => Promise<FunctionUrlResult>;
  /** A container of the function over the local environment's tables and buckets (AWS starts several). */
  const container = (options: { assetsBucket?: string; dataflows?: DeployedDataflowFile[] } = {}) => {
    const { env } = holder;
    return deployedConsoleFunction({
      assetsBucket: options.assetsBucket ?? ASSETS_BUCKET,
      dataflows: options.dataflows ?? shippedDataflows(),
      clients: { dynamo: env.services.dynamo, s3: env.services.s3, sfn, events, scheduler },
      tables: { jobs: env.config.tables.jobs, state: env.config.tables.state },
      stateMachineArnPrefix: ARN_PREFIX,
      credentials: CREDENTIALS,
      jobWaitMs: 0,
      log: () => undefined,
    });
  };
  let jobs: JobStore;

  beforeAll(async () => {
    const { env } = holder;
    jobs = new JobStore(env.services.dynamo, env.config.tables.jobs);
    await env.services.s3.send(new CreateBucketCommand({ Bucket: ASSETS_BUCKET }));
    for (const file of readdirSync(CONSOLE_STATIC))
      await env.services.s3.send(
        new PutObjectCommand({ Bucket: ASSETS_BUCKET, Key: file, Body: readFileSync(join(CONSOLE_STATIC, file)) }),
      );
    handle = container();
    await jobs.create({
      ...runningJobRecord('console-job-1', 'eloqua-outbound'),
      status: 'succeeded',
      endTime: new Date().toISOString(),
      totalRecords: 3,
      processedRecords: 3,
    });
  });

  it('answers the Dataflows page with the deployed dataflows and says they change through cdk deploy', async () => {
    // Act
    const page = await handle(event('GET', '/'));

    // Assess
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.isBase64Encoded).toBe(false);
    expect(page.body).toContain('eloqua-outbound');
    expect(page.body).toContain('eloqua-inbound');
    expect(page.body).toContain('cdk deploy');
    expect(page.body).not.toContain('href="/new"');
  });

  it('serves its stylesheet and script from the assets bucket, byte for byte', async () => {
    // Act
    const css = await handle(event('GET', '/assets/console.css'));
    const js = await handle(event('GET', '/assets/console.js'));

    // Assess
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.body).toBe(readFileSync(join(CONSOLE_STATIC, 'console.css'), 'utf8'));
    expect(js.statusCode).toBe(200);
    expect(js.body).toBe(readFileSync(join(CONSOLE_STATIC, 'console.js'), 'utf8'));
  });

  it('answers a coded error, and no stack trace, when an asset is missing from its bucket', async () => {
    // Prepare
    const { env } = holder;
    await env.services.s3.send(new CreateBucketCommand({ Bucket: 'console-assets-empty' }));
    const empty = container({ assetsBucket: 'console-assets-empty', dataflows: [] });

    // Act
    const css = await empty(event('GET', '/assets/console.css'));

    // Assess
    expect(css.statusCode).toBeGreaterThanOrEqual(400);
    expect(css.body).toContain('IDX_DEPLOYED_AWS');
    expect(css.body).not.toMatch(/\n\s+at /);
  });

  it("answers a job's page from the jobs table", async () => {
    // Act
    const page = await handle(event('GET', '/jobs/console-job-1'));
    const missing = await handle(event('GET', '/api/jobs/no-such-job'));

    // Assess
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('console-job-1');
    expect(page.body).toContain('succeeded');
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ error: { code: 'IDX_JOB_NOT_FOUND' } });
  });

  it('answers idx.search over the jobs table with the configured credentials, and refuses other ones', async () => {
    // Prepare
    const query = "SELECT * FROM idx_job_status WHERE dataflowId='eloqua-outbound' ORDER BY updateTime DESC LIMIT 5";
    const form = (secret: string) =>
      new URLSearchParams({ apiKey: CREDENTIALS.apiKey, userKey: CREDENTIALS.userKey, secret, query }).toString();

    // Act
    const found = await handle(
      event('POST', '/idx.search', {
        body: form(CREDENTIALS.secret),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    const refused = await handle(
      event('POST', '/idx.search', {
        body: form('wrong'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );

    // Assess
    expect(json(found)).toMatchObject({ errorCode: 0, statusCode: 200 });
    expect((json(found).result as { id: string }[]).map((r) => r.id)).toContain('console-job-1');
    expect(json(refused)).toMatchObject({ errorCode: 403003 });
  });

  it('answers a signed idx.search once: the same request replayed to another container is refused', async () => {
    // Prepare: a second container of the function, sharing the tables with the first.
    const other = container();
    const signed = signParams(
      `https://${HOST}/idx.search`,
      { apiKey: CREDENTIALS.apiKey, userKey: CREDENTIALS.userKey, query: 'SELECT count(*) FROM scheduling' },
      CREDENTIALS.secret,
    );
    const request = () =>
      event('POST', '/idx.search', {
        body: new URLSearchParams(signed).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });

    // Act
    const first = await handle(request());
    const elsewhere = await other(request());
    const here = await handle(request());

    // Assess
    expect(json(first)).toMatchObject({ errorCode: 0 });
    expect(json(elsewhere)).toMatchObject({ errorCode: 403004 });
    expect(json(here)).toMatchObject({ errorCode: 403004 });
  });

  it('starts a Run Test as an execution named after its job, with the input idx test --deployed sends', async () => {
    // Prepare
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: new Date() });

    // Act
    const started = await handle(action('/api/dataflows/eloqua-outbound/run', { test: true }));

    // Assess
    expect(started.statusCode).toBe(202);
    const { jobId } = json(started) as { jobId: string };
    const calls = sfnMock.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      stateMachineArn: `${ARN_PREFIX}${stateMachineName('eloqua-outbound')}`,
      name: jobId,
      input: JSON.stringify({ test: true }),
    });
  });

  it('stops a running job by stopping its execution', async () => {
    // Prepare
    sfnMock.reset();
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    await jobs.create(runningJobRecord('console-job-2', 'eloqua-outbound'));

    // Act
    const stopped = await handle(action('/api/jobs/console-job-2/stop', {}));
    const ended = await handle(action('/api/jobs/console-job-1/stop', {}));

    // Assess
    expect(stopped.statusCode).toBe(200);
    expect(sfnMock.commandCalls(StopExecutionCommand)[0]?.args[0].input.executionArn).toBe(
      `arn:aws:states:eu-west-1:111122223333:execution:${stateMachineName('eloqua-outbound')}:console-job-2`,
    );
    expect(json(ended)).toMatchObject({ error: { code: 'IDX_JOB_NOT_RUNNING' } });
  });

  it('disables a schedule by disabling its EventBridge rule, named as the stack names it', async () => {
    // Prepare
    eventsMock.reset();
    eventsMock.on(DisableRuleCommand).resolves({});

    // Act
    const done = await handle(
      action('/api/dataflows/eloqua-outbound/schedules', { schedule: 'nightly', enabled: false }),
    );

    // Assess
    expect(done.statusCode).toBe(200);
    expect(eventsMock.commandCalls(DisableRuleCommand).map((c) => c.args[0].input.Name)).toEqual([
      scheduleRuleName('eloqua-outbound', 'nightly'),
    ]);
  });

  it('disables a Scheduler schedule by updating it with its whole definition and the new state', async () => {
    // Prepare
    schedulerMock.reset();
    const name = scheduleRuleName('eloqua-outbound', 'every third day');
    const definition = {
      Name: name,
      GroupName: 'default',
      Arn: `arn:aws:scheduler:eu-west-1:111122223333:schedule/default/${name}`,
      ScheduleExpression: 'rate(3 days)',
      StartDate: new Date('2026-01-03T05:00:00.000Z'),
      Description: 'identity-sync: every 3 day(s)',
      FlexibleTimeWindow: { Mode: 'OFF' as const },
      State: 'ENABLED' as const,
      Target: {
        Arn: `${ARN_PREFIX}${stateMachineName('eloqua-outbound')}`,
        RoleArn: 'arn:aws:iam::111122223333:role/scheduler-role',
        Input: '{"scheduleId":"every third day"}',
      },
      CreationDate: new Date('2026-01-01T00:00:00.000Z'),
    };
    schedulerMock.on(GetScheduleCommand).resolves(definition);
    schedulerMock.on(UpdateScheduleCommand).resolves({ ScheduleArn: definition.Arn });

    // Act
    const done = await handle(
      action('/api/dataflows/eloqua-outbound/schedules', { schedule: 'every third day', enabled: false }),
    );

    // Assess
    expect(done.statusCode).toBe(200);
    expect(schedulerMock.commandCalls(GetScheduleCommand)[0]?.args[0].input).toEqual({
      Name: name,
      GroupName: 'default',
    });
    expect(schedulerMock.commandCalls(UpdateScheduleCommand).map((c) => c.args[0].input)).toEqual([
      {
        Name: name,
        GroupName: 'default',
        ScheduleExpression: 'rate(3 days)',
        StartDate: definition.StartDate,
        Description: definition.Description,
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: definition.Target,
        State: 'DISABLED',
      },
    ]);
  });

  it('answers a coded error when Scheduler refuses the update, and leaves a run at deployment alone', async () => {
    // Prepare
    schedulerMock.reset();
    schedulerMock.on(GetScheduleCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: iam:PassRole'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    // Act
    const refused = await handle(
      action('/api/dataflows/eloqua-outbound/schedules', { schedule: 'every third day', enabled: true }),
    );
    const once = await handle(
      action('/api/dataflows/eloqua-outbound/schedules', { schedule: 'first load', enabled: false }),
    );

    // Assess
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    expect(json(refused)).toMatchObject({ error: { code: expect.stringMatching(/^IDX_/) } });
    expect(schedulerMock.commandCalls(UpdateScheduleCommand)).toEqual([]);
    expect(json(once)).toMatchObject({ error: { code: 'IDX_HTTP_NOT_FOUND' } });
    expect(JSON.stringify(json(once))).toContain('ran once at deployment');
  });

  it("shows a step's rejected records from the stage bucket and downloads them", async () => {
    // Prepare
    const { env } = holder;
    const prefix = 'stage/eloqua-outbound/console-job-3/s1/';
    const lines = [1, 2, 3].map((n) => JSON.stringify({ UID: `u${n}`, _errorDetails: { code: 'IDX_DSV_COLUMNS' } }));
    await env.services.s3.send(
      new PutObjectCommand({
        Bucket: env.config.stageBucket,
        Key: `${prefix}i0000/rejected/part-00000.ndjson`,
        Body: `${lines.join('\n')}\n`,
      }),
    );
    await jobs.create({
      ...runningJobRecord('console-job-3', 'eloqua-outbound'),
      status: 'failed',
      steps: {
        rename: { rejectedLocation: `s3://${env.config.stageBucket}/${prefix}` } as JobRecord['steps'][string],
      },
    });

    // Act
    const page = await handle(event('GET', '/jobs/console-job-3/rejected/rename'));
    const download = await handle(event('GET', '/jobs/console-job-3/rejected/rename/download'));

    // Assess
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('u3');
    expect(download.statusCode).toBe(200);
    expect(download.body.trim().split('\n')).toEqual(lines);
  });

  it('refuses editing with the documented error, from the console and from the IDX API', async () => {
    // Act
    const save = await handle(action('/api/dataflows/eloqua-outbound/save', { text: '{}' }));
    const duplicate = await handle(action('/api/dataflows/eloqua-outbound/duplicate', {}));
    const editor = await handle(event('GET', '/dataflows/eloqua-outbound/edit'));
    const setDataflow = await handle(
      event('POST', '/idx.setDataflow', {
        body: JSON.stringify({ ...CREDENTIALS, data: { id: 'eloqua-outbound', name: 'changed' } }),
        headers: { 'content-type': 'application/json' },
      }),
    );

    // Assess
    for (const refused of [save, duplicate]) {
      expect(refused.statusCode).toBe(404);
      expect(json(refused)).toMatchObject({
        error: { code: 'IDX_HTTP_NOT_FOUND', message: 'dataflows change through the repository and `cdk deploy` here' },
      });
    }
    expect(editor.statusCode).toBe(404);
    expect(editor.body).toContain('cdk deploy');
    expect(json(setDataflow)).toMatchObject({ errorCode: 403007 });
    expect(String(json(setDataflow).errorDetails)).toContain('cdk deploy');
  });

  it('refuses an action posted from another origin', async () => {
    // Act
    const refused = await handle(
      event('POST', '/api/dataflows/eloqua-outbound/run', {
        body: '{"test":true}',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      }),
    );

    // Assess
    expect(refused.statusCode).toBe(403);
    expect(json(refused)).toMatchObject({ error: { code: 'IDX_HTTP_FORBIDDEN' } });
  });
});
