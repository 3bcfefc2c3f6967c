/**
 * A generator of realistic Gigya accounts for the emulator (`idx gigya seed --accounts N`) and for tests. Account
 * `i` depends only on the seed and `i`, so a million accounts can be streamed to a file without holding them, and
 * two runs with the same seed agree.
 */
import type { DocumentShape } from './gigya-query.ts';
import type { GigyaAccount } from './gigya-store.ts';

/** Options of {@link generateAccounts}. */
export interface GenerateAccountsOptions {
  /** How many accounts. */
  readonly count: number;
  /** @default 1 */
  readonly seed?: number;
  /** The index of the first account (to continue a previous batch). @default 0 */
  readonly startIndex?: number;
  /** Timestamps fall before this instant (epoch ms). @default Date.now() */
  readonly now?: number;
  /** How far back `lastUpdatedTimestamp` goes. @default {@link DEFAULT_UPDATED_WITHIN_MS} (90 days) */
  readonly updatedWithinMs?: number;
}

const FIRST = [
  'Anna',
  'Ben',
  'Chloé',
  'David',
  'Emma',
  'Felix',
  'Grace',
  'Hugo',
  'Inès',
  'Jonas',
  'Kim',
  'Lena',
  'Marco',
  'Nora',
  'Oscar',
  'Paula',
  'Quentin',
  'Rosa',
  'Sven',
  'Tara',
  'Umar',
  'Vera',
  'William',
  'Yuki',
  'Zoé',
];
const LAST = [
  'Smith',
  'Müller',
  'García',
  'Rossi',
  'Dubois',
  'Kowalski',
  'Jensen',
  'Silva',
  'Novak',
  'Tanaka',
  'Brown',
  'Schmidt',
  'Martin',
  'Nguyen',
  'Olsen',
  "O'Brien",
  'Fischer',
  'Lopez',
  'Weber',
  'Costa',
];
const PLACES: readonly (readonly [country: string, city: string, zipPrefix: string])[] = [
  ['US', 'New York', '100'],
  ['US', 'San Francisco', '941'],
  ['GB', 'London', 'EC'],
  ['DE', 'Berlin', '101'],
  ['FR', 'Paris', '750'],
  ['ES', 'Madrid', '280'],
  ['IT', 'Milano', '201'],
  ['NL', 'Amsterdam', '101'],
  ['AU', 'Sydney', '200'],
  ['JP', 'Tokyo', '100'],
];
const TIERS = ['bronze', 'silver', 'gold', 'platinum'];
const INTERESTS = ['running', 'cooking', 'travel', 'music', 'cinema', 'gaming', 'yoga', 'cycling'];
const GENDERS = ['m', 'f', 'u'];
const LOCALES = ['en', 'de', 'fr', 'es', 'it', 'ja'];
const SOURCES = ['web', 'ios', 'android', 'store'];

/** mulberry32's next state. */
function step(a: number): number {
  return (a + 0x6d2b79f5) >>> 0;
}

/** mulberry32's 32-bit output for a state. */
function out32(a: number): number {
  let t = Math.imul(a ^ (a >>> 15), a | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** A 32-bit number as 8 hex digits. */
function hex32(n: number): string {
  return (
    (HEX[n >>> 24] as string) +
    (HEX[(n >>> 16) & 255] as string) +
    (HEX[(n >>> 8) & 255] as string) +
    (HEX[n & 255] as string)
  );
}

function mix(seed: number, i: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ i, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function ascii(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/**
 * `new Date(ms).toISOString()`, computed with integer arithmetic for whole milliseconds in 1970–9999 (the calendar
 * conversion is Howard Hinnant's `civil_from_days`): an account holds ten such strings, and building them through
 * `Date` was half the cost of generating one.
 */
export function iso(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return new Date(ms).toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
}

/**
 * The generator's state while {@link generateAccount} draws an account. One module-level state rather than a
 * closure per account: generating is synchronous, so no two accounts draw at once, and a million accounts make no
 * million closures (under tsx each nested function is also wrapped to keep its name, which doubled the cost).
 */
let drawState = 0;

/** The next draw in [0, 1) of the account being generated. */
function draw(): number {
  drawState = step(drawState);
  return out32(drawState) / 4294967296;
}

/** The element of `xs` a draw in [0, 1) selects. */
function at<T>(xs: readonly T[], d: number): T {
  return xs[Math.floor(d * xs.length)] as T;
}

/** Two interests, once each. */
function twoInterests(a: string, b: string): string[] {
  return a === b ? [a] : [a, b];
}

/** The element of `xs` the next draw selects. */
function pick<T>(xs: readonly T[]): T {
  return at(xs, draw());
}

/**
 * What an index needs of account `i` (its UID and `lastUpdatedTimestamp`), without building the account: the
 * same draws as {@link generateAccount}, a small fraction of its cost.
 */
export function generatedKey(
  i: number,
  seed = 1,
  now: number = Date.now(),
  updatedWithinMs = DEFAULT_UPDATED_WITHIN_MS,
): { readonly uid: string; readonly lastUpdatedTimestamp: number } {
  // The draws of generateAccount up to the UID, without building anything else: an index builds a million.
  let a = mix(seed, i) >>> 0;
  let updated = 0;
  let uid = '';
  for (let k = 0; k < 13; k++) {
    a = step(a);
    if (k === 4) updated = out32(a) / 4294967296;
    else if (k >= 9) uid += hex32(out32(a));
  }
  return { uid, lastUpdatedTimestamp: Math.floor(now - updated * updatedWithinMs) };
}

/** How far back generated `lastUpdatedTimestamp` values go by default: 90 days. */
export const DEFAULT_UPDATED_WITHIN_MS = 90 * 86_400_000;

const ASCII_NAMES = new Map<string, string>([...FIRST, ...LAST].map((n) => [n, ascii(n)]));

/** One account, number `i` of the sequence for `seed`. */
export function generateAccount(
  i: number,
  seed = 1,
  now: number = Date.now(),
  updatedWithinMs = DEFAULT_UPDATED_WITHIN_MS,
): GigyaAccount {
  // Draws 1–9: first name, last name, place, created, lastUpdated, lastLogin, subscribed, verified, birth year;
  // then the four words of the UID; the rest of the account draws on from there (generatedKey draws the same).
  drawState = mix(seed, i) >>> 0;
  const d0 = draw();
  const d1 = draw();
  const d2 = draw();
  const d3 = draw();
  const d4 = draw();
  const d5 = draw();
  const d6 = draw();
  const d7 = draw();
  const d8 = draw();
  let uid = '';
  for (let k = 0; k < 4; k++) uid += hex32(Math.floor(draw() * 0x100000000));
  const firstName = at(FIRST, d0);
  const lastName = at(LAST, d1);
  const [country, city, zipPrefix] = at(PLACES, d2);
  const email = `${ASCII_NAMES.get(firstName)}.${ASCII_NAMES.get(lastName)}.${i}@example.com`;
  const created = Math.floor(now - updatedWithinMs - d3 * 3 * 365 * 86_400_000);
  const lastUpdated = Math.floor(now - d4 * updatedWithinMs);
  const lastLogin = Math.floor(lastUpdated - d5 * Math.min(updatedWithinMs, lastUpdated - created));
  const subscribed = d6 < 0.6;
  const verified = d7 < 0.85;
  const birthYear = 1950 + Math.floor(d8 * 56);
  const createdIso = iso(created);
  return {
    UID: uid,
    created: createdIso,
    createdTimestamp: created,
    registered: createdIso,
    registeredTimestamp: created,
    ...(verified ? { verified: iso(created + 3_600_000), verifiedTimestamp: created + 3_600_000 } : {}),
    lastLogin: iso(lastLogin),
    lastLoginTimestamp: lastLogin,
    lastUpdated: iso(lastUpdated),
    lastUpdatedTimestamp: lastUpdated,
    oldestDataUpdated: createdIso,
    oldestDataUpdatedTimestamp: created,
    isActive: draw() < 0.97,
    isRegistered: true,
    isVerified: verified,
    hasLiteAccount: false,
    hasFullAccount: true,
    socialProviders: 'site',
    loginIDs: { emails: [email], unverifiedEmails: [] },
    emails: verified ? { verified: [email], unverified: [] } : { verified: [], unverified: [email] },
    profile: {
      email,
      firstName,
      lastName,
      gender: pick(GENDERS),
      birthYear,
      birthMonth: 1 + Math.floor(draw() * 12),
      birthDay: 1 + Math.floor(draw() * 28),
      country,
      city,
      zip: `${zipPrefix}${String(Math.floor(draw() * 100)).padStart(2, '0')}`,
      locale: pick(LOCALES),
    },
    data: {
      subscribed,
      loyalty: { tier: pick(TIERS), points: Math.floor(draw() * 10_000) },
      interests: twoInterests(pick(INTERESTS), pick(INTERESTS)),
      source: pick(SOURCES),
    },
    subscriptions: {
      newsletter: {
        email: {
          isSubscribed: subscribed,
          tags: [],
          lastUpdatedSubscriptionState: iso(Math.floor(created + draw() * (lastUpdated - created))),
        },
      },
    },
    preferences: {
      terms: { tos: { isConsentGranted: true, docVersion: 1, lastConsentModified: createdIso } },
      privacy: { marketing: { isConsentGranted: subscribed, docVersion: 2, lastConsentModified: createdIso } },
    },
  };
}

const ALWAYS = 'always';
const SOMETIMES = 'sometimes';
const NEVER = 'never';

/**
 * What every account of {@link generateAccount} holds, path by path (see {@link DocumentShape}): what a search
 * index of generated accounts knows without building them, so that a condition the shape decides (`profile.email
 * IS NOT NULL`) costs nothing per account. Keep it in step with generateAccount: a test generates accounts and
 * checks each of them against it.
 */
export const GENERATED_SHAPE: DocumentShape = {
  UID: ALWAYS,
  created: ALWAYS,
  createdTimestamp: ALWAYS,
  registered: ALWAYS,
  registeredTimestamp: ALWAYS,
  verified: SOMETIMES,
  verifiedTimestamp: SOMETIMES,
  lastLogin: ALWAYS,
  lastLoginTimestamp: ALWAYS,
  lastUpdated: ALWAYS,
  lastUpdatedTimestamp: ALWAYS,
  oldestDataUpdated: ALWAYS,
  oldestDataUpdatedTimestamp: ALWAYS,
  isActive: ALWAYS,
  isRegistered: ALWAYS,
  isVerified: ALWAYS,
  hasLiteAccount: ALWAYS,
  hasFullAccount: ALWAYS,
  socialProviders: ALWAYS,
  // An empty array holds no value: search sees none.
  loginIDs: { emails: ALWAYS, unverifiedEmails: NEVER },
  emails: { verified: SOMETIMES, unverified: SOMETIMES },
  profile: {
    email: ALWAYS,
    firstName: ALWAYS,
    lastName: ALWAYS,
    gender: ALWAYS,
    birthYear: ALWAYS,
    birthMonth: ALWAYS,
    birthDay: ALWAYS,
    country: ALWAYS,
    city: ALWAYS,
    zip: ALWAYS,
    locale: ALWAYS,
  },
  data: { subscribed: ALWAYS, loyalty: { tier: ALWAYS, points: ALWAYS }, interests: ALWAYS, source: ALWAYS },
  subscriptions: { newsletter: { email: { isSubscribed: ALWAYS, tags: NEVER, lastUpdatedSubscriptionState: ALWAYS } } },
  preferences: {
    terms: { tos: { isConsentGranted: ALWAYS, docVersion: ALWAYS, lastConsentModified: ALWAYS } },
    privacy: { marketing: { isConsentGranted: ALWAYS, docVersion: ALWAYS, lastConsentModified: ALWAYS } },
  },
};

/** Yields `count` accounts, deterministic for the seed. */
export function* generateAccounts(options: GenerateAccountsOptions): Generator<GigyaAccount> {
  const now = options.now ?? Date.now();
  const start = options.startIndex ?? 0;
  for (let i = start; i < start + options.count; i++) {
    yield generateAccount(i, options.seed ?? 1, now, options.updatedWithinMs);
  }
}
