/**
 * A client of Adobe Marketo Engage's REST identity and Bulk Lead Import APIs: the client-credentials token, the
 * import of a CSV file of leads, the batch's status, and its failures and warnings files. A plain protocol client:
 * no dataflow params.
 *
 * Facts taken from Marketo's public documentation (listed in docs/marketo.md): `GET <base>/identity/oauth/token`
 * with `grant_type=client_credentials`, `client_id`, `client_secret` answers `access_token` and `expires_in`; calls
 * send `Authorization: Bearer` (the `access_token` query param is being removed); `POST <base>/bulk/v1/leads.json`
 * takes multipart `file`, `format` (csv) and `lookupField`, and answers `result[0].batchId` and `status`;
 * `GET /bulk/v1/leads/batch/<id>.json` reports `status` (Queued, Importing, Complete, Failed),
 * `numOfLeadsProcessed`, `numOfRowsFailed`, `numOfRowsWithWarning`, `message`; `…/failures.json` and
 * `…/warnings.json` return the rows as CSV with a reason column appended. Errors are mostly HTTP 200 with
 * `success: false` and `errors[{code, message}]`: 601/602 (token invalid/expired: renewed once), 604, 606 (rate
 * limit, 100 calls per 20 s), 608, 611, 615, 713 and 1016 (too many imports) are retried with backoff; any other
 * code fails the call with Marketo's message.
 */
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { fetchOrTransient, TransientError, withTransientRetry } from './http.ts';

/** Marketo's limit on one bulk import file. */
export const MARKETO_MAX_IMPORT_BYTES = 10 * 1024 * 1024;

/** Marketo error codes that another attempt may not meet. */
const TRANSIENT_CODES = new Set(['604', '606', '608', '611', '615', '713', '1016']);

/** Options of {@link MarketoClient}. */
export interface MarketoClientOptions {
  /** `https://<munchkin id>.mktorest.com`. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Attempts of one call answered with a transient code, 5xx or cut off. @default 5 */
  readonly attempts?: number;
  /** First backoff delay (doubles, 30 s at most). @default 1000 */
  readonly baseDelayMs?: number;
  /** Wait after a 606 (Marketo counts calls over 20 s). @default 20000 */
  readonly rateLimitWaitMs?: number;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** A bulk import batch as Marketo reports it. */
export interface MarketoBatch {
  readonly batchId: number;
  /** Queued, Importing, Complete, Failed. */
  readonly status: string;
  readonly numOfLeadsProcessed?: number;
  readonly numOfRowsFailed?: number;
  readonly numOfRowsWithWarning?: number;
  readonly message?: string;
}

/** A Marketo answer with `success: false`. */
class MarketoRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Envelope {
  success?: boolean;
  errors?: { code?: unknown; message?: unknown }[];
  result?: unknown[];
}

/** A client of one Marketo subscription; it keeps its token until shortly before it expires. */
export class MarketoClient {
  readonly #o: MarketoClientOptions;
  #token: { value: string; until: number } | undefined;

  constructor(options: MarketoClientOptions) {
    this.#o = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
  }

  /** Uploads a CSV file of leads (header of REST field names) and returns the batch it queued. */
  async importLeads(csv: string, lookupField: string): Promise<MarketoBatch> {
    const answer = await this.#api('/bulk/v1/leads.json', () => {
      const form = new FormData();
      form.set('format', 'csv');
      form.set('lookupField', lookupField);
      form.set('file', new Blob([csv], { type: 'text/csv' }), 'leads.csv');
      return { method: 'POST', body: form };
    });
    return batchOf(answer, 'the bulk lead import');
  }

  /** The state of a batch. */
  async batch(batchId: number): Promise<MarketoBatch> {
    return batchOf(await this.#api(`/bulk/v1/leads/batch/${batchId}.json`), `batch ${batchId}`);
  }

  /** The failures (or warnings) file of a batch: CSV rows with Marketo's reason as the last column. */
  async batchFile(batchId: number, kind: 'failures' | 'warnings'): Promise<string> {
    return this.#text(`/bulk/v1/leads/batch/${batchId}/${kind}.json`);
  }

  /**
   * Polls a batch until it is Complete, waiting `pollMs` then doubling (30 s at most). Failed is an
   * `IDX_MARKETO_JOB_FAILED` with Marketo's message.
   */
  async waitForBatch(batchId: number, pollMs: number): Promise<MarketoBatch> {
    for (let poll = 1; ; poll++) {
      const batch = await this.batch(batchId);
      if (batch.status === 'Complete') return batch;
      if (batch.status === 'Failed')
        throw new IdxError('IDX_MARKETO_JOB_FAILED', `Marketo import batch ${batchId} failed: ${batch.message ?? ''}`, {
          expected: 'status Complete',
          received: `Failed: ${batch.message ?? ''}`,
          details: { batchId },
        });
      if (pollMs > 0) await new Promise((r) => setTimeout(r, Math.min(30_000, pollMs * 2 ** (poll - 1))));
    }
  }

  /** A JSON API call, renewing the token once on 601/602. */
  async #api(path: string, init: () => RequestInit = () => ({})): Promise<Envelope> {
    const text = await this.#text(path, init, true);
    return JSON.parse(text) as Envelope;
  }

  async #text(path: string, init: () => RequestInit = () => ({}), json = false): Promise<string> {
    let renewed = false;
    for (;;) {
      try {
        return await this.#send(path, init, json);
      } catch (error) {
        if (error instanceof MarketoRefusal && (error.code === '601' || error.code === '602') && !renewed) {
          renewed = true;
          this.#token = undefined;
          this.#o.log?.info(`Marketo answered ${error.code} (${error.message}); renewing the access token once`);
          continue;
        }
        if (error instanceof MarketoRefusal)
          throw new IdxError(
            error.code === '601' || error.code === '602' ? 'IDX_MARKETO_AUTH' : 'IDX_MARKETO_ERROR',
            `Marketo refused ${path}: ${error.code} ${error.message}`,
            { expected: 'success: true', received: `${error.code} ${error.message}`, details: { code: error.code } },
          );
        throw error;
      }
    }
  }

  async #send(path: string, init: () => RequestInit, json: boolean): Promise<string> {
    return this.#retrying(async () => {
      const token = await this.#accessToken();
      const request = init();
      const response = await this.#fetch(`${this.#o.baseUrl}${path}`, {
        ...request,
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await response.text();
      if (response.status >= 500) throw new TransientError(`Marketo answered HTTP ${response.status}`);
      const envelope = text.trimStart().startsWith('{') ? (JSON.parse(text) as Envelope) : undefined;
      const error = envelope?.success === false ? envelope.errors?.[0] : undefined;
      if (error) {
        const code = String(error.code ?? '');
        const message = String(error.message ?? '');
        if (TRANSIENT_CODES.has(code))
          throw new TransientError(
            `Marketo answered ${code} ${message}`,
            code === '606' ? (this.#o.rateLimitWaitMs ?? 20_000) : undefined,
          );
        throw new MarketoRefusal(code, message);
      }
      if (response.status !== 200 || (json && !envelope))
        throw new IdxError('IDX_MARKETO_ERROR', `Marketo answered ${path} with HTTP ${response.status}`, {
          expected: 'HTTP 200',
          received: `HTTP ${response.status} ${text.slice(0, 200)}`,
        });
      return text;
    });
  }

  async #accessToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.until) return this.#token.value;
    const query = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.#o.clientId,
      client_secret: this.#o.clientSecret,
    });
    const response = await this.#fetch(`${this.#o.baseUrl}/identity/oauth/token?${query}`, { method: 'GET' });
    const text = await response.text();
    if (response.status >= 500) throw new TransientError(`Marketo's identity service answered HTTP ${response.status}`);
    let parsed: { access_token?: unknown; expires_in?: unknown; error_description?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // Reported below.
    }
    if (response.status !== 200 || typeof parsed.access_token !== 'string')
      throw new IdxError(
        'IDX_MARKETO_AUTH',
        `Marketo refused the client credentials: ${String(parsed.error_description ?? text.slice(0, 200))}`,
        {
          expected: 'an access token for clientId and clientSecret',
          received: `HTTP ${response.status}`,
        },
      );
    const seconds = typeof parsed.expires_in === 'number' ? parsed.expires_in : 3599;
    this.#token = { value: parsed.access_token, until: Date.now() + Math.max(0, seconds - 60) * 1000 };
    return this.#token.value;
  }

  #fetch(url: string, init: RequestInit): Promise<Response> {
    return fetchOrTransient(url, init, 'Marketo', this.#o.signal);
  }

  #retrying<T>(work: () => Promise<T>): Promise<T> {
    return withTransientRetry(work, {
      attempts: this.#o.attempts ?? 5,
      baseDelayMs: this.#o.baseDelayMs ?? 1000,
      code: 'IDX_MARKETO_UNAVAILABLE',
      what: 'the Marketo API',
      ...(this.#o.log ? { log: this.#o.log } : {}),
      ...(this.#o.signal ? { signal: this.#o.signal } : {}),
    });
  }
}

function batchOf(answer: Envelope, what: string): MarketoBatch {
  const batch = answer.result?.[0] as MarketoBatch | undefined;
  if (!batch || typeof batch.batchId !== 'number')
    throw new IdxError('IDX_MARKETO_ERROR', `Marketo answered ${what} without a batch`, {
      expected: 'result[0].batchId',
      received: JSON.stringify(answer).slice(0, 200),
    });
  return batch;
}
