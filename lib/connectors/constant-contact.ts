/**
 * A thin fetch-based client of the Constant Contact V3 API bulk activities for contacts: a JSON contacts import
 * onto lists (`POST /activities/contacts_json_import`) and the activity's status (`GET /activities/{id}`). It knows
 * no dataflow: it takes plain options and raises coded errors (facts and sources in docs/marketing-platforms.md).
 *
 * - Auth: OAuth2 bearer access token (`Authorization: Bearer`). V3 access tokens live 24 hours and are refreshed
 *   by the client application that holds the refresh token (Constant Contact's OAuth2 server); this client is given
 *   a token and does not refresh it, so a 401 is a permanent {@link CC_AUTH} error that says so.
 * - Errors: a JSON array `[{error_key, error_message}]`; the key is kept as the platform's code.
 * - Retries: 429 (Constant Contact allows 4 requests a second and 10,000 a day per key), 5xx and dropped
 *   connections, with exponential backoff (a `Retry-After` in seconds is honoured when it is longer, within the cap).
 */
import { IdxError } from '../core/errors.ts';
import { platformFailures, type RestRetryOptions, restCall } from './http.ts';

/** The most contacts one JSON import takes (Constant Contact: 40,000, and a payload under 4 MB). */
export const CC_MAX_IMPORT = 40_000;
/** The largest JSON import payload Constant Contact accepts. */
export const CC_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
/** V3 contact properties a JSON import takes by name (every other key is a custom field, `cf:<name>`). */
export const CC_CONTACT_PROPERTIES: ReadonlySet<string> = new Set([
  'first_name',
  'last_name',
  'job_title',
  'company_name',
  'phone',
  'home_phone',
  'work_phone',
  'mobile_phone',
  'birthday_month',
  'birthday_day',
  'anniversary',
  'street',
  'street2',
  'city',
  'state',
  'zip',
  'country',
]);
/** The largest answer read; an activity status with its errors fits. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

const AUTH = 'IDX_CONSTANTCONTACT_AUTH';
const API = 'IDX_CONSTANTCONTACT_API';

/** Options of {@link ConstantContactClient}. */
export interface ConstantContactClientOptions extends RestRetryOptions {
  /** `https://api.cc.email/v3` or, locally, the emulator's API root. */
  readonly baseUrl: string;
  readonly accessToken: string;
}

/** One contact of a JSON import: `email`, standard properties, and custom fields as `cf:<name>`. */
export type ImportContact = { readonly email: string } & Readonly<Record<string, string>>;

/** A per-contact error of an activity. */
export interface ActivityError {
  readonly message: string;
  /** The contact's position in `import_data`, from 1. */
  readonly line_number?: number;
  readonly email?: string;
}

/** An activity's status as `GET /activities/{id}` gives it (the fields the client uses). */
export interface Activity {
  readonly activity_id: string;
  /** `initialized`, `processing`, `completed`, `cancelled`, `failed` or `timed_out`. */
  readonly state: string;
  readonly percent_done?: number;
  readonly activity_errors: readonly ActivityError[];
}

/** States after which an activity does not change. */
export const CC_FINAL_STATES: ReadonlySet<string> = new Set(['completed', 'cancelled', 'failed', 'timed_out']);

/** What Constant Contact said in an error body (or its text when it is not one). */
export function constantContactSays(text: string): { key?: string; message: string } {
  try {
    const body = JSON.parse(text) as unknown;
    const list = (Array.isArray(body) ? body : [body]) as { error_key?: unknown; error_message?: unknown }[];
    const first = list.find((e) => typeof e?.error_message === 'string');
    if (first)
      return {
        ...(typeof first.error_key === 'string' ? { key: first.error_key } : {}),
        message: list
          .map((e) => e.error_message)
          .filter((m) => typeof m === 'string')
          .join('; '),
      };
  } catch {
    // Not JSON: the text is the message.
  }
  return { message: text.trim().slice(0, 300) || 'no message' };
}

/** A client of one Constant Contact account. */
export class ConstantContactClient {
  readonly #options: ConstantContactClientOptions;
  readonly #base: string;

  constructor(options: ConstantContactClientOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    const o = this.#options;
    const where = `${method} ${path}`;
    const { body: answer } = await restCall(
      {
        method,
        url: `${this.#base}${path}`,
        headers: { authorization: `Bearer ${o.accessToken}` },
        ...(body === undefined ? {} : { body }),
        maxBytes: MAX_RESPONSE_BYTES,
      },
      o,
      platformFailures({
        platform: 'Constant Contact',
        base: this.#base,
        where,
        authCode: AUTH,
        authStatuses: [401],
        apiCode: API,
        says: (text) => {
          const said = constantContactSays(text);
          return {
            message:
              said.key === 'unauthorized'
                ? `${said.message} (the access token is expired or revoked; V3 access tokens live 24 hours and the client application that holds the refresh token must renew it)`
                : said.message,
            ...(said.key ? { label: said.key, details: { errorKey: said.key } } : {}),
          };
        },
      }),
    );
    return answer;
  }

  /** Starts a JSON import of up to {@link CC_MAX_IMPORT} contacts onto `listIds`; returns the activity id. */
  async importContacts(listIds: readonly string[], contacts: readonly ImportContact[]): Promise<string> {
    const answer = (await this.#call('POST', '/activities/contacts_json_import', {
      import_data: contacts,
      list_ids: listIds,
    })) as { activity_id?: unknown };
    if (typeof answer.activity_id !== 'string')
      throw new IdxError(API, 'Constant Contact answered the contacts import without an activity_id', {
        expected: '{activity_id: <string>, state: …}',
        received: JSON.stringify(answer).slice(0, 200),
      });
    return answer.activity_id;
  }

  /** The status of an activity, with its per-contact errors. */
  async activity(activityId: string): Promise<Activity> {
    const answer = (await this.#call('GET', `/activities/${encodeURIComponent(activityId)}`)) as {
      activity_id?: unknown;
      state?: unknown;
      percent_done?: unknown;
      activity_errors?: unknown;
    };
    if (typeof answer.state !== 'string')
      throw new IdxError(API, `Constant Contact's status of activity ${activityId} has no state`, {
        expected: '{activity_id, state, activity_errors}',
        received: JSON.stringify(answer).slice(0, 200),
      });
    const errors = (Array.isArray(answer.activity_errors) ? answer.activity_errors : []).map((e) =>
      typeof e === 'string' ? { message: e } : (e as ActivityError),
    );
    return {
      activity_id: activityId,
      state: answer.state,
      ...(typeof answer.percent_done === 'number' ? { percent_done: answer.percent_done } : {}),
      activity_errors: errors,
    };
  }
}
