/**
 * The two HTTP exchanges before a `datasource.write.azure.sas` upload: an OAuth 2.0 client-credentials token
 * from the login endpoint, then, with that bearer token, a SAS URL for one blob from the SAS service. Responses
 * are untrusted: bodies are capped, waits are bounded, and anything unusable is a coded error that names the
 * endpoint but never a secret or a token (the step adds which of its params the endpoint came from).
 */
import { IdxError } from '../core/errors.ts';
import { cappedBody } from './http.ts';
import { NETWORK_ERROR_CODES } from './transfer.ts';

/** The largest token or SAS response read; a bigger one is refused rather than buffered. */
export const MAX_SAS_RESPONSE_BYTES = 64 * 1024;

/** A bearer token and when it stops being usable (epoch ms). */
export interface BearerToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Reads at most {@link MAX_SAS_RESPONSE_BYTES} of a response body; a bigger one is refused. */
async function cappedText(response: Response, where: string): Promise<string> {
  const { text, truncated } = await cappedBody(response, MAX_SAS_RESPONSE_BYTES);
  if (truncated) {
    throw new IdxError('IDX_AZURE_SAS', `${where} answered with more than ${MAX_SAS_RESPONSE_BYTES} bytes`, {
      expected: `a response of at most ${MAX_SAS_RESPONSE_BYTES} bytes`,
      received: `more than ${MAX_SAS_RESPONSE_BYTES} bytes`,
    });
  }
  return text;
}

/** A request that could not reach the endpoint, or timed out: worth another attempt. */
function unreachable(error: unknown, where: string): IdxError {
  if (error instanceof IdxError) return error;
  const cause = (error as { cause?: { code?: string } }).cause;
  const timedOut = (error as Error).name === 'TimeoutError';
  return new IdxError(
    'IDX_AZURE_SAS',
    `${where} could not be reached: ${timedOut ? 'no answer in time' : (error as Error).message}`,
    {
      transient:
        timedOut ||
        (cause?.code !== undefined && NETWORK_ERROR_CODES.has(cause.code)) ||
        cause?.code === 'UND_ERR_SOCKET',
      cause: error,
    },
  );
}

/** The token endpoint of a `loginUrl`: itself when it ends in `/token`, else its Entra ID v1 token path. */
export function tokenEndpoint(loginUrl: string): string {
  const base = loginUrl.replace(/\/+$/, '');
  return /\/token$/.test(base) ? base : `${base}/oauth2/token`;
}

/** Options of {@link requestToken}. */
export interface TokenRequest {
  readonly loginUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The audience (`resource`) of the token: the SAS service. */
  readonly resource: string;
  readonly timeoutMs: number;
}

/**
 * Gets a bearer token with the client-credentials grant. A refusal (400/401/403: `invalid_client`,
 * `unauthorized_client`) is `IDX_AZURE_SAS_AUTH`, never retried; 429 and 5xx are transient.
 */
export async function requestToken(request: TokenRequest): Promise<BearerToken> {
  const url = tokenEndpoint(request.loginUrl);
  const where = `the token endpoint ${url}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: request.clientId,
        client_secret: request.clientSecret,
        resource: request.resource,
      }).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (error) {
    throw unreachable(error, where);
  }
  const text = await cappedText(response, where);
  let body: { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  if (response.status === 400 || response.status === 401 || response.status === 403) {
    const reason = typeof body?.error === 'string' ? body.error.slice(0, 100) : `HTTP ${response.status}`;
    throw new IdxError('IDX_AZURE_SAS_AUTH', `${where} refused the client credentials (${reason})`, {
      expected: 'a clientId and clientSecret the login endpoint accepts',
      received: `HTTP ${response.status} ${reason}`,
    });
  }
  if (!response.ok || typeof body?.access_token !== 'string' || body.access_token === '') {
    throw new IdxError('IDX_AZURE_SAS', `${where} gave no access token`, {
      transient: response.status === 429 || response.status >= 500,
      expected: 'HTTP 200 with a JSON access_token',
      received: `HTTP ${response.status}${response.ok ? ' without access_token' : ''}`,
    });
  }
  const seconds = Number(body.expires_in ?? 3600);
  return { token: body.access_token, expiresAt: Date.now() + (Number.isFinite(seconds) ? seconds : 3600) * 1000 };
}

/** The keys under which a SAS service may put the URL in a JSON object. */
const SAS_KEYS = ['sasUrl', 'sasUri', 'url', 'uri', 'sas'] as const;

/**
 * Asks the SAS service for the SAS URL of one blob: `GET <serviceUrl><encoded blob name>` with the bearer
 * token. The answer may be the URL as text, as a JSON string, or in a JSON object under one of {@link SAS_KEYS}.
 * A container SAS (`sr=c`) gets the blob name appended to its path. Returns the blob's SAS URL.
 */
export async function requestSasUrl(
  serviceUrl: string,
  blobName: string,
  token: string,
  timeoutMs: number,
): Promise<URL> {
  const url = `${serviceUrl}${blobName.split('/').map(encodeURIComponent).join('/')}`;
  const where = `the SAS service ${serviceUrl}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json, text/plain' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw unreachable(error, where);
  }
  const text = (await cappedText(response, where)).trim();
  if (response.status === 401 || response.status === 403) {
    throw new IdxError('IDX_AZURE_SAS_AUTH', `${where} refused the bearer token (HTTP ${response.status})`, {
      expected: 'a token whose audience (authenticationUrl) the SAS service accepts',
      received: `HTTP ${response.status}`,
    });
  }
  if (!response.ok) {
    throw new IdxError('IDX_AZURE_SAS', `${where} gave no SAS URL for ${blobName} (HTTP ${response.status})`, {
      transient: response.status === 429 || response.status >= 500,
      expected: 'HTTP 200 with a SAS URL',
      received: `HTTP ${response.status}`,
    });
  }
  let value: unknown = text;
  if (text.startsWith('{') || text.startsWith('"')) {
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    value = SAS_KEYS.map((k) => record[k]).find((v) => typeof v === 'string');
  }
  let sas: URL | undefined;
  try {
    sas = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    sas = undefined;
  }
  if (!sas || !/^https?:$/.test(sas.protocol) || !sas.searchParams.has('sig')) {
    throw new IdxError('IDX_AZURE_SAS', `${where} answered without a usable SAS URL for ${blobName}`, {
      expected: `an http(s) URL with a signed query (sig=…), as text or JSON under ${SAS_KEYS.join(', ')}`,
      // The body may hold a signature: say only what shape it had.
      received: `${text.length} characters${sas ? ' of a URL without sig' : ' that are not a URL'}`,
    });
  }
  if (sas.searchParams.get('sr') === 'c') {
    sas.pathname = `${sas.pathname.replace(/\/+$/, '')}/${blobName.split('/').map(encodeURIComponent).join('/')}`;
  }
  return sas;
}

/** A SAS URL as it may be logged and recorded: without its query (the signature). */
export function withoutSignature(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
