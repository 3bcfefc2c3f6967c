/**
 * The DynamoDB tables (shapes as in lib/local/environment.ts): jobs (IdentitySync job status, kept 90 days by
 * TTL on `expiresAt`), dataflow state (watermark, run lock, processed-file marks, and the calls-per-second budget the
 * ranges of a partitioned Gigya read share, one item per site: these never expire; the IDX API's nonces, which
 * do, by TTL on `expiresAt`) and
 * the UID map (external key ↔ UID, kept as long as the integration lives: no TTL). On-demand billing and
 * point-in-time recovery on all three.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { JOB_INDEXES } from '../stores/jobs.ts';
import { DEFAULT_NAME_PREFIX, jobsTableName } from './names.ts';

/** Props of {@link Tables}. */
export interface TablesProps {
  /**
   * The resource name prefix; the jobs table is named `<prefix>-jobs` so the CLI can find it.
   * @default 'identity-sync'
   */
  readonly namePrefix?: string;
  /**
   * What happens to the tables when the stack is deleted. The state table holds the delta watermark and the UID
   * map the mappings inbound flows depend on: losing them means full re-extracts and lookups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The three tables of the runtime. */
export class Tables extends Construct {
  readonly jobs: ITable;
  readonly state: ITable;
  readonly uidMap: ITable;

  constructor(scope: Construct, id: string, props: TablesProps = {}) {
    super(scope, id);
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    const jobs = new Table(this, 'Jobs', {
      ...common,
      tableName: jobsTableName(props.namePrefix ?? DEFAULT_NAME_PREFIX),
      partitionKey: { name: 'id', type: AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
    });
    // byDataflow lists one dataflow's jobs, byStart every job (its partition key is one constant: see
    // JOB_LIST_KEY); both newest first by a Query, so no listing scans the table (see lib/stores/jobs.ts).
    // CloudFormation adds one index per update, so a stack deployed before byStart existed takes it in one.
    for (const index of Object.values(JOB_INDEXES))
      jobs.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        ...(index.projection === 'ALL'
          ? { projectionType: ProjectionType.ALL }
          : { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [index.projection] }),
      });
    this.jobs = jobs;
    this.state = new Table(this, 'State', {
      ...common,
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      // Only the IDX API's nonces carry `expiresAt` (lib/stores/nonces.ts); every other item lacks it and stays.
      timeToLiveAttribute: 'expiresAt',
    });
    this.uidMap = new Table(this, 'UidMap', {
      ...common,
      partitionKey: { name: 'pk', type: AttributeType.STRING },
    });
  }
}
