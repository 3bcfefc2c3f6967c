/**
 * The Gigya emulator's state: accounts (full and lite), Data Store objects and an audit log, with the write
 * semantics the emulator promises (apis.md §A.6–A.8, §C.1) and optional persistence as NDJSON files in a folder
 * (local mode keeps them under `.idx/gigya/`). The HTTP layer (gigya-emulator.ts) turns failures into envelopes.
 *
 * Accounts are kept on disk with a small index in memory ({@link AccountFile}), so the store holds millions of
 * them in flat memory; every read hands out a fresh copy, and every write goes through the store's methods.
 * Data Store objects and the audit log stay in memory.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AccountFile, type AccountSelection, type GigyaAccount } from './gigya-account-file.ts';
import { objectAt } from './gigya-query.ts';

export type { GigyaAccount } from './gigya-account-file.ts';

/** A Data Store object. */
export interface DsObject {
  readonly type: string;
  readonly oid: string;
  readonly UID?: string;
  data: Record<string, unknown>;
  readonly created: number;
  lastUpdated: number;
}

/** An audit-log entry (the fields audit.search returns). */
export type AuditEntry = Record<string, unknown> & { '@timestamp': string; callID: string; endpoint: string };

/** A failure of a store operation, answered as a Gigya error. */
export class StoreError extends Error {
  constructor(
    readonly errorCode: number,
    readonly details: string,
    readonly validationErrors?: { errorCode: number; message: string; fieldName: string }[],
  ) {
    super(details);
    this.name = 'StoreError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `patch` into `target`: objects merge, `null` deletes, arrays and scalars replace. */
export function mergeDeleting(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  arrays: 'replace' | 'push' = 'replace',
): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete target[k];
    } else if (isObject(v)) {
      const cur = target[k];
      const into = isObject(cur) ? cur : {};
      mergeDeleting(into, v, arrays);
      target[k] = into;
    } else if (Array.isArray(v) && arrays === 'push' && Array.isArray(target[k])) {
      (target[k] as unknown[]).push(...structuredClone(v));
    } else {
      target[k] = structuredClone(v);
    }
  }
}

/**
 * A seeded account as the store keeps it: a UID, timestamps and flags filled in where missing. Only top-level
 * fields are added, to a shallow copy: `raw` is left as it was.
 */
export function normalizeAccount(raw: Record<string, unknown>, now: number = Date.now()): GigyaAccount {
  const a = { ...raw } as GigyaAccount;
  if (typeof a.UID !== 'string' || a.UID === '') a.UID = newUid();
  const created = typeof a.createdTimestamp === 'number' ? a.createdTimestamp : now;
  a.createdTimestamp = created;
  a.created ??= iso(created);
  if (typeof a.lastUpdatedTimestamp !== 'number') a.lastUpdatedTimestamp = created;
  a.lastUpdated ??= iso(a.lastUpdatedTimestamp as number);
  a.isActive ??= true;
  a.hasFullAccount ??= true;
  a.hasLiteAccount ??= a.hasFullAccount === false;
  a.isRegistered ??= a.hasFullAccount !== false;
  return a;
}

/** A new UID: 32 hex characters, as Gigya's look. */
export function newUid(): string {
  return randomBytes(16).toString('hex');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Fields of an account getAccountInfo always returns. */
const BASE_FIELDS = [
  'UID',
  'created',
  'createdTimestamp',
  'lastUpdated',
  'lastUpdatedTimestamp',
  'oldestDataUpdated',
  'oldestDataUpdatedTimestamp',
  'registered',
  'registeredTimestamp',
  'verified',
  'verifiedTimestamp',
  'lastLogin',
  'lastLoginTimestamp',
  'isActive',
  'isRegistered',
  'isVerified',
  'hasLiteAccount',
  'hasFullAccount',
  'socialProviders',
  'lang',
];
/** Fields `include` may ask for. */
const INCLUDABLE = [
  'profile',
  'data',
  'subscriptions',
  'preferences',
  'emails',
  'loginIDs',
  'communications',
  'identities-active',
  'identities-all',
  'identities-global',
  'groups',
  'internal',
];

/** Keys of a subscription channel that setAccountInfo may write (apis.md §A.6). */
const SUBSCRIPTION_WRITABLE = new Set(['isSubscribed', 'tags']);

/** Options of {@link GigyaStore}. */
export interface GigyaStoreOptions {
  /**
   * A strict schema: when given, setAccountInfo refuses `profile` / `data` leaves outside these dotted paths
   * (or below them) with 400009, as a site whose schema is not dynamic does.
   */
  readonly strictFields?: readonly string[];
  /** Maximum audit entries kept (oldest dropped). @default 100000 */
  readonly maxAudit?: number;
  /**
   * Folder of the state (NDJSON files and the account index); none: accounts in a temporary file, the rest in
   * memory.
   */
  readonly dir?: string;
}

/**
 * The accounts of a store as a read-only map from UID to account, in the order accounts were first added. Each
 * value is read from disk (or generated) when asked for: a fresh copy that the caller may keep or change without
 * changing the store.
 */
export class AccountsView {
  readonly #file: AccountFile;

  constructor(file: AccountFile) {
    this.#file = file;
  }

  get size(): number {
    return this.#file.size;
  }

  /** A fresh copy of the account, or undefined. */
  get(uid: string): GigyaAccount | undefined {
    const r = this.#file.find(uid);
    return r < 0 ? undefined : this.#file.read(r);
  }

  /** Whether there is an account with this UID. */
  has(uid: string): boolean {
    return this.#file.find(uid) >= 0;
  }

  *keys(): Generator<string> {
    for (const r of this.#file.records()) yield this.#file.uidOf(r);
  }

  *values(): Generator<GigyaAccount> {
    for (const r of this.#file.records()) {
      const a = this.#file.read(r);
      if (a) yield a;
    }
  }

  *entries(): Generator<[string, GigyaAccount]> {
    for (const a of this.values()) yield [a.UID, a];
  }

  [Symbol.iterator](): Generator<[string, GigyaAccount]> {
    return this.entries();
  }

  forEach(fn: (account: GigyaAccount, uid: string, view: AccountsView) => void): void {
    for (const [uid, a] of this.entries()) fn(a, uid, this);
  }
}

/** The emulator's state. */
export class GigyaStore {
  /** The accounts, read-only: writes go through {@link seed}, {@link setAccount} and the other methods. */
  readonly accounts: AccountsView;
  readonly ds = new Map<string, DsObject>();
  /** Bumped on every write, so persistence knows when to save. */
  version = 0;
  readonly #o: GigyaStoreOptions;
  readonly #file: AccountFile;
  /** Audit entries; those before {@link #auditHead} are dropped (removed in batches, not one by one). */
  #audit: AuditEntry[] = [];
  #auditHead = 0;

  /** A store over `options.dir` (accounts only: {@link open} also loads the rest), or a temporary one. */
  constructor(options: GigyaStoreOptions = {}) {
    this.#o = options;
    this.#file = AccountFile.open(options.dir === undefined ? {} : { dir: options.dir });
    this.accounts = new AccountsView(this.#file);
  }

  /** Opens a store, with the Data Store objects and audit log saved in `options.dir`. */
  static async open(options: GigyaStoreOptions = {}): Promise<GigyaStore> {
    const store = new GigyaStore(options);
    if (options.dir !== undefined) await store.#load(options.dir);
    return store;
  }

  /** The audit log, oldest first. */
  get audit(): readonly AuditEntry[] {
    return this.#auditHead === 0 ? this.#audit : this.#audit.slice(this.#auditHead);
  }

  /** Adds or replaces accounts as given (seeding), filling missing UID and timestamps. */
  seed(accounts: Iterable<Record<string, unknown>>, now: number = Date.now()): number {
    let n = 0;
    for (const raw of accounts) {
      this.#file.put(normalizeAccount(raw, now));
      n++;
    }
    if (n) this.version++;
    return n;
  }

  /**
   * Adds `count` generated accounts (numbers `start`… of the generator, gigya-accounts.ts), replacing accounts
   * with the same UIDs. They take no room on disk until they change.
   */
  seedGenerated(spec: { count: number; seed?: number; start?: number; now: number; updatedWithinMs?: number }): number {
    const n = this.#file.generate(spec);
    if (n) this.version++;
    return n;
  }

  /** Removes every account. */
  clearAccounts(): void {
    this.#file.clear();
    this.version++;
  }

  /** The accounts a search reads, in its order (record numbers for {@link readAccount}). */
  selectAccounts(selection: AccountSelection): Promise<Uint32Array> {
    return this.#file.select(selection);
  }

  /** A fresh copy of a selected account; undefined when it was deleted since. */
  readAccount(record: number): GigyaAccount | undefined {
    return this.#file.read(record);
  }

  #account(uid: string): GigyaAccount {
    const r = this.#file.find(uid);
    const a = r < 0 ? undefined : this.#file.read(r);
    if (!a) throw new StoreError(403005, `no account with UID ${JSON.stringify(uid)}`);
    return a;
  }

  /** Whether an account is a lite (email) account. */
  static isLite(a: GigyaAccount): boolean {
    return a.hasFullAccount === false;
  }

  /** getAccountInfo: the account with the base fields and the included sections; 403005 when unknown. */
  getAccount(uid: string, include = 'profile,data,subscriptions'): GigyaAccount {
    const a = this.#account(uid);
    const wanted = new Set(
      include
        .split(',')
        .map((s) => s.trim())
        .filter((s) => INCLUDABLE.includes(s)),
    );
    const out: Record<string, unknown> = {};
    // `a` is a fresh copy: its values can be handed out as they are.
    for (const k of BASE_FIELDS) if (a[k] !== undefined) out[k] = a[k];
    for (const k of wanted) if (a[k] !== undefined) out[k] = a[k];
    for (const k of ['profile', 'data', 'subscriptions'] as const) {
      if (wanted.has(k) && out[k] === undefined) out[k] = {};
    }
    return out as GigyaAccount;
  }

  /** setAccountInfo: merges what is given, checks the writable shapes, bumps `lastUpdated*`. */
  setAccount(uid: string, patch: Record<string, unknown>, now: number): void {
    const a = this.#account(uid);
    const errors: { errorCode: number; message: string; fieldName: string }[] = [];
    for (const section of ['profile', 'data'] as const) {
      const p = patch[section];
      if (p === undefined) continue;
      if (!isObject(p)) {
        throw new StoreError(400006, `${section} must be a JSON object`);
      }
      if (this.#o.strictFields) {
        for (const leaf of leafPaths(p, section)) {
          if (!this.#o.strictFields.some((f) => leaf === f || leaf.startsWith(`${f}.`))) {
            errors.push({ errorCode: 400020, message: 'Schema validation failed: unknown field', fieldName: leaf });
          }
        }
      }
    }
    const subs = patch.subscriptions;
    if (subs !== undefined) {
      if (!isObject(subs)) throw new StoreError(400006, 'subscriptions must be a JSON object');
      for (const [id, channels] of Object.entries(subs)) {
        if (!isObject(channels)) {
          errors.push({ errorCode: 400006, message: 'Invalid subscription', fieldName: `subscriptions.${id}` });
          continue;
        }
        for (const [channel, value] of Object.entries(channels)) {
          if (!isObject(value)) {
            errors.push({
              errorCode: 400006,
              message: 'Invalid subscription',
              fieldName: `subscriptions.${id}.${channel}`,
            });
            continue;
          }
          for (const [k, v] of Object.entries(value)) {
            const field = `subscriptions.${id}.${channel}.${k}`;
            if (k === 'doubleOptIn' && isObject(v) && Object.keys(v).every((x) => x === 'isExternallyVerified'))
              continue;
            if (!SUBSCRIPTION_WRITABLE.has(k)) {
              errors.push({ errorCode: 400025, message: 'Write access validation error', fieldName: field });
            } else if (k === 'isSubscribed' && typeof v !== 'boolean') {
              errors.push({ errorCode: 400021, message: 'Type validation error: boolean expected', fieldName: field });
            } else if (k === 'tags' && !Array.isArray(v)) {
              errors.push({ errorCode: 400021, message: 'Type validation error: array expected', fieldName: field });
            }
          }
        }
      }
    }
    const prefs = patch.preferences;
    if (prefs !== undefined) {
      if (!isObject(prefs)) throw new StoreError(400006, 'preferences must be a JSON object');
      for (const [path, consent] of consentNodes(prefs, 'preferences')) {
        for (const [k, v] of Object.entries(consent)) {
          if (k === 'isConsentGranted' && typeof v !== 'boolean') {
            errors.push({
              errorCode: 400021,
              message: 'Type validation error: boolean expected',
              fieldName: `${path}.${k}`,
            });
          } else if (k === 'tags' && !('isConsentGranted' in consent)) {
            errors.push({
              errorCode: 400025,
              message: 'tags may change only with isConsentGranted',
              fieldName: `${path}.${k}`,
            });
          } else if (k !== 'isConsentGranted' && k !== 'tags') {
            errors.push({ errorCode: 400025, message: 'Write access validation error', fieldName: `${path}.${k}` });
          }
        }
      }
    }
    if (errors.length) throw new StoreError(400009, 'Validation error', errors);

    const stamp = iso(now);
    for (const section of ['profile', 'data', 'communications', 'internal', 'customIdentifiers'] as const) {
      const p = patch[section];
      if (!isObject(p)) continue;
      const cur = isObject(a[section]) ? (a[section] as Record<string, unknown>) : {};
      mergeDeleting(cur, p);
      a[section] = cur;
    }
    if (isObject(subs)) {
      const cur = isObject(a.subscriptions) ? (a.subscriptions as Record<string, unknown>) : {};
      for (const [id, channels] of Object.entries(subs)) {
        const curId = isObject(cur[id]) ? (cur[id] as Record<string, unknown>) : {};
        for (const [channel, value] of Object.entries(channels as Record<string, unknown>)) {
          const curCh = isObject(curId[channel]) ? (curId[channel] as Record<string, unknown>) : {};
          const v = value as Record<string, unknown>;
          if (typeof v.isSubscribed === 'boolean' && v.isSubscribed !== curCh.isSubscribed) {
            curCh.lastUpdatedSubscriptionState = stamp;
          }
          mergeDeleting(curCh, v);
          curId[channel] = curCh;
        }
        cur[id] = curId;
      }
      a.subscriptions = cur;
    }
    if (isObject(prefs)) {
      const cur = isObject(a.preferences) ? (a.preferences as Record<string, unknown>) : {};
      for (const [path, consent] of consentNodes(prefs, '')) {
        const node = objectAt(cur, path.split('.').filter(Boolean));
        mergeDeleting(node, consent);
        node.lastConsentModified = stamp;
      }
      a.preferences = cur;
    }
    for (const flag of ['isActive', 'isVerified'] as const) {
      const v = patch[flag];
      if (typeof v === 'boolean') a[flag] = v;
    }
    if (typeof patch.lang === 'string') a.lang = patch.lang;
    if (patch.addresses !== undefined) a.addresses = structuredClone(patch.addresses);
    this.#touch(a, now);
  }

  /** importLiteAccount: creates or updates the lite account of an email; returns its UID. */
  importLite(email: string, patch: Record<string, unknown>, now: number): string {
    const found = this.#file.findLite(email);
    let a = found < 0 ? undefined : this.#file.read(found);
    if (!a) {
      a = {
        UID: newUid(),
        created: iso(now),
        createdTimestamp: now,
        isActive: true,
        isRegistered: false,
        isVerified: false,
        hasLiteAccount: true,
        hasFullAccount: false,
        profile: { email },
      };
    }
    for (const section of ['profile', 'data', 'subscriptions', 'preferences'] as const) {
      const p = patch[section];
      if (p === undefined) continue;
      if (!isObject(p)) throw new StoreError(400006, `${section} must be a JSON object`);
      const cur = isObject(a[section]) ? (a[section] as Record<string, unknown>) : {};
      // An import writes what it is given, including lastUpdatedSubscriptionState (only writable here).
      mergeDeleting(cur, p);
      a[section] = cur;
    }
    (a.profile as Record<string, unknown>).email = email;
    this.#touch(a, now);
    return a.UID;
  }

  /** deleteAccount. */
  deleteAccount(uid: string): void {
    if (!this.#file.delete(uid)) throw new StoreError(403005, `no account with UID ${JSON.stringify(uid)}`);
    this.version++;
  }

  /** Moves the update timestamps and writes the account. */
  #touch(a: GigyaAccount, now: number): void {
    // Two writes in the same millisecond still move the timestamp forward, so a delta query sees the second.
    const prev = typeof a.lastUpdatedTimestamp === 'number' ? a.lastUpdatedTimestamp : 0;
    const ts = Math.max(now, prev + 1);
    a.lastUpdatedTimestamp = ts;
    a.lastUpdated = iso(ts);
    this.#file.put(a);
    this.version++;
  }

  static dsKey(type: string, oid: string, uid?: string): string {
    return `${type}\u0000${oid}\u0000${uid ?? ''}`;
  }

  /** ds.store: `oid` `auto` generates one; returns the oid. */
  dsStore(
    type: string,
    oid: string,
    uid: string | undefined,
    data: Record<string, unknown>,
    updateBehavior: 'arrayPush' | 'arraySet' | 'replace',
    now: number,
  ): string {
    if (uid !== undefined && !this.accounts.has(uid))
      throw new StoreError(403005, `no account with UID ${JSON.stringify(uid)}`);
    const id = oid === 'auto' ? newUid() : oid;
    const key = GigyaStore.dsKey(type, id, uid);
    const cur = this.ds.get(key);
    if (!cur || updateBehavior === 'replace') {
      const fresh: Record<string, unknown> = {};
      mergeDeleting(fresh, data);
      this.ds.set(key, {
        type,
        oid: id,
        ...(uid === undefined ? {} : { UID: uid }),
        data: fresh,
        created: cur?.created ?? now,
        lastUpdated: now,
      });
    } else {
      mergeDeleting(cur.data, data, updateBehavior === 'arrayPush' ? 'push' : 'replace');
      cur.lastUpdated = Math.max(now, cur.lastUpdated + 1);
    }
    this.version++;
    return id;
  }

  /** ds.get: 404000 when absent. */
  dsGet(type: string, oid: string, uid: string | undefined): DsObject {
    const o = this.ds.get(GigyaStore.dsKey(type, oid, uid));
    if (!o) throw new StoreError(404000, `no ${type} object with oid ${JSON.stringify(oid)}`);
    return o;
  }

  /** The document of a DS object as ds.get / ds.search return it. */
  static dsDocument(o: DsObject): Record<string, unknown> {
    return {
      oid: o.oid,
      ...(o.UID === undefined ? {} : { UID: o.UID }),
      data: structuredClone(o.data),
      created: o.created,
      createdTime: iso(o.created),
      lastUpdated: o.lastUpdated,
      lastUpdatedTime: iso(o.lastUpdated),
    };
  }

  /** Appends an audit entry. */
  addAudit(entry: AuditEntry): void {
    this.#audit.push(entry);
    const max = this.#o.maxAudit ?? 100_000;
    if (this.#audit.length - this.#auditHead > max) this.#auditHead = this.#audit.length - max;
    // Dropped entries leave in batches: removing one at each call would copy the whole log every time.
    if (this.#auditHead > Math.max(1024, max / 4)) {
      this.#audit = this.#audit.slice(this.#auditHead);
      this.#auditHead = 0;
    }
  }

  async #load(dir: string): Promise<void> {
    for await (const o of readNdjson(join(dir, 'ds.ndjson'))) {
      const d = o as unknown as DsObject;
      this.ds.set(GigyaStore.dsKey(d.type, d.oid, d.UID), d);
    }
    for await (const e of readNdjson(join(dir, 'audit.ndjson'))) this.addAudit(e as AuditEntry);
  }

  /**
   * Saves the state to its folder (no-op without one): Data Store objects and the audit log atomically
   * (temporary files, then renames), and the account index when the account log has grown enough since.
   */
  async save(): Promise<void> {
    const dir = this.#o.dir;
    if (dir === undefined) return;
    mkdirSync(dir, { recursive: true });
    this.#file.checkpoint();
    await writeNdjson(join(dir, 'ds.ndjson'), this.ds.values());
    await writeNdjson(join(dir, 'audit.ndjson'), this.audit);
  }

  /** Saves the state and writes the account index; the store stays readable. */
  async close(): Promise<void> {
    await this.save();
    this.#file.close();
  }
}

/** Reads an NDJSON file line by line; yields nothing when it does not exist. */
export async function* readNdjson(file: string): AsyncGenerator<Record<string, unknown>> {
  if (!existsSync(file)) return;
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${n}: not a JSON object`);
    }
    if (!isObject(v)) throw new Error(`${file}:${n}: not a JSON object`);
    yield v;
  }
}

/** Writes objects as NDJSON to a temporary file, then renames it into place. */
export async function writeNdjson(file: string, items: Iterable<unknown> | AsyncIterable<unknown>): Promise<number> {
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp, 'utf8');
  let n = 0;
  let buf = '';
  for await (const item of items as AsyncIterable<unknown>) {
    buf += `${JSON.stringify(item)}\n`;
    n++;
    if (buf.length > 256 * 1024) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  renameSync(tmp, file);
  return n;
}

function leafPaths(obj: Record<string, unknown>, prefix: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const p = `${prefix}.${k}`;
    if (isObject(v)) out.push(...leafPaths(v, p));
    else out.push(p);
  }
  return out;
}

/** Consent objects inside a preferences patch: nodes that hold `isConsentGranted` or `tags` (ids may nest). */
function consentNodes(prefs: Record<string, unknown>, prefix: string): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  for (const [k, v] of Object.entries(prefs)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (!isObject(v)) {
      out.push([prefix, { [k]: v }]);
      continue;
    }
    if ('isConsentGranted' in v || 'tags' in v) out.push([p, v]);
    else out.push(...consentNodes(v, p));
  }
  return mergeSamePath(out);
}

function mergeSamePath(nodes: [string, Record<string, unknown>][]): [string, Record<string, unknown>][] {
  const map = new Map<string, Record<string, unknown>>();
  for (const [p, v] of nodes) map.set(p, { ...(map.get(p) ?? {}), ...v });
  return [...map];
}
