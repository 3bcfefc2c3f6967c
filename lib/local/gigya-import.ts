/**
 * `accounts.importFullAccount` in the Gigya emulator: the bulk-migration method that creates full accounts, or
 * updates them with `importPolicy: upsert`. The emulator's handlers table registers {@link importFullAccountHandler};
 * everything the method does lives here. Sources (reference files in our own words):
 *
 * - Parameters, `importPolicy` (insert, the default, refuses an existing UID with 400003; upsert overwrites what it
 *   is sent), whole-group replacement of `loginIDs`, no emails sent, invalid or unsupported properties ignored and
 *   listed, `identities` without SAML / OIDC, the password hash rules (`algorithm` refused beside
 *   `compoundHashedPassword`, bcrypt rounds a power of two), `context` echoed, 400006 for bad values, 503001 past
 *   5 calls per UID per minute: the SAP accounts.importFullAccount reference and the User Import Guide
 *   (extras.md §1.2–1.4, §1.7).
 * - Parameter names matched case-insensitively (`uid`, `UID`, `Uid`; `loginIds`, `loginIDs`): extras.md §1.2, an
 *   inference from SAP's own examples [verify]. {@link canonicalParamNames} applies it to every method.
 * - `_response.UID` always present, `context` echoed as the string it was sent as: extras.md §1.4, §1.6 (the SAP
 *   toolkit reads both) [verify whether the real reply carries `UID` without `createUID`].
 *
 * Decided here, not confirmed by the reference [verify]:
 * - A loginID (email, unverified email or username) that belongs to another account answers 403043 "Login
 *   identifier exists", the code Gigya's error list gives that case; the reference names no code for imports.
 * - `handleIdentityConflicts` (error | ignore | connect, the IdentitySync writer's param, defined on
 *   socialize.importIdentities): an identity linked to another UID answers 409001 (error), is dropped (ignore) or
 *   kept as a connection that cannot log in, `isLoginIdentity: false` (connect); both report `identityConflicts`.
 * - The ignored properties are listed in `ignoredFields` (the reference does not give the field's name).
 * - Booleans inside `subscriptions` / `preferences` and the flags are accepted as booleans or `"true"` /
 *   `"false"` in any case (CSV imports carry `TRUE`), stored as booleans; anything else is a 400009 validation
 *   error (400021) with `validationErrors`.
 * - `lastUpdated` moves to the time of the import (the account changed, so delta extracts see it); the other
 *   historic timestamps are kept as sent.
 */
import { parseQuery } from './gigya-query.ts';
import { type GigyaAccount, type GigyaStore, mergeDeleting, newUid, StoreError } from './gigya-store.ts';

/**
 * An account as accounts.search returns it: without the password hash an import stored (SAP's User Import Guide:
 * search does not return passwords, extras.md §1.5).
 */
export function searchable(account: GigyaAccount | undefined): GigyaAccount | undefined {
  if (account?.password === undefined) return account;
  const { password: _, ...rest } = account;
  return rest as GigyaAccount;
}

/** Parameter names Gigya matches whatever their case, by their lower-cased form. */
const CANONICAL_NAMES: ReadonlyMap<string, string> = new Map(
  ['UID', 'loginIDs'].map((name) => [name.toLowerCase(), name] as const),
);

/**
 * The params with the names Gigya reads case-insensitively (`uid`, `Uid`, `loginIds`) under one spelling (`UID`,
 * `loginIDs`); a param already spelled that way wins. Applied after authentication, whose signature covers the
 * names as sent.
 */
export function canonicalParamNames(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...params };
  for (const [name, value] of Object.entries(params)) {
    const canonical = CANONICAL_NAMES.get(name.toLowerCase());
    if (canonical === undefined || canonical === name) continue;
    delete out[name];
    if (params[canonical] === undefined) out[canonical] = value;
  }
  return out;
}

/** Params of the request envelope and authentication: neither account data nor ignored. */
const STANDARD = new Set(['apiKey', 'userKey', 'secret', 'sig', 'timestamp', 'nonce', 'format', 'httpStatusCodes']);
/** Object params, validated against their shape and merged leaf by leaf into an existing account. */
const MERGED = ['profile', 'data', 'subscriptions', 'preferences', 'communications'] as const;
/** Object params that replace what the account had as a whole (a group of fields that belong together). */
const REPLACED = ['loginIDs', 'emails', 'password', 'secretQuestionAndAnswer', 'providerSessions'] as const;
const FLAGS = ['isActive', 'isRegistered', 'isVerified'] as const;
const TIMES = ['created', 'lastLogin', 'registered', 'verified'] as const;
const STRINGS = ['lang', 'phoneNumber', 'regSource', 'dataCenter'] as const;
/** Every param the method knows; others are ignored and listed. */
const KNOWN = new Set<string>([
  ...STANDARD,
  ...MERGED,
  ...REPLACED,
  ...FLAGS,
  ...TIMES,
  ...STRINGS,
  'UID',
  'createUID',
  'importPolicy',
  'lastUpdated',
  'identities',
  'context',
  'handleIdentityConflicts',
]);
const HASH_ALGORITHMS = new Set([
  'md5',
  'sha1',
  'sha1_hashbytes',
  'sha256',
  'sha512',
  'sha512hexa',
  'md5_double_salted',
  'md5_crypt',
  'bcrypt',
  'pbkdf2',
  'pbkdf2_sha256',
  'pbkdf2_sha512',
  'drupal',
  'symphony2',
  'sap_abap',
  'custom',
]);
/** Calls allowed per UID in {@link UID_WINDOW_MS}. */
const UID_CALLS = 5;
const UID_WINDOW_MS = 60_000;

type ValidationError = { errorCode: number; message: string; fieldName: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(params: Record<string, string>, name: string): unknown {
  const raw = params[name];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new StoreError(400006, `${name} is not valid JSON`);
  }
}

function objectParam(params: Record<string, string>, name: string): Record<string, unknown> | undefined {
  const v = parseJson(params, name);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new StoreError(400006, `${name} must be a JSON object`);
  return v;
}

/** A boolean as an import accepts it: a JSON boolean or its text in any case. */
function asBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
  return undefined;
}

/** Replaces, in place, every `key` value below `node` by its boolean, or records a type error. */
function booleansAt(node: unknown, key: string, path: string, errors: ValidationError[]): void {
  if (!isObject(node)) return;
  for (const [k, v] of Object.entries(node)) {
    const p = `${path}.${k}`;
    if (k === key) {
      const b = asBoolean(v);
      if (b === undefined)
        errors.push({ errorCode: 400021, message: 'Type validation error: boolean expected', fieldName: p });
      else node[k] = b;
    } else booleansAt(v, key, p, errors);
  }
}

function checkPassword(password: Record<string, unknown>): void {
  const settings = password.hashSettings;
  if (password.compoundHashedPassword !== undefined) {
    if (isObject(settings) && settings.algorithm !== undefined)
      throw new StoreError(400006, 'password.hashSettings.algorithm cannot be sent with compoundHashedPassword');
    return;
  }
  if (password.hashedPassword === undefined) return;
  if (!isObject(settings) || typeof settings.algorithm !== 'string')
    throw new StoreError(400006, 'password.hashSettings.algorithm is required with hashedPassword');
  if (!HASH_ALGORITHMS.has(settings.algorithm.toLowerCase()))
    throw new StoreError(400006, `password.hashSettings.algorithm ${JSON.stringify(settings.algorithm)} is unknown`);
  const rounds = settings.rounds ?? 1;
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1)
    throw new StoreError(400006, 'password.hashSettings.rounds must be a positive integer');
  if (settings.algorithm.toLowerCase() === 'bcrypt' && (rounds & (rounds - 1)) !== 0)
    throw new StoreError(400006, 'password.hashSettings.rounds must be a power of two for bcrypt');
}

/** The login identifiers of a `loginIDs` object, lower-cased. */
function loginIdsOf(loginIDs: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of ['emails', 'unverifiedEmails']) {
    const list = loginIDs[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list) || list.some((e) => typeof e !== 'string'))
      throw new StoreError(400006, `loginIDs.${key} must be an array of strings`);
    for (const e of list as string[]) if (e.trim() !== '') out.push(e.trim().toLowerCase());
  }
  const username = loginIDs.username;
  if (username !== undefined && username !== null) {
    if (typeof username !== 'string') throw new StoreError(400006, 'loginIDs.username must be a string');
    if (username !== '') out.push(username.toLowerCase());
  }
  return out;
}

/** The UID of another full account that holds one of these login identifiers, if any. */
async function loginIdOwner(store: GigyaStore, ids: string[], uid: string): Promise<string | undefined> {
  for (const id of ids) {
    const literal = JSON.stringify(id);
    const { where } = parseQuery(
      `SELECT UID FROM accounts WHERE loginIDs.emails CONTAINS ${literal} OR ` +
        `loginIDs.unverifiedEmails CONTAINS ${literal} OR loginIDs.username CONTAINS ${literal}`,
    );
    const found = await store.selectAccounts({ full: true, lite: false, ...(where ? { where } : {}), orderBy: [] });
    for (const r of found) {
      const a = store.readAccount(r);
      if (!a || a.UID === uid) continue;
      const theirs = isObject(a.loginIDs) ? loginIdsOf(a.loginIDs) : [];
      if (theirs.includes(id)) return a.UID;
    }
  }
  return undefined;
}

/** The identities of the request, checked, with those linked to other accounts handled by `mode`. */
async function importIdentities(
  store: GigyaStore,
  value: unknown,
  uid: string,
  mode: string,
): Promise<{ identities: Record<string, unknown>[]; conflicts: { provider: string; providerUID: string }[] }> {
  if (!Array.isArray(value)) throw new StoreError(400006, 'identities must be a JSON array');
  const identities: Record<string, unknown>[] = [];
  const conflicts: { provider: string; providerUID: string }[] = [];
  for (const raw of value) {
    if (!isObject(raw) || typeof raw.provider !== 'string' || typeof raw.providerUID !== 'string')
      throw new StoreError(400006, 'each identity needs a provider and a providerUID');
    const provider = raw.provider.toLowerCase();
    if (provider.startsWith('saml') || provider.startsWith('oidc'))
      throw new StoreError(400006, `${raw.provider} identities cannot be imported`);
    const { where } = parseQuery(
      `SELECT UID FROM accounts WHERE identities.providerUID = ${JSON.stringify(raw.providerUID)}`,
    );
    const found = await store.selectAccounts({ full: true, lite: true, ...(where ? { where } : {}), orderBy: [] });
    const linked = [...found].some((r) => {
      const a = store.readAccount(r);
      return (
        a !== undefined &&
        a.UID !== uid &&
        Array.isArray(a.identities) &&
        a.identities.some(
          (i) => isObject(i) && String(i.provider).toLowerCase() === provider && i.providerUID === raw.providerUID,
        )
      );
    });
    if (!linked) {
      identities.push(raw);
      continue;
    }
    conflicts.push({ provider: raw.provider, providerUID: raw.providerUID });
    if (mode === 'connect') identities.push({ ...raw, isLoginIdentity: false });
    else if (mode !== 'ignore')
      throw new StoreError(409001, `identity ${raw.provider}/${raw.providerUID} belongs to another account`);
  }
  return { identities, conflicts };
}

/** The ISO time of a historic timestamp param, or a 400006. */
function isoTime(params: Record<string, string>, name: string): string | undefined {
  const v = params[name];
  if (v === undefined || v === '') return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new StoreError(400006, `${name} must be an ISO-8601 time`);
  return new Date(ms).toISOString();
}

/**
 * The emulator's `accounts.importFullAccount` over a store, on the emulator's clock. Calls run one at a time, so
 * the check that a loginID is free and the write that takes it cannot interleave with another import.
 */
export function importFullAccountHandler(
  store: GigyaStore,
  now: () => number,
): (params: Record<string, string>) => Promise<Record<string, unknown>> {
  let queue: Promise<unknown> = Promise.resolve();
  const callsPerUid = new Map<string, number[]>();

  const throttle = (uid: string, t: number) => {
    const times = (callsPerUid.get(uid) ?? []).filter((at) => at > t - UID_WINDOW_MS);
    if (times.length >= UID_CALLS)
      throw new StoreError(503001, `more than ${UID_CALLS} imports of UID ${uid} within a minute`);
    times.push(t);
    callsPerUid.set(uid, times);
    if (callsPerUid.size > 100_000) callsPerUid.clear();
  };

  const importOne = async (params: Record<string, string>): Promise<Record<string, unknown>> => {
    const t = now();
    const policy = params.importPolicy ?? 'insert';
    if (policy !== 'insert' && policy !== 'upsert')
      throw new StoreError(400006, `importPolicy must be insert or upsert, not ${JSON.stringify(policy)}`);
    const given = params.UID;
    if ((given === undefined || given === '') && params.createUID !== 'true')
      throw new StoreError(400002, 'uid or createUID is required');
    const uid = given === undefined || given === '' ? newUid() : given;
    throttle(uid, t);
    const existing = store.accounts.get(uid);
    if (existing && policy === 'insert') throw new StoreError(400003, `an account with UID ${uid} exists`);

    const errors: ValidationError[] = [];
    const merged: Partial<Record<(typeof MERGED)[number], Record<string, unknown>>> = {};
    for (const name of MERGED) {
      const v = objectParam(params, name);
      if (v !== undefined) merged[name] = v;
    }
    booleansAt(merged.subscriptions, 'isSubscribed', 'subscriptions', errors);
    booleansAt(merged.preferences, 'isConsentGranted', 'preferences', errors);
    const replaced: Partial<Record<(typeof REPLACED)[number], Record<string, unknown>>> = {};
    for (const name of REPLACED) {
      const v = objectParam(params, name);
      if (v !== undefined) replaced[name] = v;
    }
    if (replaced.password) checkPassword(replaced.password);
    const flags: Partial<Record<(typeof FLAGS)[number], boolean>> = {};
    for (const name of FLAGS) {
      if (params[name] === undefined) continue;
      const b = asBoolean(params[name]);
      if (b === undefined)
        errors.push({ errorCode: 400021, message: 'Type validation error: boolean expected', fieldName: name });
      else flags[name] = b;
    }
    if (params.phoneNumber !== undefined && !/^\+[1-9]\d{1,14}$/.test(params.phoneNumber))
      throw new StoreError(400006, 'phoneNumber must be in E.164 form (+ and up to 15 digits)');
    if (errors.length) throw new StoreError(400009, 'Validation error', errors);
    const times = Object.fromEntries(TIMES.map((name) => [name, isoTime(params, name)] as const));
    const loginIds = replaced.loginIDs ? loginIdsOf(replaced.loginIDs) : [];
    const owner = await loginIdOwner(store, loginIds, uid);
    if (owner !== undefined) throw new StoreError(403043, `a loginID of the request belongs to account ${owner}`);
    const identities =
      params.identities === undefined
        ? undefined
        : await importIdentities(
            store,
            parseJson(params, 'identities'),
            uid,
            params.handleIdentityConflicts ?? 'error',
          );

    const account: GigyaAccount = existing ?? {
      UID: uid,
      created: new Date(t).toISOString(),
      createdTimestamp: t,
      isActive: true,
      isRegistered: true,
      isVerified: false,
    };
    for (const [name, patch] of Object.entries(merged)) {
      const cur = isObject(account[name]) ? (account[name] as Record<string, unknown>) : {};
      mergeDeleting(cur, patch);
      account[name] = cur;
    }
    for (const [name, value] of Object.entries(replaced)) account[name] = value;
    if (identities) account.identities = identities.identities;
    Object.assign(account, flags);
    for (const name of STRINGS) if (params[name] !== undefined) account[name] = params[name];
    for (const [name, iso] of Object.entries(times)) {
      if (iso === undefined) continue;
      account[name] = iso;
      account[`${name}Timestamp`] = Date.parse(iso);
    }
    account.hasFullAccount = true;
    account.hasLiteAccount = false;
    const previous = typeof account.lastUpdatedTimestamp === 'number' ? account.lastUpdatedTimestamp : 0;
    const updated = Math.max(t, previous + 1);
    account.lastUpdatedTimestamp = updated;
    account.lastUpdated = new Date(updated).toISOString();
    store.seed([account], t);

    const ignored = Object.keys(params).filter((k) => !KNOWN.has(k));
    return {
      UID: uid,
      ...(params.context === undefined ? {} : { context: params.context }),
      ...(identities?.conflicts.length ? { identityConflicts: identities.conflicts } : {}),
      ...(ignored.length ? { ignoredFields: ignored.slice(0, 10) } : {}),
    };
  };

  return (params) => {
    const result = queue.then(() => importOne(params));
    queue = result.catch(() => undefined);
    return result;
  };
}
