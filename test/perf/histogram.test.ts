import { bucketHigh, bucketOf, LatencyHistogram } from '../../perf/histogram.js';
import { seededRandom } from '../../common/seeded-random.js';

/** Nearest-rank percentile over a sorted copy: the reference the histogram must match. */
function exact(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

test('buckets: exact below 2048 us, each bucket holds what it claims above', () => {
  for (const us of [0, 1, 2, 2047]) expect(bucketHigh(bucketOf(us))).toBe(us);
  for (const us of [2048, 2049, 4095, 4096, 123_457, 2 ** 20, 2 ** 20 - 1, 3_600_000_000]) {
    const i = bucketOf(us);
    expect(bucketHigh(i)).toBeGreaterThanOrEqual(us);
    expect((bucketHigh(i) - us) / us).toBeLessThan(1 / 1024);
    if (i > 0) expect(bucketHigh(i - 1)).toBeLessThan(us);
  }
});

test.each([
  ['sub-millisecond, exact', 1, 0.001, 2],
  ['milliseconds', 2, 0.1, 50],
  ['a long tail to seconds', 3, 0.2, 5000],
])('percentiles match a sorted array: %s', (_name, seed, lo, hi) => {
  const rand = seededRandom(seed as number);
  const values = Array.from({ length: 20_000 }, () => {
    const r = rand();
    return Math.round((lo as number + (hi as number - (lo as number)) * r ** 4) * 1000) / 1000;
  });
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  for (const p of [50, 90, 95, 99, 99.9, 100]) {
    const want = exact(values, p);
    expect(Math.abs(h.percentile(p) - want) / want).toBeLessThanOrEqual(1 / 1024 + 1e-9);
  }
  const s = h.summary();
  expect(s.count).toBe(values.length);
  expect(s.max).toBe(Math.max(...values));
  expect(s.min).toBe(Math.min(...values));
  expect(s.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 2);
});

test('merging two histograms equals recording everything in one', () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7.3) % 97;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  expect(a.summary()).toEqual(all.summary());
});

test('an empty histogram reports zeros, not NaN', () => {
  expect(new LatencyHistogram().summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
});
