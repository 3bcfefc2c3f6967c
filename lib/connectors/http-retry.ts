/**
 * One HTTP request of a platform's REST API, tried again on throttling, server errors and dropped connections,
 * with exponential backoff and jitter (a `Retry-After` in seconds is honoured when it is longer, within the cap).
 * It knows no platform: the caller says which answers are transient and turns the last answer into its own coded
 * error, so every REST connector (Salesforce, Marketing Cloud, …) shares one retry loop.
 */
import type { Logger } from '../core/logger.ts';
import { backoffDelay, sleep } from './retry.ts';
import { NETWORK_ERROR_CODES } from './transfer.ts';

/** HTTP statuses every platform documents as "try again later". */
export const TRANSIENT_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** How hard a client tries one request: what its callers may tune. */
export interface RetryTuning {
  /** Attempts in total, the first included. @default 5 */
  readonly attempts?: number;
  /** @default 1000 */
  readonly baseDelayMs?: number;
  /** @default 30000 */
  readonly maxDelayMs?: number;
  /** Timeout of one attempt. @default 120000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The tuning fields of a client's options, and no others. */
export function tuningOf(o: RetryTuning): RetryTuning {
  return {
    ...(o.attempts === undefined ? {} : { attempts: o.attempts }),
    ...(o.baseDelayMs === undefined ? {} : { baseDelayMs: o.baseDelayMs }),
    ...(o.maxDelayMs === undefined ? {} : { maxDelayMs: o.maxDelayMs }),
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

/** Options of {@link fetchRetrying}. */
export interface HttpRetryOptions extends RetryTuning {
  readonly log?: Logger;
  /** The platform's name, for log lines. */
  readonly platform: string;
  /**
   * Whether an answer asks for another attempt, given its status and (for statuses outside
   * {@link TRANSIENT_STATUS}) its body, read only when this is given. @default the status is in TRANSIENT_STATUS
   */
  readonly isTransient?: (status: number, body: () => Promise<string>) => Promise<boolean> | boolean;
  /** Called before each wait (for counters in tests and the trace). */
  readonly onRetry?: (what: string, attempt: number, delayMs: number) => void;
}

/** What {@link fetchRetrying} gives back: the last response and its body when a check already read it. */
export interface RetriedResponse {
  readonly response: Response;
  /** The body, when reading it was needed to classify the answer; otherwise read it from `response`. */
  readonly text?: string;
}

/** A failure before any answer that another attempt may not meet: a dropped or refused connection, a timeout. */
export function isNetworkFailure(error: unknown): boolean {
  if (error === undefined || error === null) return false;
  const cause = (error as { cause?: { code?: string } }).cause;
  return (
    (error as Error).name === 'TimeoutError' ||
    (cause?.code !== undefined && NETWORK_ERROR_CODES.has(cause.code)) ||
    cause?.code === 'UND_ERR_SOCKET'
  );
}

/**
 * Sends `init()` to `url` until an answer is not transient or the attempts run out, and returns the last answer.
 * A network failure on the last attempt is thrown as it is (the caller wraps it in its coded error).
 */
export async function fetchRetrying(
  url: string,
  init: () => RequestInit,
  options: HttpRetryOptions,
): Promise<RetriedResponse> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    let failure: unknown;
    let text: string | undefined;
    try {
      response = await fetch(url, {
        ...init(),
        redirect: 'error',
        signal: AbortSignal.any([
          AbortSignal.timeout(options.timeoutMs ?? 120_000),
          ...(options.signal ? [options.signal] : []),
        ]),
      });
    } catch (error) {
      failure = error;
    }
    let transient: boolean;
    if (response) {
      const answered = response;
      transient = TRANSIENT_STATUS.has(answered.status);
      if (!transient && options.isTransient && !answered.ok) {
        transient = await options.isTransient(answered.status, async () => {
          text ??= await answered.text();
          return text;
        });
      }
    } else transient = isNetworkFailure(failure);
    if (!transient || attempt >= attempts || options.signal?.aborted) {
      if (response) return text === undefined ? { response } : { response, text };
      throw failure;
    }
    let delay = backoffDelay(attempt, options.baseDelayMs ?? 1000, options.maxDelayMs ?? 30_000);
    const retryAfter = Number(response?.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0)
      delay = Math.max(delay, Math.min(retryAfter * 1000, options.maxDelayMs ?? 30_000));
    if (text === undefined) await response?.body?.cancel().catch(() => undefined);
    const what = response ? `HTTP ${response.status}` : 'a dropped connection';
    options.onRetry?.(what, attempt, delay);
    options.log?.info(
      `${options.platform} answered ${what} to ${init().method ?? 'GET'} ${url}; attempt ${attempt + 1} of ${attempts} in ${delay} ms`,
    );
    await sleep(delay, options.signal);
  }
}
