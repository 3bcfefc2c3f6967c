/**
 * The Constant Contact emulator: an HTTP server on 127.0.0.1 answering the subset of the Constant Contact V3 API
 * that `datasource.write.constantcontact` uses, written from Constant Contact's public V3 developer documentation
 * (facts gathered in platforms.md §8; documents listed in docs/marketing-platforms.md). Paths are served under
 * `/v3` on the emulator's origin, which stands for `https://api.cc.email`.
 *
 * - Auth ("Authentication overview", OAuth2 access tokens): `Authorization: Bearer <access token>`. A token that is
 *   unknown or expired is 401 `[{error_key: "unauthorized", error_message: "Unauthorized"}]` (the exact wording is
 *   not confirmed). Access tokens are refreshed by the client application; the emulator has no token endpoint.
 * - Errors: a JSON array of `{error_key, error_message}` (V3 API reference, error responses).
 * - `POST /v3/activities/contacts_json_import` ("Import Contacts"): `{import_data: [...], list_ids: [...]}`; at
 *   most 40,000 contacts and a payload under 4 MB (400 above, the error key is not confirmed), at least one and at
 *   most 50 list ids; each contact needs `email`; existing contacts (by address) are updated, only the properties
 *   given change; custom fields come as `cf:<name>` and must exist in the account (an unknown one is a
 *   per-contact error here: not confirmed). Answers 201 `{activity_id, state: "initialized", _links}`.
 * - `GET /v3/activities/{activity_id}` ("Get the Status of a Bulk Activity"): `{activity_id, state, percent_done,
 *   activity_errors: [{message, line_number, email}], status: {items_total_count, items_completed_count}}`. The
 *   import is processed on the first status call after it was created (state `processing` on that call, then
 *   `completed`), so a client must poll. `line_number` counts `import_data` from 1 (not confirmed).
 * - Throttling ("Technical overview", rate limits): 4 requests a second per key; the emulator answers 429
 *   `too_many_requests` only when a fault is scripted.
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (401, 429 with Retry-After, 5xx), addresses
 * refused with a given message (a partial failure), and the next import activity ending `failed` with a message.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CC_CONTACT_PROPERTIES, CC_MAX_IMPORT, CC_MAX_PAYLOAD_BYTES } from '../connectors/constant-contact.ts';
import type { LocalExtra } from './environment.ts';

/** A contact of the emulated account. */
export interface EmulatedContact {
  readonly email_address: string;
  /** Standard properties (`first_name`, …). */
  properties: Record<string, string>;
  /** Custom field values by name. */
  custom_fields: Record<string, string>;
  list_memberships: string[];
}

/** Options of {@link startConstantContactEmulator}. */
export interface ConstantContactEmulatorOptions {
  /** Access tokens accepted. @default [LOCAL_CONSTANT_CONTACT.accessToken] */
  readonly accessTokens?: readonly string[];
  /** List ids of the account. @default [LOCAL_CONSTANT_CONTACT.listId] */
  readonly lists?: readonly string[];
  /** Custom field names of the account. @default ['custom_field_1'] */
  readonly customFields?: readonly string[];
}

/** A scripted answer to the next calls matching a method and path. */
export interface ConstantContactFault {
  readonly method?: string;
  readonly path: RegExp;
  readonly status: number;
  readonly errorKey?: string;
  readonly message?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 1 */
  times?: number;
}

/** A running emulator. */
export interface ConstantContactEmulator {
  /** The origin; the API is under `<url>/v3`. */
  readonly url: string;
  /** The account's contacts by lower-cased address. */
  readonly contacts: Map<string, EmulatedContact>;
  /** Calls received, in order (`METHOD path`). */
  readonly calls: string[];
  /** Contacts received in import calls so far, refused ones included. */
  readonly sent: number;
  fault(fault: ConstantContactFault): void;
  clearFaults(): void;
  /** An imported contact with this address gets this per-contact error. */
  refuseEmail(email: string, message: string): void;
  /** The next import activity ends `failed` with this message and imports nothing. */
  failNextActivity(message: string): void;
  close(): Promise<void>;
}

/** The token and list of the local Constant Contact emulator (a local stand-in, not a secret). */
export const LOCAL_CONSTANT_CONTACT = {
  accessToken: 'idxlocal0constantcontact0token',
  listId: '0f3a1c1e-0000-4000-8000-1d0c0a1c0001',
} as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_BODY = CC_MAX_PAYLOAD_BYTES;
const MAX_CONTACTS = CC_MAX_IMPORT;

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly key: string,
    readonly text: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(text);
  }
}

interface PendingActivity {
  state: string;
  readonly contacts: { email?: unknown; [k: string]: unknown }[];
  readonly lists: string[];
  readonly failure?: string;
  errors: { message: string; line_number?: number; email?: string }[];
  completed: number;
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size >= MAX_BODY) throw new Refusal(413, 'payload_too_large', 'The request payload must be under 4 MB.');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Refusal(400, 'malformed_json', 'The request body is not valid JSON.');
  }
}

/** Starts the emulator on 127.0.0.1 and a free port. */
export async function startConstantContactEmulator(
  options: ConstantContactEmulatorOptions = {},
): Promise<ConstantContactEmulator> {
  const tokens = new Set(options.accessTokens ?? [LOCAL_CONSTANT_CONTACT.accessToken]);
  const lists = new Set(options.lists ?? [LOCAL_CONSTANT_CONTACT.listId]);
  const customFields = new Set(options.customFields ?? ['custom_field_1']);
  const contacts = new Map<string, EmulatedContact>();
  const activities = new Map<string, PendingActivity>();
  const faults: ConstantContactFault[] = [];
  const refused = new Map<string, string>();
  const calls: string[] = [];
  let failNext: string | undefined;
  let sent = 0;

  const startImport = (body: unknown) => {
    const b = body as { import_data?: unknown; list_ids?: unknown };
    if (!Array.isArray(b.import_data) || b.import_data.length === 0)
      throw new Refusal(400, 'import_data.required', 'import_data must be an array of at least one contact.');
    if (b.import_data.length > MAX_CONTACTS)
      throw new Refusal(400, 'import_data.too_many', `At most ${MAX_CONTACTS} contacts can be imported at a time.`);
    if (!Array.isArray(b.list_ids) || b.list_ids.length === 0 || b.list_ids.length > 50)
      throw new Refusal(400, 'list_ids.invalid', 'list_ids must name 1 to 50 contact lists.');
    for (const id of b.list_ids)
      if (!lists.has(String(id)))
        throw new Refusal(404, 'list.not_found', `The contact list ${String(id)} does not exist.`);
    sent += b.import_data.length;
    const id = randomUUID();
    const failure = failNext;
    failNext = undefined;
    activities.set(id, {
      state: 'initialized',
      contacts: b.import_data as PendingActivity['contacts'],
      lists: b.list_ids.map(String),
      ...(failure === undefined ? {} : { failure }),
      errors: [],
      completed: 0,
    });
    return { activity_id: id, state: 'initialized', _links: { self: { href: `/v3/activities/${id}` } } };
  };

  /** Processes an import: each contact is created or updated, or gets a per-contact error. */
  const process = (a: PendingActivity) => {
    if (a.failure !== undefined) {
      a.state = 'failed';
      a.errors = [{ message: a.failure }];
      return;
    }
    for (const [i, raw] of a.contacts.entries()) {
      const line_number = i + 1;
      const email = typeof raw.email === 'string' ? raw.email.trim() : '';
      const fail = (message: string) => {
        a.errors.push({ message, line_number, email });
      };
      const refusal = refused.get(email.toLowerCase());
      if (refusal !== undefined) {
        fail(refusal);
        continue;
      }
      if (!EMAIL.test(email)) {
        fail(`The email address "${email}" is invalid.`);
        continue;
      }
      const properties: Record<string, string> = {};
      const custom: Record<string, string> = {};
      let refusedField: string | undefined;
      for (const [key, value] of Object.entries(raw)) {
        if (key === 'email') continue;
        if (key.startsWith('cf:') && customFields.has(key.slice(3))) custom[key.slice(3)] = String(value);
        else if (CC_CONTACT_PROPERTIES.has(key)) properties[key] = String(value);
        else
          refusedField ??= key.startsWith('cf:')
            ? `The custom field ${key.slice(3)} does not exist.`
            : `The contact property ${key} is not supported.`;
      }
      if (refusedField !== undefined) {
        fail(refusedField);
        continue;
      }
      const existing = contacts.get(email.toLowerCase());
      if (existing) {
        Object.assign(existing.properties, properties);
        Object.assign(existing.custom_fields, custom);
        for (const l of a.lists) if (!existing.list_memberships.includes(l)) existing.list_memberships.push(l);
      } else
        contacts.set(email.toLowerCase(), {
          email_address: email,
          properties,
          custom_fields: custom,
          list_memberships: [...a.lists],
        });
      a.completed++;
    }
    a.state = 'completed';
  };

  const status = (id: string) => {
    const a = activities.get(id);
    if (!a) throw new Refusal(404, 'activity.not_found', `The activity ${id} does not exist.`);
    if (a.state === 'initialized') a.state = 'processing';
    else if (a.state === 'processing') process(a);
    const done = a.state === 'completed' || a.state === 'failed';
    return {
      activity_id: id,
      state: a.state,
      percent_done: done ? 100 : 0,
      activity_errors: a.errors,
      status: { items_total_count: a.contacts.length, items_completed_count: a.completed },
    };
  };

  const answer = (res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(code, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    calls.push(`${method} ${url.pathname}`);
    const fault = faults.find((f) => (!f.method || f.method === method) && f.path.test(url.pathname));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      const key = fault.errorKey ?? (fault.status === 429 ? 'too_many_requests' : 'server_error');
      throw new Refusal(fault.status, key, fault.message ?? 'An internal error occurred.', fault.headers);
    }
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !tokens.has(token)) throw new Refusal(401, 'unauthorized', 'Unauthorized');
    if (url.pathname === '/v3/activities/contacts_json_import' && method === 'POST')
      return answer(res, 201, startImport(await bodyOf(req)));
    const activity = /^\/v3\/activities\/([^/]+)$/.exec(url.pathname);
    if (activity && method === 'GET') return answer(res, 200, status(decodeURIComponent(activity[1] ?? '')));
    throw new Refusal(404, 'not_found', 'The requested resource was not found.');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const r = error instanceof Refusal ? error : new Refusal(500, 'server_error', String(error));
      answer(res, r.status, [{ error_key: r.key, error_message: r.text }], r.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    contacts,
    calls,
    get sent() {
      return sent;
    },
    fault: (fault) => {
      faults.push(fault);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    refuseEmail: (email, message) => {
      refused.set(email.toLowerCase(), message);
    },
    failNextActivity: (message) => {
      failNext = message;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Constant Contact emulator as a stand-in of local mode, with the list of the local account. */
export function constantContactExtra(options: ConstantContactEmulatorOptions = {}): LocalExtra {
  const start: LocalExtra = async () => {
    const emu = await startConstantContactEmulator(options);
    return {
      endpoints: { constantContact: `${emu.url}/v3` },
      close: () => emu.close(),
      info: {
        constantContact: `${emu.url}/v3 (Constant Contact emulator, list ${LOCAL_CONSTANT_CONTACT.listId})`,
      },
    };
  };
  return Object.assign(start, { provides: ['constantContact'] as const });
}
