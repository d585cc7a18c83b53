// Reproducible pseudo-random numbers: example models' weights, the optimiser's and perf's generated inputs, and a
// generated sequence's sampling stream.

/** mulberry32: a small, fast generator of uniform numbers in [0, 1), reproducible from its 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random floats in [-scale, scale) (mulberry32), so models are reproducible. */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  const next = seededRandom(seed);
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}
