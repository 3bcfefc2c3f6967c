/**
 * What the Silverpop (Acoustic Campaign) reader and writer share: their params (IdentitySync's names), the XML API
 * client of a step and the SFTP account its files travel through, with local mode's policy (empty or elided
 * `apiUrl` and `host`: the Acoustic emulator and the embedded SFTP server).
 */
import { ACOUSTIC_POD_HOSTS, AcousticClient, acousticSftpHost } from '../../connectors/acoustic.ts';
import { SftpConnection } from '../../connectors/sftp.ts';
import { IdxError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { ScriptContext } from '../../core/script.ts';
import { UNSET } from './elided.ts';
import { sftpConnectionParams } from './file-transfer.ts';
import { resolveSftpEndpoint } from './sftp-folder.ts';

/** The params of both Silverpop steps. */
export const silverpopParams = {
  clientId: { type: 'string', default: '', description: 'The client id of the Acoustic OAuth application.' },
  clientSecret: { type: 'string', secret: true, description: 'Its client secret, as ${secret:NAME}.' },
  refreshToken: {
    type: 'string',
    secret: true,
    description: 'The refresh token of the application’s account access, as ${secret:NAME}.',
  },
  podNumber: {
    type: 'integer',
    minimum: 1,
    maximum: 9,
    default: 5,
    description:
      'The Acoustic pod of the org: 1–5 `api-campaign-us-N`, 6 `eu-1`, 7 `ap-2`, 8 `ca-1`, 9 `us-6` (the XML API ' +
      'host, and for pods 1–5 the SFTP host `transfer-campaign-us-N`). Pods A and B: set `apiUrl`.',
  },
  apiUrl: {
    type: 'string',
    default: '',
    description:
      'The XML API origin, overriding the pod’s (e.g. `https://api-campaign-ap-1.goacoustic.com`). Empty: from ' +
      'podNumber; in local mode, the embedded Acoustic emulator.',
  },
  ...sftpConnectionParams,
  host: {
    type: 'string',
    default: '',
    description:
      'The Acoustic SFTP host (the files of imports and exports travel through its `upload` and `download` ' +
      'folders). Empty: `transfer-campaign-us-N.goacoustic.com` for pods 1–5; in local mode, the embedded SFTP server.',
  },
  username: { type: 'string', default: '', description: 'The Acoustic user name for SFTP.' },
  password: { type: 'string', secret: true, description: 'Its password, as ${secret:NAME}.' },
  listId: {
    type: 'string',
    required: true,
    description: 'The id of the Acoustic database (LIST_ID).',
    examples: ['1234567'],
  },
  pollSeconds: {
    type: 'number',
    minimum: 0,
    maximum: 300,
    default: 5,
    description: 'First wait between GetJobStatus polls of a data job; it doubles up to 30 s.',
  },
  maxAttempts: {
    type: 'integer',
    minimum: 1,
    maximum: 10,
    default: 5,
    description: 'Attempts of one XML API call answered 429, 5xx or cut off, with exponential backoff.',
  },
} as const;

/** The params of a Silverpop step, as resolved. */
export type SilverpopParams = ParamsOf<typeof silverpopParams>;

function missing(ctx: ScriptContext, param: string, expected: string): IdxError {
  return new IdxError('IDX_PARAM_MISSING', `${param} is not set`, {
    stepId: ctx.stepId,
    param,
    expected,
    received: '""',
  });
}

/** The XML API client of a step. */
export function acousticClientFor(params: SilverpopParams, ctx: ScriptContext): AcousticClient {
  const config = ctx.services.config;
  const local = config.local && UNSET.test(params.apiUrl) ? config.endpoints.acoustic : undefined;
  const apiUrl =
    local ??
    (UNSET.test(params.apiUrl) ? `https://${ACOUSTIC_POD_HOSTS[String(params.podNumber)]}` : params.apiUrl.trim());
  if (UNSET.test(params.clientId)) throw missing(ctx, 'clientId', 'the client id of the Acoustic application');
  if (!params.clientSecret) throw missing(ctx, 'clientSecret', 'the client secret, as ${secret:NAME}');
  if (!params.refreshToken) throw missing(ctx, 'refreshToken', 'the refresh token, as ${secret:NAME}');
  return new AcousticClient({
    apiUrl: apiUrl.replace(/\/+$/, ''),
    clientId: params.clientId.trim(),
    clientSecret: params.clientSecret,
    refreshToken: params.refreshToken,
    attempts: params.maxAttempts,
    log: ctx.log,
    signal: ctx.signal,
  });
}

/** The Acoustic SFTP account of a step, unconnected. */
export function acousticSftp(params: SilverpopParams, ctx: ScriptContext): SftpConnection {
  const config = ctx.services.config;
  const given = UNSET.test(params.host) ? '' : params.host.trim();
  const host = given || (config.local ? '' : (acousticSftpHost(String(params.podNumber)) ?? ''));
  if (!host && !config.local)
    throw missing(ctx, 'host', `the Acoustic SFTP host of pod ${params.podNumber} (only pods 1–5 have a known one)`);
  const username = UNSET.test(params.username) ? '' : params.username;
  return new SftpConnection(resolveSftpEndpoint({ ...params, host, username }, config, ctx.stepId), ctx.log);
}
