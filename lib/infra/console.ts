/**
 * The deployed console and IDX REST API: one function (lambdas/console.ts) behind a Lambda function URL with
 * `AuthType.AWS_IAM`, so every request is SigV4-signed by an IAM principal allowed `lambda:InvokeFunctionUrl` on it
 * (no anonymous access; docs/console.md says how an operator signs in). The deployed dataflows are bundled with
 * the function; the console's static files are deployed to a private, encrypted, TLS-only bucket, which the
 * function reads (each file by name, once per instance) and serves under the same URL (no CloudFront).
 *
 * The function's role reads the jobs table (by id and through its two indexes) and the state table (by key; it
 * writes only the IDX API's nonces there) and the deployed dataflows' stage prefixes, starts and
 * stops executions of the dataflows' state machines only, enables and disables the stack's schedule rules and
 * Scheduler schedules only (passing the schedules' execution roles to Scheduler only), and reads the static files
 * by name and the IDX API credentials' secret only.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ArnFormat, type CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, Stage } from 'aws-cdk-lib';
import { Grant, type IRole, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { FunctionUrlAuthType, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../core/env.ts';
import { dataflowPrefix } from '../core/keys.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { NONCES_KEY } from '../stores/nonces.ts';
import { BUNDLING, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LAMBDA_RUNTIME_REASON, LAMBDA_TRACING } from './bundling.ts';
import {
  grantExecutions,
  grantJobsRead,
  grantRuleToggle,
  grantScheduleUpdate,
  grantStageRead,
  grantTableItems,
} from './grants.ts';
import { re2WasmPath } from './lane-worker-build.ts';
import { acknowledge } from './nag.ts';
import { DEFAULT_NAME_PREFIX, scheduleRuleName, stateMachineName } from './names.ts';
import { schedulePlan } from './schedule-expressions.ts';
import type { Tables } from './tables.ts';

/** Where the console's handler is, from the project root. */
export const CONSOLE_ENTRY = 'lambdas/console.ts';

/** The console's static files (stylesheet, script), from the project root: deployed to the assets bucket. */
export const CONSOLE_STATIC = 'lib/console/static';

/** A deployed dataflow as the console sees it: the dataflow, its state machine and its schedules' role. */
export interface ConsoleDataflow {
  readonly dataflow: Dataflow;
  readonly stateMachine: IStateMachine;
  /** The execution role of the dataflow's EventBridge Scheduler schedules, if it has any (`DataflowSchedules`). */
  readonly schedulerRole?: IRole;
}

/** Props of {@link ConsoleFunction}. */
export interface ConsoleFunctionProps {
  /** The deployed dataflows with their state machines. */
  readonly dataflows: readonly ConsoleDataflow[];
  readonly tables: Tables;
  readonly stageBucket: IBucket;
  /**
   * The prefix the stack names its state machines and schedule rules with.
   * @default 'identity-sync'
   */
  readonly namePrefix?: string;
  /**
   * The secret holding the IDX API credentials, a JSON object `{"apiKey", "userKey", "secret"}`.
   * @default a new secret with a generated `secret`, `apiKey` "identity-sync" and `userKey` "idx-api" (set the
   * `apiKey` your IDX clients send after the first deployment)
   */
  readonly idxApiSecret?: ISecret;
  /**
   * Origins besides the function URL's own from which the console's actions may be posted: the address of the
   * signing proxy operators open the console through.
   * @default ['http://localhost:8080'] (the proxy command docs/console.md gives)
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * The bucket the assets bucket writes its server access logs to (under `console-assets/`).
   * @default none (the finding is acknowledged: the bucket holds only the console's published static files)
   */
  readonly accessLogsBucket?: IBucket;
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * The time schedules are planned against (which schedules are EventBridge rules), as the stack's schedules.
   * @default new Date()
   */
  readonly now?: Date;
}

/** A dataflow's JSON as IdentitySync has it: its kept fields, then the ones the model reads. */
function dataflowJson(d: Dataflow): Record<string, unknown> {
  return {
    ...d.extra,
    id: d.id,
    name: d.name,
    ...(d.description === undefined ? {} : { description: d.description }),
    ...(d.apiKey === undefined ? {} : { apiKey: d.apiKey }),
    ...(d.lastRuntime === undefined ? {} : { lastRuntime: d.lastRuntime }),
    steps: d.steps,
    schedules: d.schedules,
  };
}

/** The console's function, its IAM-authenticated URL and its role. */
export class ConsoleFunction extends Construct {
  readonly function: IFunction;
  readonly role: IRole;
  readonly secret: ISecret;
  /** The private bucket the console's static files are deployed to, read by the function only. */
  readonly assetsBucket: IBucket;
  /** The function URL (`https://<id>.lambda-url.<region>.on.aws/`). */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ConsoleFunctionProps) {
    super(scope, id);
    // Log delivery to the access log bucket through its policy, not the legacy ACL (ACLs are off), as the stage
    // bucket does.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const prefix = props.namePrefix ?? DEFAULT_NAME_PREFIX;
    const now = props.now ?? new Date();
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'identity-sync console and IDX API: reads jobs and state, starts and stops runs, toggles schedules',
    });
    logGroup.grantWrite(role);
    this.role = role;
    this.secret =
      props.idxApiSecret ??
      new Secret(this, 'IdxApiCredentials', {
        description: 'identity-sync: the credentials IDX API clients present (apiKey, userKey, secret)',
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ apiKey: 'identity-sync', userKey: 'idx-api' }),
          generateStringKey: 'secret',
          excludePunctuation: true,
          passwordLength: 40,
        },
        removalPolicy: RemovalPolicy.RETAIN,
      });
    if (!props.idxApiSecret)
      acknowledge(
        this.secret,
        'The IDX API credentials are shared with its clients, which are configured by hand; rotating them is an operator decision.',
        ['AwsSolutions-SMG4'],
      );

    // The static files live in a private bucket the function alone reads (the pages link them under the same
    // IAM-authenticated URL, so nothing is ever served anonymously; no CloudFront to secure besides).
    const assets = new Bucket(this, 'Assets', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...(props.accessLogsBucket
        ? { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'console-assets/' }
        : {}),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (!props.accessLogsBucket)
      acknowledge(assets, "The bucket holds only the console's published static files; the stack has no log bucket.", [
        'AwsSolutions-S1',
      ]);
    this.assetsBucket = assets;
    new BucketDeployment(this, 'AssetsDeployment', {
      sources: [Source.asset(CONSOLE_STATIC)],
      destinationBucket: assets,
      // A file removed from lib/console/static is removed from the bucket too.
      prune: true,
      memoryLimit: 256,
    });
    // Its handler is one function per stack (and memory size), shared by every BucketDeployment.
    const copier = Stack.of(this).node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (copier)
      acknowledge(
        copier,
        "CDK's BucketDeployment handler copies the asset from the CDK assets bucket into the assets bucket only: its actions are CDK's grants on those two buckets, its runtime and basic execution policy are CDK's.",
        [
          'AwsSolutions-L1',
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map(
            (a) => `AwsSolutions-IAM5[Action::${a}]`,
          ),
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
          `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(assets.node.defaultChild as CfnElement)}.Arn>/*]`,
        ],
      );

    // What the stack deploys, bundled beside the handler: written at synth into the cloud assembly's folder (which
    // goes with it, where a temporary folder of its own was left behind by every synth), copied in by the hook.
    const folder = join(Stage.of(this)?.outdir ?? '.', `idx-console-${this.node.addr}`);
    mkdirSync(folder, { recursive: true });
    const dataflowsFile = join(folder, 'dataflows.json');
    writeFileSync(
      dataflowsFile,
      JSON.stringify(
        props.dataflows.map(({ dataflow }) => ({
          file: dataflow.file ? relative(process.cwd(), dataflow.file) : `dataflows/${dataflow.id}.json`,
          json: dataflowJson(dataflow),
        })),
      ),
    );
    this.function = new NodejsFunction(this, 'Function', {
      entry: CONSOLE_ENTRY,
      handler: 'handler',
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      tracing: LAMBDA_TRACING,
      memorySize: 512,
      timeout: Duration.seconds(30),
      role,
      logGroup,
      description: 'identity-sync: the web console and the IDX REST API of the deployed dataflows',
      bundling: {
        ...BUNDLING,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => [
            `cp "${dataflowsFile}" "${join(outputDir, 'dataflows.json')}"`,
            // Validation compiles dataflow regexes in RE2 (re2-wasm reads re2.wasm beside the bundle).
            `cp "${re2WasmPath()}" "${join(outputDir, 're2.wasm')}"`,
          ],
        },
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.jobsTable.name]: props.tables.jobs.tableName,
        [ENV.stateTable.name]: props.tables.state.tableName,
        [ENV.namePrefix.name]: prefix,
        [ENV.stateMachineArnPrefix.name]: Stack.of(this).formatArn({
          service: 'states',
          resource: 'stateMachine',
          resourceName: '',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
        [ENV.idxApiSecret.name]: this.secret.secretArn,
        [ENV.consoleAssetsBucket.name]: assets.bucketName,
        [ENV.consoleOrigins.name]: (props.allowedOrigins ?? ['http://localhost:8080']).join(','),
      },
    });
    const functionUrl = this.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
    this.url = functionUrl.url;

    grantJobsRead(props.tables.jobs, role);
    // The dataflows' watermarks and run locks, read by key: nothing of the state table is queried or scanned.
    grantTableItems(props.tables.state, role, ['GetItem']);
    // The IDX API's nonces (lib/stores/nonces.ts): conditional puts in their one partition, nothing else written.
    grantTableItems(props.tables.state, role, ['PutItem'], [NONCES_KEY]);
    grantStageRead(
      props.stageBucket,
      role,
      props.dataflows.map(({ dataflow }) => dataflowPrefix(dataflow.id)),
    );
    grantExecutions(
      props.dataflows.map(({ dataflow, stateMachine }) => ({
        stateMachine,
        name: stateMachineName(dataflow.id, prefix),
      })),
      role,
    );
    const rules = props.dataflows.flatMap(({ dataflow }) =>
      dataflow.schedules.flatMap((schedule) => {
        const plan = schedulePlan(schedule, now);
        return plan.kind === 'rules'
          ? plan.expressions.map((_, i) => scheduleRuleName(dataflow.id, schedule.name, i, prefix))
          : [];
      }),
    );
    grantRuleToggle(rules, role);
    const schedulers = props.dataflows.flatMap(({ dataflow }) =>
      dataflow.schedules
        .filter((schedule) => schedulePlan(schedule, now).kind === 'scheduler')
        .map((schedule) => scheduleRuleName(dataflow.id, schedule.name, 0, prefix)),
    );
    grantScheduleUpdate(
      schedulers,
      props.dataflows.flatMap(({ schedulerRole }) => (schedulerRole ? [schedulerRole] : [])),
      role,
    );
    this.secret.grantRead(role);
    // Each static file by name: no wildcard, no listing, nothing else of the bucket.
    Grant.addToPrincipal({
      grantee: role,
      actions: ['s3:GetObject'],
      resourceArns: readdirSync(CONSOLE_STATIC).map((file) => assets.arnForObjects(file)),
    });

    acknowledge(role, 'X-Ray trace segments have no resource-level permissions.', ['AwsSolutions-IAM5[Resource::*]']);
    const stack = Stack.of(this);
    const arnOf = (c: Construct) => `<${stack.getLogicalId(c.node.defaultChild as CfnElement)}.Arn>`;
    acknowledge(
      role,
      'Each wildcard is a scope, not a service: the deployed dataflows’ stage prefixes (their rejected records), and the executions of their state machines (an execution ARN ends with its job id).',
      [
        ...props.dataflows.flatMap(({ dataflow }) => [
          `AwsSolutions-IAM5[Resource::${arnOf(props.stageBucket as unknown as Construct)}/${dataflowPrefix(dataflow.id)}*]`,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName(dataflow.id, prefix)}:*]`,
        ]),
      ],
    );
    acknowledge(this.function, LAMBDA_RUNTIME_REASON, ['AwsSolutions-L1']);
    new CfnOutput(this, 'Url', {
      value: functionUrl.url,
      description: 'The console and the IDX REST API (IAM-authenticated: sign requests with SigV4, service lambda)',
    });
  }
}
