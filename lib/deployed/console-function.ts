/**
 * The deployed console's function: the console and the IDX REST API over a deployed stack, behind a function URL
 * (lib/console/lambda.ts). {@link deployedConsoleFunction} wires them from clients and names; the Lambda handler
 * (lambdas/console.ts) calls {@link consoleFunctionFromEnvironment}, which reads the names the stack set in the
 * function's environment, the IDX API credentials from their Secrets Manager secret, the deployed dataflows
 * bundled beside the handler, and the console's static files from the assets bucket the stack deployed them to.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { hostedOrigin } from '../console/http.ts';
import { consoleFunction, type FunctionUrlEvent, type FunctionUrlResult } from '../console/lambda.ts';
import type { ConsoleAssetReader } from '../console/server.ts';
import { ENV } from '../core/env.ts';
import { describeError, IdxError } from '../core/errors.ts';
import { type IdxApiCredentials, idxApiHandler } from '../idx-api/handler.ts';
import { TableNonces } from '../stores/nonces.ts';
import {
  DeployedConsoleBackend,
  type DeployedConsoleOptions,
  type DeployedDataflowFile,
  DeployedIdxData,
} from './console-backend.ts';
import { deployedError } from './errors.ts';

/** Options of {@link deployedConsoleFunction}. */
export interface DeployedConsoleFunctionOptions extends DeployedConsoleOptions {
  /** The credentials IDX API callers present. */
  readonly credentials: IdxApiCredentials;
  /** Origins besides the function URL's own allowed to post the console's actions (see `hostedOrigin`). */
  readonly origins?: readonly string[];
  /** Where unexpected errors are logged. @default stderr */
  readonly log?: (line: string) => void;
  /**
   * The bucket the stack deployed the console's static files to (each under its file name), read with the S3
   * client. @default the files of lib/console/static beside the code
   */
  readonly assetsBucket?: string;
}

/** Reads the console's static files from their bucket; a failure is a coded error (the page answers it). */
function bucketAssets(s3: S3Client, Bucket: string): ConsoleAssetReader {
  return async (Key) => {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket, Key }));
      if (!object.Body) throw new Error(`s3://${Bucket}/${Key} has no body`);
      return await object.Body.transformToByteArray();
    } catch (error) {
      throw deployedError(error);
    }
  };
}

/** The console and the IDX REST API over a deployed stack, as a function-URL handler. */
export function deployedConsoleFunction(
  options: DeployedConsoleFunctionOptions,
): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const api = idxApiHandler({
    data: new DeployedIdxData(options),
    credentials: options.credentials,
    // The function's containers share one record of nonces, so a signed request replayed to another is refused.
    nonces: new TableNonces(options.clients.dynamo, options.tables.state),
    onUnexpected: (error) => log(`idx api: ${describeError(error)}`),
  });
  return consoleFunction({
    backend: new DeployedConsoleBackend(options),
    handlers: [api],
    origin: hostedOrigin(options.origins ?? []),
    log,
    ...(options.assetsBucket ? { assets: bucketAssets(options.clients.s3, options.assetsBucket) } : {}),
  });
}

/** An environment variable the stack sets, or a coded error naming it. */
function need(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value)
    throw new IdxError('IDX_DEPLOYED_NOT_FOUND', `the console function's environment has no ${name}`, {
      expected: `${name}, set by the stack (lib/infra/console.ts)`,
      received: 'nothing',
    });
  return value;
}

/** The IDX API credentials from their secret: a JSON object of three strings. */
async function credentialsOf(secrets: SecretsManagerClient, secretId: string): Promise<IdxApiCredentials> {
  let text: string | undefined;
  try {
    text = (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (error) {
    throw deployedError(error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '');
  } catch {
    parsed = undefined;
  }
  const c = (parsed ?? {}) as Record<string, unknown>;
  if (typeof c.apiKey !== 'string' || typeof c.userKey !== 'string' || typeof c.secret !== 'string')
    throw new IdxError('IDX_DEPLOYED_NOT_FOUND', 'the IDX API secret does not hold the API credentials', {
      expected: 'a JSON object {"apiKey": "…", "userKey": "…", "secret": "…"}',
      // The value is a secret: only its shape is told.
      received:
        parsed === undefined ? 'text that is not JSON' : `an object with ${Object.keys(c).join(', ') || 'no'} fields`,
    });
  return { apiKey: c.apiKey, userKey: c.userKey, secret: c.secret };
}

/**
 * The handler from the function's environment: names from the variables the stack sets, the deployed dataflows
 * from `dataflowsFile` (a JSON array of `{file, json}`), clients with the SDK's usual region and credentials.
 */
export async function consoleFunctionFromEnvironment(
  dataflowsFile: URL | string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<(event: FunctionUrlEvent) => Promise<FunctionUrlResult>> {
  const dataflows = JSON.parse(readFileSync(dataflowsFile, 'utf8')) as DeployedDataflowFile[];
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const credentials = await credentialsOf(
    new SecretsManagerClient({ maxAttempts: 5 }),
    need(env, ENV.idxApiSecret.name),
  );
  const origins = (env[ENV.consoleOrigins.name] ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  return deployedConsoleFunction({
    dataflows,
    clients: {
      dynamo,
      s3: new S3Client({ maxAttempts: 5 }),
      sfn: new SFNClient({ maxAttempts: 5 }),
      events: new EventBridgeClient({ maxAttempts: 5 }),
      scheduler: new SchedulerClient({ maxAttempts: 5 }),
    },
    tables: { jobs: need(env, ENV.jobsTable.name), state: need(env, ENV.stateTable.name) },
    stateMachineArnPrefix: need(env, ENV.stateMachineArnPrefix.name),
    ...(env[ENV.namePrefix.name] ? { prefix: env[ENV.namePrefix.name] as string } : {}),
    credentials,
    origins,
    assetsBucket: need(env, ENV.consoleAssetsBucket.name),
  });
}
