/**
 * The UID map: an external key (an Eloqua email or contact id) → Gigya UID, under a namespace, so an inbound
 * record without the UID finds its account without a Gigya search per record. Batched with BatchWriteItem /
 * BatchGetItem; unprocessed items are retried with backoff, and a batch that still does not go through fails
 * with a transient error (the step is retried as a whole, which is safe: writes are idempotent).
 */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IdxError } from '../core/errors.ts';
import { batchGetItems } from './batch-get.ts';

/** DynamoDB's limit per BatchWriteItem request (reads: BATCH_GET_KEYS, batch-get.ts). */
export const WRITE_BATCH = 25;

/** Options of the retry of unprocessed items. */
export interface UidMapRetry {
  /** @default 8 */
  readonly attempts?: number;
  /** First pause; doubles each time, with jitter. @default 50 ms */
  readonly baseDelayMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads and writes key → UID mappings. */
export class UidMapStore {
  readonly #attempts: number;
  readonly #base: number;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    retry: UidMapRetry = {},
  ) {
    this.#attempts = retry.attempts ?? 8;
    this.#base = retry.baseDelayMs ?? 50;
  }

  /** The item key of a mapping. */
  static pk(namespace: string, key: string): string {
    return `${namespace}#${key}`;
  }

  async #backoff(attempt: number): Promise<void> {
    await sleep(Math.random() * this.#base * 2 ** attempt);
  }

  /** Stores mappings; the last one wins for a key repeated in the input. */
  async put(
    namespace: string,
    entries: readonly { key: string; uid: string }[],
    now = new Date().toISOString(),
  ): Promise<void> {
    const unique = new Map(entries.map((e) => [e.key, e.uid]));
    const items = [...unique].map(([key, uid]) => ({
      PutRequest: { Item: { pk: UidMapStore.pk(namespace, key), namespace, key, uid, updatedAt: now } },
    }));
    for (let i = 0; i < items.length; i += WRITE_BATCH) {
      let pending: typeof items = items.slice(i, i + WRITE_BATCH);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.#attempts) {
          throw new IdxError(
            'IDX_UIDMAP_THROTTLED',
            `${pending.length} UID mappings were still unprocessed after ${this.#attempts} attempts`,
            {
              transient: true,
              expected: 'DynamoDB to accept the batch',
              received: `${pending.length} unprocessed items`,
            },
          );
        }
        if (attempt > 0) await this.#backoff(attempt);
        const out = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
        pending = (out.UnprocessedItems?.[this.table] ?? []) as typeof items;
      }
    }
  }

  /** Looks keys up; the result maps each found key to its UID. */
  async get(namespace: string, keys: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const pks = [...new Set(keys)].map((k) => ({ pk: UidMapStore.pk(namespace, k) }));
    await batchGetItems(this.db, this.table, pks, {
      consistentRead: true,
      before: async ({ round, pending }) => {
        if (round >= this.#attempts) {
          throw new IdxError(
            'IDX_UIDMAP_THROTTLED',
            `${pending} UID lookups were still unprocessed after ${this.#attempts} attempts`,
            {
              transient: true,
              expected: 'DynamoDB to answer the batch',
              received: `${pending} unprocessed keys`,
            },
          );
        }
        if (round > 0) await this.#backoff(round);
      },
      onItem: (item) => found.set(String(item.key), String(item.uid)),
    });
    return found;
  }
}
