/**
 * How a running step's progress reads, in the CLI's live line and in the step function's log lines alike: records
 * so far and their rate, the pages a reader read and the share of the total its source announced, and for file
 * steps the files and bytes in and out.
 */
import type { StepCounters } from '../core/refs.ts';

/** 1536 → "1.5 KB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** 12345 → "12,345". */
export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A duration as people read it: "42 s", "12 min 5 s", "2 h 03 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * What a step has done after `seconds`: the records it read (readers, parsers: out) or took in (the rest), with
 * their rate, the reader's pages and, where its source announced a total, the share done and the time left;
 * rejected records; files and bytes in, out, and delivered to a target.
 */
export function progressText(c: StepCounters, seconds: number): string {
  const reading = c.recordsIn === 0;
  const records = reading ? c.recordsOut + c.recordsRejected : c.recordsIn;
  const parts: string[] = [];
  const expected = reading ? c.expected : undefined;
  if (expected !== undefined && expected > 0) {
    const share = Math.min(100, Math.floor((records / expected) * 100));
    parts.push(`${count(records)} of ${count(expected)} records (${share}%)`);
  } else if (records > 0 || c.pages !== undefined) parts.push(`${count(records)} records ${reading ? 'out' : 'in'}`);
  if (c.pages !== undefined) parts.push(`${count(c.pages)} page${c.pages === 1 ? '' : 's'}`);
  const rate = seconds > 0 ? records / seconds : 0;
  parts.push(records > 0 && seconds > 0 ? `${count(rate)}/s after ${duration(seconds)}` : `after ${duration(seconds)}`);
  if (expected !== undefined && rate > 0 && records < expected)
    parts.push(`~${duration((expected - records) / rate)} left`);
  if (c.recordsRejected > 0) parts.push(`${count(c.recordsRejected)} rejected`);
  if (c.filesIn || c.bytesIn) parts.push(`${c.filesIn} file(s) ${bytes(c.bytesIn)} in`);
  if (c.filesOut || c.bytesOut) {
    if (c.bytesDelivered !== undefined) parts.push(`${c.filesOut} file(s) ${bytes(c.bytesDelivered)} delivered`);
    else parts.push(`${c.filesOut} file(s) ${bytes(c.bytesOut)} out`);
  }
  return parts.join(', ');
}
