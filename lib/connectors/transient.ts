/**
 * Retries of a platform API's calls: the call throws {@link TransientError} for what another attempt may not meet
 * (throttling, 5xx, a dropped connection); when attempts run out it becomes the platform's coded transient error.
 */

import type { IdxErrorCode } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { withRetry } from './retry.ts';

/** A failure another attempt may not meet; `waitMs`, when set, is the least wait before it (a rate window). */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly waitMs?: number,
  ) {
    super(message);
  }
}

/** Options of {@link withTransientRetry}. */
export interface TransientRetryOptions {
  readonly attempts: number;
  readonly baseDelayMs: number;
  /** The code raised when attempts run out. */
  readonly code: IdxErrorCode;
  /** What answers, for the error (`the Marketo API`). */
  readonly what: string;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** Runs `work` with backoff while it throws {@link TransientError}; other errors pass through as they are. */
export async function withTransientRetry<T>(work: () => Promise<T>, options: TransientRetryOptions): Promise<T> {
  let wait = 0;
  try {
    return await withRetry(
      async () => {
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        wait = 0;
        return await work();
      },
      {
        attempts: options.attempts,
        baseDelayMs: options.baseDelayMs,
        isTransient: (e) => e instanceof TransientError,
        onRetry: (e, attempt, delay) => {
          // A fixed rate window is waited out in full, not only the (shorter) backoff.
          const least = e instanceof TransientError ? (e.waitMs ?? 0) : 0;
          wait = Math.max(0, least - delay);
          options.log?.info(`${(e as Error).message}; attempt ${attempt + 1} in ${delay + wait} ms`);
        },
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
  } catch (error) {
    if (error instanceof TransientError)
      throw new IdxError(options.code, error.message, {
        expected: `an answer from ${options.what}`,
        received: error.message,
      });
    throw error;
  }
}
