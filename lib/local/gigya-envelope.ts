/**
 * Gigya's response envelope (apis.md §A.3, extras.md §4.1), shared by the Gigya emulator and the IDX REST API:
 * `callId`, `errorCode` (0 = OK), `errorMessage` and `errorDetails` on errors, `apiVersion`, `statusCode` and
 * `statusReason` (HTTP-like, present even when the transport status is 200), `time` (ISO, ms, Z). The HTTP
 * status is 200 unless the request says `httpStatusCodes=true` (apis.md §A.2).
 */
import { randomBytes } from 'node:crypto';

/** The `errorMessage` of each Gigya error code the local services answer (apis.md §A.4, extras.md §4.4). */
export const GIGYA_MESSAGES: Readonly<Record<number, string>> = {
  0: 'OK',
  301001: 'Invalid data center',
  400001: 'Invalid request format',
  400002: 'Missing required parameter',
  400003: 'Unique identifier exists',
  400006: 'Invalid parameter value',
  400009: 'Validation error',
  400093: 'Invalid ApiKey parameter',
  403002: 'Request has expired',
  403003: 'Invalid request signature',
  403004: 'Duplicate nonce',
  403005: 'Unauthorized user',
  403007: 'Permission denied',
  403043: 'Login identifier exists',
  403048: 'Api rate limit exceeded',
  403200: 'Redundant Operation',
  404000: 'Not found',
  409001: 'Identity exists',
  409030: 'Concurrent updates not allowed',
  413001: 'Request entity too large',
  413003: 'Object too large',
  500001: 'General Server Error',
  503001: 'Service unavailable for this operation',
  504001: 'Timeout',
};

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  301: 'Moved Permanently',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A fresh call id (32 hex characters, as Gigya's look). */
export function newCallId(): string {
  return randomBytes(16).toString('hex');
}

/** The HTTP-like status of a Gigya error code: its first three digits (0 is 200). */
export function statusOf(errorCode: number): number {
  return errorCode === 0 ? 200 : Math.floor(errorCode / 1000);
}

/** A whole response: the envelope around a method's fields (or an error's details). */
export function gigyaEnvelope(
  callId: string,
  errorCode: number,
  body: Record<string, unknown>,
  time: Date,
): Record<string, unknown> & { readonly statusCode: number; readonly time: string; readonly errorMessage?: string } {
  const statusCode = statusOf(errorCode);
  return {
    callId,
    errorCode,
    ...(errorCode === 0 ? {} : { errorMessage: GIGYA_MESSAGES[errorCode] ?? 'Error' }),
    ...body,
    apiVersion: 2,
    statusCode,
    statusReason: REASONS[statusCode] ?? 'Error',
    time: time.toISOString(),
  };
}
