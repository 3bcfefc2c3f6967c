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
 * item per site serves every run, and a run finds a past `next` and starts afresh.
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
}

/** A budget's item in the state table. */
export interface BudgetKey {
  /** The dataflow id (the table's partition key). */
  readonly dataflowId: string;
  /** What the budget is of (the site), without secrets; it becomes part of the sort key. */
  readonly name: string;
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
        const item = out.Attributes as { next: number; pausedUntil?: number };
        const start = item.next - intervalMs;
        return { start, held: (item.pausedUntil ?? 0) > t };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      try {
        // Idle (or new): the call starts now, and the schedule from it.
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'SET #next = :after',
            ConditionExpression: 'attribute_not_exists(#next) OR #next < :now',
            ExpressionAttributeNames: { '#next': 'next' },
            ExpressionAttributeValues: { ':after': t + intervalMs, ':now': t },
          }),
        );
        return { start: t, held: false };
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

  /** Holds every taker of the budget back until `until` (epoch ms): no slot starts before it. */
  async pause(key: BudgetKey, until: number): Promise<void> {
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
