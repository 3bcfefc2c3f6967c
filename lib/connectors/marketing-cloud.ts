/**
 * A thin fetch-based client of Salesforce Marketing Cloud Engagement's REST API for data extension rows: the
 * client-credentials token of an enhanced installed package, and the synchronous rowset upsert. It knows no
 * dataflow: it takes plain options and a logger and raises coded errors (documents in docs/salesforce.md).
 *
 * - Token: `POST <auth base URI>/v2/token` with JSON `grant_type: client_credentials`, `client_id`,
 *   `client_secret` (and `account_id` for a business unit); the answer's `access_token` is kept until shortly
 *   before `expires_in` (about 20 minutes), and `rest_instance_url` is where the REST calls go. A 401 on a REST
 *   call gets a new token once and repeats the call.
 * - Rows: `POST <rest>/hub/v1/dataevents/key:<external key>/rowset` with `[{keys, values}]`: an upsert on the data
 *   extension's primary key. A 400 means a row of the call was refused (the call is all or nothing); the caller
 *   splits the call to find which.
 * - Retries: 429 (with `Retry-After`), 5xx and dropped connections, with exponential backoff.
 */
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { fetchText, type RetryTuning, TRANSIENT_STATUS, tuningOf, unreachableError } from './http.ts';

/** Marketing Cloud's limit of one rowset call's body. */
export const MARKETING_CLOUD_MAX_ROWSET_BYTES = 5 * 1024 * 1024;

/** Options of {@link MarketingCloudClient}. */
export interface MarketingCloudClientOptions extends RetryTuning {
  /** The package's Authentication Base URI (`https://<subdomain>.auth.marketingcloudapis.com`). */
  readonly authBaseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The MID of the business unit to act in; absent: the package's own. */
  readonly accountId?: string;
  readonly log: Logger;
}

/** One row of a rowset call: the primary key columns, and the other columns. */
export interface RowsetRow {
  readonly keys: Readonly<Record<string, string>>;
  readonly values: Readonly<Record<string, string>>;
}

/** What a refused rowset call said: its message, the messages of its additional errors, its errorcode. */
export interface RowsetRefusal {
  readonly message: string;
  readonly errorcode?: number;
}

/** What Marketing Cloud said in an error body: `{message, errorcode, additionalErrors}`, OAuth's, or its text. */
export function marketingCloudSays(text: string): RowsetRefusal {
  try {
    const body = JSON.parse(text) as {
      message?: string;
      errorcode?: number;
      additionalErrors?: { message?: string }[];
      error?: string;
      error_description?: string;
    };
    const more = (body.additionalErrors ?? []).map((e) => e.message).filter((m): m is string => !!m);
    if (typeof body.message === 'string' || more.length) {
      return {
        message: more.length ? more.join('; ') : (body.message ?? ''),
        ...(typeof body.errorcode === 'number' ? { errorcode: body.errorcode } : {}),
      };
    }
    if (typeof body.error === 'string') return { message: `${body.error}: ${body.error_description ?? ''}`.trim() };
  } catch {
    // Not JSON.
  }
  return { message: text.trim().slice(0, 500) };
}

/** A client of one Marketing Cloud tenant's data extension rows. */
export class MarketingCloudClient {
  readonly #options: MarketingCloudClientOptions;
  #token: { readonly value: string; readonly rest: string; readonly until: number } | undefined;
  /** Requests answered 429 or 5xx and tried again. */
  retries = 0;
  /** Tokens obtained. */
  tokens = 0;

  constructor(options: MarketingCloudClientOptions) {
    this.#options = options;
  }

  /** One request with the shared retries; the last answer's whole body read. */
  async #fetch(url: string, init: () => RequestInit): Promise<{ response: Response; text: string }> {
    return fetchText(url, init, {
      ...tuningOf(this.#options),
      platform: 'Marketing Cloud',
      log: this.#options.log,
      onRetry: () => {
        this.retries++;
      },
      unreachable: unreachableError('IDX_MARKETING_CLOUD_API', 'Marketing Cloud', url),
    });
  }

  /** A token from the v2 token endpoint, kept until a minute before it expires. */
  async #access(): Promise<{ value: string; rest: string }> {
    if (this.#token && Date.now() < this.#token.until) return this.#token;
    const url = `${this.#options.authBaseUrl.replace(/\/+$/, '')}/v2/token`;
    const { response, text } = await this.#fetch(url, () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: this.#options.clientId,
        client_secret: this.#options.clientSecret,
        ...(this.#options.accountId ? { account_id: this.#options.accountId } : {}),
      }),
    }));
    let body: { access_token?: unknown; expires_in?: unknown; rest_instance_url?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Reported below.
    }
    if (!response.ok || typeof body.access_token !== 'string' || typeof body.rest_instance_url !== 'string') {
      throw new IdxError('IDX_MARKETING_CLOUD_AUTH', `Marketing Cloud's token endpoint ${url} gave no token`, {
        transient: TRANSIENT_STATUS.has(response.status),
        expected: 'client credentials of an enhanced installed package, on its Authentication Base URI',
        received: `HTTP ${response.status} ${marketingCloudSays(text).message.slice(0, 200)}`,
      });
    }
    this.tokens++;
    const ttl = typeof body.expires_in === 'number' ? body.expires_in : 1079;
    this.#token = {
      value: body.access_token,
      rest: body.rest_instance_url.replace(/\/+$/, ''),
      until: Date.now() + Math.max(0, ttl - 60) * 1000,
    };
    return this.#token;
  }

  /**
   * Upserts rows into the data extension with external key `key`. Returns undefined when every row was saved, or
   * what Marketing Cloud said when it refused the call (HTTP 400: one of the rows, nothing saved).
   */
  async upsertRows(key: string, rows: readonly RowsetRow[]): Promise<RowsetRefusal | undefined> {
    const path = `/hub/v1/dataevents/key:${encodeURIComponent(key)}/rowset`;
    const body = JSON.stringify(rows);
    let again = true;
    for (;;) {
      const token = await this.#access();
      const { response, text } = await this.#fetch(`${token.rest}${path}`, () => ({
        method: 'POST',
        headers: {
          authorization: `Bearer ${token.value}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body,
      }));
      if (response.ok) return undefined;
      if (response.status === 401 && again) {
        again = false;
        this.#options.log.info('Marketing Cloud refused the token (expired?): getting a new one once');
        this.#token = undefined;
        continue;
      }
      const said = marketingCloudSays(text);
      if (response.status === 400) return said;
      throw new IdxError(
        response.status === 401 ? 'IDX_MARKETING_CLOUD_AUTH' : 'IDX_MARKETING_CLOUD_API',
        `Marketing Cloud answered HTTP ${response.status} to POST ${path}: ${said.message}`,
        {
          transient: TRANSIENT_STATUS.has(response.status),
          expected: `a 2xx answer to POST ${path}`,
          received: `HTTP ${response.status}${said.errorcode === undefined ? '' : ` errorcode ${said.errorcode}`}`,
          details: { status: response.status, ...(said.errorcode === undefined ? {} : { errorcode: said.errorcode }) },
        },
      );
    }
  }
}
