/**
 * The Marketing Cloud emulator: an HTTP server on 127.0.0.1 answering the subset of Salesforce Marketing Cloud
 * Engagement's auth and REST APIs that `datasource.write.exacttarget` uses, written from Salesforce's public
 * documentation (facts gathered in platforms.md §3; the documents are listed in docs/salesforce.md). One origin
 * plays both the tenant's auth host and its REST host. Where each behaviour comes from:
 *
 * - `POST /v2/token` ("Request an Access Token for Server-to-Server Integrations"): JSON body with `grant_type`
 *   `client_credentials`, `client_id`, `client_secret`, optional `account_id` and `scope`; answers
 *   `access_token`, `token_type: "Bearer"`, `expires_in` 1079 (about 20 minutes), `scope`, `soap_instance_url`,
 *   `rest_instance_url`. Bad credentials: 401 `{"error":"invalid_client", …}`; another grant: 400
 *   `unsupported_grant_type` (status mapping not confirmed). The legacy `/v1/requestToken` is not emulated: the
 *   client never uses it, and legacy packages cannot be created since 2019.
 * - REST calls need `Authorization: Bearer <token>`; an unknown or expired one is 401
 *   `{"message":"Not Authorized","errorcode":0,…}` (the body is not confirmed).
 * - `POST /hub/v1/dataevents/key:<key>/rowset` ("Insert or update rows in a data extension by key"): an array
 *   of `{keys, values}`; every row needs every primary key column in `keys`; column names are matched without
 *   case; the call is all or nothing: one bad row refuses it with 400 `{message, errorcode, documentation,
 *   additionalErrors: [{message, errorcode}]}` (the shape of `additionalErrors` and the wording are not
 *   confirmed), otherwise 200 with the rows echoed. A body over 5 MB is refused (413 here; the status is not
 *   confirmed). Rows are upserted on the primary key; a column left out keeps its value (not confirmed).
 * - Row checks (data extension field types): an unknown column, a missing or empty primary key, a required column
 *   empty on insert, an EmailAddress that is not an address, a Number that is not a number, text over the field's
 *   length. The messages are ours.
 * - Throttling ("Rate limiting errors"): 429 with `Retry-After` and `{"message":"Rate limit exceeded",
 *   "errorcode":50100,…}`; scripted through the faults.
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (429, 5xx), tokens that expire, rows refused
 * with a given message, and latency on every call.
 */
import { randomBytes } from 'node:crypto';
import type { LocalExtra } from './environment.ts';
import {
  emulatorExtra,
  HttpError,
  readBody,
  type ScriptedFault,
  sendJson,
  serveLoopback,
  takeFault,
} from './http-emulator.ts';

/** A column of an emulated data extension. */
export interface EmulatedColumn {
  readonly name: string;
  /** @default 'Text' */
  readonly type?: 'Text' | 'EmailAddress' | 'Number' | 'Boolean';
  readonly maxLength?: number;
  readonly required?: boolean;
}

/** An emulated data extension. */
export interface EmulatedDataExtension {
  /** The external key. */
  readonly key: string;
  readonly columns: readonly EmulatedColumn[];
  readonly primaryKeys: readonly string[];
}

/** Options of {@link startMarketingCloudEmulator}. */
export interface MarketingCloudEmulatorOptions {
  readonly clients?: readonly { readonly clientId: string; readonly clientSecret: string }[];
  readonly dataExtensions?: readonly EmulatedDataExtension[];
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
}

/** A scripted answer to the next calls matching a method and path. */
export type MarketingCloudFault = ScriptedFault;

/** A running emulator. */
export interface MarketingCloudEmulator {
  readonly url: string;
  /** The rows of a data extension, keyed by their primary key values joined with `|`, columns as declared. */
  rows(key: string): ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** Calls received, in order (`METHOD path`), and the number of rows of each rowset call. */
  readonly calls: { readonly call: string; readonly rows?: number }[];
  fault(fault: MarketingCloudFault): void;
  /** Forgets the faults not yet used up. */
  clearFaults(): void;
  /** Every token issued so far stops working. */
  expireTokens(): void;
  /** A row whose primary key values joined with `|` are this is refused with this message. */
  refuseRow(primaryKey: string, message: string): void;
  close(): Promise<void>;
}

/** The installed package of the local Marketing Cloud emulator (a local stand-in, not a secret). */
export const LOCAL_MARKETING_CLOUD = {
  clientId: 'idx-local-installed-package',
  clientSecret: 'idx-local-installed-package-secret',
} as const;

/** The data extension the local emulator starts with: the one of the public Marketing Cloud template. */
export const LOCAL_DATA_EXTENSIONS: readonly EmulatedDataExtension[] = [
  {
    key: 'GigyaSubscribers',
    primaryKeys: ['GUID', 'EMAIL'],
    columns: [
      { name: 'GUID', maxLength: 50, required: true },
      { name: 'EMAIL', type: 'EmailAddress', maxLength: 254, required: true },
      { name: 'FNAME', maxLength: 100 },
      { name: 'LNAME', maxLength: 100 },
      { name: 'UNAME', maxLength: 100 },
    ],
  },
];

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_BODY = 5 * 1024 * 1024;

/** Starts the emulator on 127.0.0.1 on a free port. */
export async function startMarketingCloudEmulator(
  options: MarketingCloudEmulatorOptions = {},
): Promise<MarketingCloudEmulator> {
  const clients = options.clients ?? [LOCAL_MARKETING_CLOUD];
  const extensions = new Map((options.dataExtensions ?? LOCAL_DATA_EXTENSIONS).map((d) => [d.key.toLowerCase(), d]));
  const tables = new Map<string, Map<string, Record<string, string>>>(
    [...extensions.keys()].map((k) => [k, new Map()]),
  );
  const tokens = new Set<string>();
  const faults: MarketingCloudFault[] = [];
  const calls: { call: string; rows?: number }[] = [];
  const refusals = new Map<string, string>();
  let url = '';

  /** Checks one row; returns the reason it is refused, or the row's primary key and columns. */
  const checkRow = (
    de: EmulatedDataExtension,
    row: unknown,
    existing: Map<string, Record<string, string>>,
  ): string | { pk: string; values: Record<string, string> } => {
    const r = row as { keys?: Record<string, unknown>; values?: Record<string, unknown> };
    if (typeof r !== 'object' || r === null || typeof r.keys !== 'object' || r.keys === null)
      return 'A row must have keys.';
    const values: Record<string, string> = {};
    for (const [name, value] of [...Object.entries(r.keys), ...Object.entries(r.values ?? {})]) {
      const column = de.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
      if (!column) return `The column [${name}] does not exist in the data extension ${de.key}.`;
      const v = value === null || value === undefined ? '' : String(value);
      if (v !== '' && column.type === 'EmailAddress' && !EMAIL.test(v))
        return `The value for column [${column.name}] is not a valid email address: ${v}.`;
      if (v !== '' && column.type === 'Number' && !Number.isFinite(Number(v)))
        return `The value for column [${column.name}] is not a number: ${v}.`;
      if (column.maxLength !== undefined && v.length > column.maxLength)
        return `The value for column [${column.name}] is longer than ${column.maxLength} characters.`;
      values[column.name] = v;
    }
    const keyNames = Object.keys(r.keys).map((k) => k.toLowerCase());
    for (const pk of de.primaryKeys) {
      if (!keyNames.includes(pk.toLowerCase()) || (values[pk] ?? '') === '')
        return `The primary key column [${pk}] is missing or empty.`;
    }
    const pk = de.primaryKeys.map((k) => values[k] ?? '').join('|');
    const refused = refusals.get(pk);
    if (refused) return refused;
    if (!existing.has(pk)) {
      const missing = de.columns.find((c) => c.required && (values[c.name] ?? '') === '');
      if (missing) return `The column [${missing.name}] is required and has no value.`;
    }
    return { pk, values };
  };

  const handle = (method: string, path: string, body: Buffer, authorization: string | undefined) => {
    if (method === 'POST' && path === '/v2/token') {
      let request: Record<string, unknown> = {};
      try {
        request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new HttpError(400, { error: 'invalid_request', error_description: 'The body is not JSON.' });
      }
      if (request.grant_type !== 'client_credentials')
        throw new HttpError(400, { error: 'unsupported_grant_type', error_description: 'Use client_credentials.' });
      const client = clients.find((c) => c.clientId === request.client_id && c.clientSecret === request.client_secret);
      if (!client)
        throw new HttpError(401, { error: 'invalid_client', error_description: 'Invalid client ID or secret.' });
      const token = randomBytes(24).toString('base64url');
      tokens.add(token);
      return {
        status: 200,
        body: {
          access_token: token,
          token_type: 'Bearer',
          expires_in: 1079,
          scope: 'data_extensions_read data_extensions_write',
          soap_instance_url: `${url}/`,
          rest_instance_url: `${url}/`,
        },
      };
    }
    const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!bearer || !tokens.has(bearer))
      throw new HttpError(401, { documentation: '', errorcode: 0, message: 'Not Authorized' });
    const m = /^\/hub\/v1\/dataevents\/key:([^/]+)\/rowset$/.exec(path);
    if (!m || method !== 'POST')
      throw new HttpError(404, { message: 'Resource not found', errorcode: 404, documentation: '' });
    const de = extensions.get(decodeURIComponent(m[1] ?? '').toLowerCase());
    if (!de)
      throw new HttpError(404, {
        message: `Data extension with key ${decodeURIComponent(m[1] ?? '')} not found.`,
        errorcode: 10000,
        documentation: '',
      });
    if (body.length > MAX_BODY)
      throw new HttpError(413, { message: 'The request is larger than 5 MB.', errorcode: 10000, documentation: '' });
    let rows: unknown;
    try {
      rows = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, { message: 'The request body is not JSON.', errorcode: 10000, documentation: '' });
    }
    if (!Array.isArray(rows))
      throw new HttpError(400, { message: 'The body must be an array of rows.', errorcode: 10000, documentation: '' });
    const table = tables.get(de.key.toLowerCase()) as Map<string, Record<string, string>>;
    const checked = rows.map((row) => checkRow(de, row, table));
    const refused = checked.filter((c): c is string => typeof c === 'string');
    calls[calls.length - 1] = { call: `${method} ${path}`, rows: rows.length };
    if (refused.length) {
      throw new HttpError(400, {
        message: `Unable to save rows for data extension ${de.key}`,
        errorcode: 10006,
        documentation: '',
        additionalErrors: refused.map((message) => ({ message, errorcode: 10000, documentation: '' })),
      });
    }
    for (const c of checked) {
      if (typeof c === 'string') continue;
      table.set(c.pk, { ...(table.get(c.pk) ?? {}), ...c.values });
    }
    return { status: 200, body: rows };
  };

  const server = await serveLoopback(async (req, res) => {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = await readBody(req);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    calls.push({ call: `${method} ${path}` });
    const fault = takeFault(faults, method, path);
    if (fault) return sendJson(res, fault.status, fault.body ?? {}, { ...fault.headers });
    try {
      const answer = handle(method, path, body, req.headers.authorization);
      return sendJson(res, answer.status, answer.body);
    } catch (error) {
      if (error instanceof HttpError) return sendJson(res, error.status, error.body);
      return sendJson(res, 500, { message: (error as Error).message, errorcode: 0, documentation: '' });
    }
  });
  url = server.url;
  return {
    url,
    rows: (key) => tables.get(key.toLowerCase()) ?? new Map(),
    calls,
    fault: (f) => {
      faults.push({ ...f });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    expireTokens: () => tokens.clear(),
    refuseRow: (pk, message) => {
      refusals.set(pk, message);
    },
    close: () => server.close(),
  };
}

/**
 * The emulator as a stand-in of the local environment (in memory). Marketing Cloud steps whose `authBaseUrl` is
 * empty use it, with the package {@link LOCAL_MARKETING_CLOUD} and the data extensions {@link LOCAL_DATA_EXTENSIONS}.
 */
export function marketingCloudExtra(options: MarketingCloudEmulatorOptions = {}): LocalExtra {
  return emulatorExtra(
    'marketingCloud',
    () => startMarketingCloudEmulator(options),
    (url) => `${url} (Marketing Cloud emulator, package ${LOCAL_MARKETING_CLOUD.clientId})`,
  );
}
