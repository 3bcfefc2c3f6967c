/**
 * The HTTP layer of the platform connectors (Salesforce, Marketing Cloud, Eloqua, Mailchimp, Campaign Monitor,
 * Acoustic, Marketo, Azure SAS): one request tried again on throttling (429), server errors (5xx) and dropped
 * connections, with the exponential backoff, jitter and cap of {@link backoffDelay}; a `Retry-After` in seconds is
 * honoured when it is longer than the backoff, within the cap. Bodies that come from outside are read only up to a
 * bound ({@link cappedBody}).
 *
 * The layer knows no platform. Each client says which answers are transient beyond the common statuses and turns
 * the last answer, or an unreachable server, into its own coded error (an error factory such as
 * {@link platformFailures}), so every platform keeps its codes and messages.
 *
 * Entry points, from the lowest to the highest level:
 * - {@link fetchRetrying}: the retried fetch; gives back the last response ({@link fetchText}: with its body).
 *   Salesforce, Marketing Cloud and Eloqua, whose answers need platform-specific reading.
 * - {@link restCall}: a JSON call on top of it; gives back the parsed 2xx body or throws the platform's error
 *   ({@link platformFailures}). Mailchimp and Campaign Monitor.
 * - {@link withTransientRetry}: for clients whose transient answers are only known after parsing (a rate limit
 *   in a 200's body): the work throws {@link TransientError} ({@link fetchOrTransient} for a dropped connection)
 *   and is run again. Acoustic and Marketo.
 * - {@link cappedBody}: a body read up to a bound (Eloqua, Azure SAS).
 */
import type { IdxErrorCode } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { backoffDelay, sleep, withRetry } from './retry.ts';
import { NETWORK_ERROR_CODES } from './transfer.ts';

/** HTTP statuses every platform documents as "try again later". */
export const TRANSIENT_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

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

/** Reads at most `max` bytes of a response body; `truncated` says whether more was there (the rest is not read). */
export async function cappedBody(response: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  const reader = response.body?.getReader();
  if (!reader) return { text: '', truncated: false };
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/** How hard a client tries one request: what its callers may tune. */
export interface RetryTuning {
  /** Attempts in total, the first included. @default 5 */
  readonly attempts?: number;
  /** Delay before the second attempt; doubles each time. @default 1000 */
  readonly baseDelayMs?: number;
  /** Cap of one delay, a `Retry-After` included. @default 30000 */
  readonly maxDelayMs?: number;
  /** Timeout of one attempt. @default 120000 */
  readonly timeoutMs?: number;
  /** Stops the attempts and the waits between them. */
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
  /** Where each retry is logged; nothing is logged without it. */
  readonly log?: Logger;
  /** The platform's name, for log lines. @default `The platform` */
  readonly platform?: string;
  /**
   * Whether a non-2xx answer outside {@link TRANSIENT_STATUS} asks for another attempt, given its status and its
   * body (read only when called). @default no other answer is transient
   */
  readonly isTransient?: (status: number, body: () => Promise<string>) => Promise<boolean> | boolean;
  /** Called before each wait (for counters in tests and the trace). */
  readonly onRetry?: (what: string, attempt: number, delayMs: number) => void;
  /**
   * The platform's coded error for a request that ended without an answer: a dropped connection or a timeout on
   * its last attempt, or an abort (during an attempt or a wait). @default the failure is thrown as it is
   */
  readonly unreachable?: (error: unknown) => Error;
}

/** What {@link fetchRetrying} gives back: the last response and its body when a check already read it. */
export interface RetriedResponse {
  readonly response: Response;
  /** The body, when reading it was needed to classify the answer; otherwise read it from `response`. */
  readonly text?: string;
}

/**
 * Sends `init()` to `url` until an answer is not transient or the attempts run out, and returns the last answer
 * (which may be a transient status when the attempts ran out). `init` is called for every attempt, so a body or a
 * header is fresh each time. Redirects are refused: a platform API that redirects is misconfigured.
 */
export async function fetchRetrying(
  url: string,
  init: () => RequestInit,
  options: HttpRetryOptions,
): Promise<RetriedResponse> {
  const attempts = options.attempts ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
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
      throw options.unreachable ? options.unreachable(failure) : failure;
    }
    let delay = backoffDelay(attempt, options.baseDelayMs ?? 1000, maxDelayMs);
    const retryAfter = Number(response?.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0) delay = Math.max(delay, Math.min(retryAfter * 1000, maxDelayMs));
    // A response not read is released, so its connection goes back to the pool.
    if (text === undefined) await response?.body?.cancel().catch(() => undefined);
    const what = response ? `HTTP ${response.status}` : 'a dropped connection';
    options.onRetry?.(what, attempt, delay);
    options.log?.info(
      `${options.platform ?? 'The platform'} answered ${what} to ${init().method ?? 'GET'} ${url}; attempt ${attempt + 1} of ${attempts} in ${delay} ms`,
    );
    try {
      await sleep(delay, options.signal);
    } catch (aborted) {
      throw options.unreachable ? options.unreachable(aborted) : aborted;
    }
  }
}

/**
 * A platform's error for a request that got no answer (for {@link HttpRetryOptions.unreachable}):
 * `<platform> at <where> could not be reached: <why>`, with the failure as its cause. `transient` says whether
 * another run may succeed. @default true
 */
export function unreachableError(
  code: IdxErrorCode,
  platform: string,
  where: string,
  transient: (failure: unknown) => boolean = () => true,
): (failure: unknown) => IdxError {
  return (failure) =>
    new IdxError(code, `${platform} at ${where} could not be reached: ${(failure as Error).message}`, {
      transient: transient(failure),
      cause: failure,
    });
}

/** {@link fetchRetrying}, with the last answer's whole body read (for answers known to be small or bounded). */
export async function fetchText(
  url: string,
  init: () => RequestInit,
  options: HttpRetryOptions,
): Promise<{ response: Response; text: string }> {
  const got = await fetchRetrying(url, init, options);
  return { response: got.response, text: got.text ?? (await got.response.text()) };
}

/** How a platform words the failures of a {@link restCall} as coded errors. */
export interface RestFailures {
  /** The answer was not 2xx (after the retries, for a transient one). */
  readonly refused: (status: number, text: string, transient: boolean) => IdxError;
  /** No answer (after the retries): a dropped connection, a timeout. */
  readonly unreachable: (error: unknown) => IdxError;
  /** The answer was larger than `maxBytes`. */
  readonly tooLarge: (maxBytes: number) => IdxError;
}

/** What a platform says in an error body: a short label (its code or title) and its message. */
export interface PlatformSays {
  /** The platform's code or title, shown after the HTTP status (`Code 101`, `API Key Invalid`). */
  readonly label?: string;
  readonly message: string;
  /** Kept in the error's details. */
  readonly details?: Record<string, unknown>;
}

/** How a platform client names its failures. */
export interface PlatformErrors {
  readonly platform: string;
  /** Where the client calls (the API root), for an unreachable server. */
  readonly base: string;
  /** The call, `METHOD path`. */
  readonly where: string;
  /** The code of a refused credential, and which statuses mean that. */
  readonly authCode: IdxErrorCode;
  readonly authStatuses: readonly number[];
  /** The code of every other failure. */
  readonly apiCode: IdxErrorCode;
  readonly says: (text: string) => PlatformSays;
}

/**
 * The coded errors of a platform call: a refusal carries the platform's label and message (and, for a refused
 * credential, the auth code), an unreachable server or an oversized answer the API code.
 */
export function platformFailures(spec: PlatformErrors): RestFailures {
  return {
    refused: (status, text, transient) => {
      const said = spec.says(text);
      const label = said.label ? ` ${said.label}` : '';
      return new IdxError(
        spec.authStatuses.includes(status) ? spec.authCode : spec.apiCode,
        `${spec.platform} answered HTTP ${status}${label} to ${spec.where}: ${said.message}`,
        {
          transient,
          expected: `a 2xx JSON answer to ${spec.where}`,
          received: `HTTP ${status}${label}`,
          details: { status, ...said.details },
        },
      );
    },
    unreachable: unreachableError(spec.apiCode, spec.platform, spec.base),
    tooLarge: (max) =>
      new IdxError(spec.apiCode, `${spec.platform} answered ${spec.where} with more than ${max} bytes`, {
        expected: `an answer of at most ${max} bytes`,
        received: `more than ${max} bytes`,
      }),
  };
}

/** Retry and timeout settings of a {@link restCall} client. */
export interface RestRetryOptions extends RetryTuning {
  /** Called before each wait for another attempt (for the job trace). */
  readonly onRetry?: (what: string, attempt: number, delayMs: number) => void;
}

/** A call: method, URL, headers and a JSON body. */
export interface RestRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** The largest answer read; a bigger one is refused rather than buffered. */
  readonly maxBytes: number;
}

/** Every 5xx, not only the common ones, is tried again by {@link restCall}: its platforms document 5xx as transient. */
function isServerError(status: number): boolean {
  return status >= 500;
}

/**
 * Sends a JSON call with {@link fetchRetrying} until its answer is not transient or the attempts run out. Returns
 * the 2xx answer's status and parsed JSON body (`{}` when empty); throws the caller's coded error otherwise.
 */
export async function restCall(
  request: RestRequest,
  options: RestRetryOptions,
  failures: RestFailures,
): Promise<{ status: number; body: unknown }> {
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers = {
    accept: 'application/json',
    ...request.headers,
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
  };
  const { response } = await fetchRetrying(
    request.url,
    () => ({ method: request.method, headers, ...(payload === undefined ? {} : { body: payload }) }),
    {
      ...tuningOf(options),
      isTransient: isServerError,
      unreachable: failures.unreachable,
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    },
  );
  const { text, truncated } = await cappedBody(response, request.maxBytes);
  if (truncated) throw failures.tooLarge(request.maxBytes);
  const transient = response.status === 429 || isServerError(response.status);
  if (!response.ok) throw failures.refused(response.status, text, transient);
  try {
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  } catch {
    // A 2xx that is not JSON: reported as a refusal with the text received.
    throw failures.refused(response.status, text, false);
  }
}

/** A failure another attempt may not meet; `waitMs`, when set, is the least wait before it (a rate window). */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly waitMs?: number,
  ) {
    super(message);
  }
}

/**
 * One fetch for work run by {@link withTransientRetry}: a failure before any answer (a dropped connection, an
 * abort) becomes a {@link TransientError} saying `the connection to <platform> failed`; an abort still ends the
 * retries, which stop once the signal is aborted.
 */
export async function fetchOrTransient(
  url: string,
  init: RequestInit,
  platform: string,
  signal?: AbortSignal,
): Promise<Response> {
  try {
    return await fetch(url, { ...init, ...(signal ? { signal } : {}) });
  } catch (error) {
    throw new TransientError(`the connection to ${platform} failed: ${(error as Error).message}`);
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

/**
 * Runs `work` with backoff while it throws {@link TransientError}; other errors pass through as they are. When the
 * attempts run out, the last transient failure becomes the `code` error.
 */
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
