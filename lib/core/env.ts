/**
 * The environment variables the runtime reads, each named once with what it means. The deployed stack sets the
 * step functions' ones (lib/infra); local mode and the CLI read overrides from the others. Each reader applies its
 * own default, said here.
 */

/** An environment variable: its name and what it means. */
export interface EnvVar {
  readonly name: string;
  readonly meaning: string;
}

/** Every `IDX_*` environment variable the runtime reads. */
export const ENV = {
  home: { name: 'IDX_HOME', meaning: 'local state folder (embedded DynamoDB, S3, SFTP, Gigya); default .idx/' },
  dynamodbEndpoint: {
    name: 'IDX_DYNAMODB_ENDPOINT',
    meaning: 'local mode: a DynamoDB endpoint to use instead of starting the embedded one',
  },
  s3Endpoint: {
    name: 'IDX_S3_ENDPOINT',
    meaning: 'local mode: an S3 endpoint to use instead of starting the embedded one',
  },
  gigyaEndpoint: {
    name: 'IDX_GIGYA_ENDPOINT',
    meaning: 'local mode: a Gigya base URL to call instead of starting the emulator',
  },
  azureBlobEndpoint: {
    name: 'IDX_AZURE_BLOB_ENDPOINT',
    meaning:
      'local mode: an Azure Blob endpoint (path-style, e.g. http://127.0.0.1:10000) to use instead of starting Azurite',
  },
  eloquaEndpoint: {
    name: 'IDX_ELOQUA_ENDPOINT',
    meaning: 'local mode: an Eloqua login origin (serving /id) to use instead of starting the Eloqua emulator',
  },
  stageBucket: { name: 'IDX_STAGE_BUCKET', meaning: 'the bucket where steps stage records and files' },
  jobsTable: { name: 'IDX_JOBS_TABLE', meaning: 'deployed: the job status table' },
  stateTable: { name: 'IDX_STATE_TABLE', meaning: 'deployed: the dataflow state table (watermark, run lock, marks)' },
  uidMapTable: { name: 'IDX_UIDMAP_TABLE', meaning: 'deployed: the UID map table' },
  dataflowId: { name: 'IDX_DATAFLOW_ID', meaning: 'deployed: the dataflow a step function serves (for operators)' },
  secretPrefix: {
    name: 'IDX_SECRET_PREFIX',
    meaning: 'deployed: the Secrets Manager name prefix of ${secret:NAME}; default identity-sync/',
  },
  localSecret: {
    name: 'IDX_SECRET_',
    meaning: 'local mode, a prefix: IDX_SECRET_<NAME> (upper snake case) holds the value of ${secret:NAME}',
  },
  watermarkOverlapMs: {
    name: 'IDX_WATERMARK_OVERLAP_MS',
    meaning: 'how far before the run start the delta watermark moves (search lags writes); default 5 minutes',
  },
  lockTtlMs: {
    name: 'IDX_LOCK_TTL_MS',
    meaning: 'how long a run lock holds before another run may take it; default 6 h',
  },
  invocationBudgetMs: {
    name: 'IDX_INVOCATION_BUDGET_MS',
    meaning:
      'local runs: the time budget of every step invocation in ms (as `idx run --invocation-budget`); default 13.5 min',
  },
  gigyaBudget: {
    name: 'IDX_GIGYA_BUDGET',
    meaning:
      "where the partitions of a Gigya read in a Map state share the job's calls per second: table (the state table, " +
      'across Lambdas; deployed default) or process (this process’s memory; local default)',
  },
  lanes: { name: 'IDX_LANES', meaning: 'parallel lanes of a large step: a number, or auto (one per core); default 1' },
  fromSources: {
    name: 'IDX_FROM_SOURCES',
    meaning:
      'the CLI: 1 runs it (and its lane workers) from the TypeScript sources through tsx instead of its bundle ' +
      '(bin/cli-bundle.js, rebuilt when a source changes); slower to start, about 60 MB more resident memory',
  },
  kernels: {
    name: 'IDX_KERNELS',
    meaning:
      'byte kernels for the plain chunks of a large step that runs in lanes (or, with lanes off, in the main ' +
      "thread's own lane): 1 (default) or 0, every chunk through the scripts (a comparison)",
  },
  laneWorker: { name: 'IDX_LANE_WORKER', meaning: 'the lane worker module; default bin/lane-worker.js' },
  lanesMinRecords: {
    name: 'IDX_LANES_MIN_RECORDS',
    meaning: 'staged records from which a step runs in lanes; default 50,000',
  },
  lanesMinBytes: {
    name: 'IDX_LANES_MIN_BYTES',
    meaning: 'bytes of files from which a parser runs in lanes; default 16 MiB',
  },
  namePrefix: {
    name: 'IDX_NAME_PREFIX',
    meaning:
      "deployed console: the name prefix of the stack's resources (state machines, rules); default identity-sync",
  },
  stateMachineArnPrefix: {
    name: 'IDX_STATE_MACHINE_ARN_PREFIX',
    meaning: "deployed console: the ARN of the stack's state machines up to their name (…:stateMachine:)",
  },
  idxApiSecret: {
    name: 'IDX_API_SECRET_ARN',
    meaning: 'deployed console: the Secrets Manager secret holding the IDX API credentials {apiKey, userKey, secret}',
  },
  consoleAssetsBucket: {
    name: 'IDX_CONSOLE_ASSETS_BUCKET',
    meaning: "deployed console: the private S3 bucket holding the console's static files (lib/console/static)",
  },
  consoleOrigins: {
    name: 'IDX_CONSOLE_ORIGINS',
    meaning:
      'deployed console: comma-separated origins besides its own allowed to post actions (a signing proxy, e.g. http://localhost:8080)',
  },
} as const satisfies Record<string, EnvVar>;
