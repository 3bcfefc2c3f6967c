/**
 * IdentitySync scheduling objects as EventBridge schedule expressions and execution inputs. EventBridge rules
 * run in UTC, as IdentitySync schedules do, and fire at minute granularity (seconds of `nextJobStartTime` are
 * dropped).
 *
 * How `nextJobStartTime` anchors a recurring schedule: a rule cannot say "every n units from this instant", so
 * the start time sets the *phase* of a cron expression wherever cron can express the interval exactly, and a
 * `rate()` (counted from when the rule is deployed) is used where it cannot:
 * - `once`: `cron(m h D M ? YYYY)`, that exact minute; without a start time there is nothing to schedule.
 * - `minute` n: n divides 60 → `cron(m0/n * * * ? *)` (m0 = start minute mod n); else `rate(n minutes)`.
 * - `hour` n: n divides 24 → `cron(m h0/n * * ? *)` (twice a day from 03:15 = 03:15 and 15:15); else `rate(n hours)`.
 * - `day`: 1 → `cron(m h * * ? *)` at the start's time of day; n > 1 → `rate(n days)` (cron's day-of-month steps
 *   restart every month, so they cannot keep an n-day rhythm).
 * - `week`: 1 → `cron(m h ? * DOW *)` on the start's weekday; n > 1 → `rate(7n days)`.
 * - `month` n: `cron(m h D M0/n ? *)` on the start's day of month, from the start's month; a start on the 29th,
 *   30th or 31st runs on the last day of each month instead (`L`), so short months are not skipped.
 * Without a start time ("now" in IdentitySync) recurring schedules use `rate()`, and `month` runs at 00:00 UTC on
 * the 1st.
 */

import type { ExecutionInput } from '../core/events.ts';
import type { Schedule } from '../dataflow/types.ts';
import { parseScheduleTime } from '../dataflow/validate.ts';

const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function rate(n: number, unit: 'minute' | 'hour' | 'day'): string {
  return `rate(${n} ${n === 1 ? unit : `${unit}s`})`;
}

/** The schedule's start time, when it has a readable one. */
export function scheduleStart(schedule: Schedule): Date | undefined {
  return typeof schedule.nextJobStartTime === 'string' ? parseScheduleTime(schedule.nextJobStartTime) : undefined;
}

/**
 * The EventBridge schedule expression of a scheduling object; `undefined` for a `once` schedule without a start
 * time (IdentitySync's "run now", which a deployed rule cannot express).
 */
export function scheduleExpression(schedule: Schedule): string | undefined {
  const n = schedule.frequencyInterval ?? 1;
  const start = scheduleStart(schedule);
  const mi = start?.getUTCMinutes() ?? 0;
  const h = start?.getUTCHours() ?? 0;
  switch (schedule.frequencyType) {
    case 'once':
      if (!start) return undefined;
      return `cron(${mi} ${h} ${start.getUTCDate()} ${start.getUTCMonth() + 1} ? ${start.getUTCFullYear()})`;
    case 'minute':
      if (!start || n === 1 || 60 % n !== 0) return rate(n, 'minute');
      return `cron(${mi % n}/${n} * * * ? *)`;
    case 'hour':
      if (!start || 24 % n !== 0) return rate(n, 'hour');
      return n === 1 ? `cron(${mi} * * * ? *)` : `cron(${mi} ${h % n}/${n} * * ? *)`;
    case 'day':
      if (!start || n > 1) return rate(n, 'day');
      return `cron(${mi} ${h} * * ? *)`;
    case 'week':
      if (!start || n > 1) return rate(7 * n, 'day');
      return `cron(${mi} ${h} ? * ${WEEKDAYS[start.getUTCDay()]} *)`;
    case 'month': {
      const day = start ? start.getUTCDate() : 1;
      const month = start ? start.getUTCMonth() + 1 : 1;
      const dom = day > 28 ? 'L' : String(day);
      const months = n === 1 ? '*' : `${((month - 1) % n) + 1}/${n}`;
      return `cron(${mi} ${h} ${dom} ${months} ? *)`;
    }
    default:
      throw new Error(`unknown frequencyType ${JSON.stringify(schedule.frequencyType)}`);
  }
}

/** The id a schedule passes as `scheduleId`: its IdentitySync id when it has one, else its (unique) name. */
export function scheduleIdOf(schedule: Schedule): string {
  return typeof schedule.id === 'string' && schedule.id !== '' ? schedule.id : schedule.name;
}

/**
 * The execution input a schedule's rule starts the state machine with. Every field is set, with IdentitySync's
 * defaults (no full extract, no limit, `info`), so the input seen in the console says exactly what ran.
 */
export function scheduleInput(
  schedule: Schedule,
): Required<Pick<ExecutionInput, 'scheduleId' | 'fullExtract' | 'limit' | 'logLevel'>> {
  return {
    scheduleId: scheduleIdOf(schedule),
    fullExtract: schedule.fullExtract === true,
    limit: schedule.limit ?? null,
    logLevel: schedule.logLevel ?? 'info',
  };
}

/** Email addresses of a comma-separated list, trimmed, without duplicates (compared case-insensitively). */
export function emailList(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  const seen = new Map<string, string>();
  for (const raw of value.split(',')) {
    const email = raw.trim();
    if (email !== '' && !seen.has(email.toLowerCase())) seen.set(email.toLowerCase(), email);
  }
  return [...seen.values()];
}
