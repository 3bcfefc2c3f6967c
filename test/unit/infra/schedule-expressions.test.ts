import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../../lib/dataflow/types.ts';
import { emailList, scheduleExpression, scheduleInput } from '../../../lib/infra/schedule-expressions.ts';

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
