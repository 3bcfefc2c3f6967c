/**
 * Dataflow state: the delta watermark (`lastRuntime`), the last successful run and the last successful test run
 * (for display, kept apart from the watermark), and the run lock that keeps two runs of one dataflow from overlapping.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';

/** The state item of a dataflow. */
export interface DataflowState {
  readonly dataflowId: string;
  /** ISO time: the next delta run reads changes after this. */
  readonly watermark?: string;
  /** ISO time the last successful non-test run ended. */
  readonly lastSuccessfulRun?: string;
  readonly lastJobId?: string;
  /** ISO time the last successful test run ended (IdentitySync's dashboard shows it beside the last run). */
  readonly lastSuccessfulTestRun?: string;
  readonly lastTestJobId?: string;
  readonly lockJobId?: string;
  /** Epoch ms after which the lock may be taken over. */
  readonly lockExpires?: number;
  /** ISO time the lock was taken (or last renewed). */
  readonly lockTakenAt?: string;
  /** The local process holding the lock (a local run), so a lock whose process is gone can be taken over. */
  readonly lockPid?: number;
  readonly lockHost?: string;
  /** The execution holding the lock (its ARN). */
  readonly lockExecution?: string;
}

/** Who takes a run lock: a local process (pid and host), an execution, or both. */
export interface LockHolder {
  readonly pid?: number;
  readonly host?: string;
  readonly execution?: string;
}

const SK = 'state';

/** Reads and updates the state item of dataflows. */
export class DataflowStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(dataflowId: string): Promise<DataflowState> {
    const out = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: dataflowId, sk: SK }, ConsistentRead: true }),
    );
    const item = (out.Item ?? {}) as Record<string, unknown>;
    return { ...(item as Partial<DataflowState>), dataflowId };
  }

  /**
   * Takes the run lock with a conditional write: free, expired (a crashed run) or already ours (a retried
   * start). Otherwise fails fast with `IDX_RUN_LOCKED` naming the job that holds it.
   */
  async acquireLock(
    dataflowId: string,
    jobId: string,
    nowMs: number,
    ttlMs: number,
    holder: LockHolder = {},
    /** The job id of a lock whose holder is known to be gone: taken over whatever its expiry. */
    takeOver?: string,
  ): Promise<void> {
    const set = ['lockJobId = :job', 'lockExpires = :exp', 'lockTakenAt = :now'];
    const values: Record<string, unknown> = {
      ':job': jobId,
      ':exp': nowMs + ttlMs,
      ':nowMs': nowMs,
      ':now': new Date(nowMs).toISOString(),
    };
    const remove: string[] = [];
    for (const [field, value] of [
      ['lockPid', holder.pid],
      ['lockHost', holder.host],
      ['lockExecution', holder.execution],
    ] as const) {
      if (value === undefined) remove.push(field);
      else {
        set.push(`${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    if (takeOver !== undefined) values[':gone'] = takeOver;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: dataflowId, sk: SK },
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: `attribute_not_exists(lockJobId) OR lockExpires < :nowMs OR lockJobId = :job${takeOver === undefined ? '' : ' OR lockJobId = :gone'}`,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as Error).name === 'ConditionalCheckFailedException'
      ) {
        const held = await this.get(dataflowId);
        throw new IdxError(
          'IDX_RUN_LOCKED',
          `dataflow "${dataflowId}" is already running as job ${held.lockJobId ?? '?'}`,
          {
            dataflowId,
            expected: 'no other run of this dataflow in progress',
            received: `job ${held.lockJobId ?? '?'} holding the lock until ${held.lockExpires ? new Date(held.lockExpires).toISOString() : '?'}`,
          },
        );
      }
      throw error;
    }
  }

  /** Releases the lock if this job holds it; a lock taken over by another run is left alone. */
  async releaseLock(dataflowId: string, jobId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: dataflowId, sk: SK },
          UpdateExpression: 'REMOVE lockJobId, lockExpires, lockTakenAt, lockPid, lockHost, lockExecution',
          ConditionExpression: 'lockJobId = :job',
          ExpressionAttributeValues: { ':job': jobId },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }

  /** Records a successful test run; the watermark and the last (non-test) run stay as they are. */
  async recordTestSuccess(dataflowId: string, jobId: string, endTime: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: dataflowId, sk: SK },
        UpdateExpression: 'SET lastSuccessfulTestRun = :end, lastTestJobId = :job',
        ExpressionAttributeValues: { ':end': endTime, ':job': jobId },
      }),
    );
  }

  /**
   * Records a successful run. The watermark only moves forward (a slow older run never pulls it back);
   * `lastSuccessfulRun` is always set.
   */
  async recordSuccess(
    dataflowId: string,
    jobId: string,
    watermark: string | undefined,
    endTime: string,
  ): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: dataflowId, sk: SK },
        UpdateExpression: 'SET lastSuccessfulRun = :end, lastJobId = :job',
        ExpressionAttributeValues: { ':end': endTime, ':job': jobId },
      }),
    );
    if (watermark === undefined) return;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: dataflowId, sk: SK },
          UpdateExpression: 'SET watermark = :w',
          ConditionExpression: 'attribute_not_exists(watermark) OR watermark < :w',
          ExpressionAttributeValues: { ':w': watermark },
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    }
  }
}
