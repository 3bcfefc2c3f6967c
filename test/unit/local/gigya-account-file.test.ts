import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountFile, type AccountSelection, type GigyaAccount } from '../../../lib/local/gigya-account-file.ts';
import { GENERATED_SHAPE, generateAccount, generatedKey, iso } from '../../../lib/local/gigya-accounts.ts';
import {
  type DocumentShape,
  decideByShape,
  matches,
  parseQuery,
  presenceIn,
  sortDocuments,
  valuesAt,
} from '../../../lib/local/gigya-query.ts';

const root = mkdtempSync(join(tmpdir(), 'idx-account-file-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const folder = () => join(root, `f${++folders}`);

const NOW = Date.UTC(2026, 0, 15);

/** A small deterministic generator of test data (an LCG). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x80000000;
  };
}

/** The store as a plain Map would keep it: what every search must agree with. */
class Model {
  readonly accounts = new Map<string, GigyaAccount>();

  put(a: GigyaAccount): void {
    this.accounts.set(a.UID, structuredClone(a));
  }

  /** What a search over every account finds, checked account by account and sorted as the emulator sorts. */
  select(sel: AccountSelection): string[] {
    const found = [...this.accounts.values()].filter((a) => {
      if (!(a.hasFullAccount === false ? sel.lite : sel.full)) return false;
      const t = a.lastUpdatedTimestamp;
      if (sel.visibleUpTo !== undefined && typeof t === 'number' && t > sel.visibleUpTo) return false;
      return matches(a, sel.where);
    });
    if (sel.orderBy.length) sortDocuments(found, sel.orderBy, (a) => a.UID);
    return found.map((a) => a.UID);
  }
}

function selection(query: string, more: Partial<AccountSelection> = {}): AccountSelection {
  const q = parseQuery(query);
  return { full: true, lite: false, ...(q.where ? { where: q.where } : {}), orderBy: q.orderBy, ...more };
}

async function uidsOf(file: AccountFile, sel: AccountSelection): Promise<string[]> {
  return [...(await file.select(sel))].map((r) => file.uidOf(r));
}

describe('generated accounts', () => {
  it('derive the UID and lastUpdatedTimestamp of an account without building it', () => {
    // Prepare
    const numbers = [0, 1, 2, 999, 123_456, 4_000_000_000];

    // Act
    const keys = numbers.map((i) => generatedKey(i, 7, NOW, 86_400_000));
    const accounts = numbers.map((i) => generateAccount(i, 7, NOW, 86_400_000));

    // Assess
    expect(keys).toEqual(accounts.map((a) => ({ uid: a.UID, lastUpdatedTimestamp: a.lastUpdatedTimestamp })));
  });

  it('write timestamps as Date.prototype.toISOString does', () => {
    // Prepare
    const next = random(3);
    const instants = [
      0,
      86_399_999,
      951_782_400_000,
      253_402_300_799_999,
      ...Array.from({ length: 2000 }, () => Math.floor(next() * 253_402_300_799_999)),
    ];

    // Act
    const ours = instants.map(iso);

    // Assess
    expect(ours).toEqual(instants.map((ms) => new Date(ms).toISOString()));
  });
});

/** Every path of a shape, leaves and object nodes alike. */
function shapePaths(shape: DocumentShape, prefix = ''): string[] {
  return Object.entries(shape).flatMap(([k, v]) => {
    const path = prefix + k;
    return typeof v === 'string' ? [path] : [path, ...shapePaths(v, `${path}.`)];
  });
}

/** Every path to a value in an account (through objects; arrays and scalars end a path). */
function accountPaths(doc: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(doc).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? [prefix + k, ...accountPaths(v as Record<string, unknown>, `${prefix + k}.`)]
      : [prefix + k],
  );
}

/** Conditions on paths every generated account has, none has, and some have, alone and combined. */
const SHAPE_CONDITIONS = [
  'profile.email IS NOT NULL',
  'profile.email IS NULL',
  'profile IS NOT NULL',
  'loginIDs.unverifiedEmails IS NULL',
  'subscriptions.newsletter.email.tags = "x"',
  'data.nothing != 3',
  'data.nothing IN (1, 2)',
  'profile.email.domain IS NOT NULL',
  'data.nothing CONTAINS "a"',
  'verified IS NOT NULL',
  'NOT (profile.email IS NULL) AND verified IS NULL',
  'profile.email IS NULL OR emails.verified IS NOT NULL',
  'profile.email IS NOT NULL OR emails.verified IS NOT NULL',
  'data.nothing = 1 AND profile.gender = "f"',
  'NOT (data.nothing = 1) AND NOT (profile.firstName IS NULL)',
];

describe('the shape of generated accounts', () => {
  it('says which paths every generated account has a value at, which none has, and lists every path they have', () => {
    // Prepare
    const accounts = [1, 2, 77].flatMap((seed) =>
      Array.from({ length: 700 }, (_, i) => generateAccount(i, seed, NOW + seed, 86_400_000 * seed)),
    );

    // Act
    const wrong: string[] = [];
    for (const path of shapePaths(GENERATED_SHAPE)) {
      const present = accounts.map((a) => valuesAt(a, path).some((v) => v !== null));
      const seen = present.every(Boolean) ? 'always' : present.some(Boolean) ? 'sometimes' : 'never';
      if (seen !== presenceIn(GENERATED_SHAPE, path)) wrong.push(`${path}: ${seen}`);
    }
    const unlisted = new Set(
      accounts.flatMap((a) => accountPaths(a)).filter((path) => !shapePaths(GENERATED_SHAPE).includes(path)),
    );

    // Assess
    expect(wrong).toEqual([]);
    expect([...unlisted]).toEqual([]);
  });

  it('decides a condition for every generated account only where each of them gives that answer', () => {
    // Prepare
    const accounts = Array.from({ length: 2000 }, (_, i) => generateAccount(i, 5, NOW));

    // Act
    const verdicts = SHAPE_CONDITIONS.map((condition) => {
      const where = parseQuery(`SELECT * FROM accounts WHERE ${condition}`).where;
      const decided = where && decideByShape(where, GENERATED_SHAPE);
      const answers = new Set(accounts.map((a) => matches(a, where)));
      return { condition, decided, answers: [...answers].sort() };
    });

    // Assess
    for (const v of verdicts) {
      if (v.decided !== undefined) expect(v, v.condition).toMatchObject({ answers: [v.decided] });
    }
    // Only conditions that read a path some accounts have and others not are left to the accounts.
    expect(verdicts.filter((v) => v.decided === undefined).map((v) => v.condition)).toEqual([
      'verified IS NOT NULL',
      'NOT (profile.email IS NULL) AND verified IS NULL',
      'profile.email IS NULL OR emails.verified IS NOT NULL',
    ]);
  });

  it('gives the same search answers as building each account, before and after some of them change', async () => {
    // Prepare
    const file = AccountFile.open();
    const model = new Model();
    file.generate({ count: 3000, seed: 4, now: NOW, updatedWithinMs: 1000 });
    for (let i = 0; i < 3000; i++) model.put(generateAccount(i, 4, NOW, 1000));
    const selections = SHAPE_CONDITIONS.flatMap((condition) => [
      selection(
        `SELECT * FROM accounts WHERE (${condition}) AND lastUpdatedTimestamp >= 0 ORDER BY lastUpdatedTimestamp`,
      ),
      selection(`SELECT * FROM accounts WHERE ${condition}`),
    ]);
    const mismatches = async () => {
      const out: string[] = [];
      for (const sel of selections) {
        if (JSON.stringify(await uidsOf(file, sel)) !== JSON.stringify(model.select(sel))) {
          out.push(JSON.stringify(sel.where));
        }
      }
      return out;
    };
    const before = await mismatches();

    // Act: accounts that no longer have the generator's shape (an email removed, a field added).
    for (const i of [3, 700, 2998]) {
      const a = generateAccount(i, 4, NOW, 1000);
      const changed = { ...a, profile: { firstName: 'Ann' }, data: { nothing: 1 }, lastUpdatedTimestamp: NOW - 5 };
      file.put(changed);
      model.put(changed);
    }
    const after = await mismatches();

    // Assess
    expect(before).toEqual([]);
    expect(after).toEqual([]);
    const emailless = selection('SELECT * FROM accounts WHERE profile.email IS NULL');
    expect(await uidsOf(file, emailless)).toHaveLength(3);
  });
});

describe('AccountFile', () => {
  it('finds, replaces and deletes accounts, and a restart finds them again with or without its index', () => {
    // Prepare
    const dir = folder();
    const file = AccountFile.open({ dir });
    file.put({ UID: 'a', lastUpdatedTimestamp: 1, profile: { email: 'a@example.com' } });
    file.put({ UID: 'b', lastUpdatedTimestamp: 2 });
    file.put({ UID: 'c', lastUpdatedTimestamp: 3 });
    file.put({ UID: 'a', lastUpdatedTimestamp: 4, profile: { email: 'a2@example.com' } });
    file.delete('b');

    // Act
    file.close();
    const reopened = AccountFile.open({ dir });
    const fromIndex = [...reopened.records()].map((r) => reopened.read(r));
    reopened.close();
    rmSync(join(dir, 'accounts.index'));
    const replayed = AccountFile.open({ dir });
    const fromLog = [...replayed.records()].map((r) => replayed.read(r));

    // Assess
    const expected = [
      { UID: 'a', lastUpdatedTimestamp: 4, profile: { email: 'a2@example.com' } },
      { UID: 'c', lastUpdatedTimestamp: 3 },
    ];
    expect(fromIndex).toEqual(expected);
    expect(fromLog).toEqual(expected);
    expect(replayed.size).toBe(2);
    expect(replayed.find('b')).toBe(-1);
    expect(file.read(file.find('a'))).toEqual(expected[0]);
  });

  it('keeps a run of generated accounts as one line, and an account that changes as a line of its own', () => {
    // Prepare
    const dir = folder();
    const file = AccountFile.open({ dir });

    // Act
    file.generate({ count: 50_000, seed: 4, now: NOW });
    const logAfterRun = statSync(join(dir, 'accounts.ndjson')).size;
    const changed = { ...generateAccount(20_000, 4, NOW), lastUpdatedTimestamp: NOW + 5 };
    file.put(changed);
    file.close();
    const reopened = AccountFile.open({ dir });

    // Assess
    expect(logAfterRun).toBeLessThan(200);
    expect(reopened.size).toBe(50_000);
    const uid = generateAccount(31_337, 4, NOW).UID;
    expect(reopened.read(reopened.find(uid))).toEqual(generateAccount(31_337, 4, NOW));
    expect(reopened.read(reopened.find(changed.UID))).toEqual(changed);
    expect(readFileSync(join(dir, 'accounts.ndjson'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('replays the log written after its index when the process ended without closing', () => {
    // Prepare
    const dir = folder();
    const first = AccountFile.open({ dir });
    first.generate({ count: 1000, now: NOW });
    first.close();
    const second = AccountFile.open({ dir });
    second.put({ UID: 'late', lastUpdatedTimestamp: 7 });
    second.delete(generateAccount(5, 1, NOW).UID);
    second.checkpoint();

    // Act
    const third = AccountFile.open({ dir });

    // Assess
    expect(third.size).toBe(1000);
    expect(third.read(third.find('late'))).toEqual({ UID: 'late', lastUpdatedTimestamp: 7 });
    expect(third.find(generateAccount(5, 1, NOW).UID)).toBe(-1);
  });

  it('drops a line cut short by a crash, and takes a complete last line without its newline', () => {
    // Prepare
    const torn = folder();
    const whole = folder();
    AccountFile.open({ dir: torn }).close();
    AccountFile.open({ dir: whole }).close();
    const lines = `${JSON.stringify({ UID: 'x', n: 1 })}\n${JSON.stringify({ UID: 'y', n: 2 })}\n`;
    writeFileSync(join(torn, 'accounts.ndjson'), `${lines}{"UID":"z","n":`);
    writeFileSync(join(whole, 'accounts.ndjson'), `${lines}{"UID":"z","n":3}`);
    rmSync(join(torn, 'accounts.index'), { force: true });
    rmSync(join(whole, 'accounts.index'), { force: true });

    // Act
    const a = AccountFile.open({ dir: torn });
    a.put({ UID: 'w', n: 4 });
    a.close();
    const b = AccountFile.open({ dir: whole });
    b.close();

    // Assess
    expect(readFileSync(join(torn, 'accounts.ndjson'), 'utf8')).toBe(`${lines}${JSON.stringify({ UID: 'w', n: 4 })}\n`);
    expect([...b.records()].map((r) => b.read(r))).toEqual([
      { UID: 'x', n: 1 },
      { UID: 'y', n: 2 },
      { UID: 'z', n: 3 },
    ]);
  });

  it('refuses a log line that is not a JSON object, naming the file', () => {
    // Prepare
    const dir = folder();
    AccountFile.open({ dir }).close();
    appendFileSync(join(dir, 'accounts.ndjson'), '{"UID":"ok"}\nnot json\n');

    // Act / Assess
    expect(() => AccountFile.open({ dir })).toThrow(
      expect.objectContaining({
        code: 'IDX_GIGYA_STATE',
        message: "the line at byte 13 of the emulator's account log is not a JSON object",
        location: { file: join(dir, 'accounts.ndjson') },
        received: '"not json"',
      }),
    );
  });

  it('finds a lite account by its email, and not a full one', () => {
    // Prepare
    const file = AccountFile.open();
    file.put({ UID: 'full', profile: { email: 'same@example.com' } });
    file.put({ UID: 'lite', hasFullAccount: false, profile: { email: 'same@example.com' } });
    file.put({ UID: 'other', hasFullAccount: false, profile: { email: 'other@example.com' } });

    // Act
    const found = file.findLite('same@example.com');
    file.delete('lite');
    const afterDelete = file.findLite('same@example.com');

    // Assess
    expect(file.uidOf(found)).toBe('lite');
    expect(afterDelete).toBe(-1);
    expect(file.uidOf(file.findLite('other@example.com'))).toBe('other');
  });

  it('answers every search as a scan of every account does, while accounts are added, changed and deleted', async () => {
    // Prepare
    const next = random(11);
    const file = AccountFile.open();
    const model = new Model();
    const queries = [
      'SELECT * FROM accounts',
      'SELECT * FROM accounts ORDER BY lastUpdatedTimestamp',
      'SELECT * FROM accounts ORDER BY lastUpdatedTimestamp DESC',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp > 30 AND lastUpdatedTimestamp <= 70 ORDER BY lastUpdatedTimestamp',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp >= 30 AND lastUpdatedTimestamp < 70 ORDER BY lastUpdatedTimestamp DESC',
      'SELECT * FROM accounts WHERE (profile.n > 4) AND lastUpdatedTimestamp > 20 AND lastUpdatedTimestamp <= 80 ORDER BY lastUpdatedTimestamp',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp = 50',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp = "50" ORDER BY lastUpdatedTimestamp',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp > 90 AND lastUpdatedTimestamp < 10',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp < 20 OR lastUpdatedTimestamp > 80 ORDER BY lastUpdatedTimestamp',
      'SELECT * FROM accounts WHERE NOT profile.n < 5 AND lastUpdatedTimestamp >= 40',
      'SELECT * FROM accounts WHERE profile.n IS NOT NULL ORDER BY profile.n DESC, lastUpdatedTimestamp',
      'SELECT * FROM accounts WHERE lastUpdatedTimestamp != 50 ORDER BY lastUpdatedTimestamp',
    ];
    const variants: Partial<AccountSelection>[] = [
      {},
      { lite: true, full: false },
      { lite: true },
      { visibleUpTo: 60 },
    ];
    const uid = () => `u${Math.floor(next() * 400)}`;
    const account = (id: string): GigyaAccount => {
      const a: GigyaAccount = { UID: id, profile: { n: Math.floor(next() * 10) } };
      // Few distinct timestamps, so that ties are common; now and then none.
      if (next() < 0.9) a.lastUpdatedTimestamp = Math.floor(next() * 100);
      if (next() < 0.2) a.hasFullAccount = false;
      return a;
    };
    const mismatches: string[] = [];

    // Act
    for (let round = 0; round < 12; round++) {
      for (let k = 0; k < 60; k++) {
        const roll = next();
        const id = uid();
        if (roll < 0.75) {
          const a = account(id);
          file.put(a);
          model.put(a);
        } else if (model.accounts.has(id)) {
          file.delete(id);
          model.accounts.delete(id);
        }
      }
      for (const query of queries) {
        for (const variant of variants) {
          const sel = selection(query, variant);
          const ours = await uidsOf(file, sel);
          const scan = model.select(sel);
          if (JSON.stringify(ours) !== JSON.stringify(scan)) mismatches.push(`${query} ${JSON.stringify(variant)}`);
        }
      }
    }

    // Assess
    expect(mismatches).toEqual([]);
    expect(file.size).toBe(model.accounts.size);
  });

  it('answers searches over generated accounts and their later changes as a scan does', async () => {
    // Prepare
    const file = AccountFile.open();
    const model = new Model();
    file.generate({ count: 3000, seed: 9, now: NOW, updatedWithinMs: 1000 });
    for (let i = 0; i < 3000; i++) model.put(generateAccount(i, 9, NOW, 1000));
    const sel = selection(
      `SELECT * FROM accounts WHERE (profile.gender = "f") AND lastUpdatedTimestamp > ${NOW - 600} AND lastUpdatedTimestamp <= ${NOW - 200} ORDER BY lastUpdatedTimestamp`,
    );
    const before = await uidsOf(file, sel);
    const scanBefore = model.select(sel);

    // Act
    for (const i of [10, 500, 1500, 2999]) {
      const a = generateAccount(i, 9, NOW, 1000);
      const changed = { ...a, lastUpdatedTimestamp: NOW - 300, profile: { ...(a.profile as object), gender: 'f' } };
      file.put(changed);
      model.put(changed);
    }
    const after = await uidsOf(file, sel);

    // Assess
    expect(before).toEqual(scanBefore);
    expect(after).toEqual(model.select(sel));
    expect(after).not.toEqual(before);
  });
});
