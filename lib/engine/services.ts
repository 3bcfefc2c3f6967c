/** Builds the runtime's clients from its config: the implementations of the contracts in core/services. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../core/env.ts';
import type { SecretResolver } from '../core/secrets.ts';
import { gigyaBudgetMode, type LaneSettings, type RuntimeConfig, type Services } from '../core/services.ts';
import { laneSettings } from './lanes/settings.ts';

/** Builds an S3 client honouring the endpoint override (path-style for local servers). */
export function makeS3Client(
  config: RuntimeConfig,
  options: { region?: string; accessKeyId?: string; secretAccessKey?: string } = {},
): S3Client {
  const explicit =
    options.accessKeyId && options.secretAccessKey
      ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
      : config.credentials;
  return new S3Client({
    region: options.region ?? config.region,
    ...(config.endpoints.s3 ? { endpoint: config.endpoints.s3, forcePathStyle: true } : {}),
    ...(explicit ? { credentials: explicit } : {}),
    // Checksums only where S3 requires them: local S3 servers do not implement the newer CRC trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
  });
}

/** Builds the service set from a config and a secret resolver. */
export function createServices(config: RuntimeConfig, secrets: SecretResolver): Services {
  const ddb = new DynamoDBClient({
    region: config.region,
    ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    maxAttempts: 5,
  });
  return {
    config,
    s3: makeS3Client(config),
    s3For: (options) => makeS3Client(config, options),
    dynamo: DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } }),
    secrets,
  };
}

/** Reads the deployed runtime config from the Lambda environment (set by the CDK stack). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`environment variable ${name} is not set`);
    return v;
  };
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    stageBucket: need(ENV.stageBucket.name),
    tables: { jobs: need(ENV.jobsTable.name), state: need(ENV.stateTable.name), uidMap: need(ENV.uidMapTable.name) },
    endpoints: {},
    local: false,
    watermarkOverlapMs: Number(env[ENV.watermarkOverlapMs.name] ?? 5 * 60_000),
    lockTtlMs: Number(env[ENV.lockTtlMs.name] ?? 6 * 3_600_000),
    gigyaBudget: gigyaBudgetMode(env[ENV.gigyaBudget.name], 'table'),
    ...lanesOf(env),
  };
}

/** The `lanes` entry of a config, when lanes are on. */
export function lanesOf(env: NodeJS.ProcessEnv): { lanes?: LaneSettings } {
  const lanes = laneSettings(env);
  return lanes ? { lanes } : {};
}
