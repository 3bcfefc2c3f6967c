/**
 * Generated functions, cached by their source. Scripts compile per-record code for the field names they see
 * (named property reads instead of reads by a variable key). The same step is started again and again (each
 * chunk of a laned run, each invocation), and a function made anew from the same text starts cold: the cache
 * hands back the same factory, so every closure it makes shares the code V8 already optimized.
 */

/** Entries kept; beyond it the oldest is dropped (records of ever-changing shapes must not grow memory). */
const MAX_ENTRIES = 512;
const cache = new Map<string, (...args: unknown[]) => unknown>();
const built = new Map<string, unknown>();

/** Keeps `value` under `key`, dropping the oldest entry when the map is full. */
function keep<T>(map: Map<string, T>, key: string, value: T): T {
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as string);
  map.set(key, value);
  return value;
}

/** A function with these parameter names and body, made once per distinct text. */
export function cachedFunction<F extends (...args: never[]) => unknown>(params: readonly string[], body: string): F {
  const key = `${params.join(',')}\u0000${body}`;
  let fn = cache.get(key);
  if (!fn) {
    fn = keep(cache, key, new Function(...params, body) as (...args: unknown[]) => unknown);
  }
  return fn as unknown as F;
}

/**
 * The value `make` builds for `key`, built once per distinct key. For per-record functions made of several
 * closures: each new closure is one more function V8 has to optimize, and one whose first calls take paths the
 * optimized code has not seen (measured on a laned step, where a step starts again for every chunk of its input:
 * its rename functions were optimized about ten times per lane, 0.8 s of compiler time over 1M records). `make`
 * must depend on nothing but what `key` says.
 */
export function cachedValue<T>(key: string, make: () => T): T {
  const found = built.get(key);
  if (found !== undefined || built.has(key)) return found as T;
  return keep<unknown>(built, key, make()) as T;
}
