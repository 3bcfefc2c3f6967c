/**
 * A calls-per-second budget kept in the dataflow state table, so that calls made from concurrent Lambdas (the
 * partitions of a Map state) share it: one item holds when the next call may start (`next`, epoch ms) and until
 * when a throttling answer paused every caller (`pausedUntil`). Taking a slot is one conditional write: while the
 * budget is in use, `next` moves on by one interval atomically (`ADD`), so takers never collide; after an idle
 * spell it is set to now. Calls therefore start evenly spaced at the rate, whichever Lambda makes them, and a
 * pause pushes `next` past its end for all of them.
 *
 * The item is the dataflow's (partition key the dataflow id, sort key `budget#<site>`), so a step function reaches
 * it through its existing grant on its own state items; runs of one dataflow never overlap (the run lock), so one
 * item per site serves every run, and a run finds a past `next` and starts afresh. The item also counts the
 * throttling pauses of the job that last paused it (`slowJob`, `slowdowns`), so that every taker of that job
 * slows its pace by a step for each (lib/connectors/gigya.ts `pacedRate`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';

/** Attempts at a slot before giving up (each failed attempt means another taker moved the item meanwhile). */
const MAX_ATTEMPTS = 20;

/** What taking a slot gives. */
export interface BudgetSlot {
  /** When the call may start (epoch ms): now, or later when the budget is spoken for or paused. */
  readonly start: number;
  /** A throttling pause held this call back. */
  readonly held: boolean;
  /** The pauses of the key's job so far, when the key names a job that had some ({@link CallBudgetStore.pause}). */
  readonly slowdowns?: number;
}

/** A budget's item in the state table. */
export interface BudgetKey {
  /** The dataflow id (the table's partition key). */
  readonly dataflowId: string;
  /** What the budget is of (the site), without secrets; it becomes part of the sort key. */
  readonly name: string;
  /** The job taking slots: its pauses are counted for it alone (the item outlives the job). */
  readonly jobId?: string;
}

/** What the item holds. */
interface BudgetItem {
  readonly next: number;
  readonly pausedUntil?: number;
  readonly slowJob?: string;
  readonly slowdowns?: number;
}

/** The pauses of the key's job an item counts, when it counts some. */
function slowdownsOf(key: BudgetKey, item: BudgetItem | undefined): { slowdowns?: number } {
  if (key.jobId === undefined || item?.slowJob !== key.jobId || !item.slowdowns) return {};
  return { slowdowns: item.slowdowns };
}

/** Slots and pauses of calls-per-second budgets in the dataflow state table. */
export class CallBudgetStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  #key(key: BudgetKey): { pk: string; sk: string } {
    return { pk: key.dataflowId, sk: `budget#${key.name}` };
  }

  /**
   * Takes the next slot of a budget of one call per `intervalMs`: the start of the call, at least `now`. The slot
   * is the caller's once this returns; it waits until `start` itself.
   */
  async take(key: BudgetKey, intervalMs: number, now: number = Date.now()): Promise<BudgetSlot> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const t = attempt === 0 ? now : Date.now();
      try {
        // In use: the schedule runs ahead of now, and the slot is the one it reaches.
        const out = await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'ADD #next :interval',
            ConditionExpression: '#next >= :now',
            ExpressionAttributeNames: { '#next': 'next' },
            ExpressionAttributeValues: { ':interval': intervalMs, ':now': t },
            ReturnValues: 'ALL_NEW',
          }),
        );
        const item = out.Attributes as BudgetItem;
        const start = item.next - intervalMs;
        return { start, held: (item.pausedUntil ?? 0) > t, ...slowdownsOf(key, item) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      try {
        // Idle (or new): the call starts now, and the schedule from it.
        const out = await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'SET #next = :after',
            ConditionExpression: 'attribute_not_exists(#next) OR #next < :now',
            ExpressionAttributeNames: { '#next': 'next' },
            ExpressionAttributeValues: { ':after': t + intervalMs, ':now': t },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { start: t, held: false, ...slowdownsOf(key, out.Attributes as BudgetItem | undefined) };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    throw new IdxError(
      'IDX_GIGYA_BUDGET',
      `the call budget ${key.name} stayed contended for ${MAX_ATTEMPTS} attempts`,
      {
        dataflowId: key.dataflowId,
        expected: 'a free slot of the shared calls-per-second budget within 20 conditional writes',
        received: `${MAX_ATTEMPTS} writes each preceded by another taker`,
      },
    );
  }

  /**
   * Holds every taker of the budget back until `until` (epoch ms): no slot starts before it. With a job in the key,
   * also counts the pause for that job (`slowdowns`, reset when another job pauses), which {@link take} hands to
   * every taker of the job: the rate they pace at slows by a step for each.
   */
  async pause(key: BudgetKey, until: number): Promise<void> {
    await this.#hold(key, until);
    if (key.jobId !== undefined) await this.#countSlowdown(key, key.jobId);
  }

  async #countSlowdown(key: BudgetKey, jobId: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'ADD slowdowns :one',
            ConditionExpression: 'slowJob = :job',
            ExpressionAttributeValues: { ':one': 1, ':job': jobId },
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      try {
        // The first pause of this job: the count of an earlier job's pauses starts again.
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'SET slowdowns = :one, slowJob = :job',
            ConditionExpression: 'attribute_not_exists(slowJob) OR slowJob <> :job',
            ExpressionAttributeValues: { ':one': 1, ':job': jobId },
          }),
        );
        return;
      } catch (error) {
        // Another taker of the job counted its first pause meanwhile: add to it.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
  }

  async #hold(key: BudgetKey, until: number): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.#key(key),
          UpdateExpression: 'SET #next = :until, pausedUntil = :until',
          ConditionExpression: 'attribute_not_exists(#next) OR #next < :until',
          ExpressionAttributeNames: { '#next': 'next' },
          ExpressionAttributeValues: { ':until': until },
        }),
      );
    } catch (error) {
      // The schedule already runs past the pause: nothing starts before its end anyway.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
