/**
 * The local jobs table: its shape, built from the store's index list (lib/stores/jobs.ts), and the upgrade of a
 * table a state folder kept from before the `byStart` index existed. dynalite answers an UpdateTable that creates
 * an index with success and creates nothing (dynalite 4.0.0, actions/updateTable.js), so its table is rebuilt:
 * the items are copied to `<name>-upgrade`, the table is created anew with every index, the items are copied
 * back with their list keys, and the copy is dropped. Each stage can run again, so an upgrade stopped half-way
 * finishes on the next start. A DynamoDB the environment points at (`IDX_DYNAMODB_ENDPOINT`) is never rebuilt:
 * it gets the index by UpdateTable, as the real service adds one to a table in place.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { JOB_INDEXES, listKeysOf } from '../stores/jobs.ts';

/** The CreateTable input of a jobs table named `name`, with every index of JOB_INDEXES. */
export function jobsTableInput(name: string): CreateTableCommandInput {
  const indexes = Object.values(JOB_INDEXES);
  const attributes = [...new Set(['id', ...indexes.flatMap((i) => [i.partitionKey, i.sortKey])])];
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributes.map((a) => ({ AttributeName: a, AttributeType: 'S' })),
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: indexes.map(indexInput),
  };
}

function indexInput(index: (typeof JOB_INDEXES)[keyof typeof JOB_INDEXES]) {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
    ],
    Projection:
      index.projection === 'ALL'
        ? { ProjectionType: 'ALL' as const }
        : { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [index.projection] },
  };
}

/** Whether a table exists (and, when it does, its index names and status). */
async function describe(
  ddb: DynamoDBClient,
  name: string,
): Promise<{ indexes: readonly string[]; status: string } | undefined> {
  try {
    const out = await ddb.send(new DescribeTableCommand({ TableName: name }));
    return {
      indexes: (out.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName ?? ''),
      status: out.Table?.TableStatus ?? '',
    };
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** Checks a table's state this often while waiting for it, at most this many times (10 s in all). */
const WAIT_MS = 20;
const WAIT_TRIES = 500;

/**
 * Waits until a table is gone or ACTIVE: dynalite deletes and creates tables a moment after it answers (a timer
 * even at 0 ms), and refuses to create a table whose namesake is still being deleted.
 */
export async function settleTable(ddb: DynamoDBClient, name: string, want: 'gone' | 'active'): Promise<void> {
  for (let i = 0; i < WAIT_TRIES; i++) {
    const table = await describe(ddb, name);
    if (want === 'gone' ? table === undefined : table?.status === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, WAIT_MS));
  }
  throw new Error(`the local table ${name} is not ${want} after ${(WAIT_MS * WAIT_TRIES) / 1000} s`);
}

/** Copies every item of `from` into `to`, page by page, adding the list keys a job record lacks. */
async function copyItems(ddb: DynamoDBClient, from: string, to: string): Promise<void> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await ddb.send(new ScanCommand({ TableName: from, ...(start ? { ExclusiveStartKey: start } : {}) }));
    for (const item of out.Items ?? []) {
      const id = item.id?.S;
      const startTime = item.startTime?.S;
      const keys = id !== undefined && startTime !== undefined ? listKeysOf({ id, startTime }) : undefined;
      await ddb.send(
        new PutItemCommand({
          TableName: to,
          Item: keys ? { ...item, listKey: { S: keys.listKey }, startKey: { S: keys.startKey } } : item,
        }),
      );
    }
    start = out.LastEvaluatedKey;
  } while (start);
}

/**
 * Gives an existing jobs table the indexes it lacks: in place on a real DynamoDB, by a rebuild on the embedded
 * dynalite (`rebuild`). The records of a table upgraded in place get their list keys from `idx jobs reindex`.
 */
export async function upgradeJobsTable(ddb: DynamoDBClient, name: string, rebuild: boolean): Promise<void> {
  const copy = `${name}-upgrade`;
  const indexes = (await describe(ddb, name))?.indexes;
  const missing = Object.values(JOB_INDEXES).filter((i) => indexes !== undefined && !indexes.includes(i.name));
  if (missing.length > 0 && !rebuild) {
    await ddb.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: jobsTableInput(name).AttributeDefinitions,
        GlobalSecondaryIndexUpdates: missing.map((i) => ({ Create: indexInput(i) })),
      }),
    );
    return;
  }
  if (missing.length > 0) {
    if ((await describe(ddb, copy)) === undefined)
      await ddb.send(
        new CreateTableCommand({
          TableName: copy,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        }),
      );
    await settleTable(ddb, copy, 'active');
    await copyItems(ddb, name, copy);
    await ddb.send(new DeleteTableCommand({ TableName: name }));
    await settleTable(ddb, name, 'gone');
    await ddb.send(new CreateTableCommand(jobsTableInput(name)));
    await settleTable(ddb, name, 'active');
  }
  if (rebuild && (await describe(ddb, copy)) !== undefined) {
    await copyItems(ddb, copy, name);
    await ddb.send(new DeleteTableCommand({ TableName: copy }));
    await settleTable(ddb, copy, 'gone');
  }
}
