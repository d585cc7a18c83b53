// Choosing the next token from a row of logits: greedy (temperature 0), or sampling with temperature, top-k and top-p
// (in that order, as transformers applies them) from a random stream of the sequence's own, so a seed gives the same
// tokens whatever else shares the batch.
import { seededRandom } from '../../common/seeded-random.js';
import { fromHalf } from '../datatypes.js';

/** A sequence's random stream from its seed (mulberry32). */
export const createRng = seededRandom;

export interface SamplingParams {
  /** 0: greedy. */
  temperature: number;
  /** Nucleus: the smallest set of most likely tokens whose probability reaches top_p; 1 = off. */
  topP: number;
  /** Only the k most likely tokens; 0 = off. */
  topK: number;
  /** The random stream's seed (32 bits). */
  seed: number;
}

/** The index of the largest value, the first among equals. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  let max = row[0];
  for (let i = 1; i < row.length; i++) if (row[i] > max) {
    max = row[i];
    best = i;
  }
  return best;
}

/** The k-th largest of `values` (1-based), by quickselect on a copy. */
function kthLargest(values: ArrayLike<number>, k: number): number {
  const a = Float64Array.from(values);
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}

/** Indices of the m largest values, largest first (equal values: the lower index first). O(n + m log m). */
export function largest(values: ArrayLike<number>, m: number): number[] {
  const n = values.length;
  if (m >= n) return Array.from({ length: n }, (_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
  const threshold = kthLargest(values, m);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (values[i] > threshold) out.push(i);
  for (let i = 0; i < n && out.length < m; i++) if (values[i] === threshold) out.push(i);
  return out.sort((a, b) => values[b] - values[a] || a - b);
}

/** The next token for one row of logits. */
export function sampleToken(row: Float32Array, p: Pick<SamplingParams, 'temperature' | 'topP' | 'topK'>, rng: () => number): number {
  if (p.temperature === 0 || p.topK === 1) return argmax(row);
  const V = row.length;
  // Candidates: every token, or the top k.
  const ids = p.topK > 0 && p.topK < V ? largest(row, p.topK) : undefined;
  const n = ids ? ids.length : V;
  let max = -Infinity;
  for (let c = 0; c < n; c++) {
    const x = row[ids ? ids[c] : c];
    if (x > max) max = x;
  }
  const weights = new Float64Array(n);
  let total = 0;
  for (let c = 0; c < n; c++) {
    const w = Math.exp((row[ids ? ids[c] : c] - max) / p.temperature);
    weights[c] = w;
    total += w;
  }
  let order: number[] | undefined;
  if (p.topP < 1) {
    // The nucleus: the fewest most likely candidates whose mass reaches top_p. Look among the top 64, then 4x more.
    const want = p.topP * total;
    for (let m = Math.min(n, 64); ; m = Math.min(n, m * 4)) {
      const top = largest(weights, m);
      let mass = 0;
      let kept = 0;
      while (kept < top.length && mass < want) mass += weights[top[kept++]];
      if (mass >= want || m === n) {
        order = top.slice(0, Math.max(1, kept));
        total = mass;
        break;
      }
    }
  }
  let u = rng() * total;
  if (order) {
    for (const c of order) {
      u -= weights[c];
      if (u < 0) return ids ? ids[c] : c;
    }
    const last = order[order.length - 1];
    return ids ? ids[last] : last;
  }
  for (let c = 0; c < n; c++) {
    u -= weights[c];
    if (u < 0) return ids ? ids[c] : c;
  }
  return ids ? ids[n - 1] : n - 1;
}

/** A float32 view of one row of float16 logits (a lookup table of every half). */
let halfTable: Float32Array | undefined;
export function halfsToFloats(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromHalf(h);
  }
  for (let i = 0; i < src.length; i++) out[i] = halfTable[src[i]];
  return out;
}
