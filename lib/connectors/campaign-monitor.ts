/**
 * A thin fetch-based client of the Campaign Monitor (createsend) API v3.3 for one list's subscribers in one state,
 * read page by page ordered by the state date. It knows no dataflow: it takes plain options and raises coded
 * errors (facts and sources in docs/marketing-platforms.md).
 *
 * - Auth: HTTP Basic with the API key as user name and any password. API keys do not expire (there is no token to
 *   refresh); a 401 (`Code` 50 or 100) is a permanent {@link CM_AUTH} error.
 * - Errors: `{Code, Message}`; both are kept in the coded error.
 * - Retries: 429, 5xx and dropped connections, with exponential backoff (`restCall`, lib/connectors/http.ts).
 */
import { IdxError } from '../core/errors.ts';
import { platformFailures, type RestRetryOptions, restCall } from './http.ts';

/** Campaign Monitor's largest page of subscribers. */
export const CM_MAX_PAGE = 1000;
/** The states a list's subscribers are read in (`/lists/{id}/{state}.json`). */
export const CM_STATES = ['active', 'unsubscribed', 'bounced', 'deleted', 'unconfirmed'] as const;
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const CM_AUTH = 'IDX_CAMPAIGN_MONITOR_AUTH';
const CM_API = 'IDX_CAMPAIGN_MONITOR_API';

/** Options of {@link CampaignMonitorClient}. */
export interface CampaignMonitorClientOptions extends RestRetryOptions {
  /** `https://api.createsend.com/api/v3.3` or, locally, the emulator's. */
  readonly baseUrl: string;
  readonly apiKey: string;
}

/** A subscriber as the state endpoints give it. */
export interface CmSubscriber {
  readonly EmailAddress: string;
  readonly Name?: string;
  /** `YYYY-MM-DD HH:MM:SS`, the date of the subscriber's state. */
  readonly Date: string;
  readonly State?: string;
  readonly CustomFields?: { readonly Key: string; readonly Value: unknown }[];
  readonly [field: string]: unknown;
}

/** One page of subscribers. */
export interface CmPage {
  readonly Results: CmSubscriber[];
  readonly PageNumber: number;
  readonly NumberOfPages: number;
}

/** What Campaign Monitor said in an error body `{Code, Message}` (or its text). */
export function campaignMonitorSays(text: string): { code?: number; message: string } {
  try {
    const body = JSON.parse(text) as { Code?: unknown; Message?: unknown };
    if (typeof body.Message === 'string')
      return { ...(typeof body.Code === 'number' ? { code: body.Code } : {}), message: body.Message };
  } catch {
    // Not JSON.
  }
  return { message: text.trim().slice(0, 300) };
}

/** A client of one Campaign Monitor account. */
export class CampaignMonitorClient {
  readonly #options: CampaignMonitorClientOptions;
  readonly #base: string;

  constructor(options: CampaignMonitorClientOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  /**
   * A page (1-based) of the list's subscribers in `state` whose state date is on or after `date`
   * (`YYYY-MM-DD HH:MM:SS`), oldest first.
   */
  async subscribers(
    listId: string,
    state: string,
    query: { readonly page: number; readonly pageSize: number; readonly date?: string },
  ): Promise<CmPage> {
    const search = new URLSearchParams({
      page: String(query.page),
      pagesize: String(query.pageSize),
      orderfield: 'date',
      orderdirection: 'asc',
      ...(query.date ? { date: query.date } : {}),
    });
    const path = `/lists/${encodeURIComponent(listId)}/${state}.json`;
    const where = `GET ${path}`;
    const o = this.#options;
    const { body } = await restCall(
      {
        method: 'GET',
        url: `${this.#base}${path}?${search}`,
        headers: { authorization: `Basic ${Buffer.from(`${o.apiKey}:x`).toString('base64')}` },
        maxBytes: MAX_RESPONSE_BYTES,
      },
      o,
      platformFailures({
        platform: 'Campaign Monitor',
        base: this.#base,
        where,
        authCode: CM_AUTH,
        authStatuses: [401],
        apiCode: CM_API,
        says: (text) => {
          const said = campaignMonitorSays(text);
          return {
            message: said.message,
            ...(said.code === undefined ? {} : { label: `Code ${said.code}`, details: { code: said.code } }),
          };
        },
      }),
    );
    const page = body as Partial<CmPage>;
    if (!Array.isArray(page.Results) || typeof page.NumberOfPages !== 'number') {
      throw new IdxError(CM_API, `Campaign Monitor's page of ${where} has no Results array or NumberOfPages`, {
        expected: '{Results: [...], PageNumber, NumberOfPages, …}',
        received: JSON.stringify(body).slice(0, 200),
      });
    }
    return page as CmPage;
  }
}
