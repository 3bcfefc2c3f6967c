/**
 * Generated functions, cached by their source. Scripts compile per-record code for the field names they see
 * (named property reads instead of reads by a variable key). The same step is started again and again (each
 * chunk of a laned run, each invocation), and a function made anew from the same text starts cold: the cache
 * hands back the same factory, so every closure it makes shares the code V8 already optimized.
 */

/** Entries kept; beyond it the oldest is dropped (records of ever-changing shapes must not grow memory). */
const MAX_ENTRIES = 512;
const cache = new Map<string, (...args: unknown[]) => unknown>();

/** A function with these parameter names and body, made once per distinct text. */
export function cachedFunction<F extends (...args: never[]) => unknown>(params: readonly string[], body: string): F {
  const key = `${params.join(',')}\u0000${body}`;
  let fn = cache.get(key);
  if (!fn) {
    fn = new Function(...params, body) as (...args: unknown[]) => unknown;
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, fn);
  }
  return fn as unknown as F;
}
