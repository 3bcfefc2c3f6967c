import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../../lib/dataflow/types.ts';
import {
  emailList,
  nextOccurrence,
  scheduleExpression,
  scheduleInput,
  schedulePlan,
} from '../../../lib/infra/schedule-expressions.ts';

const at = (
  frequencyType: Schedule['frequencyType'],
  frequencyInterval?: number,
  nextJobStartTime?: string,
): Schedule => ({
  name: 's',
  frequencyType,
  ...(frequencyInterval === undefined ? {} : { frequencyInterval }),
  ...(nextJobStartTime === undefined ? {} : { nextJobStartTime }),
});

describe('scheduleExpression', () => {
  it.each([
    ['once at an exact minute', at('once', undefined, '2026-03-01 09:15:42'), 'cron(15 9 1 3 ? 2026)'],
    ['once in ISO-8601 UTC', at('once', undefined, '2026-12-31T23:59:00Z'), 'cron(59 23 31 12 ? 2026)'],
    ['every minute', at('minute', 1, '2026-01-01 00:07:00'), 'rate(1 minute)'],
    ['every 15 minutes from :05', at('minute', 15, '2026-01-01 00:05:00'), 'cron(5/15 * * * ? *)'],
    ['every 7 minutes (does not divide an hour)', at('minute', 7, '2026-01-01 00:05:00'), 'rate(7 minutes)'],
    ['every 10 minutes without a start', at('minute', 10), 'rate(10 minutes)'],
    ['every hour at :20', at('hour', 1, '2026-01-01 04:20:00'), 'cron(20 * * * ? *)'],
    ['twice a day from 03:15', at('hour', 12, '2026-01-01 15:15:00'), 'cron(15 3/12 * * ? *)'],
    ['every 5 hours (does not divide a day)', at('hour', 5, '2026-01-01 03:00:00'), 'rate(5 hours)'],
    ['daily at 03:00', at('day', 1, '2026-01-01 03:00:00'), 'cron(0 3 * * ? *)'],
    ['daily without a start', at('day'), 'rate(1 day)'],
    ['every 3 days', at('day', 3, '2026-01-01 03:00:00'), 'rate(3 days)'],
    ['weekly on the start weekday', at('week', 1, '2026-01-04 22:30:00'), 'cron(30 22 ? * SUN *)'],
    ['every 2 weeks', at('week', 2, '2026-01-04 22:30:00'), 'rate(14 days)'],
    ['weekly without a start', at('week'), 'rate(7 days)'],
    ['monthly on the 15th', at('month', 1, '2026-02-15 04:30:00'), 'cron(30 4 15 * ? *)'],
    ['quarterly from February', at('month', 3, '2026-02-15 04:30:00'), 'cron(30 4 15 2/3 ? *)'],
    ['quarterly from November', at('month', 3, '2026-11-01 00:00:00'), 'cron(0 0 1 2/3 ? *)'],
    ['monthly on the 31st: the last day', at('month', 1, '2026-01-31 06:00:00'), 'cron(0 6 L * ? *)'],
    ['monthly without a start', at('month'), 'cron(0 0 1 * ? *)'],
  ])('%s', (_name, schedule, expected) => {
    // Act
    const expression = scheduleExpression(schedule);

    // Assess
    expect(expression).toBe(expected);
  });

  it('has no expression for a once schedule without a start time', () => {
    // Act / Assess
    expect(scheduleExpression(at('once'))).toBeUndefined();
  });
});

describe('schedulePlan', () => {
  /** Synthesized on 2026-06-10 at 12:00 UTC. */
  const now = new Date('2026-06-10T12:00:00Z');

  it.each([
    [
      'once at a time: its rule',
      at('once', undefined, '2026-07-01 09:15:00'),
      { kind: 'rules', expressions: ['cron(15 9 1 7 ? 2026)'] },
    ],
    ['once without a time: a run at deployment', at('once'), { kind: 'at-deploy' }],
    [
      'daily at 03:00: a cron rule',
      at('day', 1, '2026-01-01 03:00:00'),
      { kind: 'rules', expressions: ['cron(0 3 * * ? *)'] },
    ],
    [
      'every 15 minutes: a cron rule',
      at('minute', 15, '2026-01-01 00:05:00'),
      { kind: 'rules', expressions: ['cron(5/15 * * * ? *)'] },
    ],
    [
      'every 3 days from Jan 1st 03:00: a rate from the next day on that rhythm',
      at('day', 3, '2026-01-01 03:00:00'),
      // 2026-01-01 + 53 × 3 days = 2026-06-09 03:00 (past); the next is 2026-06-12 03:00.
      { kind: 'scheduler', expression: 'rate(3 days)', start: new Date('2026-06-12T03:00:00Z') },
    ],
    [
      'every 2 weeks from a Sunday: a rate from the next such Sunday',
      at('week', 2, '2026-01-04 22:30:00'),
      { kind: 'scheduler', expression: 'rate(14 days)', start: new Date('2026-06-21T22:30:00Z') },
    ],
    [
      'every 5 hours from 03:00: a rate from the next occurrence',
      at('hour', 5, '2026-06-10 03:00:00'),
      // 03:00, 08:00, 13:00: the first after synthesis plus its margin.
      { kind: 'scheduler', expression: 'rate(5 hours)', start: new Date('2026-06-10T13:00:00Z') },
    ],
    [
      'every 7 minutes from a future start: from that start',
      at('minute', 7, '2026-07-01 00:00:00'),
      { kind: 'scheduler', expression: 'rate(7 minutes)', start: new Date('2026-07-01T00:00:00Z') },
    ],
    [
      'every 5 months from February: one rule per year of the five-year cycle',
      at('month', 5, '2026-02-15 04:30:00'),
      {
        kind: 'rules',
        expressions: [
          'cron(30 4 15 2,7,12 ? 2026/5)',
          'cron(30 4 15 5,10 ? 2027/5)',
          'cron(30 4 15 3,8 ? 2028/5)',
          'cron(30 4 15 1,6,11 ? 2029/5)',
          'cron(30 4 15 4,9 ? 2030/5)',
        ],
      },
    ],
    [
      'every 3 days without a start: a rate from deployment',
      at('day', 3),
      { kind: 'rules', expressions: ['rate(3 days)'] },
    ],
  ])('%s', (_name, schedule, expected) => {
    // Act
    const plan = schedulePlan(schedule, now);

    // Assess
    expect(plan).toEqual(expected);
  });

  it('keeps a start date at least the deployment margin after synthesis', () => {
    // Prepare: the next occurrence would be five minutes after synthesis.
    const schedule = at('hour', 5, '2026-06-10 02:05:00');

    // Act
    const plan = schedulePlan(schedule, new Date('2026-06-10T12:00:00Z'));

    // Assess: 12:05 is too soon; 17:05 is the first start the deployment can still meet.
    expect(plan).toEqual({ kind: 'scheduler', expression: 'rate(5 hours)', start: new Date('2026-06-10T17:05:00Z') });
  });
});

describe('nextOccurrence', () => {
  it('is the start itself when it is not yet due, else the first later step on its rhythm', () => {
    // Prepare
    const start = new Date('2026-01-01T00:00:00Z');
    const hour = 3_600_000;

    // Act / Assess
    expect(nextOccurrence(start, hour, new Date('2025-12-31T00:00:00Z'))).toEqual(start);
    expect(nextOccurrence(start, hour, new Date('2026-01-01T05:00:00Z'))).toEqual(new Date('2026-01-01T05:00:00Z'));
    expect(nextOccurrence(start, hour, new Date('2026-01-01T05:00:01Z'))).toEqual(new Date('2026-01-01T06:00:00Z'));
  });
});

describe('scheduleInput', () => {
  it('sets every field, with IdentitySync defaults for the absent ones', () => {
    // Act / Assess
    expect(scheduleInput(at('day'))).toEqual({ scheduleId: 's', fullExtract: false, limit: null, logLevel: 'info' });
  });

  it("carries the schedule's id, full extract, limit and log level", () => {
    // Prepare
    const s: Schedule = { ...at('day'), id: 'abc123', fullExtract: true, limit: 10, logLevel: 'debug' };

    // Act / Assess
    expect(scheduleInput(s)).toEqual({ scheduleId: 'abc123', fullExtract: true, limit: 10, logLevel: 'debug' });
  });
});

describe('emailList', () => {
  it('splits, trims and drops repeated addresses whatever their case', () => {
    // Act / Assess
    expect(emailList(' a@example.com,b@example.com , A@Example.com,')).toEqual(['a@example.com', 'b@example.com']);
    expect(emailList(undefined)).toEqual([]);
  });
});
