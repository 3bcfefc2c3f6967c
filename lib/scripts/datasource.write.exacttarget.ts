import {
  MARKETING_CLOUD_MAX_ROWSET_BYTES,
  MarketingCloudClient,
  type RowsetRow,
} from '../connectors/marketing-cloud.ts';
import { type DataRecord, defineScript, type RecordError, type ScriptContext } from '../core/script.ts';
import { getPath } from './util/paths.ts';
import { cellText, isUnset, MAX_ATTEMPTS_PARAM, paramMissing, settle } from './util/record-writer.ts';

/** Leaves room below Marketing Cloud's 5 MB per rowset call for the array's punctuation. */
const MAX_CALL_BYTES = MARKETING_CLOUD_MAX_ROWSET_BYTES - 64 * 1024;

/** The primary key column names of the `primaryKeys` param (comma-separated, as IdentitySync writes them). */
function keyNames(primaryKeys: string): string[] {
  return primaryKeys
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

/**
 * `datasource.write.exacttarget`: upserts records as rows of a Salesforce Marketing Cloud data extension by its
 * primary keys, through the synchronous rowset REST call; refused rows go down the error path with Marketing
 * Cloud's message.
 */
export const datasourceWriteExacttarget = defineScript({
  type: 'datasource.write.exacttarget',
  summary:
    'Upserts records as rows of a Marketing Cloud data extension by its primary keys (REST rowset calls, client-credentials OAuth); refused rows go to the error path with Marketing Cloud’s message.',
  description:
    'Each record becomes one row: the `primaryKeys` columns in `keys`, the other top-level fields (not `_`-prefixed; ' +
    'objects and arrays as JSON; missing and null values and empty objects (what a rename leaves of `profile`) left out, so the column keeps its value) in `values`. Rows ' +
    'are sent in calls of at most `batchSize` rows and 5 MB to `POST /hub/v1/dataevents/key:<dataExtension>/rowset`, ' +
    'the synchronous upsert: it is idempotent, answers at once and keeps no job to resume, so an invocation run ' +
    'again after a failure simply sends its rows again (the asynchronous endpoint would need its request ids kept ' +
    'and polled, for no gain at these batch sizes). A call is all or nothing: when Marketing Cloud refuses one (400), ' +
    'it is split in halves until the refused rows stand alone, so exactly those go down the error path with ' +
    "Marketing Cloud's message (`_errorDetails.message`) and the others are saved. A record without a value for a " +
    'primary key is rejected without being sent. Auth: an enhanced installed package’s client credentials at ' +
    '`<authBaseUrl>/v2/token` (the token kept until a minute before it expires, renewed once on a 401); REST calls ' +
    'go to the `rest_instance_url` it answers. The published template has no `authBaseUrl` (it predates tenant ' +
    'subdomains): it must be set to the Authentication Base URI of the package (or just its subdomain); in local ' +
    'mode, empty means the embedded Marketing Cloud emulator. 429 (honouring Retry-After), 5xx and dropped ' +
    'connections are retried with backoff.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    clientId: { type: 'string', default: '', description: 'The client id of the installed package’s API integration.' },
    clientSecret: { type: 'string', secret: true, description: 'Its client secret, as ${secret:NAME}.' },
    dataExtension: {
      type: 'string',
      required: true,
      description: 'The external key of the data extension written.',
      examples: ['GigyaSubscribers'],
    },
    primaryKeys: {
      type: 'string',
      required: true,
      description:
        'The primary key columns of the data extension, comma-separated (`GUID,EMAIL`); rows are upserted on them.',
      examples: ['GUID,EMAIL'],
    },
    authBaseUrl: {
      type: 'string',
      default: '',
      description:
        'The Authentication Base URI of the installed package (`https://<subdomain>.auth.marketingcloudapis.com`), or only its subdomain. Empty only in local mode, where it means the embedded emulator.',
    },
    accountId: {
      type: 'string',
      default: '',
      description: 'The MID of the business unit whose data extension is written; empty: the package’s own.',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 50,
      description: 'Rows per rowset call (Marketing Cloud recommends at most 50; every call also stays under 5 MB).',
    },
    maxAttempts: MAX_ATTEMPTS_PARAM,
  },
  check(params) {
    if (keyNames(params.primaryKeys).length === 0) {
      return [
        {
          code: 'IDX_PARAM_VALUE',
          path: 'primaryKeys',
          message: 'primaryKeys names no column',
          expected: 'comma-separated column names, e.g. GUID,EMAIL',
          received: JSON.stringify(params.primaryKeys),
        },
      ];
    }
    return [];
  },
  dryRun: {
    call(params, record) {
      const row = rowOf(record, keyNames(params.primaryKeys));
      if ('message' in row) return row;
      return {
        method: 'marketingcloud.dataevents.rowset',
        params: { dataExtension: params.dataExtension, keys: row.keys, values: row.values },
      };
    },
  },
  create(params, ctx) {
    const client = marketingCloudClientFor(params, ctx);
    const keys = keyNames(params.primaryKeys);
    return {
      async records(batch, out) {
        // Rows of one call, and their records; a call is sent when it is full (rows or bytes).
        let rows: RowsetRow[] = [];
        let held: DataRecord[] = [];
        let bytes = 2;
        const send = async () => {
          if (!rows.length) return;
          const outcomes = await upsert(client, params.dataExtension, rows);
          settle(out, held, outcomes);
          rows = [];
          held = [];
          bytes = 2;
        };
        for (const record of batch) {
          const row = rowOf(record, keys);
          if ('message' in row) {
            out.reject(record, row);
            continue;
          }
          const size = Buffer.byteLength(JSON.stringify(row)) + 1;
          if (rows.length >= params.batchSize || (rows.length && bytes + size > MAX_CALL_BYTES)) await send();
          rows.push(row);
          held.push(record);
          bytes += size;
        }
        await send();
      },
    };
  },
});

type Params = Parameters<(typeof datasourceWriteExacttarget)['create']>[0];

/** The row of a record, or why it cannot be one (a primary key without a value). */
function rowOf(record: DataRecord, keys: readonly string[]): RowsetRow | RecordError {
  const row = { keys: {} as Record<string, string>, values: {} as Record<string, string> };
  for (const k of keys) {
    const v = cellText(getPath(record, k));
    if (v === undefined || v.trim() === '') {
      return {
        code: 'IDX_MARKETING_CLOUD_REJECTED',
        message: `the record has no ${k}, a primary key column of the data extension`,
      };
    }
    row.keys[k] = v;
  }
  for (const [k, value] of Object.entries(record)) {
    if (k.startsWith('_') || keys.includes(k)) continue;
    const v = cellText(value);
    if (v !== undefined) row.values[k] = v;
  }
  return row;
}

/**
 * Upserts rows and returns, per row, why Marketing Cloud refused it (undefined: saved). A refused call saved
 * nothing: it is split in halves until each refusal is about one row.
 */
async function upsert(
  client: MarketingCloudClient,
  key: string,
  rows: readonly RowsetRow[],
): Promise<(RecordError | undefined)[]> {
  const refusal = await client.upsertRows(key, rows);
  if (!refusal) return rows.map(() => undefined);
  if (rows.length === 1) {
    return [
      {
        code: 'IDX_MARKETING_CLOUD_REJECTED',
        message: refusal.message || 'refused by Marketing Cloud',
        ...(refusal.errorcode === undefined ? {} : { errorcode: refusal.errorcode }),
      },
    ];
  }
  const half = Math.ceil(rows.length / 2);
  return [...(await upsert(client, key, rows.slice(0, half))), ...(await upsert(client, key, rows.slice(half)))];
}

/**
 * The client of a step. An empty `authBaseUrl` in local mode is the emulator (with its own package); anywhere
 * else it is an error, since Marketing Cloud has no shared auth host for enhanced packages.
 */
function marketingCloudClientFor(params: Params, ctx: ScriptContext): MarketingCloudClient {
  const common = { log: ctx.log, attempts: params.maxAttempts, signal: ctx.signal };
  const config = ctx.services.config;
  const local = config.local && isUnset(params.authBaseUrl) ? config.endpoints.marketingCloud : undefined;
  const missing = (param: string, expected: string) => paramMissing(ctx.stepId, param, expected);
  if (isUnset(params.authBaseUrl) && !local)
    throw missing(
      'authBaseUrl',
      'the Authentication Base URI of the installed package, https://<subdomain>.auth.marketingcloudapis.com',
    );
  if (isUnset(params.clientId)) throw missing('clientId', 'the client id of the installed package');
  if (!params.clientSecret) throw missing('clientSecret', 'the client secret, as ${secret:NAME}');
  const given = params.authBaseUrl.trim();
  const authBaseUrl = local ?? (/^https?:\/\//.test(given) ? given : `https://${given}.auth.marketingcloudapis.com`);
  return new MarketingCloudClient({
    ...common,
    authBaseUrl,
    clientId: params.clientId.trim(),
    clientSecret: params.clientSecret,
    ...(params.accountId.trim() ? { accountId: params.accountId.trim() } : {}),
  });
}
