/**
 * The Gigya emulator: an HTTP server on 127.0.0.1 that answers the REST methods an ETL uses the way apis.md §C.1
 * describes — accounts.search / ds.search / audit.search with the query subset and cursors, getAccountInfo,
 * setAccountInfo, importLiteAccount, importFullAccount (gigya-import.ts, from extras.md §1), deleteAccount, ds.store,
 * ds.get — with the real envelope (HTTP 200 and the error in the body), the real authentication checks (user key +
 * secret, signatures verified with the client's own signer, RSA bearer tokens), and fault injection: scripted
 * errors per method, latency, and a per-second ceiling that answers 403048. The faults are ours, not documented
 * behaviour: latency is the least time from a call's arrival to its answer (the work runs meanwhile, as on a real
 * server, so a long search costs its latency, not latency plus work); the ceiling counts calls in a sliding second
 * as they arrive (apis.md names 403048 but no window: [verify] how a real site counts).
 *
 * Local mode starts it with the credentials in {@link LOCAL_GIGYA_CREDENTIALS} and keeps its state under
 * `.idx/gigya/`; tests start it on an ephemeral port with state of their own (accounts in a temporary file that
 * disappears with the process). Accounts stay on disk either way (gigya-store.ts), so it serves millions of them.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { verifyBearerToken, verifySignature } from '../connectors/gigya-signer.ts';
import { LOCAL_GIGYA_CREDENTIALS } from '../scripts/util/gigya-step.ts';
import { commentsMethods, gameMechanicsMethods } from './gigya-comments.ts';
import { GIGYA_MESSAGES, gigyaEnvelope, newCallId } from './gigya-envelope.ts';
import { canonicalParamNames, importFullAccountHandler, searchable } from './gigya-import.ts';
import { matches, parseQuery, project, type Query, QueryError, sortDocuments } from './gigya-query.ts';
import { type AuditEntry, GigyaStore, StoreError } from './gigya-store.ts';

/** Options of {@link startGigyaEmulator}. */
export interface GigyaEmulatorOptions {
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** @default LOCAL_GIGYA_CREDENTIALS.apiKey */
  readonly apiKey?: string;
  /** @default LOCAL_GIGYA_CREDENTIALS.userKey */
  readonly userKey?: string;
  /** base64. @default LOCAL_GIGYA_CREDENTIALS.secret */
  readonly secret?: string;
  /** A site (partner) secret accepted without a user key; none by default. */
  readonly partnerSecret?: string;
  /** PEM public key of the user key's RSA key pair, to accept `Authorization: Bearer` tokens. */
  readonly rsaPublicKey?: string;
  /**
   * Folder where the state is loaded from and saved to (NDJSON files and the account index); when absent,
   * accounts go to a temporary file that disappears with the process, and the rest stays in memory.
   */
  readonly dataDir?: string;
  /** Accounts to start with (added after what `dataDir` holds). */
  readonly accounts?: Iterable<Record<string, unknown>>;
  /** The emulator's clock (epoch ms), for deterministic timestamps and cursor expiry. @default Date.now */
  readonly now?: () => number;
  /** Idle time after which a cursor id is refused. @default 300000 (apis.md §A.5) */
  readonly cursorTtlMs?: number;
  /** Return fewer than LIMIT results on some cursor pages (the real service does not guarantee full pages). */
  readonly shortPages?: boolean;
  /** Writes become visible to search only this long after they happen (search-index lag). @default 0 */
  readonly searchLagMs?: number;
  /** How far a signed request's timestamp may be from the emulator's clock. @default 120000 */
  readonly maxClockSkewMs?: number;
  /** API keys that live "in another data centre": calls answer 301001 with this `apiDomain`. */
  readonly otherDataCenters?: Readonly<Record<string, string>>;
  /** A strict schema for profile/data writes (see {@link GigyaStore}). */
  readonly strictFields?: readonly string[];
  /** Delay before a write is saved to `dataDir` (writes are coalesced). @default 1000 */
  readonly saveDelayMs?: number;
}

/** A scripted failure. */
interface Failure {
  remaining: number;
  readonly errorCode: number;
  readonly errorMessage?: string;
}

/** Fault injection, per method (`'*'` for every method). */
export interface GigyaFaults {
  /** The next `times` calls of `method` fail with `errorCode`. */
  failNext(method: string, errorCode: number, times?: number, errorMessage?: string): void;
  /**
   * Every call of `method` takes at least `ms` from its arrival to its answer: the work starts when the call
   * arrives, and the answer leaves at the later of arrival + `ms` and the work's end.
   */
  latency(method: string, ms: number): void;
  /**
   * Calls of `method` wait, unanswered, until the returned function is called (or the faults are cleared): a run
   * held at a known point, without guessing how long it takes to get there.
   */
  hold(method: string): () => void;
  /** More than `callsPerSecond` calls of `method` within one second answer 403048; `undefined` lifts it. */
  rateLimit(method: string, callsPerSecond: number | undefined): void;
  /** Removes every fault. */
  clear(): void;
}

/** A running emulator. */
export interface GigyaEmulator {
  /** Base URL, e.g. `http://127.0.0.1:43210`: methods are at `<url>/<method>`. */
  readonly url: string;
  readonly port: number;
  readonly apiKey: string;
  readonly userKey: string;
  readonly secret: string;
  readonly store: GigyaStore;
  readonly faults: GigyaFaults;
  /** Calls received per method (including refused ones). */
  readonly calls: Map<string, number>;
  /** Answers per method, counted by error code (0: success). */
  readonly answers: Map<string, Map<number, number>>;
  /**
   * Adds accounts, or `count` generated ones (stored as one line, whatever the count: see gigya-account-file.ts);
   * returns how many were added.
   */
  seed(accounts: Iterable<Record<string, unknown>> | { count: number; seed?: number }): number;
  /** Writes the state to `dataDir` now (no-op without one). */
  save(): Promise<void>;
  /** Stops the server (saving the state first when there is a `dataDir`). */
  close(): Promise<void>;
}

/**
 * Parameters decoded as JSON (objects travel as JSON strings in the form). `internal` and `customIdentifiers` are
 * setAccountInfo params of SAP's reference that importFullAccount does not take (the SAP toolkit writes them in a
 * second call, extras.md §1.6).
 */
const JSON_PARAMS = new Set([
  'profile',
  'data',
  'subscriptions',
  'preferences',
  'communications',
  'internal',
  'customIdentifiers',
]);

/**
 * Documents a search builds between two turns of the event loop: about 1.5 ms of generated accounts, so a call that
 * arrives while a page is built is seen within a few milliseconds.
 */
const SLICE = 100;

/** A Gigya error answered by a handler. */
class ApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly details?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(details ?? GIGYA_MESSAGES[errorCode] ?? 'error');
  }
}

/** The documents a search matched, in order. */
interface Found {
  readonly size: number;
  /** Document `i`, read now (undefined when it was deleted since the search). */
  readonly docAt: (i: number) => Record<string, unknown> | undefined;
  /** Whether {@link docAt} hands out a fresh copy, which the answer may use without copying it again. */
  readonly owned: boolean;
}

interface Snapshot extends Found {
  readonly select: Query['select'];
  readonly limit: number;
}

interface CursorEntry {
  readonly snapshot: Snapshot;
  readonly offset: number;
  lastUsed: number;
}

type Handler = (
  params: Record<string, string>,
  callId: string,
) => Record<string, unknown> | Promise<Record<string, unknown>>;

/** Starts the emulator on 127.0.0.1. */
export async function startGigyaEmulator(options: GigyaEmulatorOptions = {}): Promise<GigyaEmulator> {
  const apiKey = options.apiKey ?? LOCAL_GIGYA_CREDENTIALS.apiKey;
  const userKey = options.userKey ?? LOCAL_GIGYA_CREDENTIALS.userKey;
  const secret = options.secret ?? LOCAL_GIGYA_CREDENTIALS.secret;
  const now = options.now ?? Date.now;
  const cursorTtl = options.cursorTtlMs ?? 300_000;
  const skew = options.maxClockSkewMs ?? 120_000;
  const store = await GigyaStore.open({
    ...(options.strictFields ? { strictFields: options.strictFields } : {}),
    ...(options.dataDir ? { dir: options.dataDir } : {}),
  });
  if (options.accounts) store.seed(options.accounts, now());

  const calls = new Map<string, number>();
  const answers = new Map<string, Map<number, number>>();
  const failures = new Map<string, Failure[]>();
  const latencies = new Map<string, number>();
  const holds = new Map<string, { promise: Promise<void>; release: () => void }>();
  const limits = new Map<string, { perSecond: number; times: number[] }>();
  const nonces = new Map<string, number>();
  const cursors = new Map<string, CursorEntry>();
  let pageSeed = 1;

  const faults: GigyaFaults = {
    failNext(method, errorCode, times = 1, errorMessage) {
      const list = failures.get(method) ?? [];
      list.push({ remaining: times, errorCode, ...(errorMessage === undefined ? {} : { errorMessage }) });
      failures.set(method, list);
    },
    latency(method, ms) {
      latencies.set(method, ms);
    },
    hold(method) {
      let release: () => void = () => undefined;
      const promise = new Promise<void>((r) => {
        release = r;
      });
      const held = {
        promise,
        release: () => {
          if (holds.get(method) === held) holds.delete(method);
          release();
        },
      };
      holds.get(method)?.release();
      holds.set(method, held);
      return held.release;
    },
    rateLimit(method, perSecond) {
      if (perSecond === undefined) limits.delete(method);
      else limits.set(method, { perSecond, times: [] });
    },
    clear() {
      failures.clear();
      latencies.clear();
      limits.clear();
      for (const held of [...holds.values()]) held.release();
    },
  };

  function takeFailure(method: string): Failure | undefined {
    for (const key of [method, '*']) {
      const list = failures.get(key);
      const f = list?.[0];
      if (f && list) {
        f.remaining--;
        if (f.remaining <= 0) list.shift();
        return f;
      }
    }
    return undefined;
  }

  /** Whether a call of `method` that arrived at `t` (wall-clock epoch ms) is over a ceiling; counts it if not. */
  function overLimit(method: string, t: number): boolean {
    let over = false;
    for (const key of [method, '*']) {
      const l = limits.get(key);
      if (!l) continue;
      while (l.times.length && (l.times[0] as number) <= t - 1000) l.times.shift();
      // In order of arrival, and a call counts those of the second before it: a call whose body took longer to
      // read can be checked after one that arrived later.
      let at = l.times.length;
      while (at > 0 && (l.times[at - 1] as number) > t) at--;
      if (at >= l.perSecond) over = true;
      else l.times.splice(at, 0, t);
    }
    return over;
  }

  // ---- search -------------------------------------------------------------------------------------------

  async function searchAccounts(q: Query, params: Record<string, string>): Promise<Found> {
    const from = q.from;
    let types: Set<string>;
    if (from === 'emailAccounts') types = new Set(['lite']);
    else if (from === 'accounts') {
      // The reference is unsure whether the parameter is `accountTypes` or `type`: both are accepted.
      const raw = params.accountTypes ?? params.type ?? 'full';
      types = new Set(raw.split(',').map((s) => s.trim()));
    } else throw new ApiError(400006, `accounts.search cannot search ${JSON.stringify(from)}`);
    const records = await store.selectAccounts({
      full: types.has('full'),
      lite: types.has('lite'),
      ...(options.searchLagMs ? { visibleUpTo: now() - options.searchLagMs } : {}),
      ...(q.where ? { where: q.where } : {}),
      orderBy: q.orderBy,
    });
    return { size: records.length, docAt: (i) => searchable(store.readAccount(records[i] as number)), owned: true };
  }

  /** A search over documents held in memory (Data Store objects, the audit log). */
  function searchDocuments(
    q: Query,
    docs: Record<string, unknown>[],
    idOf: (d: Record<string, unknown>) => string,
    lookup: (id: string) => Record<string, unknown> | undefined,
    owned: boolean,
  ): Found {
    const matched = docs.filter((d) => matches(d, q.where));
    if (q.orderBy.length) sortDocuments(matched, q.orderBy, idOf);
    const ids = matched.map(idOf);
    return { size: ids.length, docAt: (i) => lookup(ids[i] as string), owned };
  }

  async function runSearch(
    params: Record<string, string>,
    collect: (q: Query) => Found | Promise<Found>,
  ): Promise<Record<string, unknown>> {
    const t = now();
    if (params.cursorId !== undefined) {
      if (params.query !== undefined) throw new ApiError(400006, 'query and cursorId cannot be sent together');
      const entry = cursors.get(params.cursorId);
      if (!entry || t - entry.lastUsed > cursorTtl) {
        cursors.delete(params.cursorId);
        // [verify] the code a real tenant answers for an expired cursor; 400006 as apis.md §C.1 suggests.
        throw new ApiError(400006, 'invalid or expired cursorId');
      }
      entry.lastUsed = t;
      return page(entry.snapshot, entry.offset, t);
    }
    if (params.query === undefined) throw new ApiError(400002, 'query is required');
    let q: Query;
    try {
      q = parseQuery(params.query);
    } catch (error) {
      if (error instanceof QueryError) throw new ApiError(400006, `invalid query: ${error.message}`);
      throw error;
    }
    const openCursor = params.openCursor === 'true';
    if (openCursor && q.start !== undefined) throw new ApiError(400006, 'START cannot be used with openCursor');
    const found = await collect(q);
    if (q.select === 'count') {
      return { results: [{ 'count(*)': found.size }], objectsCount: 1, totalCount: found.size };
    }
    if (openCursor) {
      purgeCursors(t);
      const snapshot: Snapshot = { ...found, select: q.select, limit: Math.min(Math.max(q.limit ?? 300, 1), 1000) };
      return page(snapshot, 0, t);
    }
    const start = q.start ?? 0;
    // [verify] the real per-call maximum without a cursor; 10000 is the commonly cited one.
    const limit = Math.min(q.limit ?? 300, 10_000);
    const results = await projected(found, q.select, start, Math.min(found.size, start + limit));
    return { results, objectsCount: results.length, totalCount: found.size };
  }

  /**
   * Documents `from` to `to` (exclusive) of a search, projected, built {@link SLICE} at a time with the event loop
   * let run in between: a page of 1,000 generated accounts takes some 15 ms to build, and a call that arrives
   * meanwhile would be seen, stamped for the rate limit and timed for its latency only once the page is done, up to
   * tens of milliseconds after it came (paced at 95 % of a 20/s ceiling, the export's calls are 52 ms apart), where a
   * real site counts a call as it comes.
   */
  async function projected(
    found: Found,
    select: Query['select'],
    from: number,
    to: number,
  ): Promise<Record<string, unknown>[]> {
    const results: Record<string, unknown>[] = [];
    for (let i = from; i < to; i++) {
      if (i > from && (i - from) % SLICE === 0) await nextTurn();
      const doc = found.docAt(i);
      // Deleted since the search: the real service never returns deleted accounts.
      if (doc) results.push(project(doc, select, found.owned));
    }
    return results;
  }

  async function page(snapshot: Snapshot, offset: number, t: number): Promise<Record<string, unknown>> {
    let size = snapshot.limit;
    if (options.shortPages && size > 1) {
      // Deterministic but uneven: between half and all of LIMIT.
      pageSeed = (pageSeed * 1103515245 + 12345) & 0x7fffffff;
      size = Math.ceil(size / 2) + (pageSeed % Math.ceil(size / 2 + 1));
      size = Math.min(size, snapshot.limit);
    }
    const end = Math.min(snapshot.size, offset + size);
    const results = await projected(snapshot, snapshot.select, offset, end);
    const out: Record<string, unknown> = { results, objectsCount: results.length, totalCount: snapshot.size };
    if (end < snapshot.size) {
      const id = randomBytes(24).toString('base64url');
      cursors.set(id, { snapshot, offset: end, lastUsed: t });
      out.nextCursorId = id;
    }
    return out;
  }

  function purgeCursors(t: number): void {
    if (cursors.size < 256) return;
    for (const [id, c] of cursors) if (t - c.lastUsed > cursorTtl) cursors.delete(id);
  }

  // ---- methods ------------------------------------------------------------------------------------------

  const need = (params: Record<string, string>, name: string): string => {
    const v = params[name];
    if (v === undefined || v === '') throw new ApiError(400002, `${name} is required`);
    return v;
  };
  const json = (params: Record<string, string>, name: string): Record<string, unknown> | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new ApiError(400006, `${name} is not valid JSON`);
    }
    if (parsed === null) return undefined;
    if (typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ApiError(400006, `${name} must be a JSON object`);
    return parsed as Record<string, unknown>;
  };
  const bool = (v: string | undefined): boolean | undefined =>
    v === 'true' ? true : v === 'false' ? false : undefined;

  const handlers: Record<string, Handler> = {
    'accounts.search': (params) => runSearch(params, (q) => searchAccounts(q, params)),
    'accounts.getAccountInfo': (params) => {
      const uid = need(params, 'UID');
      return store.getAccount(uid, params.include ?? 'profile,data,subscriptions');
    },
    'accounts.setAccountInfo': (params) => {
      const uid = need(params, 'UID');
      const patch: Record<string, unknown> = {};
      for (const k of JSON_PARAMS) {
        const v = json(params, k);
        if (v !== undefined) patch[k] = v;
      }
      for (const k of ['isActive', 'isVerified'] as const) {
        const v = bool(params[k]);
        if (v !== undefined) patch[k] = v;
      }
      if (params.lang !== undefined) patch.lang = params.lang;
      if (params.addresses !== undefined) {
        // [verify] the shape of `addresses` (the SAP toolkit writes it here): any JSON, replaced as a whole.
        try {
          patch.addresses = JSON.parse(params.addresses);
        } catch {
          throw new ApiError(400006, 'addresses is not valid JSON');
        }
      }
      store.setAccount(uid, patch, now());
      return {};
    },
    'accounts.importLiteAccount': (params) => {
      const email = need(params, 'email');
      const patch: Record<string, unknown> = {};
      for (const k of ['profile', 'data', 'subscriptions', 'preferences']) {
        const v = json(params, k);
        if (v !== undefined) patch[k] = v;
      }
      return { UID: store.importLite(email, patch, now()) };
    },
    'accounts.importFullAccount': importFullAccountHandler(store, now),
    'accounts.deleteAccount': (params) => {
      store.deleteAccount(need(params, 'UID'));
      return {};
    },
    'ds.store': (params) => {
      const type = need(params, 'type');
      const oid = need(params, 'oid');
      const raw = need(params, 'data');
      if (Buffer.byteLength(raw) > 512 * 1024) throw new ApiError(413003, 'data is larger than 512 KB');
      const data = json(params, 'data') ?? {};
      const behavior = params.updateBehavior ?? 'arrayPush';
      if (behavior !== 'arrayPush' && behavior !== 'arraySet' && behavior !== 'replace') {
        throw new ApiError(400006, 'updateBehavior must be arrayPush, arraySet or replace');
      }
      return { oid: store.dsStore(type, oid, params.UID || undefined, data, behavior, now()) };
    },
    'ds.get': (params) => {
      const o = store.dsGet(need(params, 'type'), need(params, 'oid'), params.UID || undefined);
      const doc = GigyaStore.dsDocument(o);
      const fields = params.fields;
      if (fields && fields !== '*') {
        const paths = fields
          .split(',')
          .map((f) => ({ path: f.trim().startsWith('data.') ? f.trim() : `data.${f.trim()}` }));
        doc.data = project(doc, paths).data ?? {};
      }
      return doc;
    },
    'ds.search': (params) =>
      runSearch(params, (q) => {
        const docs: Record<string, unknown>[] = [];
        for (const [key, o] of store.ds) {
          if (o.type !== q.from) continue;
          docs.push({ ...GigyaStore.dsDocument(o), __key: key });
        }
        const lookup = (id: string) => {
          const o = store.ds.get(id);
          return o ? GigyaStore.dsDocument(o) : undefined;
        };
        return searchDocuments(q, docs, (d) => d.__key as string, lookup, true);
      }),
    'audit.search': (params) =>
      runSearch(params, (q) => {
        if (q.from !== 'auditLog') throw new ApiError(400006, `audit.search cannot search ${JSON.stringify(q.from)}`);
        const byId = new Map<string, AuditEntry>();
        for (const e of store.audit) byId.set(e.callID, e);
        return searchDocuments(
          q,
          [...byId.values()],
          (d) => d.callID as string,
          (id) => byId.get(id),
          false,
        );
      }),
    ...commentsMethods({ runSearch, searchDocuments }),
    ...gameMechanicsMethods(store),
  };

  // ---- HTTP ---------------------------------------------------------------------------------------------

  function authenticate(req: IncomingMessage, url: string, params: Record<string, string>): void {
    const key = params.apiKey;
    if (!key) throw new ApiError(400002, 'apiKey is required');
    const otherDc = options.otherDataCenters?.[key];
    if (otherDc) throw new ApiError(301001, `the site is in ${otherDc}`, { apiDomain: otherDc });
    if (key !== apiKey) throw new ApiError(400093, 'unknown apiKey');
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      if (!options.rsaPublicKey) throw new ApiError(403003, 'bearer tokens are not enabled');
      const claims = verifyBearerToken(auth.slice(7), options.rsaPublicKey);
      if (!claims || claims.kid !== userKey) throw new ApiError(403003, 'invalid bearer token');
      checkFreshness(claims.iat * 1000, claims.jti);
      return;
    }
    if (params.sig !== undefined) {
      if (params.userKey !== userKey) throw new ApiError(403003, 'unknown userKey');
      const ts = Number(params.timestamp) * 1000;
      if (!Number.isFinite(ts)) throw new ApiError(403002, 'timestamp is missing');
      if (!verifySignature(url, params, secret)) throw new ApiError(403003, 'signature mismatch');
      checkFreshness(ts, params.nonce ?? '');
      return;
    }
    if (params.secret !== undefined) {
      if (params.userKey === undefined) {
        if (options.partnerSecret && params.secret === options.partnerSecret) return;
        throw new ApiError(403003, 'invalid secret');
      }
      // [verify] what a real tenant answers for an unknown user key; 403003 keeps it apart from 403005, which
      // UID-keyed writers read as "no such account".
      if (params.userKey !== userKey) throw new ApiError(403003, 'unknown userKey');
      if (params.secret !== secret) throw new ApiError(403003, 'invalid secret');
      return;
    }
    throw new ApiError(403007, 'server credentials (userKey and secret, or a signature) are required');
  }

  function checkFreshness(ts: number, nonce: string): void {
    const t = now();
    if (Math.abs(t - ts) > skew) throw new ApiError(403002, 'the request timestamp is too far from the server clock');
    if (!nonce) throw new ApiError(403003, 'nonce is missing');
    if (nonces.has(nonce)) throw new ApiError(403004, 'the nonce was used before');
    nonces.set(nonce, t);
    if (nonces.size > 100_000) for (const [n, at] of nonces) if (t - at > 2 * skew) nonces.delete(n);
  }

  let saveTimer: NodeJS.Timeout | undefined;
  let savedVersion = store.version;
  let saving: Promise<void> = Promise.resolve();
  const save = async (): Promise<void> => {
    if (!options.dataDir) return;
    saving = saving.then(async () => {
      if (store.version === savedVersion) return;
      const v = store.version;
      await store.save();
      savedVersion = v;
    });
    await saving;
  };
  const scheduleSave = () => {
    if (!options.dataDir || saveTimer) return;
    saveTimer = setTimeout(() => {
      saveTimer = undefined;
      save().catch(() => undefined);
    }, options.saveDelayMs ?? 1000);
    saveTimer.unref();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Arrival is when the request's head came, before its body is read (more turns of the event loop). Wall-clock
    // time, not the emulator's clock: the ceiling and the latency are about how fast calls really arrive.
    const arrived = Date.now();
    const callId = newCallId();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 8 * 1024 * 1024) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const u = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const method = u.pathname.replace(/^\/+/, '');
    const params: Record<string, string> = {};
    for (const [k, v] of u.searchParams) params[k] = v;
    for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) params[k] = v;
    calls.set(method, (calls.get(method) ?? 0) + 1);
    // The latency is the least time an answer takes, counted from arrival: the work runs meanwhile, as a real
    // server's does, and the answer leaves at the later of the two.
    const delay = latencies.get(method) ?? latencies.get('*') ?? 0;
    const handler = handlers[method];
    // Checked as the call arrives: the rate limit counts calls when they come, not when they are answered.
    let refused: unknown;
    try {
      if (!handler) throw new ApiError(404000, `unknown method ${JSON.stringify(method)}`);
      authenticate(req, `http://${req.headers.host}${u.pathname}`, params);
      if (overLimit(method, arrived)) throw new ApiError(403048, 'Api rate limit exceeded');
    } catch (error) {
      refused = error;
    }
    const held = holds.get(method) ?? holds.get('*');
    if (held) await held.promise;

    let body: Record<string, unknown>;
    // The params as the method reads them (`uid` as `UID`), once authentication has checked them as sent.
    let named = params;
    let errorCode = 0;
    try {
      if (refused !== undefined || !handler) throw refused;
      // Scripted failures are taken once a held call goes on, so a test can script them while calls are held.
      const fault = takeFailure(method);
      if (fault) throw new ApiError(fault.errorCode, fault.errorMessage ?? 'injected fault');
      named = canonicalParamNames(params);
      body = await handler(named, callId);
    } catch (error) {
      if (error instanceof ApiError) {
        errorCode = error.errorCode;
        body = { errorDetails: error.details, ...error.extra };
      } else if (error instanceof StoreError) {
        errorCode = error.errorCode;
        body = {
          errorDetails: error.details,
          ...(error.validationErrors ? { validationErrors: error.validationErrors } : {}),
        };
      } else {
        errorCode = 500001;
        body = { errorDetails: error instanceof Error ? error.message : String(error) };
      }
    }
    const early = arrived + delay - Date.now();
    if (early > 0) await new Promise((r) => setTimeout(r, early));
    const envelope = gigyaEnvelope(callId, errorCode, body, new Date(now()));
    const statusCode = envelope.statusCode;
    if (method !== 'audit.search' && handlers[method]) {
      store.addAudit({
        '@timestamp': envelope.time,
        callID: callId,
        endpoint: method,
        apikey: params.apiKey ?? '',
        errCode: errorCode,
        ...(errorCode === 0 ? {} : { errMessage: envelope.errorMessage }),
        ...(named.UID ? { uid: named.UID } : typeof body.UID === 'string' ? { uid: body.UID } : {}),
      });
    }
    const byCode = answers.get(method) ?? new Map<number, number>();
    answers.set(method, byCode);
    byCode.set(errorCode, (byCode.get(errorCode) ?? 0) + 1);
    if (options.dataDir) scheduleSave();
    const httpStatus = params.httpStatusCodes === 'true' ? statusCode : 200;
    res.writeHead(httpStatus, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(envelope));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    apiKey,
    userKey,
    secret,
    store,
    faults,
    calls,
    answers,
    seed(accounts) {
      const n =
        'count' in accounts && typeof accounts.count === 'number'
          ? store.seedGenerated({ count: accounts.count, seed: accounts.seed ?? 1, now: now() })
          : store.seed(accounts as Iterable<Record<string, unknown>>, now());
      scheduleSave();
      return n;
    },
    save,
    async close() {
      for (const held of [...holds.values()]) held.release();
      if (saveTimer) clearTimeout(saveTimer);
      saveTimer = undefined;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await saving;
      await store.close();
    },
  };
}
