/** Reading items by key in batches, asking again for the keys DynamoDB hands back unprocessed. */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem takes at most 100 keys. */
export const BATCH_GET_KEYS = 100;

/** Where a batch stands before a call: the round (0 for its first call) and what the calls so far brought. */
export interface BatchRound {
  /** Calls made for this batch so far. */
  readonly round: number;
  /** Calls in a row, the last included, that brought no item (0 before the first). */
  readonly idle: number;
  /** Keys still to read in this batch. */
  readonly pending: number;
}

/**
 * Reads the items of `keys` from `table`, {@link BATCH_GET_KEYS} keys a call. A response may leave keys
 * unprocessed (it holds at most 16 MB; throttling): they are asked for again in the next round of their batch.
 * `before` runs before every call of a batch, its first included: the caller's retry policy, which waits (a backoff)
 * or throws its own coded error when the keys are not coming. Items arrive through `onItem` as each call brings
 * them; keys without an item bring none.
 */
export async function batchGetItems(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  options: {
    readonly consistentRead?: boolean;
    readonly before: (state: BatchRound) => Promise<void> | void;
    readonly onItem: (item: Record<string, unknown>) => void;
  },
): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
    let pending: Record<string, unknown>[] = keys.slice(i, i + BATCH_GET_KEYS);
    for (let round = 0, idle = 0; pending.length > 0; round++) {
      await options.before({ round, idle, pending: pending.length });
      const out = await db.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: { Keys: pending, ...(options.consistentRead ? { ConsistentRead: true } : {}) },
          },
        }),
      );
      const got = out.Responses?.[table] ?? [];
      for (const item of got) options.onItem(item);
      idle = got.length > 0 ? 0 : idle + 1;
      pending = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
}
