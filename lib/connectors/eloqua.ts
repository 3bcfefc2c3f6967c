/**
 * A thin fetch-based client of Oracle Eloqua's Bulk API 2.0 (contacts): authentication, base-URL discovery,
 * import and export definitions, data upload, syncs and their polling, sync logs and rejected rows, and paged
 * export data. It knows no dataflow: it takes plain options and a logger and raises coded errors.
 *
 * What it follows, from Oracle's public documentation (apis.md §B):
 * - Auth: HTTP Basic with `<company>\<user>:<password>`, or OAuth2 bearer tokens obtained from
 *   `<login>/auth/oauth2/token` with the `refresh_token` grant, or the `password` grant (resource owner password
 *   credentials) when no refresh token is given; client id and secret are the Basic credentials of the token
 *   request. Not confirmed: whether Eloqua invalidates a refresh token once it has been used (it answers a new one,
 *   which a job cannot store in its read-only secret); the password grant avoids the question. Oracle recommends OAuth2; both are offered because an IdentitySync integration user usually
 *   has a password and no AppCloud app. A 401 with OAuth2 refreshes the access token once and repeats the
 *   request; a 401 with Basic discovers the base URL again once (Oracle: "a pod can change").
 * - Base URL: `GET <login>/id` answers `urls.base`; the Bulk API is `<base>/api/bulk/2.0`. A configured base URL
 *   skips discovery.
 * - Retries: 429, 500, 502, 503, 504 and dropped connections, with exponential backoff and jitter (a
 *   `Retry-After` in seconds is honoured when longer), up to `attempts`; never a 4xx other than 429.
 * - Errors: a 400 carries `{failures: [{field, value, constraint}]}`; the message of the coded error keeps them.
 * - Sync status: `pending`, `active`, then `success`, `warning` or `error`; `errored` (the prose docs' spelling)
 *   is read as `error`.
 */
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import {
  cappedBody,
  fetchRetrying,
  isNetworkFailure,
  type RetryTuning,
  TRANSIENT_STATUS,
  tuningOf,
  unreachableError,
} from './http.ts';
import { sleep } from './retry.ts';

/** Eloqua's documented hard limit of one data POST: larger bodies get a 404 (bulk limits page). */
export const ELOQUA_MAX_POST_BYTES = 32 * 1024 * 1024;
/** Eloqua's documented limit of data POSTs into one import before it must be synced. */
export const ELOQUA_MAX_POSTS_PER_SYNC = 500;
/** The largest `limit` of an export sync's data page. */
export const ELOQUA_MAX_PAGE = 50_000;
/** The largest `limit` of the logs and rejects endpoints. */
export const ELOQUA_MAX_LIST_PAGE = 1000;
/** The largest error or token response read into memory; data pages are bounded by their `limit` instead. */
const MAX_SMALL_RESPONSE = 1024 * 1024;

/** How the client authenticates. */
export type EloquaAuth =
  | { readonly kind: 'basic'; readonly company: string; readonly username: string; readonly password: string }
  | {
      readonly kind: 'oauth2';
      readonly clientId: string;
      readonly clientSecret: string;
      /**
       * How access tokens are obtained: with a refresh token (`refresh_token` grant), or with the user's login
       * (`password` grant, Oracle's resource owner password credentials flow; username as `<company>\<user>`).
       */
      readonly grant:
        | { readonly refreshToken: string; readonly redirectUri?: string }
        | { readonly company: string; readonly username: string; readonly password: string };
    };

/** Options of {@link EloquaClient}. */
export interface EloquaClientOptions extends RetryTuning {
  readonly auth: EloquaAuth;
  /** The login origin (`https://login.eloqua.com`), for `/id` and the token endpoint. */
  readonly loginUrl: string;
  /** A configured base URL (`https://secure.p03.eloqua.com`); absent: discovered with `/id`. */
  readonly baseUrl?: string;
  readonly log: Logger;
}

/** A sync as Eloqua answers it. */
export interface EloquaSync {
  readonly uri: string;
  readonly status: 'pending' | 'active' | 'success' | 'warning' | 'error';
  readonly syncedInstanceUri?: string;
  readonly syncStartedAt?: string;
  readonly syncEndedAt?: string;
}

/** One line of a sync's log. */
export interface EloquaSyncLog {
  readonly count?: number;
  readonly severity?: string;
  readonly statusCode?: string;
  readonly message?: string;
}

/** One rejected row of an import sync. */
export interface EloquaReject {
  readonly recordIndex: number;
  readonly statusCode?: string;
  readonly message?: string;
  readonly invalidFields?: readonly string[];
  readonly fieldValues?: Readonly<Record<string, string>>;
}

/** A page of an export sync's data. */
export interface EloquaPage {
  readonly items: readonly Record<string, string>[];
  readonly hasMore: boolean;
  readonly totalResults?: number;
}

/** A page of a list endpoint (logs, rejects, definitions). */
interface ListPage<T> {
  readonly items?: readonly T[];
  readonly hasMore?: boolean;
}

/** A response that asks for another attempt. */
/** What Eloqua said in an error body: its failures (400), or its message, bounded. */
function eloquaSays(text: string): string {
  try {
    const body = JSON.parse(text) as { failures?: { field?: string; value?: string; constraint?: string }[] };
    if (Array.isArray(body.failures) && body.failures.length) {
      return body.failures
        .slice(0, 10)
        .map((f) => `${f.field ?? '?'}: ${f.constraint ?? 'invalid'}${f.value === undefined ? '' : ` (${f.value})`}`)
        .join('; ');
    }
  } catch {
    // Not JSON: Eloqua's plain-text message.
  }
  return text.trim().slice(0, 500);
}

/** A client of one Eloqua instance's Bulk API 2.0. */
export class EloquaClient {
  readonly #options: EloquaClientOptions;
  #bulk: string | undefined;
  #token: string | undefined;
  /** Requests answered 429 or 5xx and tried again (for the trace and tests). */
  retries = 0;
  /** Access tokens obtained with the refresh token. */
  refreshes = 0;

  constructor(options: EloquaClientOptions) {
    this.#options = options;
    if (options.baseUrl) this.#bulk = `${options.baseUrl.replace(/\/+$/, '')}/api/bulk/2.0`;
  }

  /** Where requests go, for messages: the Bulk API base once known, else the login origin. */
  get where(): string {
    return this.#bulk ?? this.#options.loginUrl;
  }

  /** The Authorization header of a request. */
  async #authorization(): Promise<string> {
    const auth = this.#options.auth;
    if (auth.kind === 'basic') {
      return `Basic ${Buffer.from(`${auth.company}\\${auth.username}:${auth.password}`).toString('base64')}`;
    }
    this.#token ??= await this.#refresh();
    return `Bearer ${this.#token}`;
  }

  /** A new access token (`POST <login>/auth/oauth2/token`). */
  async #refresh(): Promise<string> {
    const auth = this.#options.auth;
    if (auth.kind !== 'oauth2') throw new Error('refresh without OAuth2');
    const url = `${this.#options.loginUrl.replace(/\/+$/, '')}/auth/oauth2/token`;
    const response = await this.#fetchRetrying(url, () => ({
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${auth.clientId}:${auth.clientSecret}`).toString('base64')}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify(
        'refreshToken' in auth.grant
          ? {
              grant_type: 'refresh_token',
              refresh_token: auth.grant.refreshToken,
              scope: 'full',
              ...(auth.grant.redirectUri ? { redirect_uri: auth.grant.redirectUri } : {}),
            }
          : {
              grant_type: 'password',
              scope: 'full',
              username: `${auth.grant.company}\\${auth.grant.username}`,
              password: auth.grant.password,
            },
      ),
    }));
    const text = await this.#smallText(response);
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      throw new IdxError('IDX_ELOQUA_AUTH', `Eloqua's token endpoint ${url} refused the grant`, {
        expected: 'a clientId and clientSecret, and a refreshToken or login, that Eloqua accepts',
        received: `HTTP ${response.status} ${eloquaSays(text).slice(0, 100)}`,
      });
    }
    let token: unknown;
    try {
      token = (JSON.parse(text) as { access_token?: unknown }).access_token;
    } catch {
      token = undefined;
    }
    if (!response.ok || typeof token !== 'string' || token === '') {
      throw new IdxError('IDX_ELOQUA_API', `Eloqua's token endpoint ${url} gave no access token`, {
        transient: TRANSIENT_STATUS.has(response.status),
        expected: 'HTTP 200 with a JSON access_token',
        received: `HTTP ${response.status}`,
      });
    }
    this.refreshes++;
    return token;
  }

  /** The Bulk API base, discovered with `GET <login>/id` unless configured. */
  async #base(): Promise<string> {
    if (this.#bulk) return this.#bulk;
    const url = `${this.#options.loginUrl.replace(/\/+$/, '')}/id`;
    const response = await this.#send(url, { method: 'GET' }, true);
    const text = await this.#smallText(response);
    let base: unknown;
    try {
      base = (JSON.parse(text) as { urls?: { base?: unknown } }).urls?.base;
    } catch {
      base = undefined;
    }
    if (!response.ok || typeof base !== 'string' || !/^https?:\/\//.test(base)) {
      throw new IdxError('IDX_ELOQUA_API', `Eloqua's ${url} did not give the instance's base URL`, {
        transient: TRANSIENT_STATUS.has(response.status),
        expected: 'HTTP 200 with urls.base',
        received: `HTTP ${response.status} ${eloquaSays(text).slice(0, 200)}`,
      });
    }
    this.#bulk = `${base.replace(/\/+$/, '')}/api/bulk/2.0`;
    this.#options.log.debug(`Eloqua Bulk API at ${this.#bulk}`);
    return this.#bulk;
  }

  /** Reads a response body of bounded size (an error or token answer; more is cut off). */
  async #smallText(response: Response): Promise<string> {
    return (await cappedBody(response, MAX_SMALL_RESPONSE)).text;
  }

  /** One fetch, retried on 429, 5xx and dropped connections with backoff; returns the last response. */
  async #fetchRetrying(url: string, init: () => RequestInit): Promise<Response> {
    const { response } = await fetchRetrying(url, init, {
      ...tuningOf(this.#options),
      platform: 'Eloqua',
      log: this.#options.log,
      onRetry: () => {
        this.retries++;
      },
      unreachable: unreachableError('IDX_ELOQUA_API', 'Eloqua', url, isNetworkFailure),
    });
    return response;
  }

  /**
   * Sends a request with authentication: a 401 refreshes the OAuth2 token (or, with Basic, discovers the base URL
   * again) once and repeats it; a second 401 or a 403 is `IDX_ELOQUA_AUTH`.
   */
  async #send(url: string, init: RequestInit, discovery = false): Promise<Response> {
    let again = true;
    for (;;) {
      const authorization = await this.#authorization();
      const response = await this.#fetchRetrying(url, () => ({
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization, accept: 'application/json' },
      }));
      if (response.status !== 401 && response.status !== 403) return response;
      const text = await this.#smallText(response);
      if (response.status === 401 && again) {
        again = false;
        if (this.#options.auth.kind === 'oauth2') {
          this.#options.log.info('Eloqua refused the access token (expired?): refreshing it once');
          this.#token = await this.#refresh();
          continue;
        }
        if (!discovery && !this.#options.baseUrl) {
          // Basic credentials do not expire: the instance may have moved to another pod.
          const old = this.#bulk;
          this.#bulk = undefined;
          const base = await this.#base();
          if (old && url.startsWith(old)) url = base + url.slice(old.length);
          continue;
        }
      }
      throw new IdxError('IDX_ELOQUA_AUTH', `Eloqua refused the credentials (HTTP ${response.status})`, {
        expected:
          this.#options.auth.kind === 'basic'
            ? 'a company, username and password Eloqua accepts, of a user allowed to use the Bulk API'
            : 'an OAuth2 token Eloqua accepts',
        received: `HTTP ${response.status} ${eloquaSays(text).slice(0, 200)}`,
      });
    }
  }

  /** A Bulk API call with a JSON answer; any status but 2xx is a coded error carrying Eloqua's words. */
  async call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const base = await this.#base();
    const url = `${base}${path}`;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const response = await this.#send(url, {
      method,
      ...(payload === undefined ? {} : { body: payload, headers: { 'content-type': contentType } }),
    });
    if (response.status === 204) {
      await response.body?.cancel().catch(() => undefined);
      return undefined as T;
    }
    const text = response.ok ? await response.text() : await this.#smallText(response);
    if (!response.ok) {
      throw new IdxError(
        'IDX_ELOQUA_API',
        `Eloqua answered HTTP ${response.status} to ${method} ${path}: ${eloquaSays(text)}`,
        {
          transient: TRANSIENT_STATUS.has(response.status),
          expected: `a 2xx answer to ${method} ${path}`,
          received: `HTTP ${response.status}`,
          details: { status: response.status, eloqua: eloquaSays(text) },
        },
      );
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Creates a contact import definition; returns its uri (`/contacts/imports/<id>`). */
  async createImport(definition: Record<string, unknown>): Promise<string> {
    const created = await this.call<{ uri: string }>('POST', '/contacts/imports', definition);
    return created.uri;
  }

  /** Creates a contact export definition; returns its uri (`/contacts/exports/<id>`). */
  async createExport(definition: Record<string, unknown>): Promise<string> {
    const created = await this.call<{ uri: string }>('POST', '/contacts/exports', definition);
    return created.uri;
  }

  /** Stages rows into an import definition (one POST; the caller keeps it under {@link ELOQUA_MAX_POST_BYTES}). */
  async upload(importUri: string, body: string): Promise<void> {
    await this.call<void>('POST', `${importUri}/data`, body);
  }

  /** Starts a sync of a definition. */
  async sync(definitionUri: string): Promise<EloquaSync> {
    return this.call<EloquaSync>('POST', '/syncs', { syncedInstanceUri: definitionUri });
  }

  /** The sync now, with `errored` read as `error`. */
  async getSync(syncUri: string): Promise<EloquaSync> {
    const sync = await this.call<EloquaSync>('GET', syncUri);
    return (sync.status as string) === 'errored' ? { ...sync, status: 'error' } : sync;
  }

  /**
   * Polls a sync until it ends: waits `firstPollMs`, doubling up to `maxPollMs`, and fails with `IDX_ELOQUA_SYNC`
   * (transient) when it has not ended by `timeoutMs`.
   */
  async waitForSync(
    syncUri: string,
    options: { readonly firstPollMs: number; readonly maxPollMs: number; readonly timeoutMs: number },
  ): Promise<EloquaSync> {
    const until = Date.now() + options.timeoutMs;
    let wait = options.firstPollMs;
    for (;;) {
      const sync = await this.getSync(syncUri);
      if (sync.status === 'success' || sync.status === 'warning' || sync.status === 'error') return sync;
      if (Date.now() + wait > until) {
        throw new IdxError('IDX_ELOQUA_SYNC', `Eloqua's sync ${syncUri} did not end in time`, {
          transient: true,
          expected: `a sync that ends within ${Math.round(options.timeoutMs / 1000)} s`,
          received: `status ${sync.status}`,
        });
      }
      await sleep(wait, this.#options.signal);
      wait = Math.min(options.maxPollMs, wait * 2);
    }
  }

  /** Every page of a list endpoint (logs, rejects), `limit` ≤ 1000 per page. */
  async *#list<T>(path: string): AsyncGenerator<T[]> {
    for (let offset = 0; ; offset += ELOQUA_MAX_LIST_PAGE) {
      const page = await this.call<ListPage<T>>('GET', `${path}?limit=${ELOQUA_MAX_LIST_PAGE}&offset=${offset}`);
      const items = [...(page.items ?? [])];
      if (items.length) yield items;
      if (!page.hasMore || items.length === 0) return;
    }
  }

  /** The sync's log lines. */
  async logs(syncUri: string): Promise<EloquaSyncLog[]> {
    const all: EloquaSyncLog[] = [];
    for await (const page of this.#list<EloquaSyncLog>(`${syncUri}/logs`)) all.push(...page);
    return all;
  }

  /** The rows an import sync rejected, page by page. */
  rejects(syncUri: string): AsyncGenerator<EloquaReject[]> {
    return this.#list<EloquaReject>(`${syncUri}/rejects`);
  }

  /** One page of an export sync's data. */
  async data(syncUri: string, offset: number, limit: number): Promise<EloquaPage> {
    const page = await this.call<{ items?: Record<string, string>[]; hasMore?: boolean; totalResults?: number }>(
      'GET',
      `${syncUri}/data?limit=${Math.min(ELOQUA_MAX_PAGE, Math.max(1, limit))}&offset=${offset}`,
    );
    return {
      items: page.items ?? [],
      hasMore: page.hasMore === true,
      ...(typeof page.totalResults === 'number' ? { totalResults: page.totalResults } : {}),
    };
  }
}
