/**
 * The Eloqua emulator: an HTTP server on 127.0.0.1 answering the subset of Oracle Eloqua's login service and
 * Bulk API 2.0 that `datasource.write.eloqua` and `datasource.read.eloqua` use, written from Oracle's public
 * documentation (facts gathered in apis.md §B and §C.2). Where each behaviour comes from:
 *
 * - Login origin, `GET /id` (Oracle, "Determining base URLs"): Basic `<company>\<user>:<password>` or a Bearer
 *   token; answers `site`, `user` and `urls.base`. The base is `<origin>/pod1`, another URL than the login origin,
 *   so a client that skips discovery fails; `movePod()` changes it (old base: 401), as a pod move does.
 * - `POST /auth/oauth2/token` (Oracle, "Authenticate using OAuth 2.0"): client id and secret as Basic
 *   credentials, JSON body with `grant_type` `refresh_token` (or `password`); answers `access_token`,
 *   `refresh_token`, `token_type: "bearer"`, `expires_in` 28800 (8 hours, as Oracle documents it).
 * - `GET /contacts/fields` (Bulk API "Fields metadata"): the catalogue, paged, with `q="name=…*"`.
 * - `POST /contacts/imports` (Bulk API import reference, "Import characteristics", "Update rule types", bulk
 *   limits): at most 100 fields, each `{{Contact.Field(<internal name>)}}` of a known field;
 *   `identifierFieldName` a key of `fields`; `updateRule` always | ifNewIsNotNull | ifExistingIsNull |
 *   useFieldRule (default always; useFieldRule is applied as always here: per-field rules are not emulated);
 *   `isSyncTriggeredOnImport` (default true, as the characteristics page says); at most 10 `syncActions` (add,
 *   remove on `{{ContactList[id]}}`; setStatus subscribed | unsubscribed on `{{GlobalSubscribe}}` or
 *   `{{EmailGroup[id]}}`). A refusal is 400 `{failures: [{field, value, constraint}]}`; success 201 with the body
 *   echoed, `uri`, timestamps and defaults (`dataRetentionDuration` P7D).
 * - `POST <import>/data` (data POST reference, bulk limits): a JSON array or CSV; a body over `maxPostBytes`
 *   (32 MB, Oracle: "404") answers 404; the 501st POST before a sync answers 400; 204, or 201 with a new sync
 *   when `isSyncTriggeredOnImport`.
 * - `POST /syncs`, `GET /syncs/{id}` (sync reference, "Sync status types"): an unknown definition is 400; a
 *   definition already in an active sync is 409 (not confirmed: Oracle only says not to do it). A sync is
 *   `pending`, then `active`, then `success`, `warning` (rows rejected) or `error`, one step per poll
 *   (`pollsToComplete`). The rows staged for an import are applied when it ends, and unstaged.
 * - Applying an import (import reference, "Eloqua status codes"): contacts are matched on the identifier's field
 *   (the email address case-insensitively); new contacts need a valid email address, which is unique among
 *   contacts. Rejected rows: an empty identifier or, for a new contact, no email (ELQ-00061), an invalid email
 *   (ELQ-00002), an email another contact has (ELQ-00011). The wording of the messages is ours (not confirmed).
 *   `C_DateModified` moves when a value changes (not confirmed: Oracle may move it on any write).
 * - `GET <sync>/logs` (logs reference, status codes): ELQ-00001 processed, ELQ-00004 created, ELQ-00022 updated,
 *   ELQ-00060 rejected, ELQ-00101 the final status; `GET <sync>/rejects`: `{recordIndex, statusCode, message,
 *   invalidFields, fieldValues}`, `recordIndex` counting the sync's staged rows from 1 (not confirmed whether
 *   Oracle counts from 0 or 1), `limit` ≤ 1000.
 * - `POST /contacts/exports` (export reference, "Filtering", bulk limits): at most 250 fields, the filter of
 *   eloqua-filter.ts, `maxRecords`, `areSystemTimestampsInUTC`; `GET <sync>/data` (sync data reference):
 *   `limit` 1–50000, `offset`, `{count, hasMore, items, limit, offset, totalResults}`, values as strings, empty
 *   fields as ""; an import sync's data is 400; before the sync ends, 404 (not confirmed: Oracle does not say).
 *   Dates are `yyyy-MM-dd HH:mm:ss.SSS` in UTC (not confirmed: the exact format Oracle writes).
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (429 with `Retry-After`, 5xx), tokens that
 * expire at once, a sync that fails server-side with a message, and latency on every call.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { LOCAL_ELOQUA } from '../scripts/util/eloqua-step.ts';
import { type Filter, FilterError, parseFilter } from './eloqua-filter.ts';

/** A contact of the emulator. */
export interface EmulatedContact {
  readonly id: number;
  /** Field values by internal name (`C_EmailAddress`, `C_Gigya_UID1`). */
  readonly fields: Record<string, string>;
  isSubscribed: boolean;
  isBounced: boolean;
  createdAt: number;
  updatedAt: number;
  readonly lists: number[];
}

/** Options of {@link startEloquaEmulator}. */
export interface EloquaEmulatorOptions {
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** Custom contact fields besides the standard ones. @default ['C_Gigya_UID1', 'C_Subscribed1'] */
  readonly customFields?: readonly string[];
  /** Polls of `GET /syncs/{id}` until a sync ends (the first turns it `active`). @default 2 */
  readonly pollsToComplete?: number;
  /** The largest data POST; Eloqua's is 32 MB. @default 32 MiB */
  readonly maxPostBytes?: number;
  /** Folder where contacts are kept between runs; absent: memory only. */
  readonly dataDir?: string;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A scripted HTTP failure. */
interface Failure {
  remaining: number;
  readonly status: number;
  readonly route: RegExp;
  readonly retryAfter?: number;
  readonly message: string;
}

/** Fault injection. */
export interface EloquaFaults {
  /** The next `times` requests whose `METHOD path` (below the base) matches `route` answer `status`. */
  failNext(route: RegExp, status: number, times?: number, options?: { retryAfter?: number; message?: string }): void;
  /** Every access token issued so far stops working (as an expired one does). */
  expireTokens(): void;
  /** The next sync created ends with status `error` and this message in its log, applying nothing. */
  failNextSync(message: string): void;
  /** Every request waits this long before it is answered. */
  latency(ms: number): void;
  clear(): void;
}

/** A running emulator. */
export interface EloquaEmulator {
  /** The login origin (`/id`, `/auth/oauth2/token`). */
  readonly url: string;
  /** The instance's base URL as `/id` gives it. */
  readonly base: () => string;
  readonly contacts: ReadonlyMap<number, EmulatedContact>;
  /** The contact whose field `field` holds `value` (the email case-insensitively). */
  find(field: string, value: string): EmulatedContact | undefined;
  /** Adds or changes a contact directly, as a user of Eloqua's UI would (C_DateModified moves). */
  put(fields: Record<string, string>, flags?: { isSubscribed?: boolean; isBounced?: boolean }): EmulatedContact;
  /** `METHOD path` of every Bulk API request, in order. */
  readonly calls: string[];
  /** Access tokens issued by the token endpoint. */
  readonly tokensIssued: () => number;
  readonly faults: EloquaFaults;
  /** Moves the instance to another pod: `/id` answers a new base; the old one answers 401. */
  movePod(): void;
  /** Deletes every contact (a fresh instance for the next case of a test). */
  reset(): void;
  close(): Promise<void>;
}

const STANDARD_FIELDS = [
  'C_EmailAddress',
  'C_FirstName',
  'C_LastName',
  'C_Company',
  'C_Country',
  'C_City',
  'C_BusPhone',
  'C_EmailDisplayName',
  'ContactIDExt',
  'C_DateCreated',
  'C_DateModified',
] as const;

/** System statements a contact export may name. */
const SYSTEM_STATEMENTS = [
  '{{Contact.Id}}',
  '{{Contact.CreatedAt}}',
  '{{Contact.UpdatedAt}}',
  '{{Contact.Email.IsSubscribed}}',
  '{{Contact.Email.IsBounced}}',
] as const;

const FIELD_STATEMENT = /^\{\{Contact\.Field\(([A-Za-z0-9_]+)\)\}\}$/;
/** A simple email check: something@something.tld, no spaces (Eloqua's own rule is not published). */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UPDATE_RULES = ['always', 'ifNewIsNotNull', 'ifExistingIsNull', 'useFieldRule'] as const;

/** A timestamp as the emulator writes dates: `yyyy-MM-dd HH:mm:ss.SSS`, UTC. */
export function eloquaDate(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

interface Definition {
  readonly kind: 'import' | 'export';
  readonly id: number;
  readonly uri: string;
  readonly body: Record<string, unknown>;
  readonly fields: Record<string, string>;
  readonly filter?: Filter;
  staged: Record<string, string>[];
  posts: number;
  activeSync?: number;
}

interface SyncState {
  readonly id: number;
  readonly uri: string;
  readonly definition: Definition;
  readonly createdAt: number;
  polls: number;
  status: 'pending' | 'active' | 'success' | 'warning' | 'error';
  readonly failWith?: string;
  rows: Record<string, string>[];
  logs: Record<string, unknown>[];
  rejects: Record<string, unknown>[];
  data?: Record<string, string>[];
  endedAt?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

const failure = (field: string, value: unknown, constraint: string) =>
  new HttpError(400, { failures: [{ field, value: value === undefined ? '' : String(value), constraint }] });

/** A minimal CSV reader for data POSTs (header row; double-quoted cells with "" escapes). */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries((header ?? []).map((h, i) => [h, r[i] ?? ''])));
}

/** Starts the emulator on 127.0.0.1. */
export async function startEloquaEmulator(options: EloquaEmulatorOptions = {}): Promise<EloquaEmulator> {
  const now = options.now ?? Date.now;
  const known = new Set<string>([...STANDARD_FIELDS, ...(options.customFields ?? ['C_Gigya_UID1', 'C_Subscribed1'])]);
  const contacts = new Map<number, EmulatedContact>();
  /** Field → lower-cased value → contact id, for the fields matched on so far. */
  const indexes = new Map<string, Map<string, number>>();
  const definitions = new Map<string, Definition>();
  const syncs = new Map<number, SyncState>();
  const tokens = new Set<string>();
  const failures: Failure[] = [];
  let failSync: string | undefined;
  let latencyMs = 0;
  let nextContact = 1;
  let nextDefinition = 1;
  let nextSync = 1;
  let issued = 0;
  let pod = 1;
  let origin = '';
  const calls: string[] = [];
  const pollsToComplete = Math.max(1, options.pollsToComplete ?? 2);
  const maxPostBytes = options.maxPostBytes ?? 32 * 1024 * 1024;
  const stateFile = options.dataDir ? join(options.dataDir, 'contacts.json') : undefined;

  if (stateFile) {
    try {
      const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as EmulatedContact[];
      for (const c of saved) {
        contacts.set(c.id, c);
        nextContact = Math.max(nextContact, c.id + 1);
      }
    } catch {
      // No state yet.
    }
  }
  const save = () => {
    if (stateFile) writeFileSync(stateFile, JSON.stringify([...contacts.values()]));
  };

  const key = (value: string) => value.trim().toLowerCase();
  const index = (field: string): Map<string, number> => {
    let map = indexes.get(field);
    if (!map) {
      map = new Map();
      for (const c of contacts.values()) {
        const v = c.fields[field];
        if (v) map.set(key(v), c.id);
      }
      indexes.set(field, map);
    }
    return map;
  };
  const setField = (c: EmulatedContact, field: string, value: string) => {
    const old = c.fields[field];
    const map = indexes.get(field);
    if (map && old) map.delete(key(old));
    c.fields[field] = value;
    if (map && value) map.set(key(value), c.id);
  };
  const find = (field: string, value: string) => {
    const id = index(field).get(key(value));
    return id === undefined ? undefined : contacts.get(id);
  };
  const create = (at: number): EmulatedContact => {
    const c: EmulatedContact = {
      id: nextContact++,
      fields: {},
      isSubscribed: true,
      isBounced: false,
      createdAt: at,
      updatedAt: at,
      lists: [],
    };
    contacts.set(c.id, c);
    return c;
  };
  const statementValue = (c: EmulatedContact, statement: string): string => {
    const field = FIELD_STATEMENT.exec(statement)?.[1];
    if (field === 'C_DateModified') return eloquaDate(c.updatedAt);
    if (field === 'C_DateCreated') return eloquaDate(c.createdAt);
    if (field) return c.fields[field] ?? '';
    switch (statement) {
      case '{{Contact.Id}}':
        return String(c.id);
      case '{{Contact.CreatedAt}}':
        return eloquaDate(c.createdAt);
      case '{{Contact.UpdatedAt}}':
        return eloquaDate(c.updatedAt);
      case '{{Contact.Email.IsSubscribed}}':
        return c.isSubscribed ? 'True' : 'False';
      case '{{Contact.Email.IsBounced}}':
        return c.isBounced ? 'True' : 'False';
      default:
        return '';
    }
  };
  const knownStatement = (statement: string, exporting: boolean) => {
    const field = FIELD_STATEMENT.exec(statement)?.[1];
    if (field) return known.has(field) && (exporting || !field.startsWith('C_Date'));
    return exporting && (SYSTEM_STATEMENTS as readonly string[]).includes(statement);
  };

  /** Applies an import sync's staged rows to the contacts; returns the rejects and counts. */
  const applyImport = (sync: SyncState) => {
    const def = sync.definition;
    const body = def.body as {
      identifierFieldName: string;
      updateRule?: string;
      syncActions?: { action: string; destination: string; status?: string }[];
    };
    const idColumn = body.identifierFieldName;
    const idField = FIELD_STATEMENT.exec(def.fields[idColumn] ?? '')?.[1] as string;
    const emailColumn = Object.keys(def.fields).find((k) => def.fields[k] === '{{Contact.Field(C_EmailAddress)}}');
    const rule = body.updateRule ?? 'always';
    let created = 0;
    let updated = 0;
    const counts = new Map<string, number>();
    const at = now();
    for (const [i, row] of sync.rows.entries()) {
      const reject = (statusCode: string, message: string, invalid: string[]) => {
        sync.rejects.push({ recordIndex: i + 1, statusCode, message, invalidFields: invalid, fieldValues: row });
        counts.set(statusCode, (counts.get(statusCode) ?? 0) + 1);
      };
      const idValue = (row[idColumn] ?? '').trim();
      if (!idValue) {
        reject('ELQ-00061', `The identifier field ${idColumn} has no value.`, [idColumn]);
        continue;
      }
      const email = emailColumn === undefined ? undefined : (row[emailColumn] ?? '').trim();
      if (email && !EMAIL.test(email)) {
        reject('ELQ-00002', `Invalid email address: ${email}.`, [emailColumn as string]);
        continue;
      }
      let contact = find(idField, idValue);
      if (!contact && !email) {
        reject('ELQ-00061', 'A new contact needs an email address.', [emailColumn ?? 'C_EmailAddress']);
        continue;
      }
      if (email) {
        const owner = find('C_EmailAddress', email);
        if (owner && owner !== contact) {
          reject('ELQ-00011', `The email address ${email} belongs to another contact.`, [emailColumn as string]);
          continue;
        }
      }
      const isNew = !contact;
      contact ??= create(at);
      let changed = isNew;
      for (const [column, statement] of Object.entries(def.fields)) {
        const field = FIELD_STATEMENT.exec(statement)?.[1] as string;
        const value = row[column] ?? '';
        const old = contact.fields[field] ?? '';
        const write =
          isNew ||
          rule === 'always' ||
          rule === 'useFieldRule' ||
          (rule === 'ifNewIsNotNull' && value !== '') ||
          (rule === 'ifExistingIsNull' && old === '');
        if (write && value !== old) {
          setField(contact, field, value);
          changed = true;
        }
      }
      for (const action of body.syncActions ?? []) {
        if (action.action === 'setStatus' && action.destination === '{{GlobalSubscribe}}') {
          const subscribed = action.status === 'subscribed';
          if (contact.isSubscribed !== subscribed) {
            contact.isSubscribed = subscribed;
            changed = true;
          }
        }
        const list = /^\{\{ContactList\[(\d+)\]\}\}$/.exec(action.destination)?.[1];
        if (list !== undefined) {
          const at2 = contact.lists.indexOf(Number(list));
          if (action.action === 'add' && at2 < 0) contact.lists.push(Number(list));
          if (action.action === 'remove' && at2 >= 0) contact.lists.splice(at2, 1);
        }
      }
      if (changed) contact.updatedAt = at;
      if (isNew) created++;
      else updated++;
    }
    const rejected = sync.rejects.length;
    const log = (statusCode: string, count: number, message: string, severity = 'information') =>
      sync.logs.push({
        count,
        severity,
        statusCode,
        message,
        createdAt: new Date(at).toISOString(),
        syncUri: sync.uri,
      });
    log('ELQ-00001', sync.rows.length, `Total records processed.`);
    log('ELQ-00004', created, 'Contacts created.');
    log('ELQ-00022', updated, 'Contacts updated.');
    for (const [code, count] of counts) log(code, count, `Records rejected with ${code}.`, 'warning');
    if (rejected) log('ELQ-00060', rejected, 'Total records rejected.', 'warning');
    return rejected;
  };

  const finish = (sync: SyncState) => {
    const def = sync.definition;
    const at = now();
    if (sync.failWith) {
      sync.status = 'error';
      sync.logs.push({
        count: 0,
        severity: 'error',
        statusCode: 'ELQ-00107',
        message: sync.failWith,
        createdAt: new Date(at).toISOString(),
        syncUri: sync.uri,
      });
    } else if (def.kind === 'import') {
      sync.status = applyImport(sync) > 0 ? 'warning' : 'success';
      sync.rows = [];
      save();
    } else {
      const max = Number((def.body as { maxRecords?: unknown }).maxRecords ?? Number.POSITIVE_INFINITY);
      const items: Record<string, string>[] = [];
      for (const c of contacts.values()) {
        if (items.length >= max) break;
        if (
          def.filter &&
          !def.filter(
            (s) => statementValue(c, s),
            (l) => c.lists.includes(l),
          )
        )
          continue;
        items.push(Object.fromEntries(Object.entries(def.fields).map(([k, s]) => [k, statementValue(c, s)])));
      }
      sync.data = items;
      sync.status = 'success';
      sync.logs.push({
        count: items.length,
        severity: 'information',
        statusCode: 'ELQ-00001',
        message: 'Total records processed.',
        createdAt: new Date(at).toISOString(),
        syncUri: sync.uri,
      });
    }
    sync.logs.push({
      count: 0,
      severity: 'information',
      statusCode: 'ELQ-00101',
      message: `Sync processed for sync ${sync.id}, resulting in ${sync.status[0]?.toUpperCase()}${sync.status.slice(1)} status.`,
      createdAt: new Date(at).toISOString(),
      syncUri: sync.uri,
    });
    sync.endedAt = at;
    def.activeSync = undefined;
  };

  const startSync = (def: Definition): SyncState => {
    if (def.activeSync !== undefined) {
      throw new HttpError(409, { failures: [{ field: 'syncedInstanceUri', constraint: 'Is already syncing' }] });
    }
    const id = nextSync++;
    const sync: SyncState = {
      id,
      uri: `/syncs/${id}`,
      definition: def,
      createdAt: now(),
      polls: 0,
      status: 'pending',
      ...(failSync === undefined ? {} : { failWith: failSync }),
      rows: def.staged,
      logs: [],
      rejects: [],
    };
    failSync = undefined;
    def.staged = [];
    def.posts = 0;
    def.activeSync = id;
    syncs.set(id, sync);
    return sync;
  };

  const syncView = (s: SyncState) => ({
    syncedInstanceUri: s.definition.uri,
    status: s.status,
    createdAt: new Date(s.createdAt).toISOString(),
    createdBy: LOCAL_ELOQUA.username,
    uri: s.uri,
    ...(s.polls > 0 && s.status !== 'pending' ? { syncStartedAt: new Date(s.createdAt).toISOString() } : {}),
    ...(s.endedAt === undefined ? {} : { syncEndedAt: new Date(s.endedAt).toISOString() }),
  });

  const page = <T>(items: readonly T[], url: URL, max: number) => {
    const limit = Number(url.searchParams.get('limit') ?? 1000);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > max)
      throw failure('limit', limit, `Must be between 1 and ${max}`);
    if (!Number.isInteger(offset) || offset < 0) throw failure('offset', offset, 'Must be 0 or more');
    const slice = items.slice(offset, offset + limit);
    return {
      count: slice.length,
      hasMore: offset + limit < items.length,
      items: slice,
      limit,
      offset,
      totalResults: items.length,
    };
  };

  const defineImport = (body: Record<string, unknown>): Definition => {
    const fields = (body.fields ?? {}) as Record<string, string>;
    const name = body.name;
    if (typeof name !== 'string' || name === '' || name.length > 100)
      throw failure('name', name, 'Must be between 1 and 100 characters');
    const keys = Object.keys(fields);
    if (keys.length === 0 || keys.length > 100) throw failure('fields', keys.length, 'Must have 1 to 100 fields');
    for (const k of keys)
      if (typeof fields[k] !== 'string' || !knownStatement(fields[k] as string, false))
        throw failure(`fields.${k}`, fields[k], 'Must be a valid contact field statement');
    if (typeof body.identifierFieldName !== 'string' || !keys.includes(body.identifierFieldName))
      throw failure('identifierFieldName', body.identifierFieldName, 'Must be one of the keys of fields');
    if (body.updateRule !== undefined && !(UPDATE_RULES as readonly unknown[]).includes(body.updateRule))
      throw failure('updateRule', body.updateRule, `Must be one of ${UPDATE_RULES.join(', ')}`);
    const actions = (body.syncActions ?? []) as { action?: unknown; destination?: unknown; status?: unknown }[];
    if (!Array.isArray(actions) || actions.length > 10) throw failure('syncActions', '', 'At most 10 sync actions');
    for (const a of actions) {
      const dest = String(a.destination ?? '');
      const ok =
        ((a.action === 'add' || a.action === 'remove') && /^\{\{ContactList\[\d+\]\}\}$/.test(dest)) ||
        (a.action === 'setStatus' &&
          /^\{\{(GlobalSubscribe|EmailGroup\[\d+\])\}\}$/.test(dest) &&
          (a.status === 'subscribed' || a.status === 'unsubscribed'));
      if (!ok) throw failure('syncActions', dest, 'Must be a valid sync action');
    }
    const id = nextDefinition++;
    const echoed = {
      updateRule: 'always',
      isSyncTriggeredOnImport: true,
      dataRetentionDuration: 'P7D',
      isUpdatingMultipleMatchedRecords: false,
      ...body,
      uri: `/contacts/imports/${id}`,
      createdAt: new Date(now()).toISOString(),
      createdBy: LOCAL_ELOQUA.username,
      updatedAt: new Date(now()).toISOString(),
      updatedBy: LOCAL_ELOQUA.username,
    };
    return { kind: 'import', id, uri: echoed.uri, body: echoed, fields, staged: [], posts: 0 };
  };

  const defineExport = (body: Record<string, unknown>): Definition => {
    const fields = (body.fields ?? {}) as Record<string, string>;
    const name = body.name;
    if (typeof name !== 'string' || name === '' || name.length > 100)
      throw failure('name', name, 'Must be between 1 and 100 characters');
    const keys = Object.keys(fields);
    if (keys.length === 0 || keys.length > 250) throw failure('fields', keys.length, 'Must have 1 to 250 fields');
    for (const k of keys)
      if (typeof fields[k] !== 'string' || !knownStatement(fields[k] as string, true))
        throw failure(`fields.${k}`, fields[k], 'Must be a valid contact field statement');
    let filter: Filter | undefined;
    if (body.filter !== undefined && body.filter !== '') {
      try {
        filter = parseFilter(String(body.filter), (s) => knownStatement(s, true));
      } catch (error) {
        if (error instanceof FilterError) throw failure('filter', body.filter, error.message);
        throw error;
      }
    }
    const id = nextDefinition++;
    const echoed = {
      dataRetentionDuration: 'PT12H',
      ...body,
      uri: `/contacts/exports/${id}`,
      createdAt: new Date(now()).toISOString(),
      createdBy: LOCAL_ELOQUA.username,
    };
    return {
      kind: 'export',
      id,
      uri: echoed.uri,
      body: echoed,
      fields,
      ...(filter ? { filter } : {}),
      staged: [],
      posts: 0,
    };
  };

  const readBody = async (req: IncomingMessage, limit: number): Promise<Buffer | undefined> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        req.resume();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  };

  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer (.+)$/.exec(header)?.[1];
    if (bearer) return tokens.has(bearer);
    const basic = /^Basic (.+)$/.exec(header)?.[1];
    if (!basic) return false;
    const text = Buffer.from(basic, 'base64').toString('utf8');
    return text === `${LOCAL_ELOQUA.company}\\${LOCAL_ELOQUA.username}:${LOCAL_ELOQUA.password}`;
  };

  const issue = () => {
    const token = randomBytes(24).toString('base64url');
    tokens.add(token);
    issued++;
    return {
      access_token: token,
      token_type: 'bearer',
      expires_in: 28800,
      refresh_token: LOCAL_ELOQUA.refreshToken,
    };
  };

  const bulk = async (req: IncomingMessage, path: string, url: URL): Promise<[number, unknown]> => {
    const method = req.method ?? 'GET';
    const json = async () => {
      const raw = await readBody(req, 1024 * 1024);
      try {
        return JSON.parse(raw?.toString('utf8') ?? '') as Record<string, unknown>;
      } catch {
        throw new HttpError(400, { failures: [{ field: 'body', constraint: 'Must be a JSON object' }] });
      }
    };
    if (method === 'GET' && path === '/contacts/fields') {
      const q = /name=([^"*]*)\*?/.exec(url.searchParams.get('q') ?? '')?.[1];
      const items = [...known]
        .filter((f) => q === undefined || f.startsWith(q))
        .map((f) => ({
          name: f,
          internalName: f,
          dataType: f === 'C_EmailAddress' ? 'emailAddress' : f.startsWith('C_Date') ? 'date' : 'string',
          statement: `{{Contact.Field(${f})}}`,
          hasUniquenessConstraint: f === 'C_EmailAddress',
        }));
      return [200, page(items, url, 1000)];
    }
    if (method === 'POST' && path === '/contacts/imports') {
      const def = defineImport(await json());
      definitions.set(def.uri, def);
      return [201, def.body];
    }
    if (method === 'POST' && path === '/contacts/exports') {
      const def = defineExport(await json());
      definitions.set(def.uri, def);
      return [201, def.body];
    }
    const data = /^(\/contacts\/imports\/\d+)\/data$/.exec(path)?.[1];
    if (method === 'POST' && data !== undefined) {
      const def = definitions.get(data);
      if (!def) throw new HttpError(404, 'Not found');
      const raw = await readBody(req, maxPostBytes);
      // Oracle: a data POST over 32 MB answers 404.
      if (!raw) throw new HttpError(404, 'Request too large');
      if (def.posts >= 500)
        throw new HttpError(400, { failures: [{ field: 'data', constraint: 'At most 500 data files per sync' }] });
      let rows: Record<string, string>[];
      const text = raw.toString('utf8');
      if ((req.headers['content-type'] ?? '').includes('text/csv')) rows = parseCsv(text);
      else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new HttpError(400, { failures: [{ field: 'data', constraint: 'Must be a JSON array or CSV' }] });
        }
        if (!Array.isArray(parsed))
          throw new HttpError(400, { failures: [{ field: 'data', constraint: 'Must be a JSON array' }] });
        rows = parsed.map((r) =>
          Object.fromEntries(
            Object.entries((r ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v == null ? '' : String(v)]),
          ),
        );
      }
      def.staged.push(...rows);
      def.posts++;
      if ((def.body as { isSyncTriggeredOnImport?: boolean }).isSyncTriggeredOnImport !== false)
        return [201, syncView(startSync(def))];
      return [204, undefined];
    }
    if (method === 'POST' && path === '/syncs') {
      const body = await json();
      const def = definitions.get(String(body.syncedInstanceUri ?? ''));
      if (!def) throw failure('syncedInstanceUri', body.syncedInstanceUri, 'Must be the uri of a definition');
      return [201, syncView(startSync(def))];
    }
    const syncMatch = /^\/syncs\/(\d+)(\/(logs|rejects|data))?$/.exec(path);
    if (method === 'GET' && syncMatch) {
      const sync = syncs.get(Number(syncMatch[1]));
      if (!sync) throw new HttpError(404, 'Not found');
      const sub = syncMatch[3];
      if (sub === undefined) {
        sync.polls++;
        if (sync.status === 'pending' || sync.status === 'active') {
          if (sync.polls >= pollsToComplete) finish(sync);
          else sync.status = 'active';
        }
        return [200, syncView(sync)];
      }
      if (sub === 'logs') return [200, page(sync.logs, url, 1000)];
      if (sub === 'rejects') return [200, page(sync.rejects, url, 1000)];
      if (sync.definition.kind === 'import')
        throw new HttpError(400, { failures: [{ field: 'sync', constraint: 'Data exists only for export syncs' }] });
      if (!sync.data) throw new HttpError(404, 'The sync has not ended');
      return [200, page(sync.data, url, 50_000)];
    }
    throw new HttpError(404, 'Not found');
  };

  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (body === undefined) res.writeHead(status, headers).end();
      else if (typeof body === 'string') res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
      else res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    void (async () => {
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      if (path === '/auth/oauth2/token' && method === 'POST') {
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const client = basic ? Buffer.from(basic, 'base64').toString('utf8') : '';
        const raw = await readBody(req, 64 * 1024);
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw?.toString('utf8') ?? '{}') as Record<string, unknown>;
        } catch {
          return reply(400, { error: 'invalid_request' });
        }
        if (client !== `${LOCAL_ELOQUA.clientId}:${LOCAL_ELOQUA.clientSecret}`)
          return reply(401, { error: 'invalid_client' });
        const ok =
          (body.grant_type === 'refresh_token' && body.refresh_token === LOCAL_ELOQUA.refreshToken) ||
          (body.grant_type === 'password' &&
            body.username === `${LOCAL_ELOQUA.company}\\${LOCAL_ELOQUA.username}` &&
            body.password === LOCAL_ELOQUA.password);
        if (!ok) return reply(400, { error: 'invalid_grant' });
        return reply(200, issue());
      }
      if (path === '/id' && method === 'GET') {
        if (!authorized(req)) return reply(401, 'Not authenticated.');
        return reply(200, {
          site: { id: 1, name: LOCAL_ELOQUA.company },
          user: { id: 1, username: LOCAL_ELOQUA.username, displayName: 'identity-sync local' },
          urls: {
            base: `${origin}/pod${pod}`,
            apis: { rest: { bulk: `${origin}/pod${pod}/api/bulk/{version}/` } },
          },
        });
      }
      const prefix = `/pod${pod}/api/bulk/2.0`;
      if (!path.startsWith(prefix)) {
        return /^\/pod\d+\//.test(path) ? reply(401, 'Not authenticated.') : reply(404, 'Not found');
      }
      const below = path.slice(prefix.length);
      calls.push(`${method} ${below}`);
      const fault = failures.find((f) => f.remaining > 0 && f.route.test(`${method} ${below}`));
      if (fault) {
        fault.remaining--;
        req.resume();
        return reply(
          fault.status,
          fault.message,
          fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) },
        );
      }
      if (!authorized(req)) {
        req.resume();
        return reply(401, 'Not authenticated.');
      }
      try {
        const [status, body] = await bulk(req, below, url);
        reply(status, body);
      } catch (error) {
        if (error instanceof HttpError) reply(error.status, error.body);
        else reply(500, 'There was an internal server error.');
      }
    })().catch(() => {
      if (!res.headersSent) reply(500, 'There was an internal server error.');
    });
  });
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: origin,
    base: () => `${origin}/pod${pod}`,
    contacts,
    find,
    put(fields, flags = {}) {
      const at = now();
      const email = fields.C_EmailAddress;
      const contact = (email ? find('C_EmailAddress', email) : undefined) ?? create(at);
      for (const [k, v] of Object.entries(fields)) setField(contact, k, v);
      if (flags.isSubscribed !== undefined) contact.isSubscribed = flags.isSubscribed;
      if (flags.isBounced !== undefined) contact.isBounced = flags.isBounced;
      contact.updatedAt = at;
      return contact;
    },
    calls,
    tokensIssued: () => issued,
    faults: {
      failNext(route, status, times = 1, extra = {}) {
        failures.push({
          remaining: times,
          status,
          route,
          ...(extra.retryAfter === undefined ? {} : { retryAfter: extra.retryAfter }),
          message:
            extra.message ?? (status === 429 ? 'Too Many Requests' : 'There was a timeout processing the request.'),
        });
      },
      expireTokens: () => tokens.clear(),
      failNextSync(message) {
        failSync = message;
      },
      latency(ms) {
        latencyMs = ms;
      },
      clear() {
        failures.length = 0;
        failSync = undefined;
        latencyMs = 0;
      },
    },
    movePod() {
      pod++;
    },
    reset() {
      contacts.clear();
      indexes.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        save();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
