/**
 * The Salesforce emulator: an HTTP server on 127.0.0.1 answering the subset of Salesforce's login services and
 * Bulk API 2.0 ingest jobs that `datasource.write.salesforce` uses, written from Salesforce's public
 * documentation (facts gathered in platforms.md §2; the documents are listed in docs/salesforce.md). Where each
 * behaviour comes from:
 *
 * - `POST /services/Soap/u/<version>` (SOAP API Developer Guide, `login()`; Bulk API quick start "Step 2: log
 *   in"): a partner-WSDL envelope with `username` and `password` (the password followed by the security token).
 *   Answers `loginResponse/result` with `serverUrl` (`<origin>/services/Soap/u/<version>/<orgId>`), `sessionId`,
 *   `userId`, `passwordExpired`, `sandbox`. Bad credentials: HTTP 500 with a SOAP fault `sf:INVALID_LOGIN` (the
 *   exact faultstring is not confirmed). Versions from 65.0 answer `UNSUPPORTED_API_VERSION`, since SOAP login is
 *   not offered there (the SOAP end-of-life page).
 * - `POST /services/oauth2/token` (OAuth 2.0 username-password flow and client-credentials flow help pages): form
 *   body; `grant_type=password` (client id and secret, username, password + token) or `client_credentials`;
 *   answers `access_token`, `instance_url`, `id`, `token_type: "Bearer"`, `issued_at`, `signature`. Bad
 *   credentials: 400 `invalid_grant` "authentication failure"; an unknown client: 400 `invalid_client_id`
 *   (the second is not confirmed). `blockUsernamePassword` answers the password grant as an org created after
 *   Summer '23 does by default (400 `invalid_grant`, wording not confirmed).
 * - Every `/services/data/v<version>/…` call needs `Authorization: Bearer <session>`; an unknown or expired one is
 *   401 `[{"errorCode":"INVALID_SESSION_ID","message":"Session expired or invalid"}]` (REST API status codes).
 * - `POST /jobs/ingest` (Bulk API 2.0 "Create a Job"): `object` an sObject of the org (names compared without
 *   case, as the API does), `operation` upsert (insert and update too), `externalIdFieldName` required for upsert
 *   and one of the object's external id fields, `contentType` CSV, `columnDelimiter` COMMA, `lineEnding` LF;
 *   answers 200 with the job info, `state: "Open"`, `contentUrl`. Refusals are 400 `[{errorCode, message}]`
 *   (`INVALIDJOB`, `NOT_FOUND`, `INVALIDENTITY`: codes partly not confirmed).
 * - `PUT /jobs/ingest/<id>/batches` ("Upload Job Data"): CSV, 201 with no body; only while the job is Open. One
 *   upload per job: a second is refused (`INVALIDJOBSTATE`); Salesforce's docs describe one upload request of at
 *   most 150 MB base64 and do not say whether a second appends, so the client never sends one.
 * - `PATCH /jobs/ingest/<id>` ("Close or Abort a Job"): `{"state":"UploadComplete"}` or `{"state":"Aborted"}`.
 * - `GET /jobs/ingest/<id>` ("Get Job Info", "Job States"): `UploadComplete`, then `InProgress` (the rows are
 *   applied), then `JobComplete`, one step per poll after `pollsToComplete`; `numberRecordsProcessed`,
 *   `numberRecordsFailed`, `errorMessage`.
 * - CSV ("Prepare CSV Files", "Valid Date Format"): RFC 4180 quoting with double quotes, the header row names
 *   fields by API name, an empty cell leaves the field as it is and `#N/A` clears it. A header with a field the
 *   object does not have fails the whole job ("InvalidBatch : Field name not found : X"; wording not confirmed).
 * - Upsert ("Upsert Records" walkthrough, "Get Job Successful/Failed/Unprocessed Record Results"): a row whose
 *   external id matches a record updates it (`sf__Created` false), otherwise a record is created (`sf__Created`
 *   true, a new 18-character id). `successfulResults/`: `sf__Id`, `sf__Created`, then the row's columns;
 *   `failedResults/`: `sf__Id`, `sf__Error` (`CODE:message`), then the row's columns; `unprocessedrecords/`: the
 *   row's columns. Row failures: `REQUIRED_FIELD_MISSING` (a required field empty on create),
 *   `INVALID_EMAIL_ADDRESS`, `STRING_TOO_LONG`, `MISSING_ARGUMENT` (no external id value), `DUPLICATE_EXTERNAL_ID`
 *   (the same external id twice in one job). The codes are Salesforce's StatusCode names; the message wording
 *   is ours (not confirmed).
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (429, 403 `REQUEST_LIMIT_EXCEEDED`, 5xx),
 * sessions that expire, a job that ends `Failed` with a message (all its rows then unprocessed), rows refused with
 * a given reason, and latency on every call.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { parse } from 'csv-parse/sync';
import { csvLine } from '../connectors/csv-cells.ts';
import type { LocalExtra } from './environment.ts';
import { emulatorExtra, HttpError, readBody, type ScriptedFault, serveLoopback, takeFault } from './http-emulator.ts';

/** An sObject type of the emulated org. */
export interface EmulatedObjectSpec {
  /** The API name (`Account`, `Contact`, `Gigya_Profile__c`). */
  readonly name: string;
  /** Fields marked External ID. Without it, any custom field (`…__c`) may serve as one. */
  readonly externalIds?: readonly string[];
  /** The object's fields: a column not among them fails the job. Without it, any column is accepted. */
  readonly fields?: readonly string[];
  /** Fields a new record must have. */
  readonly required?: readonly string[];
  /** Fields of type Email. */
  readonly emails?: readonly string[];
  /** Maximum lengths of text fields. */
  readonly maxLength?: Readonly<Record<string, number>>;
}

/** A user of the emulated org. */
export interface EmulatedSalesforceUser {
  readonly username: string;
  readonly password: string;
  readonly securityToken: string;
}

/** A connected app (OAuth client) of the emulated org. */
export interface EmulatedSalesforceClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Options of {@link startSalesforceEmulator}. */
export interface SalesforceEmulatorOptions {
  readonly users?: readonly EmulatedSalesforceUser[];
  readonly clients?: readonly EmulatedSalesforceClient[];
  /** @default Account, Contact and Lead with open schemas */
  readonly objects?: readonly EmulatedObjectSpec[];
  /** Polls of a closed job answered UploadComplete before it moves on. @default 1 */
  readonly pollsToComplete?: number;
  /** The OAuth username-password flow is blocked, as in orgs created from Summer '23. */
  readonly blockUsernamePassword?: boolean;
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
}

/** A record of the emulated org. */
export interface EmulatedSObject {
  readonly Id: string;
  readonly fields: Record<string, string | null>;
}

/** A scripted answer; its path is matched against the path after `/services/data/v<version>` (or the login path). */
export type SalesforceFault = ScriptedFault;

/** A running emulator. */
export interface SalesforceEmulator {
  readonly url: string;
  /** The records of an object by Id (the object name compared without case). */
  records(object: string): ReadonlyMap<string, EmulatedSObject>;
  /** The record whose `field` is `value`. */
  find(object: string, field: string, value: string): EmulatedSObject | undefined;
  /** Calls received, in order (`METHOD path`). */
  readonly calls: string[];
  /** Ingest jobs created, in order, with their state and counters. */
  readonly jobs: readonly { readonly id: string; readonly state: string; readonly rows: number }[];
  /** Scripts answers of the next matching calls. */
  fault(fault: SalesforceFault): void;
  /** Every session issued so far stops working (as when the session timeout passes). */
  expireSessions(): void;
  /** The next job closed ends `Failed` with this message, none of its rows applied. */
  failNextJob(message: string): void;
  /** Rows whose external id has this value are refused with `CODE:message`. */
  refuseRow(externalId: string, error: string): void;
  /** Adds a record as if it had been created in Salesforce. */
  insert(object: string, fields: Readonly<Record<string, string>>): EmulatedSObject;
  /** Removes every record, job and scripted fault. */
  clear(): void;
  close(): Promise<void>;
}

/** The login of the local Salesforce emulator (a local stand-in, not a secret). */
export const LOCAL_SALESFORCE = {
  username: 'idx@identity-sync.local',
  password: 'idx',
  securityToken: 'idxlocaltoken',
  clientId: 'idx-local-connected-app',
  clientSecret: 'idx-local-connected-app-secret',
} as const;

const DEFAULT_OBJECTS: readonly EmulatedObjectSpec[] = [{ name: 'Account' }, { name: 'Contact' }, { name: 'Lead' }];

/** Key prefixes of the standard objects' ids (custom objects get `a00`). */
const ID_PREFIX: Readonly<Record<string, string>> = { account: '001', contact: '003', lead: '00Q' };

const ORG_ID = '00D000000000001AAA';

interface Job {
  readonly id: string;
  readonly object: EmulatedObjectSpec;
  readonly operation: string;
  readonly externalIdFieldName: string;
  state: string;
  csv?: string;
  polls: number;
  failWith?: string;
  processed: number;
  failed: number;
  errorMessage?: string;
  successful: string[][];
  failedRows: string[][];
  unprocessed: string[][];
  header: string[];
  readonly createdDate: string;
}

const refuse = (status: number, errorCode: string, message: string) => new HttpError(status, [{ errorCode, message }]);

function soapText(body: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[A-Za-z0-9]+:)?${name}>([^<]*)</`).exec(body);
  return m?.[1]
    ?.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Starts the emulator on 127.0.0.1 on a free port. */
export async function startSalesforceEmulator(options: SalesforceEmulatorOptions = {}): Promise<SalesforceEmulator> {
  const users = options.users ?? [LOCAL_SALESFORCE];
  const clients = options.clients ?? [LOCAL_SALESFORCE];
  const specs = new Map((options.objects ?? DEFAULT_OBJECTS).map((o) => [o.name.toLowerCase(), o]));
  const tables = new Map<string, Map<string, EmulatedSObject>>([...specs.keys()].map((k) => [k, new Map()]));
  const sessions = new Set<string>();
  const jobs = new Map<string, Job>();
  const jobList: Job[] = [];
  const faults: SalesforceFault[] = [];
  const calls: string[] = [];
  const refusals = new Map<string, string>();
  let failNext: string | undefined;
  let serial = 0;
  let url = '';

  const newId = (prefix: string) => `${prefix}${String(++serial).padStart(12, '0')}AAA`;
  const table = (object: string) => tables.get(object.toLowerCase()) ?? new Map<string, EmulatedSObject>();
  const isExternalId = (spec: EmulatedObjectSpec, field: string) =>
    spec.externalIds
      ? spec.externalIds.some((f) => f.toLowerCase() === field.toLowerCase())
      : field.toLowerCase().endsWith('__c');
  const hasField = (spec: EmulatedObjectSpec, field: string) =>
    !spec.fields ||
    field.toLowerCase() === 'id' ||
    [...spec.fields, ...(spec.externalIds ?? [])].some((f) => f.toLowerCase() === field.toLowerCase());

  const find = (object: string, field: string, value: string) => {
    for (const r of table(object).values()) if (r.fields[field] === value) return r;
    return undefined;
  };

  const newSession = () => {
    const token = `${ORG_ID}!${randomBytes(24).toString('base64url')}`;
    sessions.add(token);
    return token;
  };

  /** Applies a closed job's rows: upsert by the external id, per-row failures with Salesforce's codes. */
  const process = (job: Job) => {
    const rows = parse(job.csv ?? '', { relax_quotes: false, skip_empty_lines: true }) as string[][];
    const header = rows.shift() ?? [];
    job.header = header;
    if (job.failWith !== undefined) {
      job.state = 'Failed';
      job.errorMessage = job.failWith;
      job.unprocessed = rows;
      return;
    }
    const unknown = header.find((h) => !hasField(job.object, h));
    if (unknown !== undefined || !header.some((h) => h.toLowerCase() === job.externalIdFieldName.toLowerCase())) {
      job.state = 'Failed';
      job.errorMessage =
        unknown !== undefined
          ? `InvalidBatch : Field name not found : ${unknown}`
          : `InvalidBatch : The External ID field ${job.externalIdFieldName} is not in the header row`;
      job.unprocessed = rows;
      return;
    }
    const key = header.findIndex((h) => h.toLowerCase() === job.externalIdFieldName.toLowerCase());
    const seen = new Set<string>();
    const records = table(job.object.name);
    for (const row of rows) {
      job.processed++;
      const fail = (error: string) => {
        job.failed++;
        job.failedRows.push(['', error, ...row]);
      };
      const id = row[key] ?? '';
      if (id === '') {
        fail(`MISSING_ARGUMENT:${job.externalIdFieldName} not specified:--`);
        continue;
      }
      if (seen.has(id)) {
        fail(`DUPLICATE_EXTERNAL_ID:${job.externalIdFieldName}: the value ${id} is in more than one row of the job:--`);
        continue;
      }
      seen.add(id);
      const refused = refusals.get(id);
      if (refused) {
        fail(refused);
        continue;
      }
      const existing = find(job.object.name, job.externalIdFieldName, id);
      const values: Record<string, string | null> = {};
      let problem: string | undefined;
      header.forEach((h, i) => {
        const v = row[i] ?? '';
        // An empty cell leaves the field as it is; #N/A clears it.
        if (v === '') return;
        const value = v === '#N/A' ? null : v;
        if (value !== null && job.object.emails?.includes(h) && !EMAIL.test(value))
          problem ??= `INVALID_EMAIL_ADDRESS:${h}: invalid email address: ${value}:${h} --`;
        const max = job.object.maxLength?.[h];
        if (value !== null && max !== undefined && value.length > max)
          problem ??= `STRING_TOO_LONG:${h}: data value too large: ${value.slice(0, 40)} (max length=${max}):${h} --`;
        values[h] = value;
      });
      if (!existing) {
        const missing = (job.object.required ?? []).filter((f) => values[f] === undefined || values[f] === null);
        if (missing.length)
          problem ??= `REQUIRED_FIELD_MISSING:Required fields are missing: [${missing.join(', ')}]:${missing.join(' ')} --`;
      }
      if (problem) {
        fail(problem);
        continue;
      }
      if (existing) {
        Object.assign(existing.fields, values, { SystemModstamp: new Date().toISOString() });
        job.successful.push([existing.Id, 'false', ...row]);
      } else {
        const record = {
          Id: newId(ID_PREFIX[job.object.name.toLowerCase()] ?? 'a00'),
          fields: { ...values, SystemModstamp: new Date().toISOString() },
        };
        records.set(record.Id, record);
        job.successful.push([record.Id, 'true', ...row]);
      }
    }
    job.state = 'JobComplete';
  };

  const info = (job: Job) => ({
    id: job.id,
    operation: job.operation,
    object: job.object.name,
    createdById: '005000000000001AAA',
    createdDate: job.createdDate,
    systemModstamp: new Date().toISOString(),
    state: job.state,
    externalIdFieldName: job.externalIdFieldName,
    concurrencyMode: 'Parallel',
    contentType: 'CSV',
    apiVersion: 64.0,
    jobType: 'V2Ingest',
    contentUrl: `services/data/v64.0/jobs/ingest/${job.id}/batches`,
    lineEnding: 'LF',
    columnDelimiter: 'COMMA',
    numberRecordsProcessed: job.processed,
    numberRecordsFailed: job.failed,
    retries: 0,
    totalProcessingTime: 0,
    ...(job.errorMessage === undefined ? {} : { errorMessage: job.errorMessage }),
  });

  const login = (body: string, path: string): { status: number; type: string; text: string } => {
    const version = /\/Soap\/u\/([^/]+)/.exec(path)?.[1] ?? '';
    const username = soapText(body, 'username') ?? '';
    const password = soapText(body, 'password') ?? '';
    const fault = (code: string, message: string) => ({
      status: 500,
      type: 'text/xml',
      text: `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault><faultcode>sf:${code}</faultcode><faultstring>${code}: ${message}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
    });
    if (!/^\d+\.\d$/.test(version) || Number(version) >= 65)
      return fault('UNSUPPORTED_API_VERSION', `SOAP login() is not available in API version ${version}`);
    const user = users.find((u) => u.username === username && u.password + u.securityToken === password);
    if (!user) return fault('INVALID_LOGIN', 'Invalid username, password, security token; or user locked out.');
    const session = newSession();
    return {
      status: 200,
      type: 'text/xml',
      text: `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result><metadataServerUrl>${url}/services/Soap/m/${version}/${ORG_ID}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox><serverUrl>${url}/services/Soap/u/${version}/${ORG_ID}</serverUrl><sessionId>${session}</sessionId><userId>005000000000001AAA</userId></result></loginResponse></soapenv:Body></soapenv:Envelope>`,
    };
  };

  const token = (body: string): { status: number; body: unknown } => {
    const form = new URLSearchParams(body);
    const grant = form.get('grant_type');
    const client = clients.find(
      (c) => c.clientId === form.get('client_id') && c.clientSecret === form.get('client_secret'),
    );
    if (grant !== 'password' && grant !== 'client_credentials')
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant type not supported' } };
    if (!client)
      return { status: 400, body: { error: 'invalid_client_id', error_description: 'client identifier invalid' } };
    if (grant === 'password') {
      if (options.blockUsernamePassword)
        return { status: 400, body: { error: 'invalid_grant', error_description: 'authentication failure' } };
      const user = users.find(
        (u) => u.username === form.get('username') && u.password + u.securityToken === form.get('password'),
      );
      if (!user) return { status: 400, body: { error: 'invalid_grant', error_description: 'authentication failure' } };
    }
    return {
      status: 200,
      body: {
        access_token: newSession(),
        instance_url: url,
        id: `${url}/id/${ORG_ID}/005000000000001AAA`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
        signature: randomBytes(32).toString('base64'),
      },
    };
  };

  const api = (method: string, path: string, body: string): { status: number; body?: unknown; csv?: string } => {
    if (method === 'POST' && path === '/jobs/ingest') {
      let request: Record<string, unknown>;
      try {
        request = JSON.parse(body) as Record<string, unknown>;
      } catch {
        throw refuse(400, 'JSON_PARSER_ERROR', 'The request body is not JSON');
      }
      const spec = specs.get(String(request.object ?? '').toLowerCase());
      if (!spec) throw refuse(400, 'INVALIDENTITY', `sObject type '${String(request.object)}' is not supported.`);
      const operation = String(request.operation ?? '');
      if (!['insert', 'update', 'upsert'].includes(operation))
        throw refuse(400, 'INVALIDJOB', `InvalidJob : Invalid operation: ${operation}`);
      const external = String(request.externalIdFieldName ?? (operation === 'upsert' ? '' : 'Id'));
      if (operation === 'upsert' && !isExternalId(spec, external))
        throw refuse(
          400,
          'INVALIDJOB',
          `InvalidJob : Field name provided, ${external} does not match an External ID, Salesforce Id, or indexed field for ${spec.name}`,
        );
      if ((request.contentType ?? 'CSV') !== 'CSV' || !['COMMA', undefined].includes(request.columnDelimiter as never))
        throw refuse(400, 'INVALIDJOB', 'InvalidJob : only CSV with COMMA is emulated');
      if (!['LF', undefined].includes(request.lineEnding as never))
        throw refuse(400, 'INVALIDJOB', 'InvalidJob : only LF line endings are emulated');
      const job: Job = {
        id: newId('750'),
        object: spec,
        operation,
        externalIdFieldName: external,
        state: 'Open',
        polls: 0,
        processed: 0,
        failed: 0,
        successful: [],
        failedRows: [],
        unprocessed: [],
        header: [],
        createdDate: new Date().toISOString(),
      };
      jobs.set(job.id, job);
      jobList.push(job);
      return { status: 200, body: info(job) };
    }
    const m = /^\/jobs\/ingest\/([^/]+)(\/batches|\/(successfulResults|failedResults|unprocessedrecords)\/?)?$/.exec(
      path,
    );
    const job = m ? jobs.get(decodeURIComponent(m[1] ?? '')) : undefined;
    if (!m || !job) throw refuse(404, 'NOT_FOUND', 'The requested resource does not exist');
    if (m[2] === '/batches' && method === 'PUT') {
      if (job.state !== 'Open' || job.csv !== undefined)
        throw refuse(400, 'INVALIDJOBSTATE', `Job ${job.id} is not open for data (state ${job.state})`);
      if (body.includes('\r\n'))
        throw refuse(400, 'INVALIDJOB', 'InvalidBatch : the job says LF but the data has CRLF');
      job.csv = body;
      return { status: 201 };
    }
    if (!m[2] && method === 'PATCH') {
      const state = (JSON.parse(body) as { state?: string }).state;
      if (state === 'Aborted' && !['JobComplete', 'Failed'].includes(job.state)) {
        job.state = 'Aborted';
        return { status: 200, body: info(job) };
      }
      if (state !== 'UploadComplete' || job.state !== 'Open')
        throw refuse(400, 'INVALIDJOBSTATE', `Job ${job.id} cannot move from ${job.state} to ${String(state)}`);
      job.state = 'UploadComplete';
      if (failNext !== undefined) {
        job.failWith = failNext;
        failNext = undefined;
      }
      return { status: 200, body: info(job) };
    }
    if (!m[2] && method === 'GET') {
      if (job.state === 'UploadComplete' && ++job.polls > (options.pollsToComplete ?? 1)) job.state = 'InProgress';
      else if (job.state === 'InProgress') process(job);
      return { status: 200, body: info(job) };
    }
    if (m[3] && method === 'GET') {
      if (!['JobComplete', 'Failed', 'Aborted'].includes(job.state))
        throw refuse(400, 'INVALIDJOBSTATE', `Job ${job.id} has not ended (state ${job.state})`);
      const set = m[3];
      const head =
        set === 'successfulResults'
          ? ['sf__Id', 'sf__Created', ...job.header]
          : set === 'failedResults'
            ? ['sf__Id', 'sf__Error', ...job.header]
            : job.header;
      const rows =
        set === 'successfulResults' ? job.successful : set === 'failedResults' ? job.failedRows : job.unprocessed;
      return { status: 200, csv: [head, ...rows].map((r) => `${csvLine(r)}\n`).join('') };
    }
    throw refuse(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`);
  };

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    text: string,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': type, ...headers });
    res.end(text);
  };

  const server = await serveLoopback(async (req, res) => {
    const method = req.method ?? 'GET';
    const full = new URL(req.url ?? '/', 'http://x').pathname;
    const body = (await readBody(req)).toString('utf8');
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const data = /^\/services\/data\/v(\d+\.\d)(\/.*)$/.exec(full);
    const path = data?.[2] ?? full;
    calls.push(`${method} ${path}`);
    const fault = takeFault(faults, method, path);
    if (fault)
      return send(res, fault.status, 'application/json', JSON.stringify(fault.body ?? []), { ...fault.headers });
    try {
      if (method === 'POST' && /^\/services\/Soap\/u\//.test(full)) {
        const answer = login(body, full);
        return send(res, answer.status, answer.type, answer.text);
      }
      if (method === 'POST' && full === '/services/oauth2/token') {
        const answer = token(body);
        return send(res, answer.status, 'application/json', JSON.stringify(answer.body));
      }
      if (!data) throw refuse(404, 'NOT_FOUND', 'The requested resource does not exist');
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !sessions.has(bearer)) throw refuse(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
      const answer = api(method, path, body);
      if (answer.csv !== undefined) return send(res, answer.status, 'text/csv', answer.csv);
      if (answer.body === undefined) {
        res.writeHead(answer.status);
        res.end();
        return;
      }
      return send(res, answer.status, 'application/json', JSON.stringify(answer.body));
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, 'application/json', JSON.stringify(error.body));
      const message = (error as Error).message;
      return send(res, 500, 'application/json', JSON.stringify([{ errorCode: 'UNKNOWN_EXCEPTION', message }]));
    }
  });
  url = server.url;
  return {
    url,
    records: (object) => table(object),
    find,
    calls,
    get jobs() {
      return jobList.map((j) => ({ id: j.id, state: j.state, rows: j.processed }));
    },
    fault: (f) => {
      faults.push({ ...f });
    },
    expireSessions: () => sessions.clear(),
    failNextJob: (message) => {
      failNext = message;
    },
    refuseRow: (externalId, error) => {
      refusals.set(externalId, error);
    },
    insert: (object, fields) => {
      const record = { Id: newId(ID_PREFIX[object.toLowerCase()] ?? 'a00'), fields: { ...fields } };
      tables.get(object.toLowerCase())?.set(record.Id, record);
      return record;
    },
    clear: () => {
      for (const t of tables.values()) t.clear();
      jobs.clear();
      jobList.length = 0;
      faults.length = 0;
      calls.length = 0;
      refusals.clear();
    },
    close: () => server.close(),
  };
}

/**
 * The emulator as a stand-in of the local environment (in memory: its records last as long as the local
 * services). Salesforce steps whose `authEndpoint` is a shared login host use it, with {@link LOCAL_SALESFORCE}.
 */
export function salesforceExtra(options: SalesforceEmulatorOptions = {}): LocalExtra {
  return emulatorExtra(
    'salesforce',
    () => startSalesforceEmulator(options),
    (url) => `${url} (Salesforce emulator, user ${LOCAL_SALESFORCE.username})`,
  );
}
