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
 *
 * {@link schedulePlan} says how a schedule deploys as IdentitySync means it, so a start time is the phase of every
 * interval: where a cron expression keeps it, a rule with that expression; where one cannot (every 7 minutes, 5
 * hours, 3 days, 2 weeks), an EventBridge Scheduler schedule with that `rate()` whose start date is the next
 * occurrence on the phase; every n months where n does not divide 12, one rule per year of the cycle (the months
 * of that year, every lcm(12, n)/12 years); and `once` without a start time runs when the stack is deployed.
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

/** How a scheduling object deploys (see the notes at the top of this file). */
export type SchedulePlan =
  /** EventBridge rules, one per expression. */
  | { readonly kind: 'rules'; readonly expressions: readonly string[] }
  /** An EventBridge Scheduler `rate()` schedule that first fires at `start`. */
  | { readonly kind: 'scheduler'; readonly expression: string; readonly start: Date }
  /** One execution started when the stack is deployed (a `once` schedule without a start time). */
  | { readonly kind: 'at-deploy' };

/**
 * How far after synthesis a Scheduler start date must be: the deployment takes a while, and a start date passed
 * by then would fire at once. An occurrence due sooner is left out; the next one starts the schedule.
 */
export const SCHEDULER_START_MARGIN_MS = 10 * 60_000;

const MINUTE_MS = 60_000;

/** The first occurrence of `start + k × period` (k ≥ 0) at or after `notBefore`. */
export function nextOccurrence(start: Date, periodMs: number, notBefore: Date): Date {
  const behind = notBefore.getTime() - start.getTime();
  if (behind <= 0) return start;
  return new Date(start.getTime() + Math.ceil(behind / periodMs) * periodMs);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Every n months from the start's month, n not dividing 12: the months repeat only every lcm(12, n) months, so
 * there is one cron expression per year of that cycle, listing its months and stepping by the cycle's years.
 */
function monthCycleExpressions(start: Date, n: number, minute: number, hour: number, dom: string): string[] {
  const years = n / gcd(12, n);
  const first = start.getUTCMonth();
  const out: string[] = [];
  for (let k = 0; k < years; k++) {
    const months: number[] = [];
    for (let m = 0; m < 12; m++) if ((((12 * k + m - first) % n) + n) % n === 0) months.push(m + 1);
    if (months.length)
      out.push(`cron(${minute} ${hour} ${dom} ${months.join(',')} ? ${start.getUTCFullYear() + k}/${years})`);
  }
  return out;
}

/**
 * How a scheduling object deploys: rules, a Scheduler rate schedule on the start time's phase, or a run at
 * deployment. `now` is when the stack is synthesized.
 */
export function schedulePlan(schedule: Schedule, now: Date): SchedulePlan {
  const n = schedule.frequencyInterval ?? 1;
  const start = scheduleStart(schedule);
  const expression = scheduleExpression(schedule);
  if (expression === undefined) return { kind: 'at-deploy' };
  const onPhase = (periodMs: number, rateText: string): SchedulePlan => ({
    kind: 'scheduler',
    expression: rateText,
    start: nextOccurrence(start as Date, periodMs, new Date(now.getTime() + SCHEDULER_START_MARGIN_MS)),
  });
  if (start) {
    switch (schedule.frequencyType) {
      case 'minute':
        if (n > 1 && 60 % n !== 0) return onPhase(n * MINUTE_MS, rate(n, 'minute'));
        break;
      case 'hour':
        if (24 % n !== 0) return onPhase(n * 60 * MINUTE_MS, rate(n, 'hour'));
        break;
      case 'day':
        if (n > 1) return onPhase(n * 1440 * MINUTE_MS, rate(n, 'day'));
        break;
      case 'week':
        if (n > 1) return onPhase(7 * n * 1440 * MINUTE_MS, rate(7 * n, 'day'));
        break;
      case 'month':
        if (12 % n !== 0) {
          const dom = start.getUTCDate() > 28 ? 'L' : String(start.getUTCDate());
          return {
            kind: 'rules',
            expressions: monthCycleExpressions(start, n, start.getUTCMinutes(), start.getUTCHours(), dom),
          };
        }
        break;
    }
  }
  return { kind: 'rules', expressions: [expression] };
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
