/**
 * Dotted field paths over nested records (`profile.email`). A key that itself contains dots (a CSV header such
 * as `profile.firstName`) is matched literally first, so flat and nested records are both addressable.
 */
import type { DataRecord } from '../types.ts';

/** Splits a dotted path once; cached because the same paths are used for every record. */
const cache = new Map<string, string[]>();
export function splitPath(path: string): string[] {
  let parts = cache.get(path);
  if (!parts) {
    parts = path.split('.');
    if (cache.size < 10_000) cache.set(path, parts);
  }
  return parts;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a value by dotted path; undefined when absent. */
export function getPath(record: DataRecord, path: string): unknown {
  if (path in record) return record[path];
  const parts = splitPath(path);
  let cur: unknown = record;
  for (const p of parts) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** True when the path exists (even with an undefined or null value). */
export function hasPath(record: DataRecord, path: string): boolean {
  if (path in record) return true;
  const parts = splitPath(path);
  let cur: unknown = record;
  for (let i = 0; i < parts.length; i++) {
    if (!isObject(cur) || !(parts[i]! in cur)) return false;
    cur = cur[parts[i]!];
  }
  return true;
}

/** Writes a value by dotted path, creating intermediate objects (replacing non-objects in the way). */
export function setPath(record: DataRecord, path: string, value: unknown): void {
  if (path in record || !path.includes('.')) {
    record[path] = value;
    return;
  }
  const parts = splitPath(path);
  let cur: Record<string, unknown> = record;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i]!;
    const next = cur[k];
    if (isObject(next)) cur = next;
    else {
      const created: Record<string, unknown> = {};
      cur[k] = created;
      cur = created;
    }
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Deletes a value by dotted path; returns true when something was deleted. Parents are kept. */
export function deletePath(record: DataRecord, path: string): boolean {
  if (path in record) return delete record[path];
  const parts = splitPath(path);
  let cur: unknown = record;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!isObject(cur)) return false;
    cur = cur[parts[i]!];
  }
  const last = parts[parts.length - 1]!;
  if (!isObject(cur) || !(last in cur)) return false;
  return delete cur[last];
}
