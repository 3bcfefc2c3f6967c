/**
 * The Mailchimp emulator: an HTTP server on 127.0.0.1 answering the subset of the Mailchimp Marketing API 3.0
 * that `datasource.read.mailchimp` and `datasource.write.mailchimp` use, written from Mailchimp's public
 * documentation (facts gathered in platforms.md §5; documents listed in docs/marketing-platforms.md). Paths are
 * served under `/3.0` on the emulator's origin, which stands for `https://<dc>.api.mailchimp.com`.
 *
 * - Auth ("Marketing API conventions", authentication): HTTP Basic, any user name, the API key as password. An
 *   unknown key is 401 `API Key Invalid`. A key whose `-<dc>` suffix is not the emulator's data center is 403
 *   (the status and the title `Wrong Datacenter` are not confirmed).
 * - Errors: `application/problem+json` `{type, title, status, detail, instance}` (conventions, errors).
 * - `GET /3.0/lists/{list_id}/members` ("List members: list members info"): `count` (default 10, at most 1000,
 *   more is 400 here; the exact answer to more is not confirmed), `offset`, `status`, `since_last_changed`
 *   (inclusive here: not confirmed), `before_last_changed` (exclusive here: not confirmed), `sort_field`
 *   `last_changed` with `sort_dir` `ASC`/`DESC`; answers `{members, list_id, total_items}`.
 * - `POST /3.0/lists/{list_id}` ("Batch subscribe or unsubscribe"): at most 500 members (400 above),
 *   `update_existing`; answers `{new_members, updated_members, errors: [{email_address, error, error_code}],
 *   total_created, total_updated, error_count}`. Members are keyed by md5 of the lower-cased address. Per-member
 *   checks: an address that is not name@domain.tld (message as Mailchimp words it for fake addresses), a status
 *   outside Mailchimp's list, a required merge field missing on a new member. An existing member without
 *   `update_existing` is `ERROR_CONTACT_EXISTS`. Unknown merge tags are ignored (not confirmed). `last_changed`
 *   moves on every change.
 * - Throttling (conventions, limits): at most 10 simultaneous connections per user; the 11th is 429
 *   `Too Many Requests`.
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (429 with Retry-After, 5xx), addresses refused
 * with a given message and code (a partial batch failure), and latency on every call.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalExtra } from './environment.ts';

/** A member of an emulated list. */
export interface EmulatedMember {
  readonly id: string;
  readonly email_address: string;
  status: string;
  merge_fields: Record<string, string>;
  /** ISO-8601 with `+00:00`, seconds precision, as Mailchimp writes it. */
  last_changed: string;
}

/** An emulated list (audience). */
export interface EmulatedList {
  readonly id: string;
  /** Merge tags of the list (EMAIL is implicit); `required` ones must be given for a new member. */
  readonly mergeFields: readonly { readonly tag: string; readonly required?: boolean }[];
}

/** Options of {@link startMailchimpEmulator}. */
export interface MailchimpEmulatorOptions {
  /** API keys accepted; each ends in `-<dataCenter>`. @default [LOCAL_MAILCHIMP.apiKey] */
  readonly apiKeys?: readonly string[];
  /** @default 'us1' */
  readonly dataCenter?: string;
  /** @default the list of the public templates */
  readonly lists?: readonly EmulatedList[];
  /** Members to start with, by list id. */
  readonly members?: Readonly<Record<string, readonly Omit<EmulatedMember, 'id'>[]>>;
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
  /** Simultaneous calls allowed before 429. @default 10 */
  readonly maxConnections?: number;
}

/** A scripted answer to the next calls matching a method and path. */
export interface MailchimpFault {
  readonly method?: string;
  readonly path: RegExp;
  readonly status: number;
  readonly title?: string;
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 1 */
  times?: number;
}

/** A running emulator. */
export interface MailchimpEmulator {
  /** The origin; the API is under `<url>/3.0`. */
  readonly url: string;
  /** The members of a list, by lower-cased address. */
  members(listId: string): ReadonlyMap<string, EmulatedMember>;
  /** Calls received, in order (`METHOD path` without the query). */
  readonly calls: string[];
  fault(fault: MailchimpFault): void;
  /** Forgets the faults not yet used up. */
  clearFaults(): void;
  /** Members received in batch subscribe calls so far, refused ones included. */
  readonly sent: number;
  /** A batch member with this address is refused with this message and code. */
  refuseEmail(email: string, error: string, code?: string): void;
  close(): Promise<void>;
}

/** The account and list of the local Mailchimp emulator (a local stand-in, not a secret). */
export const LOCAL_MAILCHIMP = { apiKey: 'idxlocal0mailchimp0key-us1', listId: 'idxlocal01' } as const;

/** The list the local emulator starts with: the merge tags of the public Mailchimp templates. */
export const LOCAL_MAILCHIMP_LISTS: readonly EmulatedList[] = [
  {
    id: LOCAL_MAILCHIMP.listId,
    mergeFields: [{ tag: 'FNAME' }, { tag: 'LNAME' }, { tag: 'UNAME' }, { tag: 'UID' }],
  },
];

const STATUSES = new Set(['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_BODY = 10 * 1024 * 1024;

/** Mailchimp's time format: seconds, `+00:00`. */
export function mailchimpTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}

/** The subscriber hash of an address: md5 of its lower-cased form. */
export function subscriberHash(email: string): string {
  return createHash('md5').update(email.toLowerCase()).digest('hex');
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(title);
  }
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Problem(413, 'Request Entity Too Large', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Problem(400, 'JSON Parse Error', 'We encountered an unspecified JSON parsing error.');
  }
}

/** Starts the emulator on 127.0.0.1 and a free port. */
export async function startMailchimpEmulator(options: MailchimpEmulatorOptions = {}): Promise<MailchimpEmulator> {
  const keys = new Set(options.apiKeys ?? [LOCAL_MAILCHIMP.apiKey]);
  const dc = options.dataCenter ?? 'us1';
  const lists = new Map((options.lists ?? LOCAL_MAILCHIMP_LISTS).map((l) => [l.id, l]));
  const store = new Map<string, Map<string, EmulatedMember>>();
  for (const id of lists.keys()) store.set(id, new Map());
  for (const [id, members] of Object.entries(options.members ?? {})) {
    const list = store.get(id) ?? new Map<string, EmulatedMember>();
    store.set(id, list);
    for (const m of members)
      list.set(m.email_address.toLowerCase(), {
        ...m,
        id: subscriberHash(m.email_address),
        merge_fields: { ...m.merge_fields },
      });
  }
  const faults: MailchimpFault[] = [];
  const refused = new Map<string, { error: string; code: string }>();
  const calls: string[] = [];
  let inFlight = 0;
  let sent = 0;
  const maxConnections = options.maxConnections ?? 10;

  const authorise = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? '';
    const basic = /^Basic (.+)$/i.exec(header)?.[1];
    const password = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') : '';
    if (!keys.has(password))
      throw new Problem(
        401,
        'API Key Invalid',
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
      );
    if (!password.endsWith(`-${dc}`))
      throw new Problem(
        403,
        'Wrong Datacenter',
        `The API key provided is linked to a different datacenter than ${dc}.`,
      );
  };

  const listOf = (id: string) => {
    const list = store.get(id);
    if (!list) throw new Problem(404, 'Resource Not Found', 'The requested resource could not be found.');
    return { list, def: lists.get(id) ?? { id, mergeFields: [] } };
  };

  const readMembers = (listId: string, q: URLSearchParams) => {
    const { list } = listOf(listId);
    const count = Number(q.get('count') ?? 10);
    const offset = Number(q.get('offset') ?? 0);
    if (!Number.isInteger(count) || count < 1 || count > 1000 || !Number.isInteger(offset) || offset < 0)
      throw new Problem(400, 'Invalid Resource', 'count must be 1 to 1000 and offset 0 or more.');
    const since = q.get('since_last_changed');
    const before = q.get('before_last_changed');
    const status = q.get('status');
    const sinceMs = since ? Date.parse(since) : undefined;
    const beforeMs = before ? Date.parse(before) : undefined;
    let rows = [...list.values()].filter(
      (m) =>
        (!status || m.status === status) &&
        (sinceMs === undefined || Date.parse(m.last_changed) >= sinceMs) &&
        (beforeMs === undefined || Date.parse(m.last_changed) < beforeMs),
    );
    if (q.get('sort_field') === 'last_changed') {
      const dir = q.get('sort_dir') === 'DESC' ? -1 : 1;
      rows = rows.sort((a, b) => dir * (Date.parse(a.last_changed) - Date.parse(b.last_changed)));
    }
    return { members: rows.slice(offset, offset + count), list_id: listId, total_items: rows.length };
  };

  const batch = (listId: string, body: unknown) => {
    const { list, def } = listOf(listId);
    const b = body as { members?: unknown; update_existing?: unknown };
    if (!Array.isArray(b.members))
      throw new Problem(400, 'Invalid Resource', 'Schema describes array, object found instead (members).');
    if (b.members.length > 500)
      throw new Problem(
        400,
        'Invalid Resource',
        `You may only subscribe 500 members at a time; ${b.members.length} given.`,
      );
    sent += b.members.length;
    const created: EmulatedMember[] = [];
    const updated: EmulatedMember[] = [];
    const errors: { email_address: string; error: string; error_code: string }[] = [];
    const now = mailchimpTime(Date.now());
    for (const raw of b.members as { email_address?: unknown; status?: unknown; merge_fields?: unknown }[]) {
      const email = typeof raw.email_address === 'string' ? raw.email_address : '';
      const fail = (error: string, code = 'ERROR_GENERIC') =>
        errors.push({ email_address: email, error, error_code: code });
      const refusal = refused.get(email.toLowerCase());
      if (refusal) {
        fail(refusal.error, refusal.code);
        continue;
      }
      if (!EMAIL.test(email)) {
        fail(`${email} looks fake or invalid, please enter a real email address.`);
        continue;
      }
      const status = typeof raw.status === 'string' ? raw.status : '';
      if (!STATUSES.has(status)) {
        fail(`The status "${status}" is not one of ${[...STATUSES].join(', ')}.`);
        continue;
      }
      const fields: Record<string, string> = {};
      for (const [tag, value] of Object.entries((raw.merge_fields ?? {}) as Record<string, unknown>))
        if (def.mergeFields.some((f) => f.tag === tag)) fields[tag] = String(value);
      const existing = list.get(email.toLowerCase());
      if (existing) {
        if (b.update_existing !== true) {
          fail(`${email} is already a list member.`, 'ERROR_CONTACT_EXISTS');
          continue;
        }
        const merged = { ...existing.merge_fields, ...fields };
        if (existing.status !== status || JSON.stringify(merged) !== JSON.stringify(existing.merge_fields))
          existing.last_changed = now;
        existing.status = status;
        existing.merge_fields = merged;
        updated.push(existing);
        continue;
      }
      const missing = def.mergeFields.filter((f) => f.required && !fields[f.tag]).map((f) => f.tag);
      if (missing.length) {
        fail(`Your merge fields were invalid: ${missing.join(', ')} must be provided.`);
        continue;
      }
      const member = {
        id: subscriberHash(email),
        email_address: email,
        status,
        merge_fields: fields,
        last_changed: now,
      };
      list.set(email.toLowerCase(), member);
      created.push(member);
    }
    return {
      new_members: created,
      updated_members: updated,
      errors,
      total_created: created.length,
      total_updated: updated.length,
      error_count: errors.length,
    };
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    calls.push(`${method} ${url.pathname}`);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    if (inFlight >= maxConnections)
      throw new Problem(429, 'Too Many Requests', 'You have exceeded the limit of 10 simultaneous connections.');
    const fault = faults.find((f) => (!f.method || f.method === method) && f.path.test(url.pathname));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      throw new Problem(
        fault.status,
        fault.title ?? (fault.status === 429 ? 'Too Many Requests' : 'Internal Server Error'),
        fault.detail ?? 'An unexpected internal error has occurred.',
        fault.headers,
      );
    }
    authorise(req);
    const members = /^\/3\.0\/lists\/([^/]+)\/members$/.exec(url.pathname);
    if (members && method === 'GET')
      return answer(res, 200, readMembers(decodeURIComponent(members[1] ?? ''), url.searchParams));
    const list = /^\/3\.0\/lists\/([^/]+)$/.exec(url.pathname);
    if (list && method === 'POST') return answer(res, 200, batch(decodeURIComponent(list[1] ?? ''), await bodyOf(req)));
    throw new Problem(404, 'Resource Not Found', 'The requested resource could not be found.');
  };

  const server = createServer((req, res) => {
    handle(req, res)
      .catch((error: unknown) => {
        const p = error instanceof Problem ? error : new Problem(500, 'Internal Server Error', String(error));
        answer(
          res,
          p.status,
          {
            type: 'https://mailchimp.com/developer/marketing/docs/errors/',
            title: p.title,
            status: p.status,
            detail: p.detail,
            instance: randomUUID(),
          },
          p.headers,
        );
      })
      .finally(() => {
        inFlight--;
      });
    inFlight++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    members: (listId) => store.get(listId) ?? new Map(),
    calls,
    fault: (fault) => {
      faults.push(fault);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    get sent() {
      return sent;
    },
    refuseEmail: (email, error, code = 'ERROR_GENERIC') => {
      refused.set(email.toLowerCase(), { error, code });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Mailchimp emulator as a stand-in of local mode, with the list of the public templates. */
export function mailchimpExtra(options: MailchimpEmulatorOptions = {}): LocalExtra {
  const start: LocalExtra = async () => {
    const emu = await startMailchimpEmulator(options);
    return {
      endpoints: { mailchimp: `${emu.url}/3.0` },
      close: () => emu.close(),
      info: { mailchimp: `${emu.url}/3.0 (Mailchimp emulator, list ${LOCAL_MAILCHIMP.listId})` },
    };
  };
  return Object.assign(start, { provides: ['mailchimp'] as const });
}
