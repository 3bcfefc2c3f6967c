/**
 * Which step of a job delivers which file on which target, so that two files of one job never land under the same
 * name. One item per delivered file on the state table: `{pk: 'claims#<jobId>', sk: '<target>'}`, where the
 * target names protocol, server or bucket and the full remote path (`sftp://ops@host:22/out/a.csv`), with the
 * producer that claimed it.
 *
 * A claim is a conditional put (the target not claimed yet, or claimed by the same producer), so it holds across
 * Lambda invocations and between steps running at the same time in Parallel branches: DynamoDB decides which
 * producer came first, and the second fails before anything is uploaded. A producer is a writer step, the
 * invocation of that step and the position of the file in that invocation's input, which a retried invocation
 * repeats: retrying an upload is not a collision, while two files of one step (in one invocation or in two) are.
 * Claims are small and are not removed: they stay with the dataflow's state as a record of what each job delivered.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';
import { stateIoError } from './io-error.ts';

/** Who delivers a file. */
export interface Producer {
  /** Identifies the producer: equal for a retry of the same upload, different for any other file. */
  readonly id: string;
  /** The writer step. */
  readonly stepId: string;
  /** The name of the staged file the step received. */
  readonly file: string;
}

/** What a claim found: a new claim, or one the same producer made before (a retried upload). */
export type ClaimOutcome = 'claimed' | 'retried';

/** The partition of a job's claims. */
export function claimsKey(jobId: string): string {
  return `claims#${jobId}`;
}

/** Claims delivery targets for the producers of one job. */
export class TargetClaimStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly stateTable: string,
  ) {}

  /**
   * Claims `target` for `producer` in job `jobId`. Throws `IDX_FILE_NAME_COLLISION`, naming both producers, when
   * another producer of the job claimed it first.
   */
  async claim(jobId: string, target: string, producer: Producer): Promise<ClaimOutcome> {
    const key = { pk: claimsKey(jobId), sk: target };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.stateTable,
          Item: { ...key, producer, claimedAt: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'claimed';
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException')
        throw stateIoError(error, 'claim a delivery target');
    }
    const existing = await this.db
      .send(new GetCommand({ TableName: this.stateTable, Key: key, ConsistentRead: true }))
      .catch((error: unknown) => {
        throw stateIoError(error, 'claim a delivery target');
      });
    const first = existing.Item?.producer as Producer | undefined;
    if (first?.id === producer.id) return 'retried';
    throw new IdxError(
      'IDX_FILE_NAME_COLLISION',
      `${target} would be written twice in this job: first by step "${first?.stepId}" from file "${first?.file}", then by step "${producer.stepId}" from file "${producer.file}"`,
      {
        stepId: producer.stepId,
        expected: 'one file per target name in a job (or overwrite: true on the writer)',
        received: `a second file for ${target}`,
      },
    );
  }
}
