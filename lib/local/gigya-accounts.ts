/**
 * A generator of realistic Gigya accounts for the emulator (`idx gigya seed --accounts N`) and for tests. Account
 * `i` depends only on the seed and `i`, so a million accounts can be streamed to a file without holding them, and
 * two runs with the same seed agree.
 */
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
  /** How far back `lastUpdatedTimestamp` goes. @default 90 days */
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

/** A small, fast, seedable PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

/** One account, number `i` of the sequence for `seed`. */
export function generateAccount(
  i: number,
  seed = 1,
  now: number = Date.now(),
  updatedWithinMs = 90 * 86_400_000,
): GigyaAccount {
  const r = prng(mix(seed, i));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const hex = () =>
    Array.from({ length: 4 }, () =>
      Math.floor(r() * 0x100000000)
        .toString(16)
        .padStart(8, '0'),
    ).join('');
  const firstName = pick(FIRST);
  const lastName = pick(LAST);
  const [country, city, zipPrefix] = pick(PLACES);
  const email = `${ascii(firstName)}.${ascii(lastName)}.${i}@example.com`;
  const created = Math.floor(now - updatedWithinMs - r() * 3 * 365 * 86_400_000);
  const lastUpdated = Math.floor(now - r() * updatedWithinMs);
  const lastLogin = Math.floor(lastUpdated - r() * Math.min(updatedWithinMs, lastUpdated - created));
  const subscribed = r() < 0.6;
  const verified = r() < 0.85;
  const birthYear = 1950 + Math.floor(r() * 56);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    UID: hex(),
    created: iso(created),
    createdTimestamp: created,
    registered: iso(created),
    registeredTimestamp: created,
    ...(verified ? { verified: iso(created + 3_600_000), verifiedTimestamp: created + 3_600_000 } : {}),
    lastLogin: iso(lastLogin),
    lastLoginTimestamp: lastLogin,
    lastUpdated: iso(lastUpdated),
    lastUpdatedTimestamp: lastUpdated,
    oldestDataUpdated: iso(created),
    oldestDataUpdatedTimestamp: created,
    isActive: r() < 0.97,
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
      gender: pick(['m', 'f', 'u']),
      birthYear,
      birthMonth: 1 + Math.floor(r() * 12),
      birthDay: 1 + Math.floor(r() * 28),
      country,
      city,
      zip: `${zipPrefix}${String(Math.floor(r() * 100)).padStart(2, '0')}`,
      locale: pick(['en', 'de', 'fr', 'es', 'it', 'ja']),
    },
    data: {
      subscribed,
      loyalty: { tier: pick(TIERS), points: Math.floor(r() * 10_000) },
      interests: [pick(INTERESTS), pick(INTERESTS)].filter((v, k, xs) => xs.indexOf(v) === k),
      source: pick(['web', 'ios', 'android', 'store']),
    },
    subscriptions: {
      newsletter: {
        email: {
          isSubscribed: subscribed,
          tags: [],
          lastUpdatedSubscriptionState: iso(Math.floor(created + r() * (lastUpdated - created))),
        },
      },
    },
    preferences: {
      terms: { tos: { isConsentGranted: true, docVersion: 1, lastConsentModified: iso(created) } },
      privacy: { marketing: { isConsentGranted: subscribed, docVersion: 2, lastConsentModified: iso(created) } },
    },
  };
}

/** Yields `count` accounts, deterministic for the seed. */
export function* generateAccounts(options: GenerateAccountsOptions): Generator<GigyaAccount> {
  const now = options.now ?? Date.now();
  const start = options.startIndex ?? 0;
  for (let i = start; i < start + options.count; i++) {
    yield generateAccount(i, options.seed ?? 1, now, options.updatedWithinMs);
  }
}
