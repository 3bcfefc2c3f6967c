/**
 * Request checks of the console: every request is bad input until checked. The Host header must name the
 * console itself (a page on another site reaching 127.0.0.1 through DNS rebinding is refused); a state-changing
 * request must come from the console's own origin (CSRF) and carry a JSON body within the size limit; ids in
 * paths are decoded and bounded. Refusals are `IdxError`s with a catalogued code, answered as JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, IdxError, type IdxErrorCode } from '../core/errors.ts';

/** Largest request body: a dataflow's text, which deploys only under Step Functions' 1 MB definition limit. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** Longest id (dataflow, job, step, schedule) a path or body may carry, in bytes. */
export const MAX_ID_BYTES = 1024;

/** The HTTP status of each request error code. */
// A map rather than an object literal: its keys are error codes, not environment variables (see the ENV test).
const STATUS: ReadonlyMap<IdxErrorCode, number> = new Map<IdxErrorCode, number>([
  ['IDX_HTTP_BAD_REQUEST', 400],
  ['IDX_HTTP_FORBIDDEN', 403],
  ['IDX_HTTP_NOT_FOUND', 404],
  ['IDX_HTTP_METHOD', 405],
  ['IDX_HTTP_BODY_TOO_LARGE', 413],
  ['IDX_HTTP_CONTENT_TYPE', 415],
  ['IDX_DATAFLOW_NOT_FOUND', 404],
  ['IDX_JOB_NOT_FOUND', 404],
  ['IDX_SCHEDULE_NOT_FOUND', 404],
  ['IDX_TEMPLATE_NOT_FOUND', 404],
  ['IDX_DATAFLOW_EXISTS', 409],
  ['IDX_RUN_LOCKED', 409],
  ['IDX_JOB_NOT_RUNNING', 409],
  ['IDX_DATAFLOW_INVALID', 422],
  // DynamoDB throttled the jobs table: the same request may succeed in a moment.
  ['IDX_JOB_READ_THROTTLED', 503],
]);

/** The status an error answers with: its code's, 400 for other coded errors, 500 for uncoded ones. */
export function statusOf(error: unknown): number {
  if (error instanceof IdxError) return STATUS.get(error.code) ?? 400;
  return 500;
}

/** The JSON body of an error answer: the code and what was expected and received, never a stack trace. */
export function errorBody(error: unknown): { error: Record<string, unknown> } {
  if (error instanceof IdxError) return { error: error.toJSON() };
  return { error: { code: 'IDX_INTERNAL', message: 'the console failed to answer; its terminal shows why' } };
}

/** Answers with JSON. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/** Answers an error as coded JSON; an uncoded error is logged by `log` and answered without its details. */
export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  if (!(error instanceof IdxError)) log(`console: ${describeError(error)}`);
  const headers: Record<string, string> =
    error instanceof IdxError && error.code === 'IDX_HTTP_METHOD' && typeof error.details?.allow === 'string'
      ? { allow: error.details.allow }
      : {};
  // A body too large may still be arriving: the connection ends with the answer instead of reading it.
  if (error instanceof IdxError && error.code === 'IDX_HTTP_BODY_TOO_LARGE') headers.connection = 'close';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, statusOf(error), errorBody(error), headers);
}

/** The origins a console on `port` answers to: its loopback address and `localhost`. */
export function ownOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

/** Refuses a request whose Host header does not name the console (DNS rebinding). */
export function checkHost(req: IncomingMessage, port: number): void {
  const host = req.headers.host ?? '';
  if (!ownOrigins(port).has(`http://${host}`)) {
    throw new IdxError('IDX_HTTP_FORBIDDEN', 'the request names another host than the console', {
      expected: `Host 127.0.0.1:${port} or localhost:${port}`,
      received: JSON.stringify(host.slice(0, 200)),
    });
  }
}

/** How a console checks where a request comes from. */
export interface RequestOrigin {
  /** Refuses a request whose Host does not name the console. */
  checkHost(req: IncomingMessage): void;
  /** Refuses a state-changing request that does not come from the console's own pages. */
  checkSameOrigin(req: IncomingMessage): void;
}

/**
 * The checks of the deployed console, behind an IAM-authenticated function URL. AWS routes a request to the
 * function by its Host, so there is no rebinding to refuse: the Host only has to be present. A state-changing
 * request must still come from the console's own pages (the signing proxy an operator runs signs whatever
 * reaches it, so CSRF matters): its `Origin` is `https://<Host>` or one of `origins` (the proxy's own address,
 * e.g. `http://localhost:8080`), or the browser says `Sec-Fetch-Site: same-origin`, which a page cannot forge.
 */
export function hostedOrigin(origins: readonly string[] = []): RequestOrigin {
  const hostOf = (req: IncomingMessage) => String(req.headers.host ?? '');
  return {
    checkHost(req) {
      const host = hostOf(req);
      if (host === '' || host.length > 255 || !/^[A-Za-z0-9.:[\]-]+$/.test(host))
        throw new IdxError('IDX_HTTP_FORBIDDEN', 'the request names no host the console can answer for', {
          expected: 'the Host of the console’s function URL',
          received: JSON.stringify(host.slice(0, 200)),
        });
    },
    checkSameOrigin(req) {
      const origin = req.headers.origin;
      const own = new Set([`https://${hostOf(req)}`, ...origins]);
      if (req.headers['sec-fetch-site'] === 'same-origin' || (origin !== undefined && own.has(origin))) return;
      throw new IdxError('IDX_HTTP_FORBIDDEN', 'a state-changing request must come from the console’s own pages', {
        expected: `Origin ${[...own].join(' or ')}, or Sec-Fetch-Site same-origin`,
        received: origin === undefined ? 'no Origin' : JSON.stringify(origin.slice(0, 200)),
      });
    },
  };
}

/**
 * Refuses a state-changing request that does not come from the console's own pages: its `Origin` must be the
 * console's; without one, the browser's `Sec-Fetch-Site` must say `same-origin`. A request with neither (curl)
 * is refused too: a script sends `Origin` itself.
 */
export function checkSameOrigin(req: IncomingMessage, port: number): void {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  if (origin !== undefined ? ownOrigins(port).has(origin) : site === 'same-origin') return;
  throw new IdxError('IDX_HTTP_FORBIDDEN', 'a state-changing request must come from the console’s own pages', {
    expected: `Origin http://127.0.0.1:${port} (or localhost)`,
    received:
      origin === undefined
        ? `no Origin${site ? `, Sec-Fetch-Site ${site}` : ''}`
        : JSON.stringify(origin.slice(0, 200)),
  });
}

/** Reads a JSON object body: `application/json`, at most {@link MAX_BODY_BYTES}, an object at the top. */
export async function readJsonBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new IdxError('IDX_HTTP_CONTENT_TYPE', 'the request body must be JSON', {
      expected: 'Content-Type: application/json',
      received: JSON.stringify(req.headers['content-type'] ?? '(none)'),
    });
  }
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  const tooLarge = (received: string) =>
    new IdxError('IDX_HTTP_BODY_TOO_LARGE', 'the request body is larger than the console accepts', {
      expected: `at most ${maxBytes} bytes`,
      received,
    });
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.pause();
    throw tooLarge(`${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      // Read no further: the answer closes the connection (see sendError), so the rest is never received.
      req.pause();
      throw tooLarge(`more than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new IdxError('IDX_HTTP_BAD_REQUEST', 'the request body is not valid JSON', {
      expected: 'a JSON object',
      received: (error as Error).message.slice(0, 200),
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new IdxError('IDX_HTTP_BAD_REQUEST', 'the request body must be a JSON object', {
      expected: 'a JSON object',
      received: Array.isArray(json) ? 'an array' : typeof json,
    });
  return json as Record<string, unknown>;
}

/** A path segment decoded as an id: valid percent-encoding, no control characters, at most {@link MAX_ID_BYTES}. */
export function idParam(raw: string, what: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new IdxError('IDX_HTTP_BAD_REQUEST', `the ${what} in the address is not valid percent-encoding`, {
      expected: `a ${what}`,
      received: JSON.stringify(raw.slice(0, 200)),
    });
  }
  checkId(id, what);
  return id;
}

/** Refuses an id that is empty, too long or holds control characters. */
export function checkId(id: string, what: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (id === '' || Buffer.byteLength(id) > MAX_ID_BYTES || /[\u0000-\u001f\u007f]/.test(id)) {
    throw new IdxError('IDX_HTTP_BAD_REQUEST', `the ${what} is not one`, {
      expected: `a ${what} of 1 to ${MAX_ID_BYTES} bytes without control characters`,
      received: JSON.stringify(id.slice(0, 200)),
    });
  }
}

/** A field of a JSON body: absent (undefined), or of the type named, else a coded error. */
export function field<T extends 'string' | 'boolean' | 'number'>(
  body: Record<string, unknown>,
  name: string,
  type: T,
  required = false,
): (T extends 'string' ? string : T extends 'boolean' ? boolean : number) | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (!required) return undefined;
  } else if (typeof value === type && (type !== 'number' || Number.isFinite(value))) {
    return value as never;
  }
  throw new IdxError(
    'IDX_HTTP_BAD_REQUEST',
    `the request's "${name}" is ${value === undefined ? 'missing' : 'not usable'}`,
    {
      param: name,
      expected: `a ${type}`,
      received: value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 200),
    },
  );
}

/** The method error of an address that answers only `allow`. */
export function methodNotAllowed(method: string, allow: readonly string[]): IdxError {
  return new IdxError('IDX_HTTP_METHOD', `this address does not answer ${method}`, {
    expected: allow.join(' or '),
    received: method.slice(0, 20),
    details: { allow: allow.join(', ') },
  });
}

/** The error of an address the console does not have. */
export function notFound(path: string): IdxError {
  return new IdxError('IDX_HTTP_NOT_FOUND', 'the console has no page at this address', {
    expected: 'an address the console’s pages link to',
    received: JSON.stringify(path.slice(0, 200)),
  });
}
