/**
 * What the Mailchimp reader and writer share: their connection params (the names of the published IdentitySync
 * dataflows) and the client a step's params give, with the base URL decided from `apiUrl` and the key's data
 * center.
 */
import { dataCenterOf, MailchimpClient } from '../../connectors/mailchimp.ts';
import { IdxError } from '../../core/errors.ts';
import type { ScriptContext } from '../../core/script.ts';
import { PLATFORM_MAX_ATTEMPTS_PARAM } from './platform-read.ts';

/** A template's elided value (`...`), an empty one, or the published `https://<dc>.api.mailchimp.com/3.0/`. */
const UNSET = /^\s*\.*\s*$/;
const TEMPLATE_DC = '<dc>';

/** The connection params of both Mailchimp steps. */
export const MAILCHIMP_CONNECTION_PARAMS = {
  apiUrl: {
    type: 'string',
    default: '',
    description:
      "The API root, `https://<dc>.api.mailchimp.com/3.0/`. `<dc>` (or an empty value) is replaced by the data center the API key ends with (`…-us14` → `us14`); a Mailchimp host whose data center is not the key's is refused. In local mode, empty or `<dc>` means the embedded Mailchimp emulator.",
    examples: ['https://<dc>.api.mailchimp.com/3.0/'],
  },
  apiKey: {
    type: 'string',
    secret: true,
    description: 'The Mailchimp API key (HTTP Basic password), as ${secret:NAME}.',
  },
  listId: {
    type: 'string',
    default: '',
    description: 'The audience (list) id.',
  },
  maxAttempts: PLATFORM_MAX_ATTEMPTS_PARAM,
} as const;

/** The connection params as a step gets them. */
export interface MailchimpConnectionParams {
  readonly apiUrl: string;
  readonly apiKey?: string;
  readonly listId: string;
  readonly maxAttempts: number;
}

/** The base URL of the step's calls: the local emulator, the `apiUrl` with the key's data center, or `apiUrl`. */
export function mailchimpBaseUrl(params: MailchimpConnectionParams, apiKey: string, ctx: ScriptContext): string {
  const config = ctx.services.config;
  const templated = UNSET.test(params.apiUrl) || params.apiUrl.includes(TEMPLATE_DC);
  if (templated && config.local && config.endpoints.mailchimp) return config.endpoints.mailchimp;
  const dc = dataCenterOf(apiKey);
  const fail = (message: string, expected: string, received: string) =>
    new IdxError('IDX_PARAM_VALUE', message, { stepId: ctx.stepId, param: 'apiUrl', expected, received });
  if (templated) {
    if (!dc)
      throw fail(
        'the API key names no data center, so apiUrl cannot be completed',
        'an API key ending in -<dc> (e.g. -us14), or an apiUrl with the data center',
        JSON.stringify(params.apiUrl),
      );
    const given = UNSET.test(params.apiUrl) ? `https://${TEMPLATE_DC}.api.mailchimp.com/3.0/` : params.apiUrl.trim();
    return given.replace(TEMPLATE_DC, dc);
  }
  const hostDc = /^https:\/\/([a-z]+\d+)\.api\.mailchimp\.com\//i.exec(params.apiUrl.trim())?.[1]?.toLowerCase();
  if (hostDc && dc && hostDc !== dc)
    throw fail(
      `apiUrl names data center ${hostDc} but the API key belongs to ${dc}; Mailchimp would refuse every call`,
      `https://${dc}.api.mailchimp.com/3.0/`,
      JSON.stringify(params.apiUrl),
    );
  return params.apiUrl.trim();
}

/** The client of a step, after checking that its key and list are set. */
export function mailchimpClientFor(params: MailchimpConnectionParams, ctx: ScriptContext): MailchimpClient {
  const missing = (param: string, expected: string) =>
    new IdxError('IDX_PARAM_MISSING', `${param} is not set`, { stepId: ctx.stepId, param, expected, received: '""' });
  if (!params.apiKey || UNSET.test(params.apiKey)) throw missing('apiKey', 'the Mailchimp API key, as ${secret:NAME}');
  if (UNSET.test(params.listId)) throw missing('listId', 'the audience (list) id');
  return new MailchimpClient({
    baseUrl: mailchimpBaseUrl(params, params.apiKey, ctx),
    apiKey: params.apiKey,
    attempts: params.maxAttempts,
    signal: ctx.signal,
    onRetry: (what, attempt, delay) =>
      ctx.log.info(`Mailchimp answered ${what}; attempt ${attempt + 1} of ${params.maxAttempts} in ${delay} ms`),
  });
}
