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
  async acquireLock(dataflowId: string, jobId: string, nowMs: number, ttlMs: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: dataflowId, sk: SK },
          UpdateExpression: 'SET lockJobId = :job, lockExpires = :exp, lockTakenAt = :now',
          ConditionExpression: 'attribute_not_exists(lockJobId) OR lockExpires < :nowMs OR lockJobId = :job',
          ExpressionAttributeValues: {
            ':job': jobId,
            ':exp': nowMs + ttlMs,
            ':nowMs': nowMs,
            ':now': new Date(nowMs).toISOString(),
          },
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
          UpdateExpression: 'REMOVE lockJobId, lockExpires, lockTakenAt',
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
