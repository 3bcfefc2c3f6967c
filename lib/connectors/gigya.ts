/**
 * A thin client for the Gigya / SAP Customer Data Cloud REST API (apis.md §A): data-centre hosts or an explicit
 * endpoint, `userKey` + `secret` or signed requests or RSA bearer tokens, form-encoded POSTs with objects sent as
 * JSON strings, the response envelope turned into typed errors, retries with exponential backoff and jitter on
 * transient errors only, and a per-job budget of concurrent calls and calls per second.
 *
 * The local emulator (lib/local/gigya-emulator.ts) speaks the same protocol over HTTP, so the code path here is
 * the one that runs against a real tenant.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdxError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { bearerToken, signParams } from './gigya-signer.ts';

/** The response envelope every Gigya method returns (apis.md §A.3), plus the method's own members. */
export interface GigyaResponse {
  readonly callId?: string;
  readonly errorCode: number;
  readonly errorMessage?: string;
  readonly errorDetails?: string;
  readonly statusCode?: number;
  readonly statusReason?: string;
  readonly apiVersion?: number;
  readonly time?: string;
  readonly validationErrors?: readonly { errorCode?: number; message?: string; fieldName?: string }[];
  readonly [member: string]: unknown;
}

/** One page of `accounts.search`, `ds.search` or `audit.search`. */
export interface GigyaSearchPage {
  readonly results: Record<string, unknown>[];
  /** Absent on the last page: the only reliable end-of-results signal (pages may come back short). */
  readonly nextCursorId?: string;
  readonly totalCount?: number;
  readonly objectsCount?: number;
  readonly callId?: string;
}

/**
 * Error codes worth retrying (apis.md §A.4): rate limit, general server error, search timeout, concurrent update,
 * and 503001, which importFullAccount answers to more than 5 calls for one UID within a minute (extras.md §1.4) and
 * which the backoff outlasts. Everything else is permanent for the call that got it.
 */
export const RETRYABLE_ERROR_CODES: ReadonlySet<number> = new Set([403048, 500001, 503001, 504001, 409030]);

/**
 * Codes that say the step's configuration is wrong (key, secret, permission, data centre), so no other record
 * would fare better: writers fail the step on these instead of rejecting record after record.
 */
export const CONFIGURATION_ERROR_CODES: ReadonlySet<number> = new Set([
  301001, 400093, 403002, 403003, 403004, 403006, 403007,
]);

/** The site's calls-per-second ceiling was exceeded. */
const RATE_LIMITED = 403048;

/** Informational codes the SDKs treat as success (account pending registration / verification). */
const SUCCESS_CODES: ReadonlySet<number> = new Set([0, 206001, 206002]);

/** A Gigya method answered with an error (`errorCode` ≠ 0). */
export class GigyaError extends IdxError {
  /** Gigya's numeric error code, e.g. 403005. */
  readonly errorCode: number;
  /** Gigya's short message, e.g. "Unauthorized user". */
  readonly errorMessage: string;
  readonly errorDetails?: string;
  /** The HTTP-like status in the body (the transport status is 200). */
  readonly statusCode?: number;
  /** Gigya's transaction id: quote it to SAP support. */
  readonly callId?: string;
  /** The REST method, e.g. `accounts.setAccountInfo`. */
  readonly method: string;
  readonly validationErrors?: GigyaResponse['validationErrors'];
  /** How many calls were made before giving up (1 when the error is permanent). */
  readonly attempts: number;
  /** The response body as received. */
  readonly response: GigyaResponse;

  constructor(method: string, response: GigyaResponse, attempts: number) {
    const transient = RETRYABLE_ERROR_CODES.has(response.errorCode);
    const errorMessage = response.errorMessage ?? response.statusReason ?? 'error';
    super(
      'IDX_GIGYA_API',
      `Gigya ${method} failed with ${response.errorCode} ${errorMessage}${response.errorDetails ? `: ${response.errorDetails}` : ''}` +
        `${response.callId ? ` (callId ${response.callId})` : ''}${attempts > 1 ? ` after ${attempts} attempts` : ''}`,
      {
        expected: 'errorCode 0',
        received: `errorCode ${response.errorCode}`,
        transient,
        details: {
          method,
          errorCode: response.errorCode,
          errorMessage,
          ...(response.errorDetails === undefined ? {} : { errorDetails: response.errorDetails }),
          ...(response.statusCode === undefined ? {} : { statusCode: response.statusCode }),
          ...(response.callId === undefined ? {} : { callId: response.callId }),
          ...(response.validationErrors === undefined ? {} : { validationErrors: response.validationErrors }),
        },
      },
    );
    this.errorCode = response.errorCode;
    this.errorMessage = errorMessage;
    if (response.errorDetails !== undefined) this.errorDetails = response.errorDetails;
    if (response.statusCode !== undefined) this.statusCode = response.statusCode;
    if (response.callId !== undefined) this.callId = response.callId;
    if (response.validationErrors !== undefined) this.validationErrors = response.validationErrors;
    this.method = method;
    this.attempts = attempts;
    this.response = response;
  }
}

/** The domain of a data centre: `us1` → `us1.gigya.com`, `cn1` → `cn1.gigya-api.cn`; a value with a dot is a domain. */
export function dataCenterDomain(dataCenter: string): string {
  const dc = dataCenter.trim().toLowerCase();
  if (dc.includes('.')) return dc;
  if (dc === 'cn1') return 'cn1.gigya-api.cn';
  return `${dc}.gigya.com`;
}

/** The URL of a method: `https://<namespace>.<dc-domain>/<method>`, or `<endpoint>/<method>` with an override. */
export function methodUrl(method: string, target: { dataCenter?: string; endpoint?: string }): string {
  if (target.endpoint) return `${target.endpoint.replace(/\/+$/, '')}/${method}`;
  const namespace = method.split('.')[0] ?? 'accounts';
  return `https://${namespace}.${dataCenterDomain(target.dataCenter ?? 'us1')}/${method}`;
}

/**
 * What a client needs of a budget it shares with other clients: a slot before each call (waiting for it), and a
 * pause of every caller after a throttling answer. {@link CallBudget} keeps one in this process's memory; a
 * budget kept elsewhere (a table that concurrent Lambdas share) implements the same two methods.
 */
export interface SharedBudget {
  /** Waits until a call may start; returns the function that frees its slot. `onHeld`: a pause delayed it. */
  acquire(signal?: AbortSignal, onHeld?: () => void): Promise<() => void>;
  /**
   * Holds every caller back for `ms` after a 403048, and cuts the pace ({@link cutPace}) unless the refused call
   * asked for its slot (`askedAt`, epoch ms; now when left out) before the budget's last cut: a call paced at the
   * old rate says nothing about the new one, so the calls in flight when the site first refused make one cut.
   */
  pause(ms: number, askedAt?: number): void;
}

/**
 * Calls start this fraction below the configured rate: a site counts calls as they reach it, and calls started
 * exactly 1 / rate apart reach it a little unevenly (either side's event loop, the network), so at a rate equal to
 * the site's ceiling a call that arrives late and the one a second after it, on time, make one call too many in
 * its one-second window. At 5 % below 20/s, 21 calls span 1,053 ms, so a window holds one too many only when a call
 * reaches the site more than 50 ms late; at 2.5 % below, 26 ms. Why 5 %: each refusal costs the whole job some 12
 * calls of the cut ({@link PACE_CUT}) and two of the pause ({@link REFUSAL_PAUSE_MS}), and the runs at 97.5 % drew
 * more refusals than the 2.5 % of pace given up would pay for. Measured (`npm run bench -- extract`, 1,000,000
 * accounts, 20/s ceiling, 1 s per search, 2-core machine, the embedded servers in their own thread): at 97.5 % of the ceiling 1 and 4 refusals (65.0 and 68.5 s; each refusal
 * of a traced run came from one call that reached the site 26 to 42 ms late), at 95 % 0, 0, 0 and 1 (64.8 to 66.0 s).
 * With those servers on the main thread, at 95 %, a refusal still came from calls bunched after a stall, which the
 * cuts answer.
 */
export const PACE_MARGIN = 0.05;
/**
 * A 403048 cuts the pace to this fraction of the pace the refused call was sent at. Why 3/4: a multiplicative cut
 * finds a ceiling far below the configured rate in a few refusals (20/s paced at 19 reaches a site's 10/s, the
 * ceiling of sites licensed for up to 5M contacts, apis.md §A.9, in three: 14.25, 10.7, 8), where halving would
 * overshoot to half the ceiling and a gentler cut would draw a refusal more for each step; and a cut at a ceiling
 * equal to the configured rate (a refusal from a stalled process) costs a quarter of the pace for about two
 * seconds ({@link PACE_HOLD_MS}, {@link PACE_HALF_LIFE_MS}), some 7 calls at 20/s.
 */
export const PACE_CUT = 0.75;
/**
 * After a 403048 every call sharing the budget waits this long, or the refused call's own backoff when that is
 * shorter (the refused call waits its backoff in any case). The pause makes the calls already waiting for a slot take
 * a new one at the cut pace, and leaves the site's sliding second a call or two lighter (two slots at 20/s); the cut
 * ({@link PACE_CUT}) is what backs the job off. Why not the whole backoff, as the pause once was: with a second of
 * latency a refusal is answered a second after the call that tripped the ceiling, when the site's count has long
 * moved on, and a pause of 0.5 to 1 s left every partition idle for 10 to 19 slots at 19/s whatever the ceiling.
 * Simulated on a virtual clock (test/unit/connectors/gigya-call-budget.test.ts) at 20/s against ceilings of 5, 10
 * and 15/s with 0.3 and 1 s of latency, a pause of 100 ms passed more calls than one of 750 ms in every case (at 10/s
 * and 1 s: 9.3 against 8.0 calls/s) and no more refusals; 50 ms fell behind at 1 s of latency.
 */
export const REFUSAL_PAUSE_MS = 100;
/**
 * The pace never falls below this many calls per second, nor below {@link PACE_FLOOR_FRACTION} of the configured
 * rate (nor rises above the paced configured rate): a site refusing one call a second is not throttling on rate,
 * and the retries and their cap decide what becomes of its calls.
 */
export const PACE_FLOOR = 1;
/**
 * The pace never falls below this fraction of the configured rate: 1/20, so that the smallest ceiling of apis.md
 * §A.9 (5 consent searches/s) stays within reach of the writers' 50/s, while a few bunched refusals cannot
 * collapse the pace to a crawl.
 */
export const PACE_FLOOR_FRACTION = 0.05;
/**
 * For this long after a cut the pace holds at the cut: the answers that arrive meanwhile are of calls sent before
 * the cut or of the refused calls' first retries (their backoff, 0.5 to 1 s at the default base), and the site
 * counts calls in a sliding second that still holds the calls sent at the old pace.
 */
export const PACE_HOLD_MS = 1_000;
/**
 * After the hold, each quiet second halves the gap between the pace and the pace the site last refused: the
 * site's window is one second, so each window without a refusal is evidence for the next half. The pace returns
 * within 5 % of the refused pace in about 5 s and never passes it by this rule alone, so on a site with a ceiling
 * below the configured rate it settles just under the ceiling (a pace over it by δ calls/s meets one call too many
 * about every 1/δ s, so refusals grow rarer as the refused pace nears the ceiling), and on a site whose ceiling is
 * the configured rate a scattered refusal costs little.
 */
export const PACE_HALF_LIFE_MS = 1_000;
/**
 * After this long without a refusal, the pace also climbs past the refused pace ({@link PACE_PROBE}): a refusal
 * from a stalled process, or a ceiling shared with another job that has ended, leaves the refused pace below what
 * the site allows now, and ten quiet seconds are some ten times the window of the site's count.
 */
export const PACE_PROBE_AFTER_MS = 10_000;
/**
 * The climb past the refused pace, in fractions of the configured rate per second: 1 % (0.2/s each second at
 * 20/s), so a pace held back by a stale refusal regains the configured rate within seconds of the probe starting
 * when the gap is small, while a site whose ceiling is just above the pace refuses at most about once per
 * {@link PACE_PROBE_AFTER_MS}.
 */
export const PACE_PROBE = 0.01;

/** The last cut of a budget's pace, which the pace climbs back from: all that a budget needs to know of its pace. */
export interface PaceCut {
  /** When the cut was made (epoch ms): calls that asked for a slot before it do not cut again. */
  readonly at: number;
  /** The pace right after the cut (calls per second). */
  readonly from: number;
  /** The pace the refused call was sent at, which the pace climbs back towards. */
  readonly to: number;
}

/** The lowest pace of a budget of `callsPerSecond` ({@link PACE_FLOOR}, {@link PACE_FLOOR_FRACTION}). */
export function paceFloor(callsPerSecond: number): number {
  return Math.min(callsPerSecond * (1 - PACE_MARGIN), Math.max(PACE_FLOOR, callsPerSecond * PACE_FLOOR_FRACTION));
}

/**
 * The calls per second a budget of `callsPerSecond` starts calls at, `now`, after its last `cut` (none: the
 * configured rate less {@link PACE_MARGIN}): held at the cut for {@link PACE_HOLD_MS}, then climbing back towards
 * the refused pace ({@link PACE_HALF_LIFE_MS}) and, after {@link PACE_PROBE_AFTER_MS} without a cut, past it
 * ({@link PACE_PROBE}); never above the paced configured rate nor below {@link paceFloor}.
 */
export function pacedRate(callsPerSecond: number, cut?: PaceCut, now: number = Date.now()): number {
  const top = callsPerSecond * (1 - PACE_MARGIN);
  if (cut === undefined || !Number.isFinite(callsPerSecond)) return top;
  const quiet = Math.max(0, now - cut.at);
  const climbed =
    cut.to -
    (cut.to - cut.from) * 2 ** (-Math.max(0, quiet - PACE_HOLD_MS) / PACE_HALF_LIFE_MS) +
    (callsPerSecond * PACE_PROBE * Math.max(0, quiet - PACE_PROBE_AFTER_MS)) / 1000;
  return Math.min(top, Math.max(paceFloor(callsPerSecond), climbed));
}

/**
 * The cut a 403048 makes, `now`, to a budget of `callsPerSecond` whose last cut was `last`, for a call that asked
 * for its slot at `askedAt`; undefined when that call asked before `last` was made (it was paced at the old rate:
 * the cut that answered its fellows answers it too).
 */
export function cutPace(
  callsPerSecond: number,
  last: PaceCut | undefined,
  askedAt: number,
  now: number = Date.now(),
): PaceCut | undefined {
  if (!Number.isFinite(callsPerSecond) || (last !== undefined && askedAt < last.at)) return undefined;
  const refused = pacedRate(callsPerSecond, last, Math.min(askedAt, now));
  return { at: now, from: Math.max(paceFloor(callsPerSecond), refused * PACE_CUT), to: refused };
}

/**
 * A budget of concurrent calls and calls per second. Calls start evenly spaced (1 / rate apart) rather than in
 * bursts, so a client kept under the tenant's per-second ceiling does not trip it in a sliding window; the rate
 * is {@link pacedRate}: a margin below the configured one, cut on a 403048 and climbing back while the site is quiet.
 */
export class CallBudget implements SharedBudget {
  readonly maxConcurrency: number;
  readonly callsPerSecond: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  /** When the next call may start (epoch ms). */
  #nextStart = 0;
  /** Until when every caller waits after a throttled call (epoch ms; see {@link pause}). */
  #pausedUntil = 0;
  /** Calls whose start a {@link pause} held back. */
  #held = 0;
  /** The last cut of the pace ({@link cutPace}), and how many there were. */
  #cut: PaceCut | undefined;
  #cuts = 0;

  constructor(options: { maxConcurrency?: number; callsPerSecond?: number } = {}) {
    this.maxConcurrency = Math.max(1, options.maxConcurrency ?? 10);
    this.callsPerSecond = options.callsPerSecond ?? Number.POSITIVE_INFINITY;
  }

  /** Calls in flight. */
  get active(): number {
    return this.#active;
  }

  /** How many calls a {@link pause} held back so far. */
  get held(): number {
    return this.#held;
  }

  /** How many times a 403048 cut the pace so far (refusals of calls paced before a cut count with it). */
  get cuts(): number {
    return this.#cuts;
  }

  /** The calls per second calls start at now ({@link pacedRate}). */
  get pace(): number {
    return pacedRate(this.callsPerSecond, this.#cut);
  }

  /**
   * Holds every caller of this budget back for `ms`, and cuts its pace unless the refused call asked for its slot
   * before the last cut (see {@link SharedBudget.pause}): the site said it is over its ceiling (403048), and a
   * ceiling is the site's, not one caller's, so all the calls sharing it back off together rather than each trying
   * again on its own and tripping the ceiling again.
   */
  pause(ms: number, askedAt?: number): void {
    const now = Date.now();
    const cut = cutPace(this.callsPerSecond, this.#cut, askedAt ?? now, now);
    if (cut) {
      this.#cut = cut;
      this.#cuts++;
    }
    const until = now + Math.max(0, ms);
    if (until > this.#pausedUntil) this.#pausedUntil = until;
    if (until > this.#nextStart) this.#nextStart = until;
  }

  /**
   * Waits for a slot and for the rate; returns the function that frees the slot. `onHeld` is called when a
   * {@link pause} delays this call.
   */
  async acquire(signal?: AbortSignal, onHeld?: () => void): Promise<() => void> {
    if (this.#active >= this.maxConcurrency) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.#waiting.indexOf(wake);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal?.reason);
        };
        if (signal?.aborted) return reject(signal.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(wake);
      });
    } else this.#active++;
    // A woken waiter inherits the slot of the caller that released it, so #active is unchanged for it.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    };
    const spaced = Number.isFinite(this.callsPerSecond) && this.callsPerSecond > 0;
    let counted = false;
    for (;;) {
      const now = Date.now();
      if (this.#pausedUntil > now && !counted) {
        counted = true;
        this.#held++;
        onHeld?.();
      }
      if (!spaced && this.#pausedUntil <= now) break;
      const start = Math.max(now, this.#nextStart, this.#pausedUntil);
      this.#nextStart = spaced ? start + 1000 / pacedRate(this.callsPerSecond, this.#cut, start) : start;
      if (start <= now) break;
      try {
        await sleep(start - now, undefined, signal ? { signal } : {});
      } catch (error) {
        release();
        throw error;
      }
      // A pause that began while this call waited for its slot holds it too: its slot was given at the old pace,
      // into the second the site has just refused; it takes a new one after the pause.
      if (this.#pausedUntil <= start) break;
    }
    return release;
  }
}

const sharedBudgets = new Map<string, { budget: CallBudget; refs: number }>();

/**
 * The budget shared by every client of one job and site in this process (steps of a split run side by side).
 * The first caller's limits win; `release` drops the reference.
 */
export function sharedCallBudget(
  key: string,
  options: { maxConcurrency?: number; callsPerSecond?: number },
): { budget: CallBudget; release: () => void } {
  let entry = sharedBudgets.get(key);
  if (!entry) {
    entry = { budget: new CallBudget(options), refs: 0 };
    sharedBudgets.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    budget: held.budget,
    release: () => {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && sharedBudgets.get(key) === held) sharedBudgets.delete(key);
    },
  };
}

/** Retry policy: exponential backoff with jitter, capped in attempts and in total time. */
export interface RetryOptions {
  /** Calls in all, the first included. @default 8 */
  readonly maxAttempts?: number;
  /** The first backoff; each retry doubles it. @default 1000 */
  readonly baseDelayMs?: number;
  /** The largest single backoff. @default 30000 */
  readonly maxDelayMs?: number;
  /** No retry starts after this much time since the first call. @default 300000 */
  readonly maxTotalMs?: number;
}

/** How the client authenticates (apis.md §A.2). */
export type GigyaAuthMode = 'secret' | 'signature' | 'bearer';

/** Options of {@link GigyaClient}. */
export interface GigyaClientOptions {
  readonly apiKey: string;
  /** The user (application) key; required for cursors, imports and bearer tokens. */
  readonly userKey?: string;
  /** The user key's secret (base64). Sent as a form field in `secret` mode; the HMAC key in `signature` mode. */
  readonly secret?: string;
  /** PEM private key of an RSA application key (`bearer` mode). */
  readonly privateKey?: string;
  /** @default 'secret' when a secret is given, 'bearer' when only a private key is */
  readonly auth?: GigyaAuthMode;
  /** Data centre (`us1`, `eu1`, `au1`, `cn1`, …) or a full domain. @default 'us1' */
  readonly dataCenter?: string;
  /** Base URL replacing `https://<namespace>.<dc-domain>` (the local emulator, a proxy). */
  readonly endpoint?: string;
  readonly retry?: RetryOptions;
  /**
   * A budget shared with other clients (e.g. the job's calls per second on one site, see
   * {@link sharedCallBudget}); honoured in addition to this client's own two limits below.
   */
  readonly budget?: SharedBudget;
  /** Calls in flight at once from this client. @default 10 */
  readonly maxConcurrency?: number;
  /** Calls per second from this client. @default unlimited */
  readonly callsPerSecond?: number;
  /** Per-request timeout (search may take up to 60 s server-side). @default 75000 */
  readonly timeoutMs?: number;
  readonly log?: Logger;
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  /** Randomness for jitter (tests pin it). @default Math.random */
  readonly random?: () => number;
}

/** Per-call options. */
export interface CallOptions {
  /** Retry transient errors. @default true */
  readonly retry?: boolean;
  /** Called each time a throttling pause of the budgets ({@link CallBudget.pause}) holds this call back. */
  readonly onHeld?: () => void;
}

/** Counters of what a client did, for logs and tests. */
export interface GigyaClientStats {
  calls: number;
  retries: number;
  backoffMs: number;
}

/** A Gigya REST client bound to one site (API key) and one set of credentials. */
export class GigyaClient {
  readonly #o: GigyaClientOptions;
  /** This client's own limits. */
  readonly #budget: CallBudget;
  /** A budget shared with other clients (the job's calls per second), acquired after the own one. */
  readonly #shared: SharedBudget | undefined;
  readonly #fetch: typeof fetch;
  /** Set after a 301001 answer names the site's real data centre. */
  #redirectedDomain: string | undefined;
  readonly stats: GigyaClientStats = { calls: 0, retries: 0, backoffMs: 0 };
  /** The RSA key bearer tokens are signed with, read once. */
  #signingKey: KeyObject | undefined;

  constructor(options: GigyaClientOptions) {
    if (!options.apiKey) {
      throw new IdxError('IDX_GIGYA_CREDENTIALS', 'a Gigya client needs an apiKey', {
        param: 'apiKey',
        expected: 'the site API key',
        received: 'nothing',
      });
    }
    this.#o = options;
    if (this.auth === 'bearer') this.#signingKey = readSigningKey(options.privateKey);
    this.#budget = new CallBudget({
      maxConcurrency: options.maxConcurrency ?? 10,
      ...(options.callsPerSecond === undefined ? {} : { callsPerSecond: options.callsPerSecond }),
    });
    this.#shared = options.budget;
    this.#fetch = options.fetch ?? fetch;
  }

  /** The authentication mode in use. */
  get auth(): GigyaAuthMode {
    return this.#o.auth ?? (this.#o.secret ? 'secret' : this.#o.privateKey ? 'bearer' : 'secret');
  }

  /** The URL a method is posted to. */
  urlOf(method: string): string {
    if (this.#redirectedDomain && !this.#o.endpoint) return methodUrl(method, { dataCenter: this.#redirectedDomain });
    return methodUrl(method, {
      ...(this.#o.dataCenter === undefined ? {} : { dataCenter: this.#o.dataCenter }),
      ...(this.#o.endpoint === undefined ? {} : { endpoint: this.#o.endpoint }),
    });
  }

  /**
   * Calls a method; resolves with the response when `errorCode` is 0 (or informational), throws a
   * {@link GigyaError} otherwise. Transient errors are retried with backoff within the retry caps.
   */
  async call(
    method: string,
    params: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<GigyaResponse> {
    const retry = this.#o.retry ?? {};
    const maxAttempts = options.retry === false ? 1 : Math.max(1, retry.maxAttempts ?? 8);
    const base = retry.baseDelayMs ?? 1000;
    const cap = retry.maxDelayMs ?? 30_000;
    const maxTotal = retry.maxTotalMs ?? 300_000;
    const random = this.#o.random ?? Math.random;
    const started = Date.now();
    let redirected = false;
    for (let attempt = 1; ; attempt++) {
      let response: GigyaResponse | undefined;
      let failure: IdxError | undefined;
      const slot = { askedAt: Date.now() };
      try {
        response = await this.#send(method, params, slot, options.onHeld);
      } catch (error) {
        if (this.#o.signal?.aborted) throw error;
        failure = error instanceof IdxError ? error : networkError(method, error);
      }
      if (response) {
        if (SUCCESS_CODES.has(response.errorCode)) return response;
        if (
          response.errorCode === 301001 &&
          !redirected &&
          !this.#o.endpoint &&
          typeof response.apiDomain === 'string'
        ) {
          // The site lives in another data centre: follow the answer once, then treat 301001 as fatal.
          redirected = true;
          this.#redirectedDomain = response.apiDomain;
          this.#o.log?.warn(`Gigya ${method}: site is in data centre ${response.apiDomain}; switching`, {
            callId: response.callId,
          });
          attempt--;
          continue;
        }
        failure = new GigyaError(method, response, attempt);
      }
      const error = failure as IdxError;
      const retryable =
        error.transient ||
        // A stale timestamp or a reused nonce is cured by signing again (each attempt re-signs).
        (error instanceof GigyaError && (error.errorCode === 403002 || error.errorCode === 403004) && attempt === 1);
      const exp = Math.min(cap, base * 2 ** (attempt - 1));
      const delay = Math.round(exp / 2 + (random() * exp) / 2);
      if (!retryable || attempt >= maxAttempts || Date.now() - started + delay > maxTotal) {
        throw error;
      }
      if (error instanceof GigyaError && error.errorCode === RATE_LIMITED) {
        // The ceiling is the site's: every call sharing these budgets waits too, not only this one (briefly: the
        // cut is what backs them off), and the pace of all of them is cut (once for the calls that were already
        // paced when the site first refused).
        const pause = Math.min(delay, REFUSAL_PAUSE_MS);
        this.#budget.pause(pause, slot.askedAt);
        this.#shared?.pause(pause, slot.askedAt);
      }
      this.stats.retries++;
      this.stats.backoffMs += delay;
      const details =
        error instanceof GigyaError ? { errorCode: error.errorCode, callId: error.callId } : { error: error.message };
      this.#o.log?.warn(`Gigya ${method}: attempt ${attempt} failed, retrying in ${delay} ms`, details);
      await sleep(delay, undefined, this.#o.signal ? { signal: this.#o.signal } : {});
    }
  }

  /** One search page: either `query` (optionally opening a cursor) or `cursorId`, never both. */
  async searchPage(
    method: string,
    request: {
      query?: string;
      cursorId?: string;
      openCursor?: boolean;
      params?: Record<string, unknown>;
      onHeld?: () => void;
    },
  ): Promise<GigyaSearchPage> {
    const params: Record<string, unknown> = { ...(request.params ?? {}) };
    if (request.cursorId) params.cursorId = request.cursorId;
    else {
      params.query = request.query;
      if (request.openCursor) params.openCursor = true;
    }
    const r = await this.call(method, params, request.onHeld ? { onHeld: request.onHeld } : {});
    return {
      results: Array.isArray(r.results) ? (r.results as Record<string, unknown>[]) : [],
      ...(typeof r.nextCursorId === 'string' && r.nextCursorId ? { nextCursorId: r.nextCursorId } : {}),
      ...(typeof r.totalCount === 'number' ? { totalCount: r.totalCount } : {}),
      ...(typeof r.objectsCount === 'number' ? { objectsCount: r.objectsCount } : {}),
      ...(r.callId === undefined ? {} : { callId: r.callId }),
    };
  }

  /**
   * Walks a query with a cursor, page by page, until a page comes back without `nextCursorId` (short pages do
   * not end the walk).
   */
  async *search(method: string, query: string, params: Record<string, unknown> = {}): AsyncGenerator<GigyaSearchPage> {
    let page = await this.searchPage(method, { query, openCursor: true, params });
    yield page;
    while (page.nextCursorId) {
      page = await this.searchPage(method, { cursorId: page.nextCursorId, params });
      yield page;
    }
  }

  /** Sends one attempt; `slot.askedAt` becomes the time it asked the shared budget for its slot. */
  async #send(
    method: string,
    params: Readonly<Record<string, unknown>>,
    slot: { askedAt: number },
    onHeld?: () => void,
  ): Promise<GigyaResponse> {
    // Counted once per call, whichever of the two budgets held it back.
    let heldOnce = false;
    const held = () => {
      if (heldOnce) return;
      heldOnce = true;
      onHeld?.();
    };
    const releaseOwn = await this.#budget.acquire(this.#o.signal, held);
    let releaseShared: (() => void) | undefined;
    // The slot of the shared budget is taken now, at the pace of now: what a 403048 to this call speaks of.
    slot.askedAt = Date.now();
    try {
      releaseShared = await this.#shared?.acquire(this.#o.signal, held);
    } catch (error) {
      releaseOwn();
      throw error;
    }
    const release = () => {
      releaseShared?.();
      releaseOwn();
    };
    try {
      this.stats.calls++;
      const url = this.urlOf(method);
      const form: Record<string, string> = { apiKey: this.#o.apiKey, format: 'json', httpStatusCodes: 'false' };
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined) continue;
        form[k] = encodeParam(v);
      }
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      let body: Record<string, string>;
      switch (this.auth) {
        case 'signature':
          if (this.#o.userKey) form.userKey = this.#o.userKey;
          body = signParams(url, form, this.#o.secret ?? '');
          break;
        case 'bearer':
          headers.authorization = `Bearer ${bearerToken(this.#o.userKey ?? '', this.#signingKey ?? readSigningKey(this.#o.privateKey))}`;
          body = form;
          break;
        default:
          if (this.#o.userKey) form.userKey = this.#o.userKey;
          if (this.#o.secret) form.secret = this.#o.secret;
          body = form;
      }
      const timeout = AbortSignal.timeout(this.#o.timeoutMs ?? 75_000);
      const signal = this.#o.signal ? AbortSignal.any([this.#o.signal, timeout]) : timeout;
      const res = await this.#fetch(url, {
        method: 'POST',
        headers,
        body: new URLSearchParams(body).toString(),
        signal,
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // A proxy or load balancer answered instead of Gigya: 5xx is worth another try, anything else is not.
        throw new IdxError(
          'IDX_GIGYA_RESPONSE',
          `Gigya ${method} answered HTTP ${res.status} with a body that is not JSON`,
          {
            expected: 'a JSON response envelope',
            received: `HTTP ${res.status}, ${text.length} bytes`,
            transient: res.status >= 500 || res.status === 429,
            details: { method, httpStatus: res.status },
          },
        );
      }
      if (!parsed || typeof parsed !== 'object' || typeof (parsed as GigyaResponse).errorCode !== 'number') {
        throw new IdxError('IDX_GIGYA_RESPONSE', `Gigya ${method} answered without an errorCode`, {
          expected: 'a response envelope with errorCode',
          received: `HTTP ${res.status}`,
          details: { method, httpStatus: res.status },
        });
      }
      return parsed as GigyaResponse;
    } finally {
      release();
    }
  }
}

function encodeParam(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The RSA private key of bearer mode, read before any request: a key that cannot be read is a credential error
 * of its own, permanent, never a network failure retried. The key itself is never echoed.
 */
function readSigningKey(pem: string | undefined): KeyObject {
  let key: KeyObject | undefined;
  let reason = 'no key';
  if (pem?.trim()) {
    try {
      key = createPrivateKey(pem);
      reason = `a ${key.asymmetricKeyType ?? 'non-RSA'} key`;
    } catch (error) {
      reason = `text that is not a private key (${(error as { code?: string }).code ?? 'unreadable'})`;
    }
  }
  if (key?.asymmetricKeyType === 'rsa') return key;
  throw new IdxError('IDX_GIGYA_PRIVATE_KEY', 'the Gigya privateKey is not an RSA private key that can be read', {
    param: 'privateKey',
    expected: 'an RSA private key in PEM (PKCS#1 or PKCS#8)',
    received: reason,
    transient: false,
  });
}

function networkError(method: string, error: unknown): IdxError {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const what = e.cause?.code ?? e.name ?? 'error';
  return new IdxError(
    'IDX_GIGYA_NETWORK',
    `Gigya ${method}: the request failed (${what}: ${e.cause?.message ?? e.message ?? ''})`,
    {
      expected: 'an HTTP response',
      received: what,
      transient: true,
      cause: error,
      details: { method },
    },
  );
}
