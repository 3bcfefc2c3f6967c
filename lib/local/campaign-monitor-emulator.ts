/**
 * The Campaign Monitor emulator: an HTTP server on 127.0.0.1 answering the subset of the Campaign Monitor
 * (createsend) API v3.3 that `datasource.read.campaignmonitor` uses, written from Campaign Monitor's public API
 * documentation (facts gathered in platforms.md §7; documents listed in docs/marketing-platforms.md). Paths are
 * served under `/api/v3.3` on the emulator's origin, which stands for `https://api.createsend.com`.
 *
 * - Auth ("Authentication"): HTTP Basic with the API key as user name and any password; an unknown key is 401
 *   `{"Code":100,"Message":"Invalid API Key"}`.
 * - `GET /api/v3.3/lists/{listid}/{state}.json` ("Lists: active, unsubscribed, bounced, deleted, unconfirmed
 *   subscribers"): `date` (subscribers whose state date is on or after it, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`;
 *   the comparison here is in UTC, where Campaign Monitor uses the account's time zone: not confirmed),
 *   `page` (1-based), `pagesize` (10 to 1000 here; the range is not confirmed), `orderfield` `date`|`email`|`name`,
 *   `orderdirection` `asc`|`desc`. Answers `{Results: [{EmailAddress, Name, Date, ListJoinedDate, State,
 *   CustomFields: [{Key, Value}], ReadsEmailWith, ConsentToTrack}], ResultsOrderedBy, OrderDirection, PageNumber,
 *   PageSize, RecordsOnThisPage, TotalNumberOfRecords, NumberOfPages}`. Custom field keys come in `[Key]` form
 *   (not confirmed). An unknown list is 400 `{"Code":101,"Message":"Invalid ListID"}` (the status is not confirmed).
 * - Throttling: 429 with `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (the headers and the
 *   body are not confirmed); scripted through the faults.
 *
 * Fault injection: scripted HTTP errors on the next calls of a route (429, 5xx) and latency on every call.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalExtra } from './environment.ts';

/** A subscriber of an emulated list. */
export interface EmulatedSubscriber {
  readonly EmailAddress: string;
  Name: string;
  /** The date of the current state, `YYYY-MM-DD HH:MM:SS`. */
  Date: string;
  readonly ListJoinedDate: string;
  State: 'Active' | 'Unsubscribed' | 'Bounced' | 'Deleted' | 'Unconfirmed';
  /** Custom field values by key (without brackets). */
  CustomFields: Record<string, string>;
}

/** Options of {@link startCampaignMonitorEmulator}. */
export interface CampaignMonitorEmulatorOptions {
  /** @default [LOCAL_CAMPAIGN_MONITOR.apiKey] */
  readonly apiKeys?: readonly string[];
  /** Subscribers by list id; the local list exists even when empty. */
  readonly subscribers?: Readonly<Record<string, readonly EmulatedSubscriber[]>>;
  /** Milliseconds added to every answer. @default 0 */
  readonly latencyMs?: number;
}

/** A scripted answer to the next calls whose path matches. */
export interface CampaignMonitorFault {
  readonly path: RegExp;
  readonly status: number;
  readonly code?: number;
  readonly message?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 1 */
  times?: number;
}

/** A running emulator. */
export interface CampaignMonitorEmulator {
  /** The origin; the API is under `<url>/api/v3.3`. */
  readonly url: string;
  /** The subscribers of a list, by lower-cased address (changed in place by tests). */
  subscribers(listId: string): Map<string, EmulatedSubscriber>;
  /** Calls received, in order (`GET path?query`). */
  readonly calls: string[];
  fault(fault: CampaignMonitorFault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** The account and list of the local Campaign Monitor emulator (a local stand-in, not a secret). */
export const LOCAL_CAMPAIGN_MONITOR = { apiKey: 'idx-local-createsend-key', listId: 'idxlocallist0001' } as const;

const STATES: Record<string, EmulatedSubscriber['State']> = {
  active: 'Active',
  unsubscribed: 'Unsubscribed',
  bounced: 'Bounced',
  deleted: 'Deleted',
  unconfirmed: 'Unconfirmed',
};

/** Campaign Monitor's date format, `YYYY-MM-DD HH:MM:SS` (UTC here). */
export function createsendDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

class Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Starts the emulator on 127.0.0.1 and a free port. */
export async function startCampaignMonitorEmulator(
  options: CampaignMonitorEmulatorOptions = {},
): Promise<CampaignMonitorEmulator> {
  const keys = new Set(options.apiKeys ?? [LOCAL_CAMPAIGN_MONITOR.apiKey]);
  const lists = new Map<string, Map<string, EmulatedSubscriber>>([[LOCAL_CAMPAIGN_MONITOR.listId, new Map()]]);
  for (const [id, subs] of Object.entries(options.subscribers ?? {}))
    lists.set(id, new Map(subs.map((s) => [s.EmailAddress.toLowerCase(), { ...s }])));
  const faults: CampaignMonitorFault[] = [];
  const calls: string[] = [];

  const read = (listId: string, state: string, q: URLSearchParams) => {
    const list = lists.get(listId);
    if (!list) throw new Failure(400, 101, 'Invalid ListID');
    const wanted = STATES[state];
    if (!wanted) throw new Failure(404, 404, 'Not found');
    const page = Number(q.get('page') ?? 1);
    const size = Number(q.get('pagesize') ?? 1000);
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(size) || size < 10 || size > 1000)
      throw new Failure(400, 1, 'page must be 1 or more and pagesize 10 to 1000');
    const date = q.get('date');
    if (date && !/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$/.test(date)) throw new Failure(400, 5, 'Invalid Date');
    const field = q.get('orderfield') ?? 'date';
    const dir = q.get('orderdirection') === 'desc' ? -1 : 1;
    const key = (s: EmulatedSubscriber) => (field === 'email' ? s.EmailAddress : field === 'name' ? s.Name : s.Date);
    const rows = [...list.values()]
      .filter((s) => s.State === wanted && (!date || s.Date >= date))
      .sort((a, b) => dir * key(a).localeCompare(key(b)));
    const slice = rows.slice((page - 1) * size, page * size);
    return {
      Results: slice.map((s) => ({
        EmailAddress: s.EmailAddress,
        Name: s.Name,
        Date: s.Date,
        ListJoinedDate: s.ListJoinedDate,
        State: s.State,
        CustomFields: Object.entries(s.CustomFields).map(([k, v]) => ({ Key: `[${k}]`, Value: v })),
        ReadsEmailWith: '',
        ConsentToTrack: 'Yes',
      })),
      ResultsOrderedBy: field,
      OrderDirection: dir === 1 ? 'asc' : 'desc',
      PageNumber: page,
      PageSize: size,
      RecordsOnThisPage: slice.length,
      TotalNumberOfRecords: rows.length,
      NumberOfPages: Math.ceil(rows.length / size),
    };
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    calls.push(`${req.method} ${url.pathname}${url.search}`);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const fault = faults.find((f) => f.path.test(url.pathname));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      throw new Failure(fault.status, fault.code ?? fault.status, fault.message ?? 'Server error', fault.headers);
    }
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const user = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':')[0] : undefined;
    if (!basic) throw new Failure(401, 50, 'Must supply a valid HTTP Basic Authorization header');
    if (!user || !keys.has(user)) throw new Failure(401, 100, 'Invalid API Key');
    const route = /^\/api\/v3\.3\/lists\/([^/]+)\/([a-z]+)\.json$/.exec(url.pathname);
    if (route && req.method === 'GET')
      return answer(res, 200, read(decodeURIComponent(route[1] ?? ''), route[2] ?? '', url.searchParams));
    throw new Failure(404, 404, 'Not found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const f = error instanceof Failure ? error : new Failure(500, 500, String(error));
      answer(res, f.status, { Code: f.code, Message: f.message }, f.headers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    subscribers: (listId) => {
      const list = lists.get(listId) ?? new Map<string, EmulatedSubscriber>();
      lists.set(listId, list);
      return list;
    },
    calls,
    fault: (fault) => {
      faults.push(fault);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Campaign Monitor emulator as a stand-in of local mode. */
export function campaignMonitorExtra(options: CampaignMonitorEmulatorOptions = {}): LocalExtra {
  const start: LocalExtra = async () => {
    const emu = await startCampaignMonitorEmulator(options);
    return {
      endpoints: { campaignMonitor: `${emu.url}/api/v3.3` },
      close: () => emu.close(),
      info: {
        campaignMonitor: `${emu.url}/api/v3.3 (Campaign Monitor emulator, list ${LOCAL_CAMPAIGN_MONITOR.listId})`,
      },
    };
  };
  return Object.assign(start, { provides: ['campaignMonitor'] as const });
}
