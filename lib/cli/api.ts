/**
 * `idx api [--port N]`: the IDX REST API on 127.0.0.1 over the embedded services and `dataflows/`, until
 * Ctrl-C. The console mounts the same handler (lib/idx-api/handler.ts) on its own server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { IdxError } from '../core/errors.ts';
import type { SecretResolver } from '../core/secrets.ts';
import { type IdxApiCredentials, idxApiHandler, type RequestHandler } from '../idx-api/handler.ts';
import { LocalIdxData } from '../idx-api/local.ts';
import type { LocalEnvironment } from '../local/environment.ts';
import { defaultExtras } from '../local/extras.ts';
import { defaultRegistry } from '../scripts/index.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../scripts/util/gigya-step.ts';
import { DATAFLOWS_DIR, EXIT, usage } from './dataflow-commands.ts';
import type { Flags } from './help.ts';
import { commandEnvironment } from './run.ts';

/** The local secrets that set the API's credentials; without any of them, the Gigya emulator's are used. */
export const API_CREDENTIAL_SECRETS = { apiKey: 'IDX_API_KEY', userKey: 'IDX_API_USER_KEY', secret: 'IDX_API_SECRET' };

/** Flags of `idx api`. */
export const API_FLAGS = {
  port: { type: 'string', value: 'N', description: 'the port on 127.0.0.1 (default: a free one)' },
} as const satisfies Flags;

/**
 * The credentials callers must present: the three secrets of {@link API_CREDENTIAL_SECRETS} when all are set
 * (environment or .idx/secrets.json, as any `${secret:NAME}`), none of them for the emulator's documented ones,
 * and an error for some but not all.
 */
export async function apiCredentials(secrets: SecretResolver): Promise<IdxApiCredentials> {
  const entries = await Promise.all(
    Object.entries(API_CREDENTIAL_SECRETS).map(async ([k, name]) => [
      k,
      await secrets.resolve(name).catch(() => undefined),
    ]),
  );
  const set = entries.filter(([, v]) => v !== undefined);
  if (set.length === 0) return LOCAL_GIGYA_CREDENTIALS;
  if (set.length < entries.length)
    throw new IdxError('IDX_SECRET_MISSING', 'the IDX API credentials are set only in part', {
      expected: `all of the secrets ${Object.values(API_CREDENTIAL_SECRETS).join(', ')}, or none`,
      received: `only ${set.map(([k]) => API_CREDENTIAL_SECRETS[k as keyof typeof API_CREDENTIAL_SECRETS]).join(', ')}`,
    });
  return Object.fromEntries(entries) as unknown as IdxApiCredentials;
}

/**
 * The IDX API over a local environment and a folder of dataflow files: the handler `idx api` serves and `idx
 * console` mounts, its data (to close when the server stops) and the credentials it checks.
 */
export async function localIdxApi(
  env: LocalEnvironment,
  dir: string,
): Promise<{ readonly data: LocalIdxData; readonly handler: RequestHandler; readonly credentials: IdxApiCredentials }> {
  const credentials = await apiCredentials(env.services.secrets);
  const data = new LocalIdxData({ env, registry: defaultRegistry(), dir });
  const handler = idxApiHandler({
    data,
    credentials,
    onUnexpected: (error) => process.stderr.write(`idx api: unexpected ${String((error as Error)?.name)}\n`),
  });
  return { data, handler, credentials };
}

/** `idx api [--port N]` */
export async function apiCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: API_FLAGS });
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage('idx api [--port N] (N from 0 to 65535)');
  const env = await commandEnvironment({ extras: defaultExtras() });
  const { data, handler, credentials } = await localIdxApi(env, DATAFLOWS_DIR);
  try {
    const server = createServer((req, res) => {
      handler(req, res)
        .then((answered) => {
          if (!answered) res.writeHead(404, { 'content-type': 'text/plain' }).end('not an IDX method\n');
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.stdout.write(`IDX API at ${url}/idx.<method> (apiKey ${credentials.apiKey})\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write('stopping: runs started through the API end as killed\n');
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return EXIT.ok;
  } finally {
    await data.close(true);
    await env.close();
  }
}
