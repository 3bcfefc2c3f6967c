/** A deterministic generator of numbers in [0, 1), so that a failure reproduces from its seed. */
export function seededRandom(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 4294967296;
  };
}
