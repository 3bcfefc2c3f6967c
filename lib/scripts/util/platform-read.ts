/**
 * What the readers of marketing platforms share: the retry param of their REST calls, and a read paged by the
 * change time of what is read (Mailchimp's `last_changed`, Campaign Monitor's state `Date`) rather than by
 * offset, continuing past the invocation's time budget.
 */
import type { IdxErrorCode } from '../../core/error-codes.ts';
import { IdxError } from '../../core/errors.ts';
import type { DataRecord, ReadResult, ScriptContext, StepOutput } from '../../core/script.ts';

/** The `maxAttempts` param of a platform step. */
export const PLATFORM_MAX_ATTEMPTS_PARAM = {
  type: 'integer',
  minimum: 1,
  maximum: 10,
  default: 5,
  description:
    'Attempts of one call answered 429 (throttled), 5xx or cut off, with exponential backoff (1 s doubling, 30 s at most).',
} as const;

/**
 * Where a keyed read stands: the greatest change time read so far (`cursor`) and how many items with exactly that
 * time were read (`atCursor`), which the next call skips.
 */
export interface KeyPosition {
  readonly cursor?: string;
  readonly atCursor: number;
}

interface KeyContinuation extends KeyPosition {
  readonly pages: number;
  readonly emitted: number;
}

/** How a platform's pages are read by key. */
export interface KeyedPages<T> {
  /** The platform's name, for log lines. */
  readonly platform: string;
  /** The platform's API error code, for an answer the read cannot page on. */
  readonly errorCode: IdxErrorCode;
  /**
   * The page from `position`: items whose change time is on or after the cursor, oldest first, without the
   * `atCursor` first ones (or, with no cursor yet, the first page of the whole read); `more` when another may follow.
   */
  readonly page: (position: KeyPosition) => Promise<{ readonly items: readonly T[]; readonly more: boolean }>;
  /** An item's change time, in a form whose equality means the same instant. */
  readonly changed: (item: T) => string | undefined;
  readonly record: (item: T) => DataRecord;
}

/**
 * Reads every page, emitting each item, until a page says there is no more, the job's record limit is reached,
 * or (after at least one page) the invocation's deadline is near, which returns the position as continuation.
 * Paging by key means items that change during the read cannot shift a page and be skipped.
 */
export async function readByChangeKey<T>(
  ctx: ScriptContext,
  out: StepOutput,
  spec: KeyedPages<T>,
): Promise<ReadResult> {
  const state = (ctx.continuation as KeyContinuation | undefined) ?? { atCursor: 0, pages: 0, emitted: 0 };
  let { cursor, atCursor, pages, emitted } = state;
  const first = pages;
  let slowest = 0;
  for (;;) {
    if (out.remaining <= 0) return {};
    if (pages > first && Date.now() + Math.max(2 * slowest, 1000) >= ctx.deadline) {
      ctx.log.info(`${spec.platform}: time budget reached after ${emitted} records in ${pages} pages; continuing`);
      return {
        continuation: {
          ...(cursor === undefined ? {} : { cursor }),
          atCursor,
          pages,
          emitted,
        } satisfies KeyContinuation,
      };
    }
    const started = Date.now();
    const page = await spec.page(cursor === undefined ? { atCursor: 0 } : { cursor, atCursor });
    pages++;
    slowest = Math.max(slowest, Date.now() - started);
    out.progress?.({ pages });
    for (const item of page.items) {
      if (out.remaining <= 0) break;
      out.emit(spec.record(item));
      emitted++;
      const changed = spec.changed(item);
      if (changed === undefined)
        throw new IdxError(spec.errorCode, `${spec.platform} gave a record without its change time`, {
          expected: 'every record with its change time, which the read pages by',
          received: JSON.stringify(item).slice(0, 200),
        });
      if (changed === cursor) atCursor++;
      else {
        cursor = changed;
        atCursor = 1;
      }
    }
    await out.flush();
    if (!page.more) {
      ctx.log.info(`${spec.platform}: read ${emitted} records in ${pages} pages`);
      return {};
    }
  }
}
