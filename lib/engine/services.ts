/**
 * What the runtime needs from the outside world, resolved once per process: clients, table and bucket names,
 * endpoint overrides. Deployed, endpoints are AWS's; locally they point at the embedded stand-ins. Scripts and
 * the engine only ever see this interface, so one code path serves both.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type LaneSettings, laneSettings } from './lane-settings.ts';
import type { SecretResolver } from './secrets.ts';

/** Names and endpoints of the runtime's resources. */
export interface RuntimeConfig {
  readonly region: string;
  /** The bucket where steps stage records and files. */
  readonly stageBucket: string;
  readonly tables: {
    readonly jobs: string;
    readonly state: string;
    readonly uidMap: string;
  };
  /** Endpoint overrides (local mode); absent means the real AWS / Gigya endpoints. */
  readonly endpoints: {
    readonly s3?: string;
    readonly dynamodb?: string;
    /** Base URL that replaces `https://<namespace>.<dataCenter>.gigya.com` (the local emulator). */
    readonly gigya?: string;
    /** Default SFTP host:port for steps whose `host` is empty (the embedded SFTP server). */
    readonly sftp?: { readonly host: string; readonly port: number; readonly hostKeyFingerprint?: string };
  };
  /** Credentials for the local stand-ins; absent when deployed (the execution role is used). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** True when running on embedded services. */
  readonly local: boolean;
  /** Overlap subtracted from the extraction start when the watermark moves (search results lag writes). */
  readonly watermarkOverlapMs: number;
  /** How long a run lock holds before another run may take it over (crashed runs). */
  readonly lockTtlMs: number;
  /** Parallel lanes for large steps that allow them; absent: every step runs on one thread. */
  readonly lanes?: LaneSettings;
}

/** The clients a step or job action uses. */
export interface Services {
  readonly config: RuntimeConfig;
  /** S3 client for the stage bucket (and S3 steps without explicit credentials). */
  readonly s3: S3Client;
  /** An S3 client for a given region / explicit credentials (S3 steps with `accessKey`/`secretKey`). */
  s3For(options: { region?: string; accessKeyId?: string; secretAccessKey?: string }): S3Client;
  readonly dynamo: DynamoDBDocumentClient;
  readonly secrets: SecretResolver;
}

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
    stageBucket: need('IDX_STAGE_BUCKET'),
    tables: { jobs: need('IDX_JOBS_TABLE'), state: need('IDX_STATE_TABLE'), uidMap: need('IDX_UIDMAP_TABLE') },
    endpoints: {},
    local: false,
    watermarkOverlapMs: Number(env.IDX_WATERMARK_OVERLAP_MS ?? 5 * 60_000),
    lockTtlMs: Number(env.IDX_LOCK_TTL_MS ?? 6 * 3_600_000),
    ...lanesOf(env),
  };
}

/** The `lanes` entry of a config, when lanes are on. */
export function lanesOf(env: NodeJS.ProcessEnv): { lanes?: LaneSettings } {
  const lanes = laneSettings(env);
  return lanes ? { lanes } : {};
}
