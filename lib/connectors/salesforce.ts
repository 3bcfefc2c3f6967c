/**
 * A thin fetch-based client of Salesforce's Bulk API 2.0 ingest jobs: login, job creation, the CSV upload, the
 * close, polling, the three result sets, and abort. It knows no dataflow: it takes plain options and a logger and
 * raises coded errors (see docs/salesforce.md for the documents each behaviour comes from).
 *
 * - Login: SOAP `login()` (partner WSDL, `POST …/services/Soap/u/<version>`, password and security token
 *   concatenated), which is what IdentitySync's `username`/`password`/`token`/`authEndpoint` params describe and
 *   the only flow those params suffice for; or OAuth 2.0 at `/services/oauth2/token` on the same host (the
 *   username-password grant with a connected app's client id and secret, or client credentials without a
 *   username), for orgs where SOAP login is retired or blocked. Both give a session id used as a bearer token,
 *   and the instance's origin.
 * - A 401 (`INVALID_SESSION_ID`: the session expired) logs in again once and repeats the request.
 * - Retries: 429, 500, 502, 503, 504, 403 `REQUEST_LIMIT_EXCEEDED` and dropped connections, with exponential
 *   backoff; then the last answer is a coded error with Salesforce's `errorCode` and message.
 */
import { parse } from 'csv-parse/sync';
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { fetchText, type RetryTuning, TRANSIENT_STATUS, tuningOf, unreachableError } from './http.ts';
import { sleep } from './retry.ts';

/** The API version of Bulk calls: the last one that still offers SOAP `login()` (it is gone from v65.0). */
export const SALESFORCE_API_VERSION = '64.0';
/** What one upload may hold: Salesforce takes 150 MB after base64, so about 100 MB of CSV. */
export const SALESFORCE_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

/** How the client logs in. */
export type SalesforceAuth =
  | {
      readonly kind: 'soap';
      /** The SOAP login URL (`https://login.salesforce.com/services/Soap/u/64.0`). */
      readonly loginUrl: string;
      readonly username: string;
      readonly password: string;
      /** The user's security token, appended to the password (empty when the org trusts the caller's IP). */
      readonly securityToken: string;
    }
  | {
      readonly kind: 'oauth2';
      /** The token endpoint (`https://login.salesforce.com/services/oauth2/token` or the My Domain host's). */
      readonly tokenUrl: string;
      readonly clientId: string;
      readonly clientSecret: string;
      /** With a username: the username-password grant; without: client credentials. */
      readonly username?: string;
      readonly password?: string;
      readonly securityToken?: string;
    };

/** Options of {@link SalesforceClient}. */
export interface SalesforceClientOptions extends RetryTuning {
  readonly auth: SalesforceAuth;
  readonly log: Logger;
  /** @default {@link SALESFORCE_API_VERSION} */
  readonly apiVersion?: string;
}

/** An ingest job as Salesforce describes it (the fields this project reads). */
export interface SalesforceJob {
  readonly id: string;
  readonly state: 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  readonly object?: string;
  readonly contentUrl?: string;
  readonly numberRecordsProcessed?: number;
  readonly numberRecordsFailed?: number;
  readonly errorMessage?: string;
}

/** The result sets of an ingest job. */
export type SalesforceResultSet = 'successfulResults' | 'failedResults' | 'unprocessedrecords';

/** A job has ended when it is in one of these states. */
export const SALESFORCE_JOB_ENDED: ReadonlySet<string> = new Set(['JobComplete', 'Failed', 'Aborted']);

/** What Salesforce said in an error body: `[{errorCode, message}]`, an OAuth error, or its text, bounded. */
export function salesforceSays(text: string): { code?: string; message: string } {
  try {
    const body = JSON.parse(text) as unknown;
    const first = Array.isArray(body) ? (body[0] as { errorCode?: string; message?: string } | undefined) : undefined;
    if (first && typeof first.errorCode === 'string')
      return { code: first.errorCode, message: first.message ?? first.errorCode };
    const oauth = body as { error?: string; error_description?: string };
    if (typeof oauth.error === 'string') return { code: oauth.error, message: oauth.error_description ?? oauth.error };
  } catch {
    // Not JSON: Salesforce's plain-text or XML answer.
  }
  return { message: text.trim().slice(0, 500) };
}

/** XML text escaping for the SOAP login envelope. */
function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The text of the first `<name>` element of a SOAP answer. */
function element(body: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[A-Za-z0-9]+:)?${name}(?:\\s[^>]*)?>([^<]*)</`).exec(body);
  return m?.[1]
    ?.replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** A session: the bearer token and the instance's origin. */
interface Session {
  readonly token: string;
  readonly instanceUrl: string;
}

/** A client of one Salesforce org's Bulk API 2.0 ingest jobs. */
export class SalesforceClient {
  readonly #options: SalesforceClientOptions;
  #session: Session | undefined;
  /** Requests answered 429, 5xx or REQUEST_LIMIT_EXCEEDED and tried again. */
  retries = 0;
  /** Logins made (1, or 2 after an expired session). */
  logins = 0;

  constructor(options: SalesforceClientOptions) {
    this.#options = options;
  }

  get #version(): string {
    return this.#options.apiVersion ?? SALESFORCE_API_VERSION;
  }

  /** One request with the shared retries; the last answer's whole body read. */
  async #fetch(url: string, init: () => RequestInit): Promise<{ response: Response; text: string }> {
    // Every answer is small (a login, a job's info, an error) or bounded by the group the writer uploaded (results).
    return fetchText(url, init, {
      ...tuningOf(this.#options),
      platform: 'Salesforce',
      log: this.#options.log,
      // The concurrent-request and API-quota limits answer 403 REQUEST_LIMIT_EXCEEDED: wait and try again.
      isTransient: async (status, body) =>
        status === 403 && salesforceSays(await body()).code === 'REQUEST_LIMIT_EXCEEDED',
      onRetry: () => {
        this.retries++;
      },
      unreachable: unreachableError('IDX_SALESFORCE_API', 'Salesforce', url),
    });
  }

  /** Logs in and keeps the session. */
  async #login(): Promise<Session> {
    const auth = this.#options.auth;
    this.logins++;
    if (auth.kind === 'soap') {
      const envelope =
        '<?xml version="1.0" encoding="utf-8"?>' +
        '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">' +
        `<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>${xml(auth.username)}</n1:username>` +
        `<n1:password>${xml(auth.password + auth.securityToken)}</n1:password></n1:login></env:Body></env:Envelope>`;
      const { response, text } = await this.#fetch(auth.loginUrl, () => ({
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=UTF-8', soapaction: 'login' },
        body: envelope,
      }));
      const sessionId = element(text, 'sessionId');
      const serverUrl = element(text, 'serverUrl');
      if (response.ok && sessionId && serverUrl) {
        return { token: sessionId, instanceUrl: new URL(serverUrl).origin };
      }
      const fault = element(text, 'faultcode');
      throw new IdxError('IDX_SALESFORCE_AUTH', `Salesforce's SOAP login at ${auth.loginUrl} failed`, {
        transient: TRANSIENT_STATUS.has(response.status),
        expected: 'a username, password and security token Salesforce accepts (SOAP login on this host)',
        received: `HTTP ${response.status}${fault ? ` ${fault}: ${element(text, 'faultstring') ?? ''}` : ''}`,
      });
    }
    const form = new URLSearchParams({
      grant_type: auth.username ? 'password' : 'client_credentials',
      client_id: auth.clientId,
      client_secret: auth.clientSecret,
      ...(auth.username
        ? { username: auth.username, password: (auth.password ?? '') + (auth.securityToken ?? '') }
        : {}),
    });
    const { response, text } = await this.#fetch(auth.tokenUrl, () => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    }));
    let body: { access_token?: unknown; instance_url?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Reported below.
    }
    if (response.ok && typeof body.access_token === 'string' && typeof body.instance_url === 'string') {
      return { token: body.access_token, instanceUrl: new URL(body.instance_url).origin };
    }
    const said = salesforceSays(text);
    throw new IdxError('IDX_SALESFORCE_AUTH', `Salesforce's token endpoint ${auth.tokenUrl} gave no session`, {
      transient: TRANSIENT_STATUS.has(response.status),
      expected: 'client credentials (and a user) Salesforce accepts, with the OAuth flow allowed in the org',
      received: `HTTP ${response.status} ${said.code ?? ''} ${said.message.slice(0, 200)}`.trim(),
    });
  }

  /**
   * Sends a request to the org's REST API with the session; a 401 logs in again once and repeats it. Any answer
   * but 2xx is `IDX_SALESFORCE_API` with Salesforce's errorCode and message.
   */
  async request(
    method: string,
    path: string,
    body?: string,
    contentType = 'application/json',
    accept = 'application/json',
  ): Promise<{ status: number; text: string }> {
    let again = true;
    for (;;) {
      this.#session ??= await this.#login();
      const session = this.#session;
      const url = `${session.instanceUrl}/services/data/v${this.#version}${path}`;
      const { response, text } = await this.#fetch(url, () => ({
        method,
        headers: {
          authorization: `Bearer ${session.token}`,
          accept,
          ...(body === undefined ? {} : { 'content-type': contentType }),
        },
        ...(body === undefined ? {} : { body }),
      }));
      if (response.status === 401 && again) {
        again = false;
        this.#options.log.info('Salesforce refused the session (expired?): logging in again once');
        this.#session = undefined;
        continue;
      }
      if (response.status === 401) {
        throw new IdxError('IDX_SALESFORCE_AUTH', 'Salesforce refused a fresh session', {
          expected: 'a session Salesforce accepts',
          received: `HTTP 401 ${salesforceSays(text).message.slice(0, 200)}`,
        });
      }
      if (!response.ok) {
        const said = salesforceSays(text);
        throw new IdxError(
          'IDX_SALESFORCE_API',
          `Salesforce answered HTTP ${response.status} to ${method} ${path}: ${said.code ? `${said.code}: ` : ''}${said.message}`,
          {
            transient:
              TRANSIENT_STATUS.has(response.status) ||
              (response.status === 403 && said.code === 'REQUEST_LIMIT_EXCEEDED'),
            expected: `a 2xx answer to ${method} ${path}`,
            received: `HTTP ${response.status}${said.code ? ` ${said.code}` : ''}`,
            details: { status: response.status, ...(said.code ? { salesforceCode: said.code } : {}) },
          },
        );
      }
      return { status: response.status, text };
    }
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { text } = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    return JSON.parse(text) as T;
  }

  /** Creates an upsert ingest job on `object` keyed by the external id field; CSV, comma-separated, LF. */
  createUpsertJob(object: string, externalIdFieldName: string): Promise<SalesforceJob> {
    return this.#json<SalesforceJob>('POST', '/jobs/ingest', {
      object,
      operation: 'upsert',
      externalIdFieldName,
      contentType: 'CSV',
      columnDelimiter: 'COMMA',
      lineEnding: 'LF',
    });
  }

  /** Uploads the job's CSV (one upload per job, at most {@link SALESFORCE_MAX_UPLOAD_BYTES}). */
  async upload(jobId: string, csv: string): Promise<void> {
    await this.request('PUT', `/jobs/ingest/${encodeURIComponent(jobId)}/batches`, csv, 'text/csv');
  }

  /** Closes the job's upload: Salesforce starts processing it. */
  close(jobId: string): Promise<SalesforceJob> {
    return this.#json<SalesforceJob>('PATCH', `/jobs/ingest/${encodeURIComponent(jobId)}`, {
      state: 'UploadComplete',
    });
  }

  /** Aborts an open job (one whose upload did not finish). */
  abort(jobId: string): Promise<SalesforceJob> {
    return this.#json<SalesforceJob>('PATCH', `/jobs/ingest/${encodeURIComponent(jobId)}`, { state: 'Aborted' });
  }

  /** The job now. */
  getJob(jobId: string): Promise<SalesforceJob> {
    return this.#json<SalesforceJob>('GET', `/jobs/ingest/${encodeURIComponent(jobId)}`);
  }

  /**
   * Polls a job until it ends: waits `firstPollMs`, doubling up to `maxPollMs`; fails with `IDX_SALESFORCE_JOB`
   * (transient: a retry resumes the job) when it has not ended by `timeoutMs`.
   */
  async waitForJob(
    jobId: string,
    polling: { readonly firstPollMs: number; readonly maxPollMs: number; readonly timeoutMs: number },
  ): Promise<SalesforceJob> {
    const until = Date.now() + polling.timeoutMs;
    let wait = polling.firstPollMs;
    for (;;) {
      const job = await this.getJob(jobId);
      if (SALESFORCE_JOB_ENDED.has(job.state)) return job;
      if (Date.now() + wait > until) {
        throw new IdxError('IDX_SALESFORCE_JOB', `Salesforce's ingest job ${jobId} did not end in time`, {
          transient: true,
          expected: `a job that ends within ${Math.round(polling.timeoutMs / 1000)} s`,
          received: `state ${job.state}`,
        });
      }
      await sleep(wait, this.#options.signal);
      wait = Math.min(polling.maxPollMs, wait * 2);
    }
  }

  /** One result set of an ended job, as rows keyed by column (`sf__Id`, `sf__Created`, `sf__Error`, the job's). */
  async results(jobId: string, set: SalesforceResultSet): Promise<Record<string, string>[]> {
    const path = `/jobs/ingest/${encodeURIComponent(jobId)}/${set}/`;
    const { text } = await this.request('GET', path, undefined, undefined, 'text/csv');
    if (text.trim() === '') return [];
    return parse(text, { columns: true, relax_column_count: false, skip_empty_lines: true }) as Record<
      string,
      string
    >[];
  }
}
