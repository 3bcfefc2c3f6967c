import { describe, expect, it } from 'vitest';
import {
  MAX_QUERY_DEPTH,
  matches,
  parseQuery,
  project,
  QueryError,
  sortDocuments,
} from '../../../lib/local/gigya-query.ts';

const ANNA = {
  UID: 'a',
  lastUpdatedTimestamp: 300,
  lastUpdated: '2026-01-01T00:00:00.000Z',
  profile: { email: 'Anna@Example.com', firstName: 'Anna', age: 31, phones: [{ number: '1' }, { number: '2' }] },
  data: { subscribed: true, tags: ['gold', 'vip'] },
};
const BEN = {
  UID: 'b',
  lastUpdatedTimestamp: 100,
  profile: { email: 'ben@example.com', age: 25 },
  data: { subscribed: false },
};

function where(clause: string) {
  return parseQuery(`SELECT * FROM accounts WHERE ${clause}`).where;
}

describe('the emulator search language', () => {
  it('parses every clause in order', () => {
    // Act
    const q = parseQuery(
      'select UID, profile.email AS mail from accounts where a = 1 and not (b != "x" or c is not null) order by lastUpdatedTimestamp desc start 5 limit 10',
    );

    // Assess
    expect(q.select).toEqual([{ path: 'UID' }, { path: 'profile.email', alias: 'mail' }]);
    expect(q.from).toBe('accounts');
    expect(q.orderBy).toEqual([{ field: 'lastUpdatedTimestamp', desc: true }]);
    expect(q).toMatchObject({ start: 5, limit: 10 });
  });

  it.each([
    ['clauses out of order', 'SELECT * FROM accounts LIMIT 5 WHERE a = 1'],
    ['single-quoted strings', "SELECT * FROM accounts WHERE a = 'x'"],
    ['a missing FROM', 'SELECT * WHERE a = 1'],
    ['an operator without a value', 'SELECT * FROM accounts WHERE a ='],
    ['an unterminated string', 'SELECT * FROM accounts WHERE a = "x'],
    ['GROUP BY', 'SELECT * FROM accounts GROUP BY a'],
    ['stray tokens', 'SELECT * FROM accounts WHERE a = 1 b'],
  ])('refuses %s', (_name, text) => {
    // Act / Assess
    expect(() => parseQuery(text)).toThrow(QueryError);
  });

  it('compares numbers, ISO dates and strings, and matches arrays by any element', () => {
    // Act / Assess
    expect(matches(ANNA, where('profile.age >= 31 AND profile.age < 32'))).toBe(true);
    expect(matches(ANNA, where('lastUpdated > "2025-12-31T23:59:59Z"'))).toBe(true);
    expect(matches(ANNA, where('data.tags = "vip"'))).toBe(true);
    expect(matches(ANNA, where('profile.phones.number IN ("2", "3")'))).toBe(true);
    expect(matches(BEN, where('data.subscribed = false'))).toBe(true);
    expect(matches(BEN, where('profile.age > 30'))).toBe(false);
  });

  it('treats CONTAINS as case-insensitive and = as exact', () => {
    // Act / Assess
    expect(matches(ANNA, where('profile.email CONTAINS "anna@example"'))).toBe(true);
    expect(matches(ANNA, where('profile.email = "anna@example.com"'))).toBe(false);
  });

  it('matches absent fields with IS NULL and with != (as the search index does)', () => {
    // Act / Assess
    expect(matches(BEN, where('profile.firstName IS NULL'))).toBe(true);
    expect(matches(ANNA, where('profile.firstName IS NOT NULL'))).toBe(true);
    expect(matches(BEN, where('profile.firstName != "Anna"'))).toBe(true);
    expect(matches(ANNA, where('NOT profile.firstName = "Anna" OR profile.age = 25'))).toBe(false);
  });

  it('anchors regex patterns', () => {
    // Act / Assess
    expect(matches(ANNA, where('profile.firstName = regex("An.*")'))).toBe(true);
    expect(matches(ANNA, where('profile.firstName = regex("nn")'))).toBe(false);
  });

  it('sorts by a field with absent values last and ties broken by id', () => {
    // Prepare
    const docs = [BEN, { UID: 'c' }, ANNA, { UID: 'd', lastUpdatedTimestamp: 100 }];

    // Act
    const sorted = sortDocuments([...docs], [{ field: 'lastUpdatedTimestamp', desc: false }], (d) => d.UID);

    // Assess
    expect(sorted.map((d) => d.UID)).toEqual(['b', 'd', 'a', 'c']);
  });

  it('projects nested paths, subtrees, paths through arrays and aliases', () => {
    // Act
    const out = project(
      ANNA,
      parseQuery('SELECT UID, profile.phones.number, data, profile.email AS mail, x.y FROM accounts').select,
    );

    // Assess
    expect(out).toEqual({
      UID: 'a',
      profile: { phones: [{ number: '1' }, { number: '2' }] },
      data: { subscribed: true, tags: ['gold', 'vip'] },
      mail: 'Anna@Example.com',
    });
  });

  it('merges overlapping paths in select order, and keeps nulls, without sharing what it was not handed', () => {
    // Prepare
    const doc = { profile: { email: 'a@b.c', name: { first: 'A' } }, n: null, s: 'text' };

    // Act
    const subtreeFirst = project(doc, parseQuery('SELECT profile, profile.name.first, n FROM accounts').select);
    const pathFirst = project(doc, parseQuery('SELECT profile.name.first, profile.email, s.x FROM accounts').select);
    const scalarThenPath = project({ a: 1, b: { a: { c: 2 } } }, parseQuery('SELECT a, b.a.c FROM accounts').select);

    // Assess
    expect(subtreeFirst).toEqual({ profile: { email: 'a@b.c', name: { first: 'A' } }, n: null });
    expect(subtreeFirst.profile).not.toBe(doc.profile);
    expect(pathFirst).toEqual({ profile: { name: { first: 'A' }, email: 'a@b.c' } });
    expect(scalarThenPath).toEqual({ a: 1, b: { a: { c: 2 } } });
  });

  it('refuses nesting deeper than its limit with a QueryError rather than a stack overflow', () => {
    // Prepare
    const deep = (n: number) => `SELECT * FROM accounts WHERE ${'('.repeat(n)}a = 1${')'.repeat(n)}`;
    const nots = (n: number) => `SELECT * FROM accounts WHERE ${'NOT '.repeat(n)}a = 1`;

    // Act / Assess
    expect(parseQuery(deep(MAX_QUERY_DEPTH)).where).toBeDefined();
    expect(() => parseQuery(deep(MAX_QUERY_DEPTH + 1))).toThrow(/nests deeper than/);
    expect(() => parseQuery(nots(100_000))).toThrow(QueryError);
    expect(() => parseQuery(deep(3), { maxDepth: 2 })).toThrow(QueryError);
  });

  it("takes single quotes and refuses regex() in IdentitySync's dialect", () => {
    // Prepare
    const dialect = { singleQuotes: true, regex: false };

    // Act
    const q = parseQuery('select * from idx_job_status where dataflowId=\'a\' or name = "b"', dialect);

    // Assess
    expect(q.where).toEqual({
      kind: 'or',
      left: { kind: 'cmp', field: 'dataflowId', op: '=', value: 'a' },
      right: { kind: 'cmp', field: 'name', op: '=', value: 'b' },
    });
    expect(() => parseQuery('SELECT * FROM t WHERE a = regex("(a+)+$")', dialect)).toThrow(
      /regex\(\) is not supported/,
    );
  });
});
