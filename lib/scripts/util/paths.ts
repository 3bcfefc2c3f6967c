/**
 * Dotted field paths over nested records (`profile.email`). A key that itself contains dots (a CSV header such
 * as `profile.firstName`) is matched literally first, so flat and nested records are both addressable. A path
 * wrapped in single quotes (`'profile.gender'`, as IdentitySync templates write flat target columns) names one
 * literal key. Only own properties count: `toString` or `constructor` are not fields of a record.
 */
import type { DataRecord } from '../../core/script.ts';

/** Splits a dotted path once; cached because the same paths are used for every record. */
const cache = new Map<string, string[]>();
export function splitPath(path: string): string[] {
  let parts = cache.get(path);
  if (!parts) {
    parts = path.length > 1 && path.startsWith("'") && path.endsWith("'") ? [path.slice(1, -1)] : path.split('.');
    if (cache.size < 10_000) cache.set(path, parts);
  }
  return parts;
}

const hasOwn = Object.hasOwn as (o: object, key: string) => boolean;

/** Sets a key; `__proto__` becomes an own field (as JSON.parse makes it) instead of changing the prototype. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a value by dotted path; undefined when absent. */
export function getPath(record: DataRecord, path: string): unknown {
  if (hasOwn(record, path)) return record[path];
  const parts = splitPath(path);
  let cur: unknown = record;
  for (const p of parts) {
    if (!isObject(cur) || !hasOwn(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** True when the path exists (even with an undefined or null value). */
export function hasPath(record: DataRecord, path: string): boolean {
  if (hasOwn(record, path)) return true;
  const parts = splitPath(path);
  let cur: unknown = record;
  for (let i = 0; i < parts.length; i++) {
    if (!isObject(cur) || !hasOwn(cur, parts[i]!)) return false;
    cur = cur[parts[i]!];
  }
  return true;
}

/** Writes a value by dotted path, creating intermediate objects (replacing non-objects in the way). */
export function setPath(record: DataRecord, path: string, value: unknown): void {
  if (hasOwn(record, path) || !path.includes('.')) {
    defineKey(record, path, value);
    return;
  }
  const parts = splitPath(path);
  let cur: Record<string, unknown> = record;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i]!;
    const next = hasOwn(cur, k) ? cur[k] : undefined;
    if (isObject(next)) cur = next;
    else {
      const created: Record<string, unknown> = {};
      defineKey(cur, k, created);
      cur = created;
    }
  }
  defineKey(cur, parts[parts.length - 1]!, value);
}

/** Deletes a value by dotted path; returns true when something was deleted. Parents are kept. */
export function deletePath(record: DataRecord, path: string): boolean {
  if (hasOwn(record, path)) return delete record[path];
  const parts = splitPath(path);
  let cur: unknown = record;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!isObject(cur) || !hasOwn(cur, parts[i]!)) return false;
    cur = cur[parts[i]!];
  }
  const last = parts[parts.length - 1]!;
  if (!isObject(cur) || !hasOwn(cur, last)) return false;
  return delete cur[last];
}
