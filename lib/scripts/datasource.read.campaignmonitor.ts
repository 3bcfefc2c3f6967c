import { CampaignMonitorClient, CM_MAX_PAGE, CM_STATES, type CmSubscriber } from '../connectors/campaign-monitor.ts';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import { setPath } from './util/paths.ts';
import { PLATFORM_MAX_ATTEMPTS_PARAM, readByChangeKey } from './util/platform-read.ts';

/** A template's elided value (`...`) or an empty one. */
const UNSET = /^\s*\.*\s*$/;
/** Campaign Monitor's API root. */
const CREATESEND = 'https://api.createsend.com/api/v3.3';

/** An ISO time as Campaign Monitor's `date` filter takes it, `YYYY-MM-DD HH:MM:SS`. */
function createsendDate(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * A subscriber as a record: its fields, its custom fields at the top level by key (brackets removed; one named as
 * a standard field stays under `CustomFields`), and the state read in `targetField`.
 */
export function subscriberRecord(s: CmSubscriber, state: string, targetField: string): DataRecord {
  const { CustomFields: custom = [], ...fields } = s;
  const record: DataRecord = { ...fields };
  const clashing: Record<string, unknown> = {};
  for (const { Key, Value } of custom) {
    const key = Key.replace(/^\[(.*)\]$/, '$1');
    if (key in fields) clashing[key] = Value;
    else record[key] = Value;
  }
  if (Object.keys(clashing).length) record.CustomFields = clashing;
  if (targetField) setPath(record, targetField, state);
  return record;
}

/** `datasource.read.campaignmonitor`: reads a Campaign Monitor list's subscribers in one state. */
export const datasourceReadCampaignmonitor = defineScript({
  type: 'datasource.read.campaignmonitor',
  summary:
    'Reads the subscribers of a Campaign Monitor list in one state (active, unsubscribed, …), those whose state changed in the delta window unless the run is a full extract.',
  description:
    'Calls `GET /lists/{listId}/{status}.json` ordered by state date, oldest first. Each subscriber becomes a record with `EmailAddress`, `Name`, `Date` (its state date), `ListJoinedDate`, `State`, `ReadsEmailWith`, `ConsentToTrack`, and each custom field at the top level by its key (`[GigyaUID]` → `GigyaUID`; a custom field named as one of those fields stays under `CustomFields`). ' +
    "`targetField` receives the `status` read (e.g. `unsubscribed`), lower case as the param gives it, which is what the published template's evaluate step compares with. " +
    "The delta window's start becomes the `date` filter (`YYYY-MM-DD HH:MM:SS`, on or after, sent in UTC: Campaign Monitor reads it in the account's time zone, so set the account to UTC or expect a window shifted by its offset, which only re-reads or, east of UTC, needs the overlap to cover it); the API has no upper bound, so subscribers whose state changes during the run are read now and again next run. " +
    "Pages are read by key: each call asks from the latest state date read so far and skips the subscribers at that very second already read, so subscribers leaving the state during the read do not shift a page. Continues past the invocation's time budget. " +
    'Auth: HTTP Basic with the API key (keys do not expire; OAuth is not offered by the published params). 429, 5xx and dropped connections are retried with backoff.',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    apiKey: { type: 'string', secret: true, description: 'The Campaign Monitor API key, as ${secret:NAME}.' },
    listId: { type: 'string', default: '', description: 'The list id (API ID of the list).' },
    status: {
      type: 'string',
      enum: [...CM_STATES],
      default: 'active',
      description: 'The state of the subscribers read: active, unsubscribed, bounced, deleted or unconfirmed.',
    },
    targetField: {
      type: 'string',
      default: '',
      description: 'The record field that receives the state read (`status`); empty: none.',
      examples: ['data.subscribed'],
    },
    apiUrl: {
      type: 'string',
      default: '',
      description:
        'The API root (not an IdentitySync param); empty: `https://api.createsend.com/api/v3.3`, or in local mode the embedded Campaign Monitor emulator.',
    },
    pageSize: {
      type: 'integer',
      minimum: 10,
      maximum: CM_MAX_PAGE,
      default: CM_MAX_PAGE,
      description: 'Subscribers per call (Campaign Monitor allows 10 to 1000).',
    },
    maxAttempts: PLATFORM_MAX_ATTEMPTS_PARAM,
  },
  create(params, ctx) {
    const missing = (param: string, expected: string) =>
      new IdxError('IDX_PARAM_MISSING', `${param} is not set`, { stepId: ctx.stepId, param, expected, received: '""' });
    if (!params.apiKey || UNSET.test(params.apiKey))
      throw missing('apiKey', 'the Campaign Monitor API key, as ${secret:NAME}');
    if (UNSET.test(params.listId)) throw missing('listId', 'the list id');
    const config = ctx.services.config;
    const local = UNSET.test(params.apiUrl) && config.local ? config.endpoints.campaignMonitor : undefined;
    const client = new CampaignMonitorClient({
      baseUrl: local ?? (UNSET.test(params.apiUrl) ? CREATESEND : params.apiUrl.trim()),
      apiKey: params.apiKey,
      attempts: params.maxAttempts,
      signal: ctx.signal,
      onRetry: (what, attempt, delay) =>
        ctx.log.info(
          `Campaign Monitor answered ${what}; attempt ${attempt + 1} of ${params.maxAttempts} in ${delay} ms`,
        ),
    });
    const from = ctx.job.fullExtract ? undefined : ctx.job.delta?.from;
    return {
      read: (out) =>
        readByChangeKey(ctx, out, {
          platform: 'Campaign Monitor',
          errorCode: 'IDX_CAMPAIGN_MONITOR_API',
          page: async ({ cursor, atCursor }) => {
            // From the cursor, the subscribers already read at it come first: skip whole pages, then the rest.
            const since = cursor ?? (from === undefined ? undefined : createsendDate(from));
            const page = await client.subscribers(params.listId, params.status, {
              page: 1 + Math.floor(atCursor / params.pageSize),
              pageSize: params.pageSize,
              ...(since === undefined ? {} : { date: since }),
            });
            return {
              items: page.Results.slice(atCursor % params.pageSize),
              more: page.Results.length >= params.pageSize && page.PageNumber < page.NumberOfPages,
            };
          },
          changed: (s) => s.Date,
          record: (s) => subscriberRecord(s, params.status, params.targetField),
        }),
    };
  },
});
