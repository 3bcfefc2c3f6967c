/**
 * What the runtime needs from the outside world, resolved once per process: clients, table and bucket names,
 * endpoint overrides. Deployed, endpoints are AWS's; locally they point at the embedded stand-ins. Scripts and
 * the engine only ever see this interface, so one code path serves both.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
    /** Default SFTP server for steps whose `host` is empty (the embedded SFTP server). */
    readonly sftp?: SftpAddress;
    /** Blob service base URL with path-style accounts (`<url>/<account>`), replacing `https://<account>.blob.core.windows.net` (Azurite). */
    readonly azureBlob?: string;
    /** Base URL of the local OAuth token and SAS service that `datasource.write.azure.sas` uses when its URLs are empty. */
    readonly azureSas?: string;
    /** Local mode: the login origin of the Eloqua emulator (`/id`, `/auth/oauth2/token`). */
    readonly eloqua?: string;
    /** Local mode: the origin of the Acoustic Campaign emulator (token endpoint and XML API). */
    readonly acoustic?: string;
    /** Local mode: the origin of the Marketo emulator (identity and bulk APIs). */
    readonly marketo?: string;
    /** Local mode: the Mailchimp emulator's API root (`<origin>/3.0`), used when a Mailchimp step's `apiUrl` is a template. */
    readonly mailchimp?: string;
    /** Local mode: the Constant Contact emulator's API root (`<origin>/v3`), used when `apiUrl` is empty. */
    readonly constantContact?: string;
    /** Local mode: the Campaign Monitor emulator's API root (`<origin>/api/v3.3`), used when `apiUrl` is empty. */
    readonly campaignMonitor?: string;
    /** Local mode: the origin of the Salesforce emulator (SOAP login, OAuth token, Bulk API 2.0). */
    readonly salesforce?: string;
    /** Local mode: the origin of the Marketing Cloud emulator (auth and REST hosts in one). */
    readonly marketingCloud?: string;
  };
  /** Credentials for the local stand-ins; absent when deployed (the execution role is used). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** True when running on embedded services. */
  readonly local: boolean;
  /** Overlap subtracted from the extraction start when the watermark moves (search results lag writes). */
  readonly watermarkOverlapMs: number;
  /** How long a run lock holds before another run may take it over (crashed runs). */
  readonly lockTtlMs: number;
  /**
   * Lanes for large steps that allow them: parallel ones, or (count 1) the main thread's own lane for a run a byte
   * kernel takes; absent: every step runs through its scripts on one thread.
   */
  readonly lanes?: LaneSettings;
  /**
   * Where the partitions of a Gigya read in a Map state share the job's calls-per-second budget: `table`, an item
   * of the state table that concurrent Lambdas share (deployed), or `process`, this process's memory, exact and
   * free when one process runs every partition (local). @default table deployed, process locally
   */
  readonly gigyaBudget?: GigyaBudgetMode;
}

/** See {@link RuntimeConfig.gigyaBudget}. */
export type GigyaBudgetMode = 'table' | 'process';

/** Reads a {@link GigyaBudgetMode} setting; anything else gives the default. */
export function gigyaBudgetMode(value: string | undefined, fallback: GigyaBudgetMode): GigyaBudgetMode {
  return value === 'table' || value === 'process' ? value : fallback;
}

/**
 * Where an SFTP server listens and which host key it must present: the runtime's default server, the embedded
 * server's own address, and the part of an SFTP connection's options that names the server.
 */
export interface SftpAddress {
  readonly host: string;
  readonly port: number;
  /** `SHA256:<base64>` as OpenSSH prints it (bare base64 or hex also read); unset: any host key, with a warning. */
  readonly hostKeyFingerprint?: string;
  /**
   * Names the server in processed-file marks and file names instead of host:port (the embedded server, whose port
   * changes from run to run).
   */
  readonly label?: string;
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

/** Lane settings of a runtime. */
export interface LaneSettings {
  /** Lanes (worker threads) per laned step. */
  readonly count: number;
  /** The worker module (bin/lane-worker.js from the sources; the bundled lane worker when deployed). */
  readonly worker: string;
  /** Staged records a step reads before it goes in lanes; below it, starting the threads costs more than it saves. */
  readonly minRecords: number;
  /** Bytes of files a parser reads before it goes in lanes. */
  readonly minBytes: number;
  /** Bytes of input per chunk handed to a lane. @default by the kind of input (see LANE_CHUNK, lanes/pool.ts) */
  readonly chunkBytes?: number;
  /**
   * Whether byte kernels (lanes/kernel.ts) take the chunks they reproduce exactly. With a count of 1, a step goes in
   * a lane (the main thread's own) only when a kernel takes its run. @default true
   */
  readonly kernels?: boolean;
}
