import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import {
  callPerRecord,
  GIGYA_CONNECTION_PARAMS,
  GIGYA_REACHES,
  gigyaClientFor,
  type RecordCall,
} from './util/gigya-step.ts';

/** The members of every Gigya answer (apis.md §A.3), left out when saying what an answer held. */
const ENVELOPE = new Set(['callId', 'errorCode', 'errorMessage', 'apiVersion', 'statusCode', 'statusReason', 'time']);

/** A comma list of challenge ids as the API takes it: trimmed, without empty items. */
function challengeList(value: string): string {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .join(',');
}

/**
 * `datasource.lookup.gigya.gm`: adds each account's Game Mechanics (Loyalty) challenge statuses to its record as
 * `achievements`, with one `gm.getChallengeStatus` call per record keyed by its `UID`.
 */
export const datasourceLookupGigyaGm = defineScript({
  type: 'datasource.lookup.gigya.gm',
  summary:
    "Adds each account's Game Mechanics (Loyalty) challenge statuses to its record as `achievements` (gm.getChallengeStatus per UID).",
  description:
    'Each record needs a `UID` (select it in the reader before). The record gains `achievements`: the ' +
    '`challenges` array gm.getChallengeStatus answers for that UID (per challenge `challengeID`, `level`, ' +
    '`levelTitle`, `badgeURL`, `pointsTotal`, …, as the site returns them), an empty array for an account in no ' +
    'challenge; an existing `achievements` field is replaced. A record without a UID goes down the error path ' +
    '(IDX_GIGYA_NO_UID), as does one whose UID has no account (403005) or that Gigya refuses, with ' +
    '`_errorDetails {errorCode, errorMessage, callId}`. Credential, permission and data-centre errors fail the ' +
    'step; throttling and server errors are retried with backoff. IdentitySync describes the lookup as giving ' +
    '"the status since the last successful execution"; gm.getChallengeStatus takes no time, so the current ' +
    'status of every chosen challenge is read, and "since the last run" comes from the reader before it, which ' +
    'reads the accounts changed since then. The elements are what the site returns: their field names are not ' +
    'documented publicly, and the Gigya emulator uses the ones listed above; an answer without a `challenges` ' +
    'array fails the step (IDX_GIGYA_RESPONSE) rather than giving every account an empty list.',
  consumes: 'records',
  produces: 'records',
  params: {
    includeChallenges: {
      type: 'string',
      default: '*',
      description: 'Comma list of challenge ids to read, or `*` for every challenge.',
      examples: ['*', '_default,commenter'],
    },
    excludeChallenges: {
      type: 'string',
      default: '',
      description:
        "Comma list of challenge ids to leave out (gm.getChallengeStatus's own param; IdentitySync's template " +
        'shows only includeChallenges).',
    },
    details: {
      type: 'string',
      enum: ['basic', 'full'],
      default: 'basic',
      description: "gm.getChallengeStatus's `details`: `full` also returns each challenge's description.",
    },
    maxConcurrency: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      default: 5,
      description:
        'Calls in flight at once (one call per record); the calls per second stay within `maxCallsPerSecond`.',
    },
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  async create(params, ctx) {
    const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: params.maxConcurrency });
    const include = challengeList(params.includeChallenges) || '*';
    const exclude = challengeList(params.excludeChallenges);
    const statusOf = async (record: DataRecord): Promise<RecordCall<unknown[]>> => {
      const uid = record.UID;
      if (typeof uid !== 'string' || uid === '') {
        return {
          failure: {
            message: 'the record has no UID, so no Game Mechanics status can be read',
            code: 'IDX_GIGYA_NO_UID',
          },
        };
      }
      const r = await client.call('gm.getChallengeStatus', {
        UID: uid,
        includeChallenges: include,
        ...(exclude ? { excludeChallenges: exclude } : {}),
        ...(params.details === 'basic' ? {} : { details: params.details }),
      });
      if (!Array.isArray(r.challenges)) {
        // The member's name is not documented publicly: an answer without it fails the step rather than giving
        // every account an empty list.
        throw new IdxError('IDX_GIGYA_RESPONSE', 'Gigya gm.getChallengeStatus answered without a challenges array', {
          stepId: ctx.stepId,
          expected: 'a response with challenges: [...]',
          received: `members ${
            Object.keys(r)
              .filter((k) => !ENVELOPE.has(k))
              .join(', ') || 'none besides the envelope'
          }`,
          details: { method: 'gm.getChallengeStatus', callId: r.callId },
        });
      }
      return { value: r.challenges as unknown[] };
    };
    return {
      async records(batch, out) {
        const outcomes = await callPerRecord(batch, params.maxConcurrency, statusOf);
        outcomes.forEach((outcome, i) => {
          const record = batch[i] as DataRecord;
          if ('failure' in outcome) out.reject(record, outcome.failure);
          else out.emit({ ...record, achievements: outcome.value });
        });
      },
      close,
    };
  },
});
