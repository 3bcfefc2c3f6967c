/**
 * The console (and the handlers mounted in front of it: the IDX REST API) behind a Lambda function URL: an event
 * (payload format 2.0, the one function URLs send) becomes a request the console's node:http handler reads, and
 * what it writes becomes the function's answer. The handler code is the one `idx console` serves locally.
 *
 * A function URL answers with the whole body at once (buffered invocation), at most 6 MB: an answer larger than
 * {@link MAX_ANSWER_BYTES} (a very large rejected-records download) is replaced by a coded error saying so.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { IdxError } from '../core/errors.ts';
import type { ConsoleBackend } from './backend.ts';
import { errorBody, type RequestOrigin } from './http.ts';
import { type ConsoleAssetReader, consoleHandler, type RequestHandler } from './server.ts';

/** The largest answer body a function URL returns, less room for headers and base64 (6 MB payload limit). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** The fields of a function-URL event (payload format 2.0) the console reads. */
export interface FunctionUrlEvent {
  readonly rawPath: string;
  readonly rawQueryString?: string;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly cookies?: readonly string[];
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: { readonly http: { readonly method: string } };
}

/** A function URL's answer. */
export interface FunctionUrlResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

/** The request the console reads: the event's method, path and query, headers (lower-case) and body. */
function requestOf(event: FunctionUrlEvent): IncomingMessage {
  const body =
    event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  // Payload 2.0 moves cookies out of the headers; the console reads none, but the request stays whole.
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  const req = Readable.from(body.length ? [body] : []) as unknown as IncomingMessage;
  const query = event.rawQueryString ? `?${event.rawQueryString}` : '';
  Object.assign(req, { method: event.requestContext.http.method, url: `${event.rawPath}${query}`, headers });
  return req;
}

/** What the handlers write, collected: the calls of ServerResponse the console and the IDX API make. */
class CollectedResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  readonly headers: Record<string, string> = {};
  readonly chunks: Buffer[] = [];
  size = 0;
  ended = false;

  writeHead(status: number, headers: Readonly<Record<string, string | number>> = {}): this {
    this.statusCode = status;
    for (const [k, v] of Object.entries(headers)) this.headers[k.toLowerCase()] = String(v);
    this.headersSent = true;
    return this;
  }

  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }

  write(chunk: Uint8Array | string): boolean {
    this.headersSent = true;
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    this.size += b.length;
    // Past the limit nothing more is kept: the answer becomes the error of an answer too large.
    if (this.size <= MAX_ANSWER_BYTES) this.chunks.push(b);
    return true;
  }

  end(chunk?: Uint8Array | string): this {
    if (chunk !== undefined) this.write(chunk);
    this.ended = true;
    return this;
  }

  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

/** Text bodies travel as text; anything else as base64. */
const TEXT = /^(text\/|application\/(json|x-ndjson|javascript))/;

/** A coded JSON answer (the handler could not answer in a form a function URL returns). */
function codedAnswer(status: number, error: IdxError): FunctionUrlResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(errorBody(error)),
    isBase64Encoded: false,
  };
}

/** Calls a node:http handler with an event and returns what it answered. */
export async function answerEvent(
  event: FunctionUrlEvent,
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>,
): Promise<FunctionUrlResult> {
  const res = new CollectedResponse();
  await handler(requestOf(event), res as unknown as ServerResponse);
  if (res.size > MAX_ANSWER_BYTES)
    return codedAnswer(
      413,
      new IdxError('IDX_HTTP_BODY_TOO_LARGE', 'the answer is larger than the deployed console can return at once', {
        expected: `at most ${MAX_ANSWER_BYTES} bytes (a function URL answers at most 6 MB)`,
        received: `${res.size} bytes`,
      }),
    );
  if (!res.ended || res.destroyed)
    return codedAnswer(
      500,
      new IdxError('IDX_INTERNAL', 'the console failed to answer; the function’s log shows why', {}),
    );
  const body = Buffer.concat(res.chunks);
  const text = TEXT.test(res.headers['content-type'] ?? '');
  // The length is the function URL's to set; a stale one from the handler would not match a base64 body.
  const { 'content-length': _length, connection: _connection, ...headers } = res.headers;
  return {
    statusCode: res.statusCode,
    headers,
    body: body.toString(text ? 'utf8' : 'base64'),
    isBase64Encoded: !text,
  };
}

/** Options of {@link consoleFunction}. */
export interface ConsoleFunctionOptions {
  readonly backend: ConsoleBackend;
  /** Handlers tried before the console's routes (the IDX REST API). */
  readonly handlers?: readonly RequestHandler[];
  /** How requests are checked (see `hostedOrigin`). */
  readonly origin: RequestOrigin;
  /** Where unexpected errors are logged. @default stderr */
  readonly log?: (line: string) => void;
  /** Where the static files are read from. @default the files of lib/console/static */
  readonly assets?: ConsoleAssetReader;
}

/** The console as a function-URL handler: event in, answer out. */
export function consoleFunction(
  options: ConsoleFunctionOptions,
): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const handle = consoleHandler(options);
  return (event) => answerEvent(event, handle);
}
