/**
 * Bounded retries with exponential backoff and jitter, for work that may fail on a dropped connection. Only
 * failures the caller classifies as transient are retried; the last failure is rethrown as it is, so the
 * caller decides how a transient failure that exhausted its attempts is reported.
 */

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** Attempts in total, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time. @default 1000 */
  readonly baseDelayMs?: number;
  /** Cap of one delay. @default 30000 */
  readonly maxDelayMs?: number;
  /** True when the failure may go away on another attempt. */
  readonly isTransient: (error: unknown) => boolean;
  /** Called before waiting for the next attempt (for the job trace). */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting when aborted. */
  readonly signal?: AbortSignal;
}

/** The delay before attempt `attempt + 1`: exponential, capped, with up to 25% jitter so retries spread out. */
export function backoffDelay(attempt: number, baseDelayMs = 1000, maxDelayMs = 30_000, random = Math.random): number {
  const exp = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp * (0.75 + 0.25 * random()));
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `work` (given the attempt number, from 1) until it succeeds, fails permanently, or attempts run out. */
export async function withRetry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isTransient(error) || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
