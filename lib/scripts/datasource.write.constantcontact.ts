import {
  CC_CONTACT_PROPERTIES,
  CC_FINAL_STATES,
  CC_MAX_IMPORT,
  CC_MAX_PAYLOAD_BYTES,
  ConstantContactClient,
  type ImportContact,
} from '../connectors/constant-contact.ts';
import { IdxError } from '../core/errors.ts';
import {
  type DataRecord,
  defineScript,
  type RecordError,
  type ScriptContext,
  type StepOutput,
} from '../core/script.ts';
import { getPath } from './util/paths.ts';
import { PLATFORM_MAX_ATTEMPTS_PARAM } from './util/platform-read.ts';
import {
  cellText,
  groupedRecords,
  groupMarkerKey,
  isUnset,
  paramMissing,
  readGroupMarker,
  settle,
  writeGroupMarker,
} from './util/record-writer.ts';

const REJECTED = 'IDX_CONSTANTCONTACT_REJECTED';
const V3_ROOT = 'https://api.cc.email/v3';

/** The import activity of one group of records, kept in the stage so a retried invocation resumes it. */
interface GroupMarker {
  readonly activityId: string;
  readonly rows: number;
}

/** A V2-style field name as a V3 name: `Custom Field 1` → `custom_field_1`, `First Name` → `first_name`. */
export function v3Name(field: string): string {
  return field
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Whether a newsletter value asks for list membership; anything that is not a boolean-like value is a RecordError. */
export function subscribes(value: unknown): boolean | RecordError {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return false;
  if (value === true || value === 1) return true;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
  }
  return {
    code: REJECTED,
    message: `the newsletter value ${JSON.stringify(value).slice(0, 60)} is not a boolean`,
  };
}

/** The import contact a record becomes, or why it cannot be one. */
export function contactOf(
  record: DataRecord,
  emailField: string,
  newsletterField: string,
): { readonly contact: ImportContact } | { readonly error: RecordError } {
  const email = getPath(record, emailField);
  if (typeof email !== 'string' || email.trim() === '')
    return { error: { code: REJECTED, message: `the record has no address in ${emailField}` } };
  const contact: Record<string, string> = { email: email.trim() };
  for (const [key, value] of Object.entries(record)) {
    if (key.startsWith('_') || key === emailField || key === newsletterField) continue;
    const text = cellText(value);
    const name = v3Name(key);
    if (text === undefined || name === '') continue;
    contact[CC_CONTACT_PROPERTIES.has(name) ? name : `cf:${name}`] = text;
  }
  return { contact: contact as ImportContact };
}

/**
 * `datasource.write.constantcontact`: adds the subscribed records to a Constant Contact list as contacts, created
 * or updated, with a V3 bulk JSON import activity; contacts Constant Contact refuses go down the error path with
 * its reason.
 */
export const datasourceWriteConstantcontact = defineScript({
  type: 'datasource.write.constantcontact',
  summary:
    'Creates or updates contacts on a Constant Contact list with the V3 bulk JSON import (`contacts_json_import`, polled to its end); refused contacts go to the error path with Constant Contact’s reason.',
  description:
    'The published params (`apiKey`, `accessToken`, `listId`) are those of the V2 API, whose keys can no longer be created; they are mapped onto the V3 API: `accessToken` is a V3 OAuth2 access token sent as a bearer (V3 access tokens live 24 hours and are renewed by the client application holding the refresh token, so an expired one fails the step with IDX_CONSTANTCONTACT_AUTH rather than being refreshed here), `apiKey` is the V3 application’s API key (client id), which V3 calls do not carry, and `listId` is the V3 list id (a UUID; V2 numeric ids map to it with `/contact_lists/list_id_xrefs`). ' +
    'Each record becomes one contact: its address from `emailField`; every other top-level field (not `_`-prefixed; missing, null and empty objects left out) under its name in V3 form (lower case, other characters as `_`: `Custom Field 1` → `custom_field_1`, `First Name` → `first_name`), as a contact property when V3 has one of that name, else as the custom field `cf:<name>`, which must exist in the account. ' +
    'The `newsletterField` decides list membership: true-like values import the contact onto the list; false-like, missing and empty ones do not send the record (the JSON import can only add list memberships, and removing one needs the contact id, which the import does not give), so it is dropped (counted in the step’s dropped records, not sent on); anything else is rejected. ' +
    'Contacts are imported `batchSize` at a time (Constant Contact allows 40,000 and 4 MB a payload); the activity is polled until it ends, and each contact named in its `activity_errors` is rejected with that message. An activity that ends failed, cancelled or timed out fails the step with IDX_CONSTANTCONTACT_ACTIVITY and Constant Contact’s message. The activity id of each group is recorded in the job’s stage before it is polled, so an invocation run again after a failure resumes polling it instead of importing the contacts again. 429, 5xx and dropped connections are retried with backoff.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    apiUrl: {
      type: 'string',
      default: '',
      description: `The V3 API root; empty means ${V3_ROOT} (in local mode, the embedded Constant Contact emulator).`,
    },
    apiKey: {
      type: 'string',
      secret: true,
      default: '',
      description:
        'The V3 application’s API key (client id), as ${secret:NAME}. Not sent on V3 calls (only the bearer token is); kept for the published param set.',
    },
    accessToken: {
      type: 'string',
      secret: true,
      description: 'A V3 OAuth2 access token with the contact_data scope, as ${secret:NAME}.',
    },
    listId: {
      type: 'string',
      default: '',
      description: 'The V3 contact list id the contacts are added to.',
    },
    newsletterField: {
      type: 'string',
      default: 'newsletterField',
      description: 'The record field whose value decides whether the contact is added to the list.',
    },
    emailField: {
      type: 'string',
      default: 'Email',
      description:
        'The record field holding the contact’s address (not an IdentitySync param: the published template renames the address to Email).',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: CC_MAX_IMPORT,
      default: 5000,
      description:
        'Contacts per import activity (Constant Contact allows 40,000 and a 4 MB payload; a group over 4 MB fails the step).',
    },
    pollSeconds: {
      type: 'number',
      minimum: 0,
      maximum: 300,
      default: 2,
      description: 'First wait between activity status polls; it doubles up to 30 s.',
    },
    maxAttempts: PLATFORM_MAX_ATTEMPTS_PARAM,
  },
  dryRun: {
    call(params, record) {
      const made = contactOf(record, params.emailField, params.newsletterField);
      if ('error' in made) return made.error;
      const sub = subscribes(getPath(record, params.newsletterField));
      if (typeof sub !== 'boolean') return sub;
      return {
        method: sub ? 'constantcontact.activities.contactsJsonImport' : 'none (not subscribed)',
        params: { listId: params.listId, contact: made.contact },
      };
    },
  },
  create(params, ctx) {
    if (isUnset(params.accessToken))
      throw paramMissing(ctx.stepId, 'accessToken', 'a Constant Contact V3 access token, as ${secret:NAME}');
    if (isUnset(params.listId)) throw paramMissing(ctx.stepId, 'listId', 'the V3 contact list id');
    const config = ctx.services.config;
    const baseUrl = isUnset(params.apiUrl)
      ? config.local && config.endpoints.constantContact
        ? config.endpoints.constantContact
        : V3_ROOT
      : params.apiUrl.trim();
    const client = new ConstantContactClient({
      baseUrl,
      accessToken: params.accessToken as string,
      attempts: params.maxAttempts,
      signal: ctx.signal,
      onRetry: (what, attempt, delay) =>
        ctx.log.info(
          `Constant Contact answered ${what}; attempt ${attempt + 1} of ${params.maxAttempts} in ${delay} ms`,
        ),
    });
    return groupedRecords(
      params.batchSize,
      (records, group, out): Promise<void> => importGroup(client, params, ctx, records, group, out),
    );
  },
});

type WriterParams = Parameters<(typeof datasourceWriteConstantcontact)['create']>[0];

/**
 * Imports the subscribed records of one group and settles every record of it. A group whose activity a failed
 * earlier run of this invocation recorded is resumed, not imported again.
 */
async function importGroup(
  client: ConstantContactClient,
  params: WriterParams,
  ctx: ScriptContext,
  records: readonly DataRecord[],
  group: number,
  out: StepOutput,
): Promise<void> {
  const outcomes: (RecordError | undefined)[] = [];
  const sending: { at: number; contact: ImportContact }[] = [];
  const passing = new Set<DataRecord>();
  records.forEach((record, at) => {
    const made = contactOf(record, params.emailField, params.newsletterField);
    const sub = subscribes(getPath(record, params.newsletterField));
    if ('error' in made) outcomes[at] = made.error;
    else if (typeof sub !== 'boolean') outcomes[at] = sub;
    else if (sub) sending.push({ at, contact: made.contact });
    else passing.add(record);
  });
  if (sending.length) {
    const key = groupMarkerKey(ctx, 'constantcontact-activities', group);
    let marker = await readGroupMarker<GroupMarker>(ctx, key);
    if (marker)
      ctx.log.info(`resuming Constant Contact activity ${marker.activityId} of group ${group}: not importing again`);
    else {
      const contacts = sending.map((s) => s.contact);
      const bytes = Buffer.byteLength(JSON.stringify({ import_data: contacts, list_ids: [params.listId] }));
      if (bytes >= CC_MAX_PAYLOAD_BYTES)
        throw new IdxError(
          'IDX_PARAM_VALUE',
          `a group of ${contacts.length} contacts is ${bytes} bytes, over Constant Contact's 4 MB`,
          {
            stepId: ctx.stepId,
            param: 'batchSize',
            expected: 'a batchSize whose import payload stays under 4 MB',
            received: String(params.batchSize),
          },
        );
      // Recorded as soon as it is started, so a failure while polling never imports these contacts again.
      marker = { activityId: await client.importContacts([params.listId], contacts), rows: contacts.length };
      await writeGroupMarker(ctx, key, marker);
    }
    const activity = await waitForActivity(client, marker.activityId, params.pollSeconds * 1000, ctx);
    if (activity.state !== 'completed') {
      const said = activity.activity_errors.map((e) => e.message).join('; ') || 'no message';
      throw new IdxError(
        'IDX_CONSTANTCONTACT_ACTIVITY',
        `Constant Contact's import activity ${marker.activityId} ended ${activity.state}: ${said}`,
        {
          stepId: ctx.stepId,
          expected: 'state completed',
          received: `${activity.state}: ${said}`,
          details: { activityId: marker.activityId },
        },
      );
    }
    for (const e of activity.activity_errors) {
      // The line number names the contact when its address agrees (an address may come twice); else the address.
      const byLine = e.line_number ? sending[e.line_number - 1] : undefined;
      const same = (a: string | undefined, b: string | undefined) => a?.toLowerCase() === b?.toLowerCase();
      const hit =
        byLine && (!e.email || same(byLine.contact.email, e.email))
          ? byLine
          : sending.find((s) => e.email && same(s.contact.email, e.email));
      if (hit) outcomes[hit.at] = { code: REJECTED, message: e.message, activityId: marker.activityId };
    }
  }
  // Records not subscribed are dropped, counted; the rest are settled as imported or rejected.
  for (const record of passing) out.drop(record);
  const settled = records.map((r, at) => ({ r, at })).filter(({ r }) => !passing.has(r));
  settle(
    out,
    settled.map((s) => s.r),
    settled.map((s) => outcomes[s.at]),
  );
}

/** Polls an activity until it ends, waiting `pollMs` doubling up to 30 s between polls. */
async function waitForActivity(client: ConstantContactClient, id: string, pollMs: number, ctx: ScriptContext) {
  for (let poll = 1; ; poll++) {
    const activity = await client.activity(id);
    if (CC_FINAL_STATES.has(activity.state)) return activity;
    ctx.signal.throwIfAborted();
    if (pollMs > 0) await new Promise((r) => setTimeout(r, Math.min(30_000, pollMs * 2 ** (poll - 1))));
  }
}
