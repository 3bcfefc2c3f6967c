/**
 * What the Eloqua steps share: their connection params (Basic or OAuth2, the login origin, an optional
 * configured base URL), the field mapping param, and the glue from those params to the connector, with local
 * mode's policy: an empty `company` in local mode means the Eloqua emulator, with its own login.
 */
import { EloquaClient, type EloquaSync } from '../../connectors/eloqua.ts';
import { IdxError } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { ScriptCheckProblem, ScriptContext } from '../../core/script.ts';

/** The login of the local Eloqua emulator (a local stand-in, not a secret). */
export const LOCAL_ELOQUA = {
  company: 'IDXLocal',
  username: 'idx',
  password: 'idx',
  clientId: 'idx-local-app',
  clientSecret: 'idx-local-app-secret',
  refreshToken: 'idx-local-refresh-token',
} as const;

/** Eloqua's login origin, where `/id` and the OAuth2 token endpoint live. */
export const ELOQUA_LOGIN_URL = 'https://login.eloqua.com';

/** The connection params of `datasource.read.eloqua` and `datasource.write.eloqua`. */
export const ELOQUA_CONNECTION_PARAMS = {
  company: {
    type: 'string',
    default: '',
    description:
      'The Eloqua instance (company) name of the login. Empty only in local mode, where it means the embedded Eloqua emulator.',
  },
  username: { type: 'string', default: '', description: 'The Eloqua user, for Basic authentication.' },
  password: {
    type: 'string',
    secret: true,
    description: "The user's password, as ${secret:NAME}, for Basic authentication.",
  },
  clientId: {
    type: 'string',
    description: 'OAuth2: the client id of the AppCloud app. With it, OAuth2 is used instead of Basic.',
  },
  clientSecret: { type: 'string', secret: true, description: 'OAuth2: the client secret, as ${secret:NAME}.' },
  refreshToken: {
    type: 'string',
    secret: true,
    description:
      'OAuth2: a refresh token of the integration user, as ${secret:NAME}; access tokens are obtained from it. Without it, the password grant with company, username and password.',
  },
  redirectUri: {
    type: 'string',
    description: "OAuth2: the app's redirect URI, sent with the refresh-token grant when given.",
  },
  loginUrl: {
    type: 'string',
    default: ELOQUA_LOGIN_URL,
    description: 'The login origin: `/id` discovers the base URL, `/auth/oauth2/token` issues tokens.',
  },
  baseUrl: {
    type: 'string',
    default: '',
    description:
      "The instance's base URL (e.g. https://secure.p03.eloqua.com); empty: discovered with the login origin's /id at the start of every job.",
  },
  maxAttempts: {
    type: 'integer',
    minimum: 1,
    maximum: 10,
    default: 5,
    description:
      'Attempts of one request answered 429, 5xx or cut off, with exponential backoff (1 s doubling, 30 s at most).',
  },
  syncTimeoutMinutes: {
    type: 'integer',
    minimum: 1,
    maximum: 720,
    default: 60,
    description: 'How long a sync may stay pending or active before the step fails (IDX_ELOQUA_SYNC, retried).',
  },
} as const;

/** The mapping between record fields and Eloqua contact fields. */
export const ELOQUA_FIELDS_PARAM = {
  type: 'array',
  required: true,
  minItems: 1,
  description: 'Pairs of a record path and an Eloqua contact field.',
  items: {
    type: 'object',
    description: 'One field.',
    properties: {
      sourceField: { type: 'string', required: true, description: 'Where the value comes from.' },
      targetField: { type: 'string', required: true, description: 'Where the value goes.' },
    },
  },
} as const;

/** A contact field given by its internal name (`C_EmailAddress`) or as an EML statement (`{{Contact.Id}}`). */
export function statementOf(field: string): string {
  const f = field.trim();
  return f.startsWith('{{') ? f : `{{Contact.Field(${f})}}`;
}

/** The key of a field in a definition's `fields`: the internal name, or the statement made a key. */
export function columnOf(field: string): string {
  const t = field.trim();
  return t.startsWith('{{') ? t.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') : t;
}

const INTERNAL_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const STATEMENT = /^\{\{[A-Za-z][A-Za-z0-9_.()[\]]*\}\}$/;

/** Checks that each Eloqua side of a mapping is an internal name or an EML statement. */
export function checkEloquaFields(
  fields: readonly { sourceField: string; targetField: string }[],
  side: 'sourceField' | 'targetField',
): ScriptCheckProblem[] {
  return fields.flatMap((f, i) => {
    const v = f[side].trim();
    if (INTERNAL_NAME.test(v) || STATEMENT.test(v)) return [];
    return [
      {
        code: 'IDX_PARAM_VALUE' as const,
        path: `fields[${i}].${side}`,
        message: 'not an Eloqua field',
        expected: 'an internal name such as C_EmailAddress, or an EML statement such as {{Contact.Email.IsSubscribed}}',
        received: JSON.stringify(f[side]),
      },
    ];
  });
}

/** The params of an Eloqua step's connection, as resolved. */
export type EloquaConnection = ParamsOf<typeof ELOQUA_CONNECTION_PARAMS>;

/**
 * The client of a step. An empty `company` in local mode is the emulator (its login origin from the local
 * environment, its own credentials); an empty `company` anywhere else is an error. With `clientId`, OAuth2.
 */
export function eloquaClientFor(params: EloquaConnection, ctx: ScriptContext): EloquaClient {
  const config = ctx.services.config;
  const local = config.local && !params.company.trim() ? config.endpoints.eloqua : undefined;
  const common = {
    log: ctx.log,
    attempts: params.maxAttempts,
    signal: ctx.signal,
  };
  if (local) {
    return new EloquaClient({
      ...common,
      loginUrl: local,
      auth: {
        kind: 'basic',
        company: LOCAL_ELOQUA.company,
        username: LOCAL_ELOQUA.username,
        password: LOCAL_ELOQUA.password,
      },
    });
  }
  const missing = (param: string, expected: string) =>
    new IdxError('IDX_PARAM_MISSING', `${param} is empty`, { stepId: ctx.stepId, param, expected, received: '""' });
  if (!params.company.trim())
    throw missing('company', 'the Eloqua company name (empty only means the emulator in local mode)');
  const base = {
    ...common,
    loginUrl: params.loginUrl,
    ...(params.baseUrl.trim() ? { baseUrl: params.baseUrl.trim() } : {}),
  };
  if (params.clientId?.trim()) {
    if (!params.clientSecret) throw missing('clientSecret', 'the OAuth2 client secret, as ${secret:NAME}');
    if (!params.refreshToken && (!params.username.trim() || !params.password))
      throw missing(
        'refreshToken',
        'an OAuth2 refresh token as ${secret:NAME}, or username and password for the password grant',
      );
    return new EloquaClient({
      ...base,
      auth: {
        kind: 'oauth2',
        clientId: params.clientId.trim(),
        clientSecret: params.clientSecret,
        grant: params.refreshToken
          ? { refreshToken: params.refreshToken, ...(params.redirectUri ? { redirectUri: params.redirectUri } : {}) }
          : { company: params.company.trim(), username: params.username.trim(), password: params.password as string },
      },
    });
  }
  if (!params.username.trim()) throw missing('username', 'the Eloqua user');
  if (!params.password) throw missing('password', "the user's password, as ${secret:NAME}");
  return new EloquaClient({
    ...base,
    auth: {
      kind: 'basic',
      company: params.company.trim(),
      username: params.username.trim(),
      password: params.password,
    },
  });
}

/** How long a sync is polled: from 200 ms, doubling to 10 s, for at most the step's syncTimeoutMinutes. */
function pollingOf(params: EloquaConnection): { firstPollMs: number; maxPollMs: number; timeoutMs: number } {
  return { firstPollMs: 200, maxPollMs: 10_000, timeoutMs: params.syncTimeoutMinutes * 60_000 };
}

/**
 * Starts a sync of a definition and waits for it to end; one that ends in `error` fails the step with
 * `IDX_ELOQUA_SYNC` and the error and warning lines of Eloqua's sync log.
 */
export async function syncToEnd(
  client: EloquaClient,
  syncUri: string,
  params: EloquaConnection,
  ctx: ScriptContext,
  what: 'import' | 'export',
): Promise<EloquaSync> {
  const done = await client.waitForSync(syncUri, pollingOf(params));
  if (done.status !== 'error') return done;
  const logs = await client.logs(syncUri).catch(() => []);
  const said = logs
    .filter((l) => l.severity === 'error' || l.severity === 'warning')
    .map((l) => `${l.statusCode ?? ''} ${l.message ?? ''}`.trim())
    .join('; ');
  throw new IdxError(
    'IDX_ELOQUA_SYNC',
    `Eloqua's ${what} sync ${syncUri} ended with status error: ${said || 'no message'}`,
    {
      stepId: ctx.stepId,
      expected: `a sync that ends in success${what === 'import' ? ' or warning' : ''}`,
      received: `status error${said ? `: ${said}` : ''}`,
      details: { syncUri, logs },
    },
  );
}
