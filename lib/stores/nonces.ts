/**
 * The nonces of signed IDX API requests (apis.md §A.2: `timestamp`, `nonce`, `sig`), so that a request is answered
 * once. A signed request carries its timestamp, which the API accepts only within its clock skew of now; a nonce
 * therefore needs remembering only for that long, after which the timestamp check refuses a replay on its own.
 *
 * Deployed, the API runs in a Lambda function that AWS scales out to several containers. A nonce remembered in one
 * container's memory does not stop the same signed request replayed to another, so the deployed function claims
 * each nonce in the state table: one conditional put per signed request, on one partition
 * (`{pk: 'idx-nonces', sk: <nonce>}`), which the function's role alone may write (its grant names that partition
 * key). The item carries `expiresAt` (epoch seconds), the table's TTL attribute, so DynamoDB removes it after the
 * window; until it does, a claim of an expired nonce succeeds again, as the condition compares `expiresAt` itself.
 * The IDX API served by `idx api` or `idx console` on one machine keeps its nonces in memory ({@link MemoryNonces}).
 */
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { stateIoError } from './io-error.ts';

/** The partition of the state table that holds the IDX API's nonces. */
export const NONCES_KEY = 'idx-nonces';

/** Longest nonce accepted; Gigya's SDKs send a few dozen characters. */
export const MAX_NONCE_LENGTH = 256;

/** Where the IDX API records the nonces it has seen. */
export interface NonceClaims {
  /**
   * Records `nonce` as used until `until` (epoch ms); resolves false when it was used before and has not expired,
   * without recording it again.
   */
  claim(nonce: string, until: number): Promise<boolean>;
}

/**
 * Nonces in this process's memory, for an API served by one process. Expired nonces are dropped once the map
 * holds {@link MemoryNonces.sweepAt} of them, so memory follows the requests of one window, not all of them.
 */
export class MemoryNonces implements NonceClaims {
  readonly #until = new Map<string, number>();
  /** Entries above which a claim first drops the expired ones. */
  static readonly sweepAt = 10_000;

  constructor(private readonly now: () => number = Date.now) {}

  /** Nonces held, expired ones not yet dropped included. */
  get size(): number {
    return this.#until.size;
  }

  async claim(nonce: string, until: number): Promise<boolean> {
    const now = this.now();
    const known = this.#until.get(nonce);
    if (known !== undefined && known > now) return false;
    if (this.#until.size >= MemoryNonces.sweepAt)
      for (const [n, at] of this.#until) if (at <= now) this.#until.delete(n);
    this.#until.set(nonce, until);
    return true;
  }
}

/** Nonces in the state table, shared by every container of the deployed function (see the file's header). */
export class TableNonces implements NonceClaims {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly stateTable: string,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(nonce: string, until: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.stateTable,
          Item: { pk: NONCES_KEY, sk: nonce, expiresAt: Math.ceil(until / 1000) },
          // A nonce whose window passed (its item not yet removed by TTL) may be claimed again: its old request
          // would be refused by its timestamp anyway.
          ConditionExpression: 'attribute_not_exists(sk) OR expiresAt < :now',
          ExpressionAttributeValues: { ':now': Math.floor(this.now() / 1000) },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw stateIoError(error, 'record the nonce of a signed IDX API request');
    }
  }
}
