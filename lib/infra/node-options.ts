/** Node.js options of the deployed step functions (plain data, so the benchmark runs with the same ones). */

/**
 * Heap options. Record steps allocate many short-lived objects (parsed records, rows), so the young generation's
 * size sets how much of a step goes to garbage collection. Since Node.js 20, V8 sizes it from the heap limit
 * (8 MB semi-spaces below a 2 GB limit, so every Lambda size up to about 2.5 GB). With 32 MB semi-spaces the
 * benchmark's pipeline (a) in one lane ran in 5.8–7.8 s against 6.3–8.1 s with 16 MB, measured in turns, for
 * about 30 MB more peak memory.
 */
export const STEP_HEAP_OPTIONS: readonly string[] = ['--max-semi-space-size=32'];

/** `NODE_OPTIONS` of a step function: source maps for readable stack traces, and the heap options. */
export const STEP_NODE_OPTIONS = ['--enable-source-maps', ...STEP_HEAP_OPTIONS].join(' ');
