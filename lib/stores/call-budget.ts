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
 * item per site serves every run, and a run finds a past `next` and starts afresh. The item also holds the last
 * cut of the pace of the job that made it (`paceJob`, and `paceAt`, `paceFrom`, `paceTo`: three numbers), which every
 * slot of that job hands to its taker, so that every taker paces at the rate the cut and the quiet time since give
 * (lib/connectors/gigya.ts `pacedRate`); a cut is one conditional write on the cut its writer saw, so cuts from
 * concurrent takers apply one after another and a refusal that an earlier cut already answered makes none.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';

/** Attempts at a slot before giving up (each failed attempt means another taker moved the item meanwhile). */
const MAX_ATTEMPTS = 20;

/** A cut of a budget's pace: when, the pace after it and the pace refused (calls per second). */
export interface BudgetCut {
  readonly at: number;
  readonly from: number;
  readonly to: number;
}

/** What taking a slot gives. */
export interface BudgetSlot {
  /** When the call may start (epoch ms): now, or later when the budget is spoken for or paused. */
  readonly start: number;
  /** A throttling pause held this call back. */
  readonly held: boolean;
  /** The last cut of the pace by the key's job, when the key names a job that made one ({@link CallBudgetStore.cut}). */
  readonly cut?: BudgetCut;
}

/** A budget's item in the state table. */
export interface BudgetKey {
  /** The dataflow id (the table's partition key). */
  readonly dataflowId: string;
  /** What the budget is of (the site), without secrets; it becomes part of the sort key. */
  readonly name: string;
  /** The job taking slots: its cuts are its alone (the item outlives the job). */
  readonly jobId?: string;
}

/** What the item holds. */
interface BudgetItem {
  readonly next?: number;
  readonly pausedUntil?: number;
  readonly paceJob?: string;
  readonly paceAt?: number;
  readonly paceFrom?: number;
  readonly paceTo?: number;
}

/** The cut of the key's job an item holds, when it holds one. */
function cutOf(key: BudgetKey, item: BudgetItem | undefined): BudgetCut | undefined {
  if (key.jobId === undefined || item?.paceJob !== key.jobId) return undefined;
  const { paceAt, paceFrom, paceTo } = item;
  if (paceAt === undefined || paceFrom === undefined || paceTo === undefined) return undefined;
  return { at: paceAt, from: paceFrom, to: paceTo };
}

/** The slot an item gives, with the cut of the key's job when it holds one. */
function slotOf(key: BudgetKey, item: BudgetItem | undefined, start: number, held: boolean): BudgetSlot {
  const cut = cutOf(key, item);
  return cut === undefined ? { start, held } : { start, held, cut };
}

/** Slots, pauses and cuts of the pace of calls-per-second budgets in the dataflow state table. */
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
    // Every attempt asks from the same `now`. A failed idle write means another taker just set the schedule to its
    // own now plus an interval; asking from a fresh clock reading instead could find that schedule already behind
    // (round trips slower than the interval, as on a loaded event loop), and takers would then race for the idle
    // write again and again, one winner a round, until one gave up. From a fixed `now`, the next attempt takes the
    // slot after the winner's. That slot may lie a round trip in the past; the caller starts at once, and slots stay
    // one interval apart.
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        // In use: the schedule runs ahead of now, and the slot is the one it reaches.
        const out = await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            UpdateExpression: 'ADD #next :interval',
            ConditionExpression: '#next >= :now',
            ExpressionAttributeNames: { '#next': 'next' },
            ExpressionAttributeValues: { ':interval': intervalMs, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        const item = out.Attributes as BudgetItem;
        return slotOf(key, item, (item.next ?? now + intervalMs) - intervalMs, (item.pausedUntil ?? 0) > now);
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
            ExpressionAttributeValues: { ':after': now + intervalMs, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return slotOf(key, out.Attributes as BudgetItem | undefined, now, false);
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
   * Moves the budget's schedule on by `ms` more: a taker whose slot was spaced by a pace that a cut has since
   * slowed adds the difference, so the takers after it start at the new pace.
   */
  async stretch(key: BudgetKey, ms: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.#key(key),
        UpdateExpression: 'ADD #next :ms',
        ExpressionAttributeNames: { '#next': 'next' },
        ExpressionAttributeValues: { ':ms': ms },
      }),
    );
  }

  /**
   * Cuts the pace of the key's job: `decide` gets the job's last cut (`seen` first, the one the caller knows of,
   * then the item's whenever another taker cut meanwhile) and returns the new cut, or undefined when the last one
   * already answers the caller's refusal. The write is conditional on the cut it was decided on, so concurrent
   * cuts apply one after another, each on the one before. Returns the job's cut once written or left.
   */
  async cut(
    key: BudgetKey & { readonly jobId: string },
    seen: BudgetCut | undefined,
    decide: (last: BudgetCut | undefined) => BudgetCut | undefined,
  ): Promise<BudgetCut | undefined> {
    let last = seen;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const next = decide(last);
      if (next === undefined) return last;
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: this.#key(key),
            // The counters of the rule before this one are dropped, so the item keeps only what is read.
            UpdateExpression:
              'SET paceJob = :job, paceAt = :at, paceFrom = :from, paceTo = :to REMOVE slowJob, slowdowns',
            ConditionExpression:
              last === undefined
                ? 'attribute_not_exists(paceJob) OR paceJob <> :job'
                : 'paceJob = :job AND paceAt = :seen',
            ExpressionAttributeValues: {
              ':job': key.jobId,
              ':at': next.at,
              ':from': next.from,
              ':to': next.to,
              ...(last === undefined ? {} : { ':seen': last.at }),
            },
          }),
        );
        return next;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      // Another taker of the job cut meanwhile: decide again on its cut.
      const out = await this.db.send(
        new GetCommand({ TableName: this.table, Key: this.#key(key), ConsistentRead: true }),
      );
      last = cutOf(key, out.Item as BudgetItem | undefined);
    }
    throw new IdxError(
      'IDX_GIGYA_BUDGET',
      `the pace of the call budget ${key.name} stayed contended for ${MAX_ATTEMPTS} attempts`,
      {
        dataflowId: key.dataflowId,
        expected: 'a cut of the shared pace within 20 conditional writes',
        received: `${MAX_ATTEMPTS} writes each preceded by another taker's cut`,
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
