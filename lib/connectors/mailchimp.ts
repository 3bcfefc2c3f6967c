/**
 * A thin fetch-based client of the Mailchimp Marketing API 3.0 for one audience (list): members read page by
 * page ordered by `last_changed`, and members written with the synchronous batch subscribe/update call. It knows
 * no dataflow: it takes plain options and raises coded errors (facts and sources in docs/marketing-platforms.md).
 *
 * - Auth: HTTP Basic with any user name and the API key as password. The key ends in `-<dc>` (its data center);
 *   the base URL is `https://<dc>.api.mailchimp.com/3.0`. Mailchimp API keys do not expire (there is no token to
 *   refresh): a 401 `API Key Invalid` is a permanent {@link MAILCHIMP_AUTH} error.
 * - Errors: `application/problem+json` `{type, title, status, detail, instance, errors?}`; the `title` is kept as
 *   the platform's code and the `detail` as its message.
 * - Retries: 429 (Mailchimp allows 10 simultaneous connections per user), 5xx and dropped connections, with
 *   exponential backoff (a `Retry-After` in seconds is honoured when it is longer, within the cap).
 */
import { IdxError } from '../core/errors.ts';
import { platformFailures, type RestRetryOptions, restCall } from './http.ts';

/** Mailchimp's largest page of list members. */
export const MAILCHIMP_MAX_PAGE = 1000;
/** Mailchimp's largest batch subscribe/update call. */
export const MAILCHIMP_MAX_BATCH = 500;
/** The largest answer read; a bigger one is refused rather than buffered (a page of 1,000 members fits). */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

const AUTH = 'IDX_MAILCHIMP_AUTH';
const API = 'IDX_MAILCHIMP_API';

/** Options of {@link MailchimpClient}. */
export interface MailchimpClientOptions extends RestRetryOptions {
  /** `https://<dc>.api.mailchimp.com/3.0` or, locally, the emulator's base URL. */
  readonly baseUrl: string;
  readonly apiKey: string;
}

/** A list member as the members endpoint gives it (only the fields the client asks for). */
export interface MailchimpMember {
  readonly id?: string;
  readonly email_address: string;
  readonly status?: string;
  readonly merge_fields?: Record<string, unknown>;
  readonly last_changed?: string;
  readonly [field: string]: unknown;
}

/** One page of members. */
export interface MailchimpMemberPage {
  readonly members: MailchimpMember[];
  readonly total_items: number;
}

/** A query of the members endpoint. */
export interface MemberQuery {
  readonly count: number;
  readonly offset: number;
  /** ISO-8601; members whose `last_changed` is on or after it. */
  readonly sinceLastChanged?: string;
  /** ISO-8601; members whose `last_changed` is before it. */
  readonly beforeLastChanged?: string;
  /** One member status (`subscribed`, `unsubscribed`, …). */
  readonly status?: string;
}

/** A member of a batch subscribe/update call. */
export interface BatchMember {
  readonly email_address: string;
  readonly status: string;
  readonly merge_fields: Record<string, string>;
}

/** What a batch subscribe/update call answered, per email address. */
export interface BatchOutcome {
  /** Lower-cased addresses created. */
  readonly created: ReadonlySet<string>;
  /** Lower-cased addresses updated. */
  readonly updated: ReadonlySet<string>;
  /** Lower-cased address → Mailchimp's reason and code. */
  readonly errors: ReadonlyMap<string, { readonly error: string; readonly code?: string }>;
}

/** What Mailchimp said in a problem+json body (or its text when it is not one). */
export function mailchimpSays(text: string): { title?: string; detail: string } {
  try {
    const body = JSON.parse(text) as {
      title?: unknown;
      detail?: unknown;
      errors?: { field?: string; message?: string }[];
    };
    const more = (body.errors ?? []).map((e) => `${e.field ? `${e.field}: ` : ''}${e.message ?? ''}`).join('; ');
    const detail = [typeof body.detail === 'string' ? body.detail : '', more].filter((s) => s).join(' ');
    return { ...(typeof body.title === 'string' ? { title: body.title } : {}), detail: detail || text.slice(0, 300) };
  } catch {
    return { detail: text.trim().slice(0, 300) };
  }
}

/** The data center an API key names (`…-us14` → `us14`), or undefined when it has no suffix. */
export function dataCenterOf(apiKey: string): string | undefined {
  const dc = /-([a-z]+\d+)$/i.exec(apiKey.trim())?.[1];
  return dc?.toLowerCase();
}

/** A client of one Mailchimp account. */
export class MailchimpClient {
  readonly #options: MailchimpClientOptions;
  readonly #base: string;
  /** Calls answered 429, 5xx or cut off and tried again. */
  retries = 0;

  constructor(options: MailchimpClientOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  /** Sends one call (retried on 429, 5xx and dropped connections); returns the parsed JSON answer. */
  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const o = this.#options;
    const where = `${method} ${path.replace(/\?.*$/, '')}`;
    const { body: answer } = await restCall(
      {
        method,
        url: `${this.#base}${path}`,
        headers: { authorization: `Basic ${Buffer.from(`identity-sync:${o.apiKey}`).toString('base64')}` },
        ...(body === undefined ? {} : { body }),
        maxBytes: MAX_RESPONSE_BYTES,
      },
      {
        ...o,
        onRetry: (what, attempt, delay) => {
          this.retries++;
          o.onRetry?.(what, attempt, delay);
        },
      },
      platformFailures({
        platform: 'Mailchimp',
        base: this.#base,
        where,
        authCode: AUTH,
        authStatuses: [401, 403],
        apiCode: API,
        says: (text) => {
          const said = mailchimpSays(text);
          return {
            message: said.detail,
            ...(said.title ? { label: said.title, details: { title: said.title } } : {}),
          };
        },
      }),
    );
    return answer;
  }

  /** One page of the list's members ordered by `last_changed`, oldest first. */
  async members(listId: string, query: MemberQuery): Promise<MailchimpMemberPage> {
    const search = new URLSearchParams({
      count: String(query.count),
      offset: String(query.offset),
      sort_field: 'last_changed',
      sort_dir: 'ASC',
      ...(query.sinceLastChanged ? { since_last_changed: query.sinceLastChanged } : {}),
      ...(query.beforeLastChanged ? { before_last_changed: query.beforeLastChanged } : {}),
      ...(query.status ? { status: query.status } : {}),
    });
    const answer = (await this.#call('GET', `/lists/${encodeURIComponent(listId)}/members?${search}`)) as {
      members?: unknown;
      total_items?: unknown;
    };
    if (!Array.isArray(answer.members) || typeof answer.total_items !== 'number') {
      throw new IdxError(API, `Mailchimp's members page of list ${listId} has no members array or total_items`, {
        expected: '{members: [...], total_items: <number>}',
        received: JSON.stringify(answer).slice(0, 200),
      });
    }
    return { members: answer.members as MailchimpMember[], total_items: answer.total_items };
  }

  /**
   * Subscribes or updates up to {@link MAILCHIMP_MAX_BATCH} members (`POST /lists/{id}` with `update_existing`),
   * and says per address what happened.
   */
  async batchSubscribe(listId: string, members: readonly BatchMember[]): Promise<BatchOutcome> {
    const answer = (await this.#call('POST', `/lists/${encodeURIComponent(listId)}`, {
      members,
      update_existing: true,
    })) as {
      new_members?: { email_address?: string }[];
      updated_members?: { email_address?: string }[];
      errors?: { email_address?: string; error?: string; error_code?: string }[];
    };
    const addresses = (list: { email_address?: string }[] | undefined) =>
      new Set((list ?? []).map((m) => (m.email_address ?? '').toLowerCase()));
    const errors = new Map<string, { error: string; code?: string }>();
    for (const e of answer.errors ?? [])
      errors.set((e.email_address ?? '').toLowerCase(), {
        error: e.error ?? 'refused by Mailchimp',
        ...(e.error_code ? { code: e.error_code } : {}),
      });
    return { created: addresses(answer.new_members), updated: addresses(answer.updated_members), errors };
  }
}
