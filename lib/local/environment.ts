/**
 * The embedded stand-ins of local mode, started in-process on 127.0.0.1: DynamoDB (dynalite) and S3 (s3rver),
 * both persisted under `.idx/`, with the tables and the stage bucket created on first use. The Gigya emulator
 * and the SFTP server join through {@link LocalEnvironmentOptions.extras}. Environment variables point any of
 * them at a real service instead. Processes using one state folder share the services the first one started
 * (lib/local/shared.ts), so `idx jobs` works while `idx run` is active.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import { ENV } from '../core/env.ts';
import type { IdxError } from '../core/errors.ts';
import { gigyaBudgetMode, type RuntimeConfig, type Services } from '../core/services.ts';
import { LocalSecretResolver } from '../engine/secrets.ts';
import { createServices, lanesOf, makeS3Client } from '../engine/services.ts';
import { jobsTableInput, upgradeJobsTable } from './jobs-table.ts';
import { ServiceThread, startServiceHere } from './service-thread.ts';
import { claimServices } from './shared.ts';

/** Credentials the local servers accept. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Options of {@link startLocalEnvironment}. */
export interface LocalEnvironmentOptions {
  /** Where state persists. @default `$IDX_HOME` or `<cwd>/.idx` */
  readonly dir?: string;
  /** Keep data in memory only (tests). @default false */
  readonly ephemeral?: boolean;
  /** Secret values by name, besides the environment and `<dir>/secrets.json`. */
  readonly secrets?: Record<string, string>;
  /** Overlap subtracted when the watermark moves. @default 5 minutes */
  readonly watermarkOverlapMs?: number;
  /** Run lock expiry. @default 6 hours */
  readonly lockTtlMs?: number;
  /** Environment to read overrides from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Further stand-ins (Gigya emulator, SFTP server): each starts with the environment directory and returns
   * endpoint overrides plus a close function.
   */
  readonly extras?: readonly LocalExtra[];
  /**
   * Called once when closing waits for other processes still using this folder's services (see
   * lib/local/shared.ts), with their pids.
   */
  readonly onWait?: (pids: readonly number[]) => void;
  /**
   * Run the embedded S3 and the stand-ins that can (the SFTP server) in a worker thread of their own
   * (service-thread.ts), so that serving them does not hold the steps' calls and transforms back: `true` with the
   * project's module (bin/service-thread.js; in this thread when it is missing), or the module to run.
   * @default false: in this thread, where tests can inject faults into them
   */
  readonly thread?: boolean | string;
  /**
   * Called when the service thread ends while its servers run (IDX_LOCAL_SERVICE): every call to them fails from
   * then on.
   */
  readonly onThreadEnded?: (error: IdxError) => void;
}

/**
 * A stand-in started with the local environment. `provides` names the endpoints it sets, so a process using
 * another process's services (lib/local/shared.ts) starts only the stand-ins that one does not run.
 */
export type LocalExtra = ((context: {
  dir: string;
  ephemeral: boolean;
  /** The service thread to start in, when the environment runs one ({@link LocalEnvironmentOptions.thread}). */
  thread?: ServiceThread;
}) => Promise<{
  readonly endpoints: Partial<RuntimeConfig['endpoints']>;
  readonly close: () => Promise<void>;
  /** Facts to show the user (e.g. the SFTP folder). */
  readonly info?: Record<string, string>;
}>) & { readonly provides?: readonly (keyof RuntimeConfig['endpoints'])[] };

/** A running local environment. */
export interface LocalEnvironment {
  readonly config: RuntimeConfig;
  readonly services: Services;
  readonly dir: string;
  readonly info: Record<string, string>;
  close(): Promise<void>;
}

/** Names used locally for the stage bucket and tables. */
export const LOCAL_NAMES = {
  stageBucket: 'identity-sync-stage',
  tables: { jobs: 'identity-sync-jobs', state: 'identity-sync-state', uidMap: 'identity-sync-uidmap' },
} as const;

function listen(server: {
  listen: (port: number, host: string, cb: () => void) => unknown;
  address: () => unknown;
}): Promise<number> {
  return new Promise((res) => {
    server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port));
  });
}

/**
 * Creates the tables and the bucket if they do not exist (idempotent), and gives a jobs table kept from an earlier
 * version the indexes it lacks (see lib/local/jobs-table.ts): `rebuild` on the dynalite this process started,
 * `in-place` on a DynamoDB the environment points at, `none` on services another process started (and upgraded).
 */
export async function ensureResources(
  config: RuntimeConfig,
  jobsUpgrade: 'rebuild' | 'in-place' | 'none' = 'in-place',
): Promise<void> {
  const ddb = new DynamoDBClient({
    region: config.region,
    ...(config.endpoints.dynamodb ? { endpoint: config.endpoints.dynamodb } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
  });
  const create = async (input: ConstructorParameters<typeof CreateTableCommand>[0]) => {
    try {
      await ddb.send(new CreateTableCommand(input));
    } catch (error) {
      if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException') throw error;
    }
  };
  await create(jobsTableInput(config.tables.jobs));
  if (jobsUpgrade !== 'none') await upgradeJobsTable(ddb, config.tables.jobs, jobsUpgrade === 'rebuild');
  await create({
    TableName: config.tables.state,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  });
  await create({
    TableName: config.tables.uidMap,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  });
  ddb.destroy();
  const s3 = makeS3Client(config);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: config.stageBucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  } finally {
    s3.destroy();
  }
}

/**
 * Starts the local environment. Environment overrides: `IDX_DYNAMODB_ENDPOINT`, `IDX_S3_ENDPOINT` (use an
 * existing server instead of starting one), `IDX_STAGE_BUCKET`, `IDX_GIGYA_ENDPOINT`.
 */
export async function startLocalEnvironment(options: LocalEnvironmentOptions = {}): Promise<LocalEnvironment> {
  const env = options.env ?? process.env;
  const dir = resolve(options.dir ?? env[ENV.home.name] ?? join(process.cwd(), '.idx'));
  const ephemeral = options.ephemeral ?? false;
  const closers: (() => Promise<void>)[] = [];
  const info: Record<string, string> = {};
  // A state folder on disk is shared with the other idx processes using it: the first starts the services.
  const claim = ephemeral ? undefined : await claimServices(dir);
  const shared = claim?.kind === 'client' ? claim.services : undefined;
  if (claim?.kind === 'client') closers.push(async () => claim.detach());
  if (shared) Object.assign(info, shared.info);
  let dynamodbEndpoint = env[ENV.dynamodbEndpoint.name] ?? shared?.endpoints.dynamodb;
  let s3Endpoint = env[ENV.s3Endpoint.name] ?? shared?.endpoints.s3;
  // Whether this process started the dynalite (and so may rebuild its jobs table).
  let started = false;
  // Opened here, started with the first service that runs in it (none when every service is shared or pointed at).
  const thread = options.thread
    ? ServiceThread.open(typeof options.thread === 'string' ? options.thread : undefined, options.onThreadEnded)
    : undefined;
  try {
    if (!dynamodbEndpoint) {
      started = true;
      if (!ephemeral) mkdirSync(join(dir, 'dynamodb'), { recursive: true });
      const server = dynalite({
        createTableMs: 0,
        deleteTableMs: 0,
        updateTableMs: 0,
        ...(ephemeral ? {} : { path: join(dir, 'dynamodb') }),
      });
      const port = await listen(server);
      dynamodbEndpoint = `http://127.0.0.1:${port}`;
      closers.push(() => new Promise<void>((r) => server.close(() => r())));
    }
    if (!s3Endpoint) {
      const directory = ephemeral ? join(dir, `s3-${process.pid}-${Date.now()}`) : join(dir, 's3');
      mkdirSync(directory, { recursive: true });
      const init = { directory, resetOnClose: ephemeral };
      const s3 = thread ? await thread.start('s3', init) : await startServiceHere('s3', init);
      s3Endpoint = `http://127.0.0.1:${s3.facts.port}`;
      closers.push(() => s3.close());
    }
    let endpoints: RuntimeConfig['endpoints'] = {
      ...shared?.endpoints,
      s3: s3Endpoint,
      dynamodb: dynamodbEndpoint,
      ...(env[ENV.gigyaEndpoint.name] ? { gigya: env[ENV.gigyaEndpoint.name] } : {}),
    };
    for (const extra of options.extras ?? []) {
      if (shared && extra.provides?.every((k) => shared.endpoints[k] !== undefined)) continue;
      const started = await extra({ dir, ephemeral, ...(thread ? { thread } : {}) });
      closers.push(started.close);
      endpoints = { ...endpoints, ...started.endpoints };
      Object.assign(info, started.info ?? {});
    }
    const config: RuntimeConfig = {
      region: 'us-east-1',
      stageBucket: env[ENV.stageBucket.name] ?? LOCAL_NAMES.stageBucket,
      tables: { ...LOCAL_NAMES.tables },
      endpoints,
      credentials: LOCAL_CREDENTIALS,
      local: true,
      watermarkOverlapMs: options.watermarkOverlapMs ?? Number(env[ENV.watermarkOverlapMs.name] ?? 5 * 60_000),
      lockTtlMs: options.lockTtlMs ?? Number(env[ENV.lockTtlMs.name] ?? 6 * 3_600_000),
      gigyaBudget: gigyaBudgetMode(env[ENV.gigyaBudget.name], 'process'),
      ...lanesOf(env),
    };
    await ensureResources(config, started ? 'rebuild' : shared ? 'none' : 'in-place');
    if (claim?.kind === 'owner') claim.publish({ endpoints, info });
    const services = createServices(
      config,
      new LocalSecretResolver({
        file: join(dir, 'secrets.json'),
        env,
        ...(options.secrets ? { values: options.secrets } : {}),
      }),
    );
    return {
      config,
      services,
      dir,
      info,
      async close() {
        services.s3.destroy();
        services.dynamo.destroy();
        if (claim?.kind === 'owner') await claim.retire(options.onWait);
        for (const c of closers.reverse()) await c().catch(() => undefined);
        if (claim?.kind === 'owner') claim.release();
      },
    };
  } catch (error) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    if (claim?.kind === 'owner') claim.release();
    throw error;
  }
}
