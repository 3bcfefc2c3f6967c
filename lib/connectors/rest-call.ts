/**
 * One JSON call of a marketing platform's REST API, tried again on throttling (429), server errors (5xx) and
 * dropped connections, with exponential backoff and jitter (a `Retry-After` in seconds is honoured when it is
 * longer, within the cap). It knows no platform: the caller turns a refusal or an unreachable server into its own
 * coded error, so the platform clients share one retry loop.
 */
import type { IdxErrorCode } from '../core/error-codes.ts';
import { IdxError } from '../core/errors.ts';
import { backoffDelay } from './retry.ts';
import { NETWORK_ERROR_CODES } from './transfer.ts';

/** Retry and timeout settings of a platform client. */
export interface RestRetryOptions {
  /** Attempts of one call answered 429, 5xx or cut off, the first included. @default 5 */
  readonly attempts?: number;
  /** @default 1000 */
  readonly baseDelayMs?: number;
  /** @default 30000 */
  readonly maxDelayMs?: number;
  /** Timeout of one attempt. @default 120000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Called before each wait for another attempt (for the job trace). */
  readonly onRetry?: (what: string, attempt: number, delayMs: number) => void;
}

/** How a platform words its failures as coded errors. */
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
    unreachable: (error) =>
      new IdxError(spec.apiCode, `${spec.platform} at ${spec.base} could not be reached: ${(error as Error).message}`, {
        transient: true,
        cause: error,
      }),
    tooLarge: (max) =>
      new IdxError(spec.apiCode, `${spec.platform} answered ${spec.where} with more than ${max} bytes`, {
        expected: `an answer of at most ${max} bytes`,
        received: `more than ${max} bytes`,
      }),
  };
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

function isNetworkFailure(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return (
    (error as Error).name === 'TimeoutError' ||
    (cause?.code !== undefined && NETWORK_ERROR_CODES.has(cause.code)) ||
    cause?.code === 'UND_ERR_SOCKET'
  );
}

async function cappedText(response: Response, maxBytes: number, failures: RestFailures): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw failures.tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Sends the call until its answer is not transient or the attempts run out. Returns the 2xx answer's status and
 * parsed JSON body (`{}` when empty); throws the caller's coded error otherwise.
 */
export async function restCall(
  request: RestRequest,
  options: RestRetryOptions,
  failures: RestFailures,
): Promise<{ status: number; body: unknown }> {
  const attempts = options.attempts ?? 5;
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers = {
    accept: 'application/json',
    ...request.headers,
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
  };
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        redirect: 'error',
        signal: AbortSignal.any([
          AbortSignal.timeout(options.timeoutMs ?? 120_000),
          ...(options.signal ? [options.signal] : []),
        ]),
      });
    } catch (error) {
      failure = error;
    }
    const transient = response ? response.status === 429 || response.status >= 500 : isNetworkFailure(failure);
    const last = !transient || attempt >= attempts || options.signal?.aborted === true;
    if (response && last) {
      const text = await cappedText(response, request.maxBytes, failures);
      if (!response.ok) throw failures.refused(response.status, text, transient);
      try {
        return { status: response.status, body: text ? JSON.parse(text) : {} };
      } catch {
        // A 2xx that is not JSON: reported as a refusal with the text received.
        throw failures.refused(response.status, text, false);
      }
    }
    if (!response && last) throw failures.unreachable(failure);
    let delay = backoffDelay(attempt, options.baseDelayMs ?? 1000, options.maxDelayMs ?? 30_000);
    const retryAfter = Number(response?.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0)
      delay = Math.max(delay, Math.min(retryAfter * 1000, options.maxDelayMs ?? 30_000));
    await response?.body?.cancel().catch(() => undefined);
    options.onRetry?.(response ? `HTTP ${response.status}` : 'a dropped connection', attempt, delay);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
