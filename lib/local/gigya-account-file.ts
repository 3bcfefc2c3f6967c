/**
 * The Gigya emulator's accounts, kept on disk so that millions of them fit in a small, flat amount of memory.
 *
 * The accounts live in an append-only NDJSON log: a line is an account (the whole account, as getAccountInfo
 * would see it; a later line for the same UID replaces the earlier one), `{"$delete": UID}`, or
 * `{"$generate": {seed, start, count, now, updatedWithinMs}}`, which stands for `count` accounts of
 * {@link generateAccount} without writing them out: seeding a million generated accounts writes one line, and an
 * account that changes afterwards is written in full as any other. A log of plain account lines (what earlier
 * versions wrote) is a valid log.
 *
 * In memory there is only an index of fixed-size entries per account, in typed arrays outside the JavaScript heap
 * (about 40 bytes an account): where the account is (byte offset and length in the log, or its number in a generated
 * run), its `lastUpdatedTimestamp`, whether it is live and lite, and hashes of its UID and (lite accounts) email,
 * which open-addressing tables map back to the account. Searches over `lastUpdatedTimestamp` ranges read a sorted
 * order of the index, so several cursors over disjoint time ranges cost what they return; any other condition is
 * checked on the account itself, and the verdicts are remembered per condition until the account changes; on a
 * generated account that has not changed, a condition the generator's shape decides (`GENERATED_SHAPE`:
 * `profile.email IS NOT NULL` holds for each) is answered without building it. On close, and whenever the log has
 * grown by {@link CHECKPOINT_BYTES}, the index is written next to the log (`accounts.index`), so a restart reads the
 * index and replays only the log written after it.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdxError, showValue } from '../core/errors.ts';
import { DEFAULT_UPDATED_WITHIN_MS, GENERATED_SHAPE, generateAccount, generatedKey } from './gigya-accounts.ts';
import {
  decideByShape,
  type Expr,
  exprKey,
  matches,
  project,
  type Query,
  rangeOf,
  sortDocuments,
} from './gigya-query.ts';

/** A stored account: the shape getAccountInfo returns (plus everything search can see). */
export type GigyaAccount = Record<string, unknown> & { UID: string };

/** A run of generated accounts: numbers `start` to `start + count - 1` of {@link generateAccount}. */
export interface GeneratedRun {
  readonly seed: number;
  readonly start: number;
  readonly count: number;
  /** The instant the accounts' timestamps fall before (epoch ms). */
  readonly now: number;
  readonly updatedWithinMs: number;
}

/** Which accounts a search reads, in which order (the parts of a query that concern accounts). */
export interface AccountSelection {
  /** Full accounts are searched. */
  readonly full: boolean;
  /** Lite accounts are searched. */
  readonly lite: boolean;
  /** Accounts updated after this instant are not visible yet (search-index lag); none: all are. */
  readonly visibleUpTo?: number;
  readonly where?: Expr;
  readonly orderBy: Query['orderBy'];
}

/** Options of {@link AccountFile.open}. */
export interface AccountFileOptions {
  /** Folder of `accounts.ndjson` and `accounts.index`; none: a temporary file, gone when the process ends. */
  readonly dir?: string;
}

const LIVE = 1;
const LITE = 2;
const GENERATED = 4;

/** The log grows by this much before the index is written again (a restart replays at most this much). */
export const CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** Appended lines are written in batches of about this size. */
const WRITE_BATCH = 1024 * 1024;
/** Conditions whose verdicts are remembered (least recently used dropped). */
const MAX_VERDICTS = 8;
/** A search lets other requests run after this many account reads. */
const READS_PER_TURN = 2048;
const INDEX_FORMAT = 'idx-gigya-account-index';

/** 32-bit FNV-1a of a string's UTF-16 units. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  // Zero marks "no hash" in the email column; keep real hashes away from it.
  return h >>> 0 || 1;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function liteEmail(a: Record<string, unknown>): string | undefined {
  if (a.hasFullAccount !== false) return undefined;
  const email = isObject(a.profile) ? a.profile.email : undefined;
  return typeof email === 'string' ? email : undefined;
}

/** An open-addressing table from a 32-bit hash to record numbers (stored +1; 0 is an empty slot). */
class HashSlots {
  slots = new Int32Array(1024);
  used = 0;

  constructor(
    private readonly hashOf: (r: number) => number,
    /** Whether the record still belongs in the table (a slot of one that does not may be reused). */
    private readonly keep: (r: number) => boolean,
  ) {}

  /** The first record with this hash that `match` accepts, or -1. */
  find(hash: number, match: (r: number) => boolean): number {
    const mask = this.slots.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i] as number;
      if (v === 0) return -1;
      if (match(v - 1)) return v - 1;
    }
  }

  insert(r: number): void {
    if ((this.used + 1) * 2 > this.slots.length) this.#rehash();
    const mask = this.slots.length - 1;
    for (let i = this.hashOf(r) & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i] as number;
      if (v === r + 1) return;
      if (v === 0 || !this.keep(v - 1)) {
        if (v === 0) this.used++;
        this.slots[i] = r + 1;
        return;
      }
    }
  }

  #rehash(): void {
    const old = this.slots;
    let live = 0;
    for (const v of old) if (v !== 0 && this.keep(v - 1)) live++;
    let size = 1024;
    while (size < (live + 1) * 3) size *= 2;
    this.slots = new Int32Array(size);
    this.used = 0;
    for (const v of old) if (v !== 0 && this.keep(v - 1)) this.insert(v - 1);
  }
}

/** Remembered verdicts of one condition: two bits per record (known, value). */
interface Verdicts {
  known: Uint8Array;
  value: Uint8Array;
}

const closer = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
});

/** The accounts of a {@link GigyaStore}: a log on disk and an index in memory. */
export class AccountFile {
  readonly #log: string | undefined;
  readonly #indexFile: string | undefined;
  #fd: number | undefined;
  /** Bytes of the log, including lines not written yet. */
  #size = 0;
  /** Bytes of the log on disk. */
  #flushed = 0;
  #pending: string[] = [];
  #pendingBytes = 0;
  /** Log bytes the index file covers. */
  #checkpointed = 0;
  #scratch = Buffer.allocUnsafe(64 * 1024);

  #n = 0;
  #live = 0;
  #flags = new Uint8Array(0);
  /** Byte offset in the log, or the account's number in its generated run. */
  #loc = new Float64Array(0);
  /** Byte length in the log, or the index of the generated run. */
  #len = new Uint32Array(0);
  /** `lastUpdatedTimestamp`, NaN when the account has none that is a number. */
  #ts = new Float64Array(0);
  #uidHash = new Uint32Array(0);
  /** Hash of a lite account's email; 0 otherwise. */
  #emailHash = new Uint32Array(0);
  #runs: GeneratedRun[] = [];
  readonly #byUid = new HashSlots(
    (r) => this.#uidHash[r] as number,
    (r) => ((this.#flags[r] as number) & LIVE) !== 0,
  );
  readonly #liteByEmail = new HashSlots(
    (r) => this.#emailHash[r] as number,
    (r) => ((this.#flags[r] as number) & (LIVE | LITE)) === (LIVE | LITE),
  );

  /** Live records sorted by (`lastUpdatedTimestamp`, UID), built on the first search that needs it. */
  #order: Uint32Array | undefined;
  /** Records whose place in {@link #order} may have changed since it was sorted. */
  #moved = new Uint8Array(0);
  #movedCount = 0;
  readonly #verdicts = new Map<string, Verdicts>();
  #reads = 0;

  private constructor(log: string | undefined) {
    this.#log = log;
    this.#indexFile = log === undefined ? undefined : log.replace(/\.ndjson$/, '.index');
  }

  /** Opens the accounts of a folder (reading its index and replaying the log after it), or a temporary file. */
  static open(options: AccountFileOptions = {}): AccountFile {
    if (options.dir === undefined) {
      const file = new AccountFile(undefined);
      const tmp = mkdtempSync(join(tmpdir(), 'idx-gigya-'));
      const path = join(tmp, 'accounts.ndjson');
      file.#fd = openSync(path, 'w+');
      // Unlinked at once: the file lives as long as its descriptor, however the process ends.
      rmSync(tmp, { recursive: true, force: true });
      closer.register(file, file.#fd, file);
      return file;
    }
    mkdirSync(options.dir, { recursive: true });
    const file = new AccountFile(join(options.dir, 'accounts.ndjson'));
    file.#load();
    return file;
  }

  /** Live accounts. */
  get size(): number {
    return this.#live;
  }

  // ---- reading ------------------------------------------------------------------------------------------

  /** The record of a live account, or -1. */
  find(uid: string): number {
    const h = hash32(uid);
    return this.#byUid.find(
      h,
      (r) => ((this.#flags[r] as number) & LIVE) !== 0 && this.#uidHash[r] === h && this.uidOf(r) === uid,
    );
  }

  /** The record of the live lite account with this email, or -1. */
  findLite(email: string): number {
    const h = hash32(email);
    return this.#liteByEmail.find(
      h,
      (r) =>
        ((this.#flags[r] as number) & (LIVE | LITE)) === (LIVE | LITE) &&
        this.#emailHash[r] === h &&
        liteEmail(this.read(r) as Record<string, unknown>) === email,
    );
  }

  /** A fresh copy of a record's account (the caller owns it); undefined when the account was deleted. */
  read(r: number): GigyaAccount | undefined {
    const flags = this.#flags[r] as number;
    if (!(flags & LIVE)) return undefined;
    this.#reads++;
    if (flags & GENERATED) {
      const run = this.#runs[this.#len[r] as number] as GeneratedRun;
      return generateAccount(this.#loc[r] as number, run.seed, run.now, run.updatedWithinMs);
    }
    return JSON.parse(this.#readText(this.#loc[r] as number, this.#len[r] as number)) as GigyaAccount;
  }

  /** The UID of a record, read without building the account where possible. */
  uidOf(r: number): string {
    const flags = this.#flags[r] as number;
    if (flags & GENERATED) {
      const run = this.#runs[this.#len[r] as number] as GeneratedRun;
      return generatedKey(this.#loc[r] as number, run.seed, run.now, run.updatedWithinMs).uid;
    }
    const offset = this.#loc[r] as number;
    const length = this.#len[r] as number;
    // Lines are written UID first, so the UID is usually in the first bytes.
    const head = this.#readText(offset, Math.min(length, 256));
    const m = /^\{"UID":"([^"\\]*)"/.exec(head);
    if (m) return m[1] as string;
    return (JSON.parse(this.#readText(offset, length)) as { UID: string }).UID;
  }

  /** Live records in the order they were first added. */
  *records(): Generator<number> {
    for (let r = 0; r < this.#n; r++) if ((this.#flags[r] as number) & LIVE) yield r;
  }

  // ---- writing ------------------------------------------------------------------------------------------

  /** Adds or replaces an account (a complete one, with a UID); returns its record. */
  put(account: GigyaAccount): number {
    // UID first, so that reading a UID back needs only the start of the line.
    const text = JSON.stringify(Object.assign({ UID: account.UID }, account));
    const [offset, length] = this.#append(text);
    return this.#upsert(account.UID, 0, offset, length, account);
  }

  /** Deletes an account; false when there is none with this UID. */
  delete(uid: string): boolean {
    const r = this.find(uid);
    if (r < 0) return false;
    this.#append(JSON.stringify({ $delete: uid }));
    this.#remove(r);
    return true;
  }

  /** Adds a run of generated accounts (replacing accounts with the same UIDs); returns how many. */
  generate(spec: { count: number; seed?: number; start?: number; now: number; updatedWithinMs?: number }): number {
    const run: GeneratedRun = {
      seed: spec.seed ?? 1,
      start: spec.start ?? 0,
      count: spec.count,
      now: spec.now,
      updatedWithinMs: spec.updatedWithinMs ?? DEFAULT_UPDATED_WITHIN_MS,
    };
    if (run.count <= 0) return 0;
    this.#append(JSON.stringify({ $generate: run }));
    this.#addRun(run);
    return run.count;
  }

  /** Forgets every account of the in-memory index (the log on disk is left as it is). */
  #clearIndex(): void {
    this.#n = 0;
    this.#live = 0;
    this.#runs = [];
    this.#resize(0);
    this.#byUid.slots = new Int32Array(1024);
    this.#byUid.used = 0;
    this.#liteByEmail.slots = new Int32Array(1024);
    this.#liteByEmail.used = 0;
  }

  /** Removes every account (the log starts again empty). */
  clear(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    ftruncateSync(this.#descriptor(), 0);
    this.#size = 0;
    this.#flushed = 0;
    this.#checkpointed = 0;
    if (this.#indexFile) rmSync(this.#indexFile, { force: true });
    this.#clearIndex();
    this.#order = undefined;
    this.#movedCount = 0;
    this.#verdicts.clear();
  }

  /** Writes pending lines, and the index when the log has grown enough since it was last written (or `force`). */
  checkpoint(force = false): void {
    this.#flush();
    if (!this.#indexFile || !this.#log || this.#fd === undefined) return;
    if (this.#flushed === this.#checkpointed) return;
    if (!force && this.#flushed - this.#checkpointed < CHECKPOINT_BYTES) return;
    this.#writeIndex();
  }

  /**
   * Writes everything down and releases the log's descriptor. The accounts stay readable: a folder's log opens
   * again on the next use, and a temporary one stays open until this object is collected.
   */
  close(): void {
    if (this.#log === undefined) {
      this.#flush();
      return;
    }
    this.checkpoint(true);
    if (this.#fd !== undefined) {
      closer.unregister(this);
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  // ---- searching ----------------------------------------------------------------------------------------

  /**
   * The records a search matches, in its order. Conditions on `lastUpdatedTimestamp` at the top level of the
   * WHERE clause select a range of the sorted index; the rest is checked on each account in that range. Other
   * requests are served while it runs: it yields to the event loop every {@link READS_PER_TURN} account reads.
   */
  async select(sel: AccountSelection): Promise<Uint32Array> {
    const range = rangeOf(sel.where, 'lastUpdatedTimestamp');
    let hi = range.high;
    if (sel.visibleUpTo !== undefined && (hi === undefined || sel.visibleUpTo < hi.value))
      hi = { value: sel.visibleUpTo, inclusive: true };
    const lo = range.low;
    const typeOk = (r: number): boolean => {
      const f = this.#flags[r] as number;
      return (f & LIVE) !== 0 && (f & LITE ? sel.lite : sel.full);
    };
    const out = new Grow();
    let turn = this.#reads;
    const residual = range.residual;
    const residualKey = residual && exprKey(residual);
    if (residualKey) this.#useVerdicts(residualKey);
    // What the residual answers for every generated account that has not changed since, when the generator's
    // shape decides it: those accounts are then not built at all.
    const generated = residual && decideByShape(residual, GENERATED_SHAPE);
    const accept = (r: number): boolean => {
      if (!typeOk(r)) return false;
      const t = this.#ts[r] as number;
      if (Number.isNaN(t)) {
        // No numeric timestamp (only a hand-written log holds such an account: seeding and writes set one):
        // neither the range nor the search lag can tell, the whole clause decides.
        return !sel.where || matches(this.read(r), sel.where);
      }
      if (lo && (t < lo.value || (t === lo.value && !lo.inclusive))) return false;
      if (hi && (t > hi.value || (t === hi.value && !hi.inclusive))) return false;
      if (!residual) return true;
      if (generated !== undefined && (this.#flags[r] as number) & GENERATED) return generated;
      return this.#test(r, residual, residualKey as string);
    };
    // A promise only when it is time to let other requests run: one per record would cost more than the check.
    const consider = (r: number): Promise<void> | undefined => {
      if (accept(r)) out.push(r);
      if (this.#reads - turn < READS_PER_TURN) return undefined;
      turn = this.#reads;
      return new Promise((resolve) => setImmediate(resolve));
    };

    const [first] = sel.orderBy;
    if (sel.orderBy.length === 1 && first?.field === 'lastUpdatedTimestamp') {
      const order = this.#ordered();
      const finite = this.#firstNaN(order);
      const from = lo ? this.#lowerBound(order, finite, lo.value, lo.inclusive) : 0;
      const to = hi ? this.#lowerBound(order, finite, hi.value, !hi.inclusive) : finite;
      if (!first.desc) {
        for (let k = from; k < to; k++) {
          const wait = consider(order[k] as number);
          if (wait) await wait;
        }
      } else {
        // Descending timestamps, equal timestamps still by ascending UID (as the sort of other fields does).
        let end = to;
        while (end > from) {
          let start = end - 1;
          const t = this.#ts[order[start] as number] as number;
          while (start > from && this.#ts[order[start - 1] as number] === t) start--;
          for (let k = start; k < end; k++) {
            const wait = consider(order[k] as number);
            if (wait) await wait;
          }
          end = start;
        }
      }
      for (let k = finite; k < order.length; k++) {
        const wait = consider(order[k] as number);
        if (wait) await wait;
      }
      return out.done();
    }
    for (let r = 0; r < this.#n; r++) {
      const wait = consider(r);
      if (wait) await wait;
    }
    const matched = out.done();
    return sel.orderBy.length ? this.#sortBy(matched, sel.orderBy) : matched;
  }

  /** The verdicts of a condition, made the most recently used (the least recently used goes beyond the limit). */
  #useVerdicts(key: string): Verdicts {
    let v = this.#verdicts.get(key);
    if (v) this.#verdicts.delete(key);
    else {
      if (this.#verdicts.size >= MAX_VERDICTS) this.#verdicts.delete(this.#verdicts.keys().next().value as string);
      v = { known: new Uint8Array(this.#flags.length >> 3), value: new Uint8Array(this.#flags.length >> 3) };
    }
    this.#verdicts.set(key, v);
    return v;
  }

  /** Whether an account matches a condition, remembered until the account changes. */
  #test(r: number, expr: Expr, key: string): boolean {
    const v = this.#verdicts.get(key) ?? this.#useVerdicts(key);
    const byte = r >> 3;
    const bit = 1 << (r & 7);
    if (byte >= v.known.length) {
      v.known = grownBytes(v.known, this.#flags.length >> 3);
      v.value = grownBytes(v.value, this.#flags.length >> 3);
    }
    if ((v.known[byte] as number) & bit) return ((v.value[byte] as number) & bit) !== 0;
    const yes = matches(this.read(r), expr);
    v.known[byte] = (v.known[byte] as number) | bit;
    v.value[byte] = yes ? (v.value[byte] as number) | bit : (v.value[byte] as number) & ~bit;
    return yes;
  }

  #sortBy(records: Uint32Array, orderBy: Query['orderBy']): Uint32Array {
    const paths = orderBy.map((o) => ({ path: o.field }));
    const recordOf = new Map<Record<string, unknown>, number>();
    const docs = Array.from(records, (r) => {
      const doc = project(this.read(r) as GigyaAccount, paths, true);
      recordOf.set(doc, r);
      return doc;
    });
    const uids = new Map<number, string>();
    sortDocuments(docs, orderBy, (doc) => {
      const r = recordOf.get(doc) as number;
      let uid = uids.get(r);
      if (uid === undefined) {
        uid = this.uidOf(r);
        uids.set(r, uid);
      }
      return uid;
    });
    return Uint32Array.from(docs, (doc) => recordOf.get(doc) as number);
  }

  /** Sorted live records, brought up to date with what moved since the last search. */
  #ordered(): Uint32Array {
    const ts = this.#ts;
    const tie = (a: number, b: number): number => {
      if (a === b) return 0;
      const ua = this.uidOf(a);
      const ub = this.uidOf(b);
      return ua < ub ? -1 : ua > ub ? 1 : 0;
    };
    // Accounts without a numeric timestamp (NaN) sort last; equal timestamps by UID, as sortDocuments orders.
    const cmp = (a: number, b: number): number => {
      const ta = ts[a] as number;
      const tb = ts[b] as number;
      if (ta < tb) return -1;
      if (ta > tb) return 1;
      if (ta === tb) return tie(a, b);
      const na = Number.isNaN(ta);
      return na === Number.isNaN(tb) ? tie(a, b) : na ? 1 : -1;
    };
    const live = (r: number) => ((this.#flags[r] as number) & LIVE) !== 0;
    if (this.#order && this.#movedCount === 0) return this.#order;
    if (!this.#order || this.#movedCount * 4 > this.#live) {
      const all = new Uint32Array(this.#live);
      let k = 0;
      for (let r = 0; r < this.#n; r++) if (live(r)) all[k++] = r;
      this.#order = all.subarray(0, k).sort(cmp);
    } else {
      const moved: number[] = [];
      for (let byte = 0; byte < this.#moved.length; byte++) {
        const bits = this.#moved[byte] as number;
        if (bits === 0) continue;
        for (let b = 0; b < 8; b++) {
          const r = byte * 8 + b;
          if (bits & (1 << b) && r < this.#n && live(r)) moved.push(r);
        }
      }
      moved.sort(cmp);
      const isMoved = (r: number) => ((this.#moved[r >> 3] as number) & (1 << (r & 7))) !== 0;
      const merged = new Uint32Array(this.#live);
      let k = 0;
      let m = 0;
      for (const r of this.#order) {
        if (isMoved(r) || !live(r)) continue;
        while (m < moved.length && cmp(moved[m] as number, r) < 0) merged[k++] = moved[m++] as number;
        merged[k++] = r;
      }
      while (m < moved.length) merged[k++] = moved[m++] as number;
      this.#order = merged.subarray(0, k);
    }
    this.#moved.fill(0);
    this.#movedCount = 0;
    return this.#order;
  }

  /** Where the records without a numeric timestamp start in a sorted order (they sort last). */
  #firstNaN(order: Uint32Array): number {
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Number.isNaN(this.#ts[order[mid] as number] as number)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The first position in `order[0, end)` whose timestamp is ≥ `value` (or > `value` when not `inclusive`). */
  #lowerBound(order: Uint32Array, end: number, value: number, inclusive: boolean): number {
    let lo = 0;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.#ts[order[mid] as number] as number;
      if (t < value || (!inclusive && t === value)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- the index ----------------------------------------------------------------------------------------

  /**
   * Records an account at a place in the log under its UID, or (`account` a timestamp) a generated account at its
   * place in a run.
   */
  #upsert(uid: string, flags: number, loc: number, len: number, account: Record<string, unknown> | number): number {
    let ts = Number.NaN;
    let email: string | undefined;
    let lite = false;
    if (typeof account === 'number') ts = account;
    else {
      const t = account.lastUpdatedTimestamp;
      if (typeof t === 'number') ts = t;
      lite = account.hasFullAccount === false;
      email = liteEmail(account);
    }
    let r = this.find(uid);
    const isNew = r < 0;
    if (isNew) {
      r = this.#n++;
      if (r >= this.#flags.length) this.#resize(Math.max(1024, this.#flags.length * 2));
      this.#uidHash[r] = hash32(uid);
      this.#live++;
    }
    this.#forget(r);
    this.#flags[r] = LIVE | flags | (lite ? LITE : 0);
    this.#loc[r] = loc;
    this.#len[r] = len;
    this.#ts[r] = ts;
    const eh = email === undefined ? 0 : hash32(email);
    const emailChanged = this.#emailHash[r] !== eh;
    this.#emailHash[r] = eh;
    if (isNew) this.#byUid.insert(r);
    if (lite && (isNew || emailChanged)) this.#liteByEmail.insert(r);
    return r;
  }

  #remove(r: number): void {
    this.#forget(r);
    this.#flags[r] = (this.#flags[r] as number) & ~LIVE;
    this.#live--;
  }

  /** What the index derived from a record's account is stale (or new): its place in the order, its verdicts. */
  #forget(r: number): void {
    const byte = r >> 3;
    const bit = 1 << (r & 7);
    if (this.#order && !((this.#moved[byte] as number) & bit)) {
      this.#moved[byte] = (this.#moved[byte] as number) | bit;
      this.#movedCount++;
    }
    for (const v of this.#verdicts.values()) {
      if (byte < v.known.length) v.known[byte] = (v.known[byte] as number) & ~bit;
    }
  }

  #addRun(run: GeneratedRun): void {
    const index = this.#runs.length;
    this.#runs.push(run);
    if (this.#n + run.count > this.#flags.length) {
      let cap = Math.max(1024, this.#flags.length);
      while (cap < this.#n + run.count) cap *= 2;
      this.#resize(cap);
    }
    for (let i = run.start; i < run.start + run.count; i++) {
      const { uid, lastUpdatedTimestamp } = generatedKey(i, run.seed, run.now, run.updatedWithinMs);
      this.#upsert(uid, GENERATED, i, index, lastUpdatedTimestamp);
    }
  }

  #resize(cap: number): void {
    const grow = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, Math.min(a.length, cap)));
      return b;
    };
    this.#flags = grow(this.#flags, (n) => new Uint8Array(n));
    this.#loc = grow(this.#loc, (n) => new Float64Array(n));
    this.#len = grow(this.#len, (n) => new Uint32Array(n));
    this.#ts = grow(this.#ts, (n) => new Float64Array(n));
    this.#uidHash = grow(this.#uidHash, (n) => new Uint32Array(n));
    this.#emailHash = grow(this.#emailHash, (n) => new Uint32Array(n));
    this.#moved = grow(this.#moved, (n) => new Uint8Array(Math.ceil(n / 8)));
  }

  // ---- the log ------------------------------------------------------------------------------------------

  #descriptor(): number {
    if (this.#fd === undefined) {
      // Reopened after close(): see there.
      this.#fd = openSync(this.#log as string, 'a+');
      closer.register(this, this.#fd, this);
    }
    return this.#fd;
  }

  /** Appends a line; returns where its text starts and its length in bytes (without the newline). */
  #append(text: string): [number, number] {
    const length = Buffer.byteLength(text);
    const offset = this.#size;
    this.#pending.push(text, '\n');
    this.#pendingBytes += length + 1;
    this.#size += length + 1;
    if (this.#pendingBytes >= WRITE_BATCH) this.#flush();
    return [offset, length];
  }

  #flush(): void {
    if (this.#pendingBytes === 0) return;
    const buf = Buffer.from(this.#pending.join(''));
    this.#pending = [];
    this.#pendingBytes = 0;
    writeFully(this.#descriptor(), buf, this.#flushed);
    this.#flushed += buf.length;
  }

  #readText(offset: number, length: number): string {
    if (offset + length > this.#flushed) this.#flush();
    const buf = length <= this.#scratch.length ? this.#scratch : Buffer.allocUnsafe(length);
    readFully(this.#descriptor(), buf, length, offset);
    return buf.toString('utf8', 0, length);
  }

  #load(): void {
    const fd = this.#descriptor();
    this.#size = fstatSync(fd).size;
    this.#flushed = this.#size;
    const from = this.#readIndex();
    this.#replay(from);
    this.#checkpointed = from;
  }

  /** Replays the log from a byte offset: each line updates the index. */
  #replay(from: number): void {
    const fd = this.#descriptor();
    const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    let pos = from;
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      const base = pos - carry.length;
      let start = 0;
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        this.#replayLine(data.toString('utf8', start, nl), base + start, nl - start);
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      pos += n;
    }
    if (carry.length === 0) return;
    const tail = carry.toString('utf8');
    let whole = false;
    try {
      whole = isObject(JSON.parse(tail));
    } catch {
      whole = false;
    }
    if (whole) {
      // A hand-written file without a final newline: the line is complete, only the newline is missing.
      writeFully(fd, Buffer.from('\n'), this.#size);
      this.#replayLine(tail, this.#size - carry.length, carry.length);
      this.#size += 1;
      this.#flushed = this.#size;
    } else {
      // A line cut short by a crash: it was never acknowledged, so it is dropped.
      this.#size -= carry.length;
      this.#flushed = this.#size;
      ftruncateSync(fd, this.#size);
    }
  }

  #replayLine(text: string, offset: number, length: number): void {
    if (text.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (!isObject(v)) {
      throw new IdxError(
        'IDX_GIGYA_STATE',
        `the line at byte ${offset} of the emulator's account log is not a JSON object`,
        {
          file: this.#log as string,
          expected: 'one JSON object per line (an account, $delete or $generate)',
          received: showValue(text),
        },
      );
    }
    if (isObject(v.$generate)) {
      const g = v.$generate;
      this.#addRun({
        seed: Number(g.seed),
        start: Number(g.start),
        count: Number(g.count),
        now: Number(g.now),
        updatedWithinMs: Number(g.updatedWithinMs),
      });
    } else if (typeof v.$delete === 'string') {
      const r = this.find(v.$delete);
      if (r >= 0) this.#remove(r);
    } else if (typeof v.UID === 'string') {
      this.#upsert(v.UID, 0, offset, length, v);
    }
  }

  /** Loads the index file when it belongs to the log; returns the log offset it covers (0: none). */
  #readIndex(): number {
    const file = this.#indexFile as string;
    if (!existsSync(file)) return 0;
    const fd = openSync(file, 'r');
    try {
      const lengthBuf = Buffer.alloc(4);
      readFully(fd, lengthBuf, 4, 0);
      const headerLength = lengthBuf.readUInt32LE(0);
      if (headerLength > 64 * 1024 * 1024) return 0;
      const headerBuf = Buffer.alloc(headerLength);
      readFully(fd, headerBuf, headerLength, 4);
      const header = JSON.parse(headerBuf.toString('utf8')) as IndexHeader;
      const st = fstatSync(this.#descriptor());
      if (header.format !== INDEX_FORMAT || header.version !== 1) return 0;
      if (header.dev !== st.dev || header.ino !== st.ino || header.covered > st.size) return 0;
      if (header.covered > 0) {
        const last = Buffer.alloc(1);
        readFully(this.#descriptor(), last, 1, header.covered - 1);
        if (last[0] !== 10) return 0;
      }
      let cap = 1024;
      while (cap < header.count) cap *= 2;
      this.#resize(cap);
      let pos = 4 + headerLength;
      for (const a of [this.#flags, this.#loc, this.#len, this.#ts, this.#uidHash, this.#emailHash]) {
        const bytes = header.count * a.BYTES_PER_ELEMENT;
        readFully(fd, new Uint8Array(a.buffer, a.byteOffset, bytes), bytes, pos);
        pos += bytes;
      }
      this.#n = header.count;
      this.#runs = header.runs;
      let live = 0;
      for (let r = 0; r < this.#n; r++) {
        const f = this.#flags[r] as number;
        if (!(f & LIVE)) continue;
        live++;
        this.#byUid.insert(r);
        if (f & LITE && this.#emailHash[r]) this.#liteByEmail.insert(r);
      }
      this.#live = live;
      return header.covered;
    } catch {
      // An unreadable index is rebuilt from the log.
      this.#clearIndex();
      return 0;
    } finally {
      closeSync(fd);
    }
  }

  #writeIndex(): void {
    const file = this.#indexFile as string;
    const st = fstatSync(this.#descriptor());
    const header: IndexHeader = {
      format: INDEX_FORMAT,
      version: 1,
      dev: st.dev,
      ino: st.ino,
      covered: this.#flushed,
      count: this.#n,
      runs: this.#runs,
    };
    const headerBuf = Buffer.from(JSON.stringify(header));
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      const lengthBuf = Buffer.alloc(4);
      lengthBuf.writeUInt32LE(headerBuf.length, 0);
      let pos = writeFully(fd, lengthBuf, 0);
      pos += writeFully(fd, headerBuf, pos);
      for (const a of [this.#flags, this.#loc, this.#len, this.#ts, this.#uidHash, this.#emailHash]) {
        pos += writeFully(fd, new Uint8Array(a.buffer, a.byteOffset, this.#n * a.BYTES_PER_ELEMENT), pos);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.#checkpointed = this.#flushed;
  }
}

interface IndexHeader {
  readonly format: string;
  readonly version: number;
  readonly dev: number;
  readonly ino: number;
  readonly covered: number;
  readonly count: number;
  readonly runs: GeneratedRun[];
}

function grownBytes(a: Uint8Array, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b.set(a);
  return b;
}

function writeFully(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
  return done;
}

function readFully(fd: number, buf: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/** A growing list of record numbers. */
class Grow {
  #a = new Uint32Array(1024);
  #n = 0;

  push(r: number): void {
    if (this.#n === this.#a.length) {
      const b = new Uint32Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.#n++] = r;
  }

  done(): Uint32Array {
    return this.#a.slice(0, this.#n);
  }
}
