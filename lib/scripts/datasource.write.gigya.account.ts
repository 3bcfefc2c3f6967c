import { type DataRecord, defineScript, type RecordError } from '../core/script.ts';
import {
  callPerRecord,
  GIGYA_CONNECTION_PARAMS,
  GIGYA_REACHES,
  gigyaClientFor,
  nestedCallParams,
} from './util/gigya-step.ts';

/** Record fields sent to setAccountInfo (apis.md §A.6); everything else is left out. */
const WRITABLE = new Set([
  'profile',
  'data',
  'subscriptions',
  'preferences',
  'communications',
  'isActive',
  'isVerified',
  'lang',
  'addLoginEmails',
  'removeLoginEmails',
]);

/** The setAccountInfo params of a record: writable fields, with flat dotted keys (`profile.email`) nested. */
function accountParams(record: DataRecord, ignored: Set<string>): Record<string, unknown> {
  return nestedCallParams(record, (key, head) => {
    if (key === 'UID') return false;
    if (!WRITABLE.has(head)) ignored.add(key);
    return WRITABLE.has(head);
  });
}

/**
 * The setAccountInfo call of a record, or why it cannot have one. Fields that are not account fields are left
 * out and added to `ignored`.
 */
function setAccountInfoOf(
  record: DataRecord,
  muteWebhooks: boolean,
  ignored: Set<string>,
): ({ readonly UID: string } & Record<string, unknown>) | RecordError {
  const uid = record.UID;
  if (typeof uid !== 'string' || uid === '')
    return { message: 'the record has no UID, so no account can be updated', code: 'IDX_GIGYA_NO_UID' };
  return { UID: uid, ...accountParams(record, ignored), ...(muteWebhooks ? { muteWebhooks: true } : {}) };
}

/**
 * `datasource.write.gigya.account`: updates existing accounts with `accounts.setAccountInfo`, one call per
 * record keyed by its `UID`.
 */
export const datasourceWriteGigyaAccount = defineScript({
  type: 'datasource.write.gigya.account',
  summary:
    'Updates existing accounts with accounts.setAccountInfo, one call per record keyed by UID; never creates accounts.',
  description:
    'Each record needs a `UID`; its `profile`, `data`, `subscriptions`, `preferences`, `communications`, ' +
    '`isActive`, `isVerified` and `lang` are sent (flat keys such as `profile.email` are nested first), and merged ' +
    'into the account by Gigya: fields not sent are left unchanged, `null` clears a field. Other top-level fields ' +
    'are not sent (listed once in the trace). A record whose UID has no account (403005), or that Gigya refuses ' +
    '(validation, schema), goes down the error path with `_errorDetails {errorCode, errorMessage, callId}`; ' +
    'written records continue on the success path. Credential, permission and data-centre errors fail the step; ' +
    'throttling and server errors are retried with backoff.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    maxConnections: {
      type: 'integer',
      minimum: 1,
      maximum: 100,
      default: 10,
      description: 'Calls in flight at once (SAP suggests 10–20 for write-backs).',
    },
    muteWebhooks: {
      type: 'boolean',
      default: false,
      description: 'Ask Gigya not to fire webhooks for these updates (avoids loops when a webhook feeds the ESP).',
    },
    ...GIGYA_CONNECTION_PARAMS,
    maxCallsPerSecond: { ...GIGYA_CONNECTION_PARAMS.maxCallsPerSecond, default: 50 },
  },
  reaches: GIGYA_REACHES,
  dryRun: {
    call(params, record) {
      const call = setAccountInfoOf(record, params.muteWebhooks, new Set());
      return 'UID' in call ? { method: 'accounts.setAccountInfo', params: call } : call;
    },
  },
  async create(params, ctx) {
    const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: params.maxConnections });
    const ignored = new Set<string>();
    let warned = false;
    return {
      async records(batch, out) {
        const outcomes = await callPerRecord(batch, params.maxConnections, async (record) => {
          const call = setAccountInfoOf(record, params.muteWebhooks, ignored);
          if (!('UID' in call)) return { failure: call };
          await client.call('accounts.setAccountInfo', call);
          return { value: undefined };
        });
        outcomes.forEach((o, i) => {
          const record = batch[i] as DataRecord;
          if ('failure' in o) out.reject(record, o.failure);
          else out.emit(record);
        });
        // Gigya answered every call without an error code for these: what the job counts as delivered.
        out.deliveredRecords(outcomes.filter((o) => 'value' in o).length);
        if (!warned && ignored.size) {
          warned = true;
          ctx.log.warn(
            `fields not sent to setAccountInfo (not account fields): ${[...ignored].slice(0, 20).join(', ')}`,
          );
        }
      },
      close,
    };
  },
});
