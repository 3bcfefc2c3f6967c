/**
 * The IDX REST API (identitysync-spec.md §6, extras.md §4) as an HTTP handler: `/idx.<method>` answered with
 * Gigya's envelope (lib/local/gigya-envelope.ts). Parameters come as a form (POST body or query string, as the
 * SAP toolkit and the Gigya SDKs send them) or as a JSON object body; objects (`data`) travel as JSON strings or,
 * in a JSON body, as objects. Every request is authenticated with Gigya's parameters against configured
 * credentials: `apiKey` + `userKey` + `secret`, or `apiKey` + `userKey` + a signature (`timestamp`, `nonce`,
 * `sig`, apis.md §A.2). Every failure answers a Gigya error code, never a stack trace.
 *
 * The handler is mounted by a server (`idx api`, the console): it answers the paths starting with `/idx.` and
 * leaves every other path to the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifySignature } from '../connectors/gigya-signer.ts';
import { gigyaEnvelope, newCallId, statusOf } from '../local/gigya-envelope.ts';
import { MAX_NONCE_LENGTH, MemoryNonces, type NonceClaims } from '../stores/nonces.ts';
import { IdxApiError, type IdxData } from './data.ts';
import { IdxSearch } from './search.ts';

/** Largest request body accepted (a dataflow of the largest deployable size fits with room to spare). */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
/** How far a signed request's timestamp may be from the server's clock. */
export const MAX_CLOCK_SKEW_MS = 120_000;

/** The credentials a caller must present (Gigya's site API key, a user key and its secret, base64). */
export interface IdxApiCredentials {
  readonly apiKey: string;
  readonly userKey: string;
  readonly secret: string;
}

/** Options of {@link idxApiHandler}. */
export interface IdxApiOptions {
  readonly data: IdxData;
  readonly credentials: IdxApiCredentials;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Where the nonces of signed requests are recorded, so each is answered once: a deployed function's containers
   * share the state table (TableNonces, lib/stores/nonces.ts). @default this process's memory
   */
  readonly nonces?: NonceClaims;
  /** Told of every error answered as 500001 (an unexpected one), for the server's log; never sent to the caller. */
  readonly onUnexpected?: (error: unknown) => void;
}

/** An HTTP handler that answers a request when it is its own; resolves true when it answered. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

type Params = Record<string, string>;
type Method = (params: Params) => Promise<Record<string, unknown>>;

/** Reads a request's parameters: the query string, then a form or JSON body (body values win). */
async function readParams(req: IncomingMessage, url: URL): Promise<Params> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw new IdxApiError(413001, `the request body is over ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const params: Params = Object.create(null);
  for (const [k, v] of url.searchParams) params[k] = v;
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return params;
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new IdxApiError(400001, 'the JSON body is not valid JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new IdxApiError(400001, 'a JSON body must be an object of parameters');
    for (const [k, v] of Object.entries(body))
      params[k] = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  } else for (const [k, v] of new URLSearchParams(text)) params[k] = v;
  return params;
}

/** A required parameter. */
function need(params: Params, name: string): string {
  const v = params[name];
  if (v === undefined || v === '') throw new IdxApiError(400002, `${name} is required`);
  return v;
}

/** A required parameter holding a JSON object. */
function jsonObject(params: Params, name: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(need(params, name));
  } catch {
    throw new IdxApiError(400006, `${name} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new IdxApiError(400006, `${name} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Compares two strings in time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/**
 * The IDX REST API handler. Answers `/idx.<method>` for search, getDataflow, getScheduling, createScheduling,
 * createDataflow, setDataflow and deleteDataflow; any other `/idx.` method answers 404000.
 */
export function idxApiHandler(options: IdxApiOptions): RequestHandler {
  const now = options.now ?? Date.now;
  const { data, credentials } = options;
  const search = new IdxSearch(data, now);
  const nonces = options.nonces ?? new MemoryNonces(now);

  const writer = () => {
    if (!data.writer)
      throw new IdxApiError(
        403007,
        'dataflows of a deployed stack change through the repository and `cdk deploy`, not through the API',
      );
    return data.writer;
  };
  const byId = async <T extends { readonly id: string }>(rows: Promise<readonly T[]>, id: string, what: string) => {
    const row = (await rows).find((r) => r.id === id);
    if (!row) throw new IdxApiError(404000, `no ${what} with id ${JSON.stringify(id.slice(0, 200))}`);
    return row;
  };

  const methods: Record<string, Method> = {
    'idx.search': async (params) => ({ ...(await search.search(params)) }),
    'idx.getDataflow': async (params) => ({ ...(await byId(data.dataflows(), need(params, 'id'), 'dataflow')) }),
    'idx.getScheduling': async (params) => ({
      ...(await byId(data.schedulings(), need(params, 'id'), 'scheduling')),
    }),
    'idx.createScheduling': async (params) => {
      const scheduling = await data.createScheduling(jsonObject(params, 'data'));
      return { id: scheduling.id, ...(scheduling.jobId === undefined ? {} : { jobId: scheduling.jobId }) };
    },
    'idx.createDataflow': async (params) => ({ ...(await writer().create(jsonObject(params, 'data'))) }),
    'idx.setDataflow': async (params) => ({ ...(await writer().set(jsonObject(params, 'data'))) }),
    'idx.deleteDataflow': async (params) => {
      await writer().delete(need(params, 'id'));
      return {};
    },
  };

  async function authenticate(params: Params, url: URL, host: string): Promise<void> {
    const apiKey = need(params, 'apiKey');
    if (!sameText(apiKey, credentials.apiKey)) throw new IdxApiError(400093, 'the apiKey is not this site');
    if (params.userKey === undefined || params.userKey === '')
      throw new IdxApiError(403007, 'a userKey with its secret (or a signature) is required for IDX methods');
    if (!sameText(params.userKey, credentials.userKey))
      throw new IdxApiError(403005, 'The supplied userkey was not found');
    if (params.sig !== undefined) {
      const ts = Number(params.timestamp) * 1000;
      if (!Number.isFinite(ts)) throw new IdxApiError(403002, 'timestamp is missing');
      if (Math.abs(now() - ts) > MAX_CLOCK_SKEW_MS)
        throw new IdxApiError(403002, 'the request timestamp is too far from the server clock');
      // The client signs the URL it called: https:// through a TLS proxy in front of this server, http:// locally.
      const signed = ['https', 'http'].some((scheme) =>
        verifySignature(`${scheme}://${host}${url.pathname}`, params, credentials.secret),
      );
      if (!signed) throw new IdxApiError(403003, 'signature mismatch');
      const nonce = params.nonce ?? '';
      if (nonce === '') throw new IdxApiError(403003, 'nonce is missing');
      if (nonce.length > MAX_NONCE_LENGTH)
        throw new IdxApiError(400006, `the nonce is longer than ${MAX_NONCE_LENGTH} characters`);
      // Remembered until the timestamp leaves the window, from then on the timestamp check refuses a replay.
      if (!(await nonces.claim(nonce, ts + MAX_CLOCK_SKEW_MS)))
        throw new IdxApiError(403004, 'the nonce was used before');
      return;
    }
    if (params.secret === undefined || params.secret === '')
      throw new IdxApiError(403007, 'the secret (or a signature) is required with the userKey');
    if (!sameText(params.secret, credentials.secret)) throw new IdxApiError(403003, 'invalid secret');
  }

  return async (req, res) => {
    const host = req.headers.host ?? '127.0.0.1';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return false;
    }
    if (!url.pathname.startsWith('/idx.')) return false;
    const method = url.pathname.slice(1);
    const callId = newCallId();
    let params: Params = {};
    let errorCode = 0;
    let body: Record<string, unknown>;
    try {
      params = await readParams(req, url);
      const run = Object.hasOwn(methods, method) ? methods[method] : undefined;
      if (!run) throw new IdxApiError(404000, `unknown method ${JSON.stringify(method.slice(0, 100))}`);
      await authenticate(params, url, host);
      body = await run(params);
    } catch (error) {
      if (error instanceof IdxApiError) {
        errorCode = error.errorCode;
        body = { errorDetails: error.details, ...error.extra };
      } else {
        options.onUnexpected?.(error);
        errorCode = 500001;
        body = { errorDetails: 'the request could not be completed' };
      }
    }
    const context = params.context === undefined ? {} : { context: params.context };
    const envelope = gigyaEnvelope(callId, errorCode, { ...body, ...context }, new Date(now()));
    const status = params.httpStatusCodes === 'true' ? statusOf(errorCode) : 200;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(envelope));
    return true;
  };
}
