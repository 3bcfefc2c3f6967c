import { type BatchMember, MAILCHIMP_MAX_BATCH } from '../connectors/mailchimp.ts';
import { type DataRecord, defineScript, type RecordError } from '../core/script.ts';
import { MAILCHIMP_CONNECTION_PARAMS, mailchimpClientFor } from './util/mailchimp-step.ts';
import { getPath } from './util/paths.ts';

const REJECTED = 'IDX_MAILCHIMP_REJECTED';
const STATUSES = new Set(['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional']);

/**
 * The member status a newsletter value stands for: true-like values subscribe, false-like and missing ones
 * unsubscribe, a Mailchimp status passes as it is; anything else is a {@link RecordError}.
 */
export function memberStatus(value: unknown): string | RecordError {
  if (value === undefined || value === null || value === '') return 'unsubscribed';
  if (value === true || value === 1) return 'subscribed';
  if (value === false || value === 0) return 'unsubscribed';
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return 'subscribed';
    if (v === 'false' || v === '0' || v === 'no') return 'unsubscribed';
    if (STATUSES.has(v)) return v;
  }
  return {
    code: REJECTED,
    message: `the newsletter value ${JSON.stringify(value).slice(0, 60)} is neither a boolean nor a Mailchimp member status`,
  };
}

/** A value as a merge field takes it: text; objects as JSON; none for missing, null or empty objects. */
function mergeValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The batch member a record becomes, or why it cannot be one. */
export function memberOf(record: DataRecord, emailField: string, newsletterField: string): BatchMember | RecordError {
  const email = getPath(record, emailField);
  if (typeof email !== 'string' || email.trim() === '')
    return { code: REJECTED, message: `the record has no address in ${emailField}` };
  const status = memberStatus(getPath(record, newsletterField));
  if (typeof status !== 'string') return status;
  const merge_fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key.startsWith('_') || key === emailField || key === newsletterField) continue;
    const v = mergeValue(value);
    if (v !== undefined) merge_fields[key] = v;
  }
  return { email_address: email.trim(), status, merge_fields };
}

/**
 * `datasource.write.mailchimp`: subscribes or updates records as members of a Mailchimp audience with the batch
 * subscribe/update call; members Mailchimp refuses go down the error path with its reason.
 */
export const datasourceWriteMailchimp = defineScript({
  type: 'datasource.write.mailchimp',
  summary:
    'Subscribes or updates records as members of a Mailchimp audience (Marketing API 3.0 batch subscribe, ≤500 a call); refused members go to the error path with Mailchimp’s reason.',
  description:
    'Each record becomes one member: its address from `emailField`, its status from `newsletterField` (true, "true", 1, "yes" → `subscribed`; false, "false", 0, "no", missing or empty → `unsubscribed`, since the dataflow makes Gigya the source of the flag; a Mailchimp status such as `pending` or `transactional` passes as it is; anything else is rejected), and every other top-level field (not `_`-prefixed; missing, null and empty objects left out) as a merge field of that tag (FNAME, LNAME, UID, …). ' +
    'Members are sent `batchSize` at a time to `POST /lists/{listId}` with `update_existing: true` (the synchronous batch call, at most 500 members; an address appears once per call). It answers per address, so each record is created, updated or rejected with Mailchimp’s `error` and `error_code`; nothing is left pending. ' +
    'The asynchronous batch operations endpoint (`/batches`) is not used: it needs its result archive fetched and parsed later, and allows 500 pending batches per user, for no gain over 500 members per synchronous call. ' +
    'Calls are idempotent upserts, so an invocation run again after a failure sends its members again. Auth: HTTP Basic with the API key (Mailchimp keys do not expire, so there is no token to refresh); 429, 5xx and dropped connections are retried with backoff.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    ...MAILCHIMP_CONNECTION_PARAMS,
    newsletterField: {
      type: 'string',
      default: 'newsletterField',
      description: 'The record field whose value decides the member status (subscribed or unsubscribed).',
    },
    emailField: {
      type: 'string',
      default: 'EMAIL',
      description:
        'The record field holding the member’s address (not an IdentitySync param: the published template renames the address to EMAIL, its merge tag).',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: MAILCHIMP_MAX_BATCH,
      default: MAILCHIMP_MAX_BATCH,
      description: 'Members per batch subscribe call (Mailchimp allows at most 500).',
    },
  },
  dryRun: {
    call(params, record) {
      const member = memberOf(record, params.emailField, params.newsletterField);
      if ('message' in member) return member;
      return { method: 'mailchimp.lists.batchSubscribe', params: { listId: params.listId, member } };
    },
  },
  create(params, ctx) {
    const client = mailchimpClientFor(params, ctx);
    return {
      async records(batch, out) {
        let members: BatchMember[] = [];
        let held: DataRecord[] = [];
        let addresses = new Set<string>();
        const send = async () => {
          if (!members.length) return;
          const outcome = await client.batchSubscribe(params.listId, members);
          let delivered = 0;
          members.forEach((member, i) => {
            const record = held[i] as DataRecord;
            const address = member.email_address.toLowerCase();
            const error = outcome.errors.get(address);
            if (error)
              out.reject(record, {
                code: REJECTED,
                message: error.error,
                ...(error.code ? { mailchimpCode: error.code } : {}),
              });
            else if (outcome.created.has(address) || outcome.updated.has(address)) {
              delivered++;
              out.emit(record);
            } else out.reject(record, { code: REJECTED, message: 'Mailchimp’s answer does not mention this address' });
          });
          out.deliveredRecords(delivered);
          members = [];
          held = [];
          addresses = new Set();
        };
        for (const record of batch) {
          const member = memberOf(record, params.emailField, params.newsletterField);
          if ('message' in member) {
            out.reject(record, member);
            continue;
          }
          const address = member.email_address.toLowerCase();
          if (members.length >= params.batchSize || addresses.has(address)) await send();
          addresses.add(address);
          members.push(member);
          held.push(record);
        }
        await send();
      },
    };
  },
});
